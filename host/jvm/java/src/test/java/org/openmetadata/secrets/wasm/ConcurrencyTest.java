package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Many Java threads on one instance: no error, no crash, no hang, the single thread's results. */
class ConcurrencyTest {
  static final int THREADS = 16;
  static final int CALLS = Integer.getInteger("om.test.callsPerThread", 10_000);

  @Test
  void sixteenThreadsOfMixedCallsGiveTheSingleThreadsResults() throws Exception {
    try (OmSecrets om = open("in-memory")) {
      Mix mix = new Mix(om);
      String[] want = mix.expected();
      AtomicInteger mismatches = new AtomicInteger();
      ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
      AtomicLong calls = new AtomicLong();
      CountDownLatch go = new CountDownLatch(1);
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        int base = t * 7919;
        Thread th = new Thread(() -> {
          try {
            go.await();
            for (int k = 0; k < CALLS; k++) {
              int i = base + k;
              if (!want[Mix.slot(i)].equals(mix.call(i))) {
                mismatches.incrementAndGet();
              }
              calls.incrementAndGet();
            }
          } catch (Throwable e) {
            errors.add(e);
          }
        }, "mix-" + t);
        threads.add(th);
        th.start();
      }
      long t0 = System.nanoTime();
      go.countDown();
      for (Thread th : threads) {
        th.join(600_000);
        assertFalse(th.isAlive(), th.getName() + " hangs");
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      System.out.printf("[measure] threads: %d x %d mixed calls in %.1f s (%.0f calls/s), %d mismatches, %d errors%n",
          THREADS, CALLS, secs, calls.get() / secs, mismatches.get(), errors.size());
      if (!errors.isEmpty()) {
        throw new AssertionError("calls failed", errors.peek());
      }
      assertEquals(0, mismatches.get());
      assertEquals((long) THREADS * CALLS, calls.get());
    }
  }

  /** The embedded file store (one durable write per seal) under concurrent calls. */
  @Test
  void mixedCallsOnTheEmbeddedStoreFromEightThreads() throws Exception {
    try (OmSecrets om = open("managed-local")) {
      Mix mix = new Mix(om);
      String[] want = mix.expected();
      ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        int base = t * 31;
        Thread th = new Thread(() -> {
          for (int k = 0; k < 300; k++) {
            try {
              if (!want[Mix.slot(base + k)].equals(mix.call(base + k))) {
                problems.add("mismatch " + (base + k));
              }
            } catch (Throwable e) {
              problems.add(e.toString());
            }
          }
        });
        threads.add(th);
        th.start();
      }
      for (Thread th : threads) {
        th.join(300_000);
        assertFalse(th.isAlive(), "a caller hangs");
      }
      assertEquals(List.of(), new ArrayList<>(problems));
    }
  }

  @Test
  void interruptedThreadsFinishTheirCalls() throws Exception {
    try (OmSecrets om = open("in-memory")) {
      Mix mix = new Mix(om);
      String[] want = mix.expected();
      ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
      // A thread interrupted before its calls: they all complete, the flag stays set.
      Thread self = new Thread(() -> {
        Thread.currentThread().interrupt();
        for (int i = 0; i < 300; i++) {
          if (!want[Mix.slot(i)].equals(mix.call(i))) {
            problems.add("mismatch " + i);
          }
        }
        if (!Thread.currentThread().isInterrupted()) {
          problems.add("interrupt status lost");
        }
      });
      // Threads interrupted again and again while they call.
      List<Thread> workers = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        Thread w = new Thread(() -> {
          for (int i = 0; i < 1_500; i++) {
            try {
              if (!want[Mix.slot(i)].equals(mix.call(i))) {
                problems.add("mismatch " + i);
              }
            } catch (Throwable e) {
              problems.add(e.toString());
            }
          }
        });
        workers.add(w);
      }
      self.start();
      workers.forEach(Thread::start);
      while (workers.stream().anyMatch(Thread::isAlive)) {
        workers.forEach(Thread::interrupt);
        Thread.sleep(1);
      }
      self.join(120_000);
      for (Thread w : workers) {
        w.join(120_000);
      }
      assertFalse(self.isAlive());
      assertEquals(List.of(), new ArrayList<>(problems));
    }
  }

  @Test
  void closeWaitsForCallsInFlightAndLaterCallsAreRefused() throws Exception {
    OmSecrets om = open("in-memory");
    Mix mix = new Mix(om);
    ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
    AtomicInteger refused = new AtomicInteger();
    AtomicLong done = new AtomicLong();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      int base = t;
      Thread th = new Thread(() -> {
        for (int i = base; ; i++) {
          try {
            mix.call(i);
            done.incrementAndGet();
          } catch (IllegalStateException closed) {
            refused.incrementAndGet();
            return;
          } catch (Throwable e) {
            unexpected.add(e);
            return;
          }
        }
      });
      threads.add(th);
      th.start();
    }
    while (done.get() < 200) {
      Thread.sleep(5);
    }
    om.close();
    for (Thread th : threads) {
      th.join(60_000);
      assertFalse(th.isAlive(), "a caller hangs after close");
    }
    if (!unexpected.isEmpty()) {
      throw new AssertionError("a call failed otherwise than closed", unexpected.peek());
    }
    assertEquals(8, refused.get());
    assertTrue(om.isClosed());
  }

  @Test
  void instancesOpenAndCloseFromManyThreads() throws Exception {
    ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      Thread th = new Thread(() -> {
        try {
          for (int k = 0; k < 5; k++) {
            try (OmSecrets om = open(k % 2 == 0 ? "in-memory" : "managed-local")) {
              Subject s = Subject.service("database", "svc");
              String stored = om.seal(s, document("mysql"));
              assertEquals(parse(document("mysql")), parse(om.reveal(s, stored, false)));
            }
          }
        } catch (Throwable e) {
          errors.add(e);
        }
      });
      threads.add(th);
      th.start();
    }
    for (Thread th : threads) {
      th.join(120_000);
    }
    if (!errors.isEmpty()) {
      throw new AssertionError(errors.peek());
    }
  }
}
