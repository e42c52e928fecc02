package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.HugeInputAttackTest.handleOf;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/**
 * Handles and the life of an instance: a closed instance's handle, reused as a number, never reaches
 * a newer instance (handles are never reused); close() races with many callers, with interrupts,
 * twice, and through the Cleaner.
 */
class LifecycleAttackTest {
  static final byte[] TYPE = "database".getBytes(StandardCharsets.UTF_8);

  static byte[] maskWith(long handle, String doc) {
    return Native.call(handle, Native.OP_MASK, 0, TYPE, null, doc.getBytes(StandardCharsets.UTF_8), null, false);
  }

  @Test
  void aClosedHandleNeverReachesANewerInstance() throws Exception {
    String doc = document("mysql");
    Set<Long> seen = new HashSet<>();
    long stale = 0;
    for (int i = 0; i < 5; i++) {
      OmSecrets om = open("in-memory");
      long h = handleOf(om);
      assertTrue(seen.add(h), "handle " + h + " reused");
      if (stale != 0) {
        long old = stale;
        // The old number finds nothing; closing it again does not close the new instance.
        assertThrows(IllegalStateException.class, () -> Native.check(maskWith(old, doc)));
        Native.close(old);
        assertEquals(MASK, str(om.mask(Subject.services("database"), doc), "/authType/password"));
      }
      om.close();
      stale = h;
    }
    // Numbers around the live ones: nothing.
    try (OmSecrets om = open("in-memory")) {
      long h = handleOf(om);
      for (long forged : new long[] {0, -1, h + 1, h - 1, Long.MIN_VALUE, Long.MAX_VALUE}) {
        assertThrows(IllegalStateException.class, () -> Native.check(maskWith(forged, doc)));
      }
      assertNotEquals(0, h);
    }
  }

  /** close() from many threads at once, some interrupted, while 16 threads call: no hang, no crash. */
  @Test
  void closeRacesWithCallersAndInterrupts() throws Exception {
    for (int round = 0; round < 2; round++) {
      OmSecrets om = open("in-memory");
      Mix mix = new Mix(om);
      ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
      CountDownLatch started = new CountDownLatch(16);
      List<Thread> callers = new ArrayList<>();
      for (int t = 0; t < 16; t++) {
        int base = t;
        Thread th = new Thread(() -> {
          started.countDown();
          for (int i = base; ; i++) {
            try {
              mix.call(i);
            } catch (IllegalStateException closed) {
              return;
            } catch (Throwable e) {
              unexpected.add(e);
              return;
            }
          }
        });
        callers.add(th);
        th.start();
      }
      started.await();
      List<Thread> closers = new ArrayList<>();
      ConcurrentLinkedQueue<String> flags = new ConcurrentLinkedQueue<>();
      for (int t = 0; t < 4; t++) {
        boolean interrupted = t % 2 == 0;
        Thread th = new Thread(() -> {
          if (interrupted) {
            Thread.currentThread().interrupt();
          }
          om.close();
          if (interrupted != Thread.currentThread().isInterrupted()) {
            flags.add("close changed the interrupt status");
          }
        });
        closers.add(th);
      }
      closers.forEach(Thread::start);
      for (Thread th : closers) {
        th.interrupt();
        th.join(30_000);
        assertFalse(th.isAlive(), "close() hangs");
      }
      for (Thread th : callers) {
        th.join(30_000);
        assertFalse(th.isAlive(), "a caller hangs after close");
      }
      if (!unexpected.isEmpty()) {
        throw new AssertionError("a call failed otherwise than closed", unexpected.peek());
      }
      assertTrue(om.isClosed());
      om.close();
      assertThrows(IllegalStateException.class, () -> om.fields(Subject.services("database"), "{}"));
    }
  }

  /** An instance dropped without close() is closed by the Cleaner, and its handle then finds nothing. */
  @Test
  void anUnreachableInstanceIsClosedByTheCleaner() throws Exception {
    String doc = document("mysql");
    long h = dropped(doc);
    long deadline = System.nanoTime() + 10_000_000_000L;
    boolean closed = false;
    while (!closed && System.nanoTime() < deadline) {
      System.gc();
      Thread.sleep(20);
      byte[] a = maskWith(h, doc);
      closed = a[0] == 'E';
    }
    assertTrue(closed, "the Cleaner did not close an unreachable instance");
    assertThrows(IllegalStateException.class, () -> Native.check(maskWith(h, doc)));
  }

  private static long dropped(String doc) throws Exception {
    OmSecrets om = open("in-memory");
    om.mask(Subject.services("database"), doc);
    return handleOf(om);
  }
}
