package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every operation on every subject, in db and managed modes, on the embedded store and on OpenBao. */
class OperationsTest {
  static final List<String> CASES = List.of("mysql", "postgresEntity", "kafka", "bot", "pipeline", "workflow");

  @ParameterizedTest
  @ValueSource(strings = {"db", "managed-local", "in-memory", "managed-vault", "local"})
  void everyOperationOnEverySubject(String mode) {
    // `local` is the embedded store non-managed: values sealed in place, as in db mode.
    boolean managed = mode.startsWith("managed-") || mode.equals("in-memory");
    try (OmSecrets om = open(mode)) {
      for (String c : CASES) {
        Subject s = subject(c);
        String doc = document(c);
        Map<String, String> secrets = secrets(c);

        // fields: the fixture's secret fields, with full ids.
        List<Field> fields = om.fields(s, doc);
        Set<String> pointers = new TreeSet<>();
        Map<String, String> ids = new LinkedHashMap<>();
        for (Field f : fields) {
          if (f.treatment().equals("secret")) {
            pointers.add(f.pointer());
            ids.put(f.pointer(), f.secretId());
          }
        }
        assertEquals(new TreeSet<>(secrets.keySet()), pointers, c + " fields");
        for (String id : ids.values()) {
          assertTrue(id.startsWith("/"), c + ": " + id);
          assertTrue(id.contains("/" + s.name().toLowerCase() + "/") || id.contains("/" + s.name() + "."), id);
        }

        // seal: no secret value left; every secret field a Fernet token.
        String stored = om.seal(s, doc);
        for (Map.Entry<String, String> e : secrets.entrySet()) {
          assertNoSecret(stored, e.getValue());
          String token = str(stored, e.getKey());
          assertTrue(token.startsWith("fernet:"), c + " " + e.getKey() + ": " + token);
          assertEquals(managed ? "secret:" + ids.get(e.getKey()) : e.getValue(), fernetDecrypt(token));
        }
        // Sealing the stored form changes nothing.
        assertEquals(openedJson(stored), openedJson(om.seal(s, stored)), c);

        // reveal: the original back; keeping references, the ids.
        assertEquals(parse(doc), parse(om.reveal(s, stored, false)), c + " reveal");
        String kept = om.reveal(s, stored, true);
        for (Map.Entry<String, String> e : secrets.entrySet()) {
          assertEquals(managed ? "secret:" + ids.get(e.getKey()) : e.getValue(), str(kept, e.getKey()));
        }

        // mask: plain or stored, the viewer sees nine asterisks.
        String masked = om.mask(s, stored);
        assertEquals(parse(masked), parse(om.mask(s, doc)), c + " mask of plain and stored");
        for (String p : secrets.keySet()) {
          assertEquals(MASK, str(masked, p));
        }
        for (String v : strings(masked)) {
          assertTrue(!v.startsWith("fernet:") && !v.startsWith("secret:"), v);
        }

        // merge: the masks take the stored values; a changed secret stays as sent.
        String merged = om.merge(s, stored, masked);
        for (String p : secrets.keySet()) {
          assertEquals(str(stored, p), str(merged, p));
        }
        assertEquals(parse(doc), parse(om.reveal(s, om.seal(s, merged), false)), c + " merge");
        String p0 = secrets.keySet().iterator().next();
        String changed = masked.replace(MASK, "a-new-secret");
        String resealed = om.seal(s, om.merge(s, stored, changed));
        assertEquals("a-new-secret", str(om.reveal(s, resealed, false), p0));

        // forget: the entity's secrets go (managed); then the stored form no longer reveals.
        List<String> deleted = om.forget(s, resealed);
        if (managed) {
          assertEquals(new TreeSet<>(ids.values()), new TreeSet<>(deleted), c + " forget");
          StoreException gone = assertThrows(StoreException.class, () -> om.reveal(s, resealed, false));
          assertTrue(!gone.isRetryable() && ids.containsValue(gone.secretId()), gone.getMessage());
        } else {
          assertEquals(List.of(), deleted);
        }
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"db", "managed-local", "managed-vault"})
  void batchesGiveWhatSingleCallsGive(String mode) {
    try (OmSecrets om = open(mode)) {
      Subject kind = Subject.services("database");
      String base = document("mysql");
      List<BatchItem> items = new ArrayList<>();
      for (int i = 0; i < 12; i++) {
        items.add(BatchItem.of("svc-" + i, base.replace("s3cr3t-Mysql-pw", "pw-" + i)));
      }
      // One bad document among them: the others still succeed.
      items.add(BatchItem.of("svc-bad", base.replace("s3cr3t-Mysql-pw", MASK)));
      List<BatchResult<String>> sealed = om.sealBatch(kind, items);
      assertEquals(13, sealed.size());
      InvalidInputException bad = (InvalidInputException) sealed.get(12).error();
      assertEquals("/authType/password", bad.pointer());
      List<BatchItem> stored = new ArrayList<>();
      for (int i = 0; i < 12; i++) {
        String st = sealed.get(i).get();
        assertNoSecret(st, "pw-" + i);
        stored.add(new BatchItem("svc-" + i, st, st, null));
      }
      List<BatchResult<String>> revealed = om.revealBatch(kind, stored, false);
      List<BatchResult<String>> masked = om.maskBatch(kind, stored);
      List<BatchResult<List<Field>>> fields = om.fieldsBatch(kind, stored);
      for (int i = 0; i < 12; i++) {
        Subject one = Subject.service("database", "svc-" + i);
        assertEquals("pw-" + i, str(revealed.get(i).get(), "/authType/password"));
        assertEquals(parse(om.reveal(one, stored.get(i).document(), true)),
            parse(om.revealBatch(kind, List.of(stored.get(i)), true).get(0).get()));
        assertEquals(parse(om.mask(one, stored.get(i).document())), parse(masked.get(i).get()));
        assertEquals(om.fields(one, stored.get(i).document()), fields.get(i).get());
      }
      // merge: each update with its own stored form.
      List<BatchItem> updates = new ArrayList<>();
      for (int i = 0; i < 12; i++) {
        updates.add(new BatchItem("svc-" + i, masked.get(i).get(), stored.get(i).document(), null));
      }
      List<BatchResult<String>> merged = om.mergeBatch(kind, updates);
      for (int i = 0; i < 12; i++) {
        assertEquals(str(stored.get(i).document(), "/authType/password"), str(merged.get(i).get(), "/authType/password"));
      }
      List<BatchResult<List<String>>> forgotten = om.forgetBatch(kind, stored);
      for (int i = 0; i < 12; i++) {
        assertEquals(mode.equals("db") ? 0 : 1, forgotten.get(i).get().size());
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"managed-local"})
  void batchesOfEveryKind(String mode) {
    try (OmSecrets om = open(mode)) {
      for (String c : List.of("bot", "pipeline", "workflow")) {
        Subject kind = c.equals("bot") ? Subject.bots() : c.equals("pipeline") ? Subject.pipelines() : Subject.workflows();
        Subject one = subject(c);
        List<BatchResult<String>> sealed = om.sealBatch(kind, List.of(BatchItem.of(one.name(), document(c))));
        String st = sealed.get(0).get();
        assertEquals(parse(document(c)), parse(om.reveal(one, st, false)));
        assertEquals(parse(om.mask(one, st)), parse(om.maskBatch(kind, List.of(BatchItem.of(one.name(), st))).get(0).get()));
      }
    }
  }

  /** seal with the previous stored form deletes the secrets the new form no longer references. */
  @ParameterizedTest
  @ValueSource(strings = {"managed-local", "managed-vault"})
  void sealWithThePreviousFormDeletesWhatIsNoLongerReferenced(String mode) {
    try (OmSecrets om = open(mode)) {
      Subject s = Subject.service("database", "snow");
      String v1 = "{\"type\":\"Snowflake\",\"username\":\"INGEST\",\"account\":\"xy1\","
          + "\"privateKey\":\"-----BEGIN PRIVATE KEY-----\\nabc\\n-----END PRIVATE KEY-----\\n\","
          + "\"snowflakePrivatekeyPassphrase\":\"key-pass\"}";
      String stored1 = om.seal(s, v1);
      assertEquals(2, om.fields(s, v1).stream().filter(f -> f.treatment().equals("secret")).count());
      String v2 = om.merge(s, stored1, om.mask(s, stored1).replace(",\"privateKey\":\"" + MASK + "\"", ""));
      String stored2 = om.seal(s, v2, stored1);
      assertEquals(null, at(stored2, "/privateKey"));
      assertEquals("key-pass", str(om.reveal(s, stored2, false), "/snowflakePrivatekeyPassphrase"));
      // The private key's secret is gone: the old form no longer reveals.
      StoreException gone = assertThrows(StoreException.class, () -> om.reveal(s, stored1, false));
      assertTrue(gone.secretId().endsWith("/openmetadata/database/snow/privatekey"), gone.secretId());
      List<String> deleted = om.forget(s, stored2);
      assertEquals(1, deleted.size());
      assertTrue(deleted.get(0).endsWith("/openmetadata/database/snow/snowflakeprivatekeypassphrase"), deleted.get(0));
    }
  }
}
