package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A 100 MB document is refused without being copied: not encoded to UTF-8 on the Java side, not
 * copied out of its {@code byte[]} on the native side (the instance's limit is 16 MiB by default).
 */
class HugeInputAttackTest {
  static final Subject SVC = Subject.service("database", "m");
  static final long MIB = 1 << 20;

  /** Bytes this thread allocated on the Java heap so far. */
  static long allocated() {
    return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean())
        .getThreadAllocatedBytes(Thread.currentThread().getId());
  }

  /** The process's peak resident memory (VmHWM), bytes. */
  static long peakRss() throws Exception {
    for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (l.startsWith("VmHWM:")) {
        return Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024;
      }
    }
    throw new IllegalStateException("no VmHWM");
  }

  @Test
  void aHundredMegabyteDocumentIsRefusedBeforeItIsEncoded() {
    String huge = "{\"type\":\"Mysql\",\"x\":\"" + "a".repeat(100 << 20) + "\"}";
    String doc = document("mysql");
    try (OmSecrets om = open("in-memory")) {
      om.mask(SVC, doc); // warm up
      long before = allocated();
      InvalidInputException e = assertThrows(InvalidInputException.class, () -> om.mask(SVC, huge));
      InvalidInputException e2 = assertThrows(InvalidInputException.class, () -> om.merge(SVC, huge, doc));
      long used = allocated() - before;
      assertEquals("", e.pointer());
      assertTrue(e.getMessage().contains("16777216"), e.getMessage());
      assertTrue(e2.getMessage().contains("stored document"), e2.getMessage());
      assertTrue(used < 8 * MIB, "refusing two 100 MB documents allocated " + used / MIB + " MiB");
      // In a batch: the huge item alone fails, before it is framed; the others go through.
      before = allocated();
      List<BatchResult<String>> r = om.maskBatch(Subject.services("database"),
          List.of(BatchItem.of("a", doc), BatchItem.of("b", huge), BatchItem.of("c", doc)));
      used = allocated() - before;
      assertTrue(r.get(0).ok() && r.get(2).ok());
      assertTrue(r.get(1).error() instanceof InvalidInputException, String.valueOf(r.get(1).error()));
      assertTrue(used < 8 * MIB, "a batch with a 100 MB item allocated " + used / MIB + " MiB");
    }
  }

  /** The native side checks an array's length before copying it out of the JVM. */
  @Test
  void theNativeSideRefusesAnOversizedArrayWithoutCopyingIt() throws Exception {
    byte[] big = new byte[64 << 20];
    Arrays.fill(big, (byte) ' ');
    big[0] = '[';
    big[big.length - 1] = ']';
    byte[] type = "database".getBytes(StandardCharsets.UTF_8);
    try (OmSecrets om = open("in-memory")) {
      long h = handleOf(om);
      long peak = peakRss();
      for (int i = 0; i < 3; i++) {
        InvalidInputException e = assertThrows(InvalidInputException.class,
            () -> Native.check(Native.call(h, Native.OP_MASK, 0, type, null, big, null, false)));
        assertTrue(e.getMessage().contains("67108864 bytes"), e.getMessage());
      }
      long grown = peakRss() - peak;
      assertTrue(grown < 32 * MIB, "the peak resident memory grew by " + grown / MIB + " MiB");
    }
  }

  static long handleOf(OmSecrets om) throws Exception {
    java.lang.reflect.Field state = OmSecrets.class.getDeclaredField("state");
    state.setAccessible(true);
    Object s = state.get(om);
    java.lang.reflect.Field handle = s.getClass().getDeclaredField("handle");
    handle.setAccessible(true);
    return handle.getLong(s);
  }
}
