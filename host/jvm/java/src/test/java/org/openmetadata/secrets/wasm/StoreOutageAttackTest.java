package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * OpenBao goes silent under load: 64 threads on one managed-vault instance, every call ends within
 * its timeout with a retryable {@link StoreException} naming no secret value; none hangs; once the
 * store answers again, calls succeed again; close() returns with callers still waiting on it.
 */
class StoreOutageAttackTest {
  static final String SECRET = "s3cr3t-Mysql-pw";

  /**
   * A TCP proxy to OpenBao that can go silent: connections stay open, bytes stop flowing (both on
   * pooled connections and on new ones), as a hung server or a dropped network path.
   */
  static final class Proxy implements AutoCloseable {
    final ServerSocket server;
    final String host;
    final int port;
    volatile boolean silent;
    final List<Socket> sockets = new java.util.concurrent.CopyOnWriteArrayList<>();

    Proxy(String target) throws IOException {
      URI u = URI.create(target);
      host = u.getHost();
      port = u.getPort();
      server = new ServerSocket(0, 200, InetAddress.getLoopbackAddress());
      Thread t = new Thread(this::accept, "proxy-accept");
      t.setDaemon(true);
      t.start();
    }

    String address() {
      return "http://127.0.0.1:" + server.getLocalPort();
    }

    void accept() {
      while (!server.isClosed()) {
        try {
          Socket in = server.accept();
          sockets.add(in);
          Socket out = new Socket(host, port);
          sockets.add(out);
          pump(in, out);
          pump(out, in);
        } catch (IOException e) {
          return;
        }
      }
    }

    void pump(Socket from, Socket to) {
      Thread t = new Thread(() -> {
        byte[] buf = new byte[8192];
        try (InputStream i = from.getInputStream(); OutputStream o = to.getOutputStream()) {
          int n;
          while ((n = i.read(buf)) >= 0) {
            while (silent) {
              Thread.sleep(20); // hold the bytes: the peer sees nothing, the socket stays open
            }
            o.write(buf, 0, n);
            o.flush();
          }
        } catch (IOException | InterruptedException e) {
          // closed
        }
      }, "proxy-pump");
      t.setDaemon(true);
      t.start();
    }

    @Override
    public void close() throws IOException {
      silent = false;
      server.close();
      for (Socket s : sockets) {
        s.close();
      }
    }
  }

  @Test
  void sixtyFourThreadsOnASilentOpenBaoGetRetryableErrorsInTime() throws Exception {
    try (Proxy proxy = new Proxy(prop("om.test.vault.addr"))) {
      Map<String, Object> c = config("managed-vault", newDir("outage"));
      @SuppressWarnings("unchecked")
      Map<String, Object> params = (Map<String, Object>) c.get("parameters");
      params.put("address", proxy.address());
      params.put("timeoutSeconds", 1);
      params.put("retryMaxSeconds", 0);
      Subject svc = Subject.service("database", "mysql-prod");
      String doc = document("mysql");
      OmSecrets om = OmSecrets.fromMap(c);
      String stored = om.seal(svc, doc);
      assertEquals(SECRET, str(om.reveal(svc, stored, false), "/authType/password"));

      proxy.silent = true;
      int threads = 64;
      AtomicInteger retryable = new AtomicInteger();
      ConcurrentLinkedQueue<String> wrong = new ConcurrentLinkedQueue<>();
      CountDownLatch go = new CountDownLatch(1);
      List<Thread> ts = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int n = t;
        Thread th = new Thread(() -> {
          try {
            go.await();
            for (int k = 0; k < 2; k++) {
              try {
                Subject s = Subject.service("database", "svc-" + n);
                if ((n + k) % 2 == 0) {
                  om.seal(s, doc);
                } else {
                  om.reveal(svc, stored, false);
                }
                wrong.add("a call succeeded while the store was silent");
              } catch (StoreException e) {
                if (e.isRetryable() && !e.getMessage().contains(SECRET)) {
                  retryable.incrementAndGet();
                } else {
                  wrong.add(e.isRetryable() + " " + e.getMessage());
                }
              }
            }
          } catch (Throwable e) {
            wrong.add(e.toString());
          }
        }, "outage-" + t);
        ts.add(th);
        th.start();
      }
      long t0 = System.nanoTime();
      go.countDown();
      for (Thread th : ts) {
        th.join(30_000);
        assertFalse(th.isAlive(), th.getName() + " hangs on a silent store");
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      System.out.printf("[measure] outage: %d threads x 2 calls on a silent OpenBao ended in %.1f s%n", threads, secs);
      assertEquals(List.of(), new ArrayList<>(wrong));
      assertEquals(threads * 2, retryable.get());
      // Each call waited its own 1 s timeout, concurrently: not 128 timeouts in a row.
      assertTrue(secs < 15, "took " + secs + " s");

      // The store answers again: so do the calls (no broken pooled connection kept).
      proxy.silent = false;
      String again = null;
      for (int i = 0; i < 5 && again == null; i++) {
        try {
          again = om.reveal(svc, stored, false);
        } catch (StoreException e) {
          assertTrue(e.isRetryable(), e.getMessage());
        }
      }
      assertEquals(SECRET, str(again, "/authType/password"));

      // Silent again, callers waiting: close() waits for them (each ends within its timeout), then
      // the instance is closed; no caller hangs.
      proxy.silent = true;
      List<Thread> waiting = new ArrayList<>();
      ConcurrentLinkedQueue<String> late = new ConcurrentLinkedQueue<>();
      for (int t = 0; t < 8; t++) {
        Thread th = new Thread(() -> {
          try {
            om.reveal(svc, stored, false);
            late.add("succeeded");
          } catch (StoreException | IllegalStateException e) {
            // timed out, or closed before it started
          } catch (Throwable e) {
            late.add(e.toString());
          }
        });
        waiting.add(th);
        th.start();
      }
      Thread.sleep(100);
      long c0 = System.nanoTime();
      om.close();
      double closeSecs = (System.nanoTime() - c0) / 1e9;
      for (Thread th : waiting) {
        th.join(10_000);
        assertFalse(th.isAlive(), "a caller hangs after close");
      }
      assertTrue(om.isClosed());
      assertTrue(closeSecs < 8, "close took " + closeSecs + " s");
      assertEquals(List.of(), new ArrayList<>(late));
    }
  }
}
