package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Bad input from Java: the right exception, no secret in its message, the store unchanged. */
class BadInputTest {
  static final String SECRET = "s3cr3t-Mysql-pw";
  static final Subject SVC = Subject.service("database", "mysql-prod");

  /** Run {@code call}, expecting {@code type}; the embedded store's bytes must not change. */
  static <T extends Throwable> T refused(Path home, Class<T> type, Executable call) {
    byte[] before = storeBytes(home);
    T e = assertThrows(type, call);
    assertArrayEquals(before, storeBytes(home), "the store changed");
    String m = String.valueOf(e.getMessage());
    assertFalse(m.contains(SECRET) || m.contains("other-secret"), "a secret in the message: " + m);
    return e;
  }

  static InvalidInputException input(Path home, String pointer, Executable call) {
    InvalidInputException e = refused(home, InvalidInputException.class, call);
    assertEquals(pointer, e.pointer(), e.getMessage());
    return e;
  }

  @Test
  void badDocumentsAreRefusedAndTheStoreIsUnchanged() {
    Path home = newDir("bad");
    try (OmSecrets om = OmSecrets.fromMap(config("managed-local", home))) {
      String doc = document("mysql");
      String stored = om.seal(SVC, doc);
      assertNotNull(storeBytes(home));
      String mine = "secret:/openmetadata/database/mysql-prod/authtype/password";

      input(home, "", () -> om.seal(SVC, "{\"type\": \"Mysql\", \"authType\": {\"password\": \"" + SECRET));
      input(home, "", () -> om.seal(SVC, "[1, 2]"));
      input(home, "", () -> om.mask(SVC, ""));
      // An unpaired surrogate, raw or escaped: never silently replaced.
      input(home, "/authType/password", () -> om.seal(SVC, doc.replace(SECRET, SECRET + "\uD800")));
      input(home, "/authType/password", () -> om.seal(SVC, doc.replace(SECRET, "\uDC00" + SECRET)));
      input(home, "", () -> om.seal(SVC, doc.replace(SECRET, SECRET + "\\uD800")));
      input(home, null, () -> om.seal(Subject.service("database", "bad\uD800name"), doc));
      input(home, "", () -> om.merge(SVC, "{\"a\":\"\uDFFF\"", doc));
      // A mask about to be stored, at any depth.
      input(home, "/authType/password", () -> om.seal(SVC, doc.replace(SECRET, MASK)));
      // Unknown connector type; a service type that is an entity kind.
      input(home, "/type", () -> om.seal(SVC, doc.replace("\"Mysql\"", "\"NoSuchDb\"")));
      input(home, null, () -> om.seal(Subject.service("bot", "x"), doc));
      // A reference to another entity's secret; an undecryptable token.
      input(home, "/authType/password", () -> om.seal(SVC, doc.replace(SECRET, mine.replace("mysql-prod", "other"))));
      input(home, "/authType/password", () -> om.reveal(SVC, doc.replace(SECRET, "fernet:gAAAAABnot-a-token"), false));
      // A human user is no bot; a bot needs a name; seal needs a name.
      input(home, "/isBot", () -> om.seal(Subject.bot("alice"), document("bot").replace("true", "false")));
      input(home, null, () -> om.seal(Subject.services("database"), doc));
      // Huge input: refused before parsing, quickly.
      String huge = "{\"type\":\"Mysql\",\"x\":\"" + "a".repeat(20 << 20) + "\"}";
      long t0 = System.nanoTime();
      input(home, "", () -> om.seal(SVC, huge));
      assertTrue(System.nanoTime() - t0 < 5_000_000_000L);
      // Nulls: the standard exception, naming the parameter.
      refused(home, NullPointerException.class, () -> om.seal(SVC, null));
      refused(home, NullPointerException.class, () -> om.mask(null, doc));
      refused(home, NullPointerException.class, () -> om.merge(SVC, null, doc));
      // Merge: a mask with nothing stored behind it.
      input(home, "/authType/password", () -> om.merge(SVC, "{\"type\":\"Mysql\"}", doc.replace(SECRET, MASK)));

      // Still usable, and the stored form still reveals.
      assertEquals(SECRET, str(om.reveal(SVC, stored, false), "/authType/password"));

      // A reference to a secret that is gone: a store error, not retryable, naming the id.
      om.forget(SVC, stored);
      StoreException gone = refused(home, StoreException.class, () -> om.reveal(SVC, stored, false));
      assertFalse(gone.isRetryable());
      assertEquals("/openmetadata/database/mysql-prod/authtype/password", gone.secretId());
    }
  }

