package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import org.junit.jupiter.api.Test;

/** Resident memory stays steady across many calls (read from /proc/self/status). */
class MemoryTest {
  static final int CALLS = Integer.getInteger("om.test.rssCalls", 100_000);
  static final int WARMUP = 10_000;
  static final long BOUND_KIB = 64 * 1024;

  @Test
  void residentMemoryIsSteadyAcrossManyCalls() {
    try (OmSecrets om = open("in-memory")) {
      Mix mix = new Mix(om);
      for (int i = 0; i < WARMUP; i++) {
        mix.call(i);
      }
      System.gc();
      long before = rssKib();
      long peak = before;
      long t0 = System.nanoTime();
      for (int i = 0; i < CALLS; i++) {
        mix.call(i);
        if (i % 10_000 == 0) {
          peak = Math.max(peak, rssKib());
        }
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      System.gc();
      long after = rssKib();
      System.out.printf("[measure] rss: %.1f MiB after %d warm-up calls, %.1f MiB after %d more (peak %.1f MiB, growth %+.1f MiB) in %.1f s%n",
          before / 1024.0, WARMUP, after / 1024.0, CALLS, Math.max(peak, after) / 1024.0, (after - before) / 1024.0, secs);
      assertTrue(after - before < BOUND_KIB,
          "resident memory grew by " + (after - before) / 1024 + " MiB over " + CALLS + " calls");
    }
  }
}
