package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * No secret value in what a caller may log: exception messages and the {@code toString()} of every
 * value the API hands out or takes (a logged {@code BatchItem} or {@code BatchResult} printed the
 * whole document, plaintext secrets included).
 */
class LeakAttackTest {
  static final String SECRET = "s3cr3t-Mysql-pw";

  static void noSecret(Object o) {
    String s = String.valueOf(o);
    assertFalse(s.contains(SECRET), "a secret value in: " + s);
  }

  /** A child JVM that panics natively, caught at the boundary. */
  public static final class PanickingChild {
    public static void main(String[] args) {
      try {
        Native.check(Native.panicForTest(false));
      } catch (OmSecretsException e) {
        System.out.println("caught " + e.getClass().getSimpleName());
      }
      try {
        Native.panicForTest(true);
      } catch (RuntimeException e) {
        System.out.println("caught outer");
      }
    }
  }

  /**
   * A native panic's message never reaches the JVM's stderr (the server's log): Rust's default
   * panic hook printed it there, though the exception leaves it out because it could quote a value.
   */
  @Test
  void aNativePanicsMessageIsNotPrinted() throws Exception {
    String cp = LoadingAttackTest.location(OmSecrets.class) + java.io.File.pathSeparator
        + LoadingAttackTest.location(LeakAttackTest.class);
    Process p = new ProcessBuilder(java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:TieredStopAtLevel=1", "-cp", cp, PanickingChild.class.getName())
        .redirectErrorStream(true)
        .start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
    assertTrue(out.contains("caught OmSecretsException") && out.contains("caught outer"), out);
    assertFalse(out.contains("deliberate"), "the panic's message was printed: " + out);
    assertTrue(out.contains("native panic at "), "a panic says where it happened: " + out);
  }

  @Test
  void toStringsNeverShowADocument() {
    try (OmSecrets om = open("managed-local")) {
      Subject kind = Subject.services("database");
      String doc = document("mysql");
      BatchItem item = new BatchItem("m", doc, doc, doc);
      noSecret(item);
      assertTrue(item.toString().contains("m"), item.toString());
      List<BatchResult<String>> sealed = om.sealBatch(kind, List.of(item, BatchItem.of("bad", "{")));
      String stored = sealed.get(0).get();
      List<Object> shown = new ArrayList<>();
      shown.addAll(sealed);
      shown.addAll(om.revealBatch(kind, List.of(BatchItem.of("m", stored)), false));
      shown.addAll(om.fieldsBatch(kind, List.of(BatchItem.of("m", doc))));
      shown.addAll(om.fields(Subject.service("database", "m"), doc));
      shown.add(Subject.service("database", "m"));
      for (Object o : shown) {
        noSecret(o);
      }
      // The revealed document is there, only not in toString().
      assertTrue(om.revealBatch(kind, List.of(BatchItem.of("m", stored)), false).get(0).get().contains(SECRET));
      // Field ids and deleted ids are no secrets: shown.
      assertTrue(om.fieldsBatch(kind, List.of(BatchItem.of("m", doc))).get(0).toString()
          .contains("/authType/password"));
    }
  }
}