  @Test
  void badConfigurationsAreConfigExceptions() {
    Path home = newDir("cfg");
    Map<String, Object> c = config("managed-local", home);
    c.put("secretManager", "db");
    assertTrue(assertThrows(ConfigException.class, () -> OmSecrets.fromMap(c)).getMessage().contains("secretManager"));
    Map<String, Object> p = config("managed-nope", home);
    assertTrue(assertThrows(ConfigException.class, () -> OmSecrets.fromMap(p)).getMessage().contains("managed-nope"));
    Map<String, Object> k = config("db", home);
    k.put("fernetKey", "other-secret-not-a-key");
    ConfigException bad = assertThrows(ConfigException.class, () -> OmSecrets.fromMap(k));
    assertFalse(bad.getMessage().contains("other-secret"), bad.getMessage());
    Map<String, Object> v = config("managed-local", home);
    v.put("secretsManager", "managed-vault");
    assertTrue(assertThrows(ConfigException.class, () -> OmSecrets.fromMap(v)).getMessage().contains("address"));
    assertThrows(ConfigException.class, () -> OmSecrets.fromFile(home.resolve("missing.yaml")));
    Map<String, Object> nan = config("db", home);
    nan.put("limits", Map.of("timeMs", Double.NaN));
    assertThrows(ConfigException.class, () -> OmSecrets.fromMap(nan));
  }

  @Test
  void anUnreachableStoreIsARetryableStoreError() {
    Path home = newDir("down");
    Map<String, Object> c = config("managed-vault", home);
    @SuppressWarnings("unchecked")
    Map<String, Object> params = (Map<String, Object>) c.get("parameters");
    params.put("address", "http://127.0.0.1:9"); // discard port: nothing listens
    params.put("retryMaxSeconds", 0);
    params.put("timeoutSeconds", 2);
    try (OmSecrets om = OmSecrets.fromMap(c)) {
      StoreException e = assertThrows(StoreException.class, () -> om.seal(SVC, document("mysql")));
      assertTrue(e.isRetryable(), e.getMessage());
      assertFalse(e.getMessage().contains(SECRET));
    }
  }

  @Test
  void nativePanicsBecomeExceptions() {
    OmSecretsException e = assertThrows(OmSecretsException.class, () -> Native.check(Native.panicForTest(false)));
    assertSame(OmSecretsException.class, e.getClass());
    assertTrue(e.getMessage().contains("native panic"), e.getMessage());
    assertFalse(e.getMessage().contains("deliberate"), e.getMessage());
    // Even outside our own guard, jni's catch stops the unwinding at the boundary.
    RuntimeException outer = assertThrows(RuntimeException.class, () -> Native.panicForTest(true));
    assertTrue(outer.getMessage().contains("panic"), outer.getMessage());
    // The JVM and the library are fine afterwards.
    try (OmSecrets om = open("db")) {
      assertEquals(MASK, str(om.mask(SVC, document("mysql")), "/authType/password"));
    }
  }

  @Test
  void aClosedInstanceThrowsIllegalState() {
    OmSecrets om = open("in-memory");
    String doc = document("mysql");
    om.close();
    assertTrue(om.isClosed());
    om.close(); // idempotent
    assertThrows(IllegalStateException.class, () -> om.mask(SVC, doc));
    assertThrows(IllegalStateException.class, () -> om.seal(SVC, doc));
    assertThrows(IllegalStateException.class, () -> om.maskBatch(SVC, List.of(BatchItem.of("a", doc))));
    // A forged handle finds nothing: an error answer, no crash.
    assertThrows(IllegalStateException.class,
        () -> Native.check(Native.call(Long.MAX_VALUE, Native.OP_MASK, 0, "database".getBytes(), null, doc.getBytes(), null, false)));
    assertThrows(InvalidInputException.class,
        () -> Native.check(Native.call(1, Native.OP_MASK, 0, "database".getBytes(), null, null, null, false)));
  }

  @Test
  void batchItemsFailAlone() {
    try (OmSecrets om = open("in-memory")) {
      String doc = document("mysql");
      List<BatchResult<String>> r = om.sealBatch(Subject.services("database"), java.util.Arrays.asList(
          BatchItem.of("a", doc),
          BatchItem.of("b", "not json"),
          BatchItem.of("c", doc.replace(SECRET, SECRET + "\uD800")),
          null,
          BatchItem.of(null, doc),
          BatchItem.of("d", doc)));
      assertTrue(r.get(0).ok() && r.get(5).ok());
      assertEquals("", ((InvalidInputException) r.get(1).error()).pointer());
      assertEquals("/authType/password", ((InvalidInputException) r.get(2).error()).pointer());
      assertTrue(r.get(3).error() instanceof InvalidInputException);
      assertTrue(r.get(4).error() instanceof InvalidInputException);
      Map<String, Object> m = new LinkedHashMap<>();
      assertThrows(InvalidInputException.class, () -> r.get(1).get());
      assertEquals(0, m.size());
    }
  }
}
