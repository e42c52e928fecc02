package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The adapter's calls store what the CLI stores: the harness sealed the same fixtures with the
 * library calls {@code om-secrets seal|reveal --keep-references|mask|fields} make, with the same
 * Fernet key; tokens differ only by their random IV, so both sides are compared with every token
 * opened.
 */
class CliParityTest {
  @SuppressWarnings("unchecked")
  static Map<String, Object> expected(String mode, String c) {
    try {
      Map<String, Object> all = (Map<String, Object>) Json.parse(Files.readString(Path.of(prop("om.test.expected"))));
      return (Map<String, Object>) ((Map<String, Object>) all.get(mode)).get(c);
    } catch (IOException e) {
      throw new RuntimeException(e);
    }
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> map(Object o) {
    return (Map<String, Object>) o;
  }

  @ParameterizedTest
  @ValueSource(strings = {"db", "managed-local"})
  void adapterCallsStoreWhatTheCliStores(String mode) {
    try (OmSecrets om = open(mode)) {
      OpenMetadataSecretsAdapter sm = new OpenMetadataSecretsAdapter(om);
      for (String c : List.of("mysql", "kafka")) {
        Map<String, Object> f = fixture(c);
        Map<String, Object> want = expected(mode, c);
        ServiceType st = ServiceType.valueOf((String) f.get("serviceType"));
        String type = (String) f.get("connectionType");
        String name = subject(c).name();
        // As a Map and as a JSON string.
        Object sealedMap = sm.encryptServiceConnectionConfig(map(f.get("document")), type, name, st);
        assertTrue(sealedMap instanceof Map);
        assertEquals(opened(want.get("sealed")), opened(sealedMap), c);
        String sealed = (String) sm.encryptServiceConnectionConfig(document(c), type, name, st);
        assertEquals(opened(want.get("sealed")), openedJson(sealed), c);
        assertEquals(want.get("revealed"), parse((String) sm.decryptServiceConnectionConfig(sealed, type, name, st)));
        assertEquals(want.get("masked"), parse((String) sm.maskServiceConnectionConfig(sealed, type, st)));
        assertEquals(fieldMaps(want.get("fields")), fieldMaps(om.fields(subject(c), document(c))));
        List<String> deleted = sm.deleteSecretsFromServiceConnectionConfig(sealed, type, name, st);
        List<String> ids = new ArrayList<>();
        for (Object o : (List<?>) want.get("fields")) {
          ids.add((String) map(o).get("secretId"));
        }
        assertEquals(mode.equals("db") ? List.of() : ids, deleted);
      }

      // A bot: the adapter takes and gives the authentication mechanism alone.
      Map<String, Object> bot = expected(mode, "bot");
      Object am = map(fixture("bot").get("document")).get("authenticationMechanism");
      Object sealedAm = sm.encryptAuthenticationMechanism("ingestion-bot", am);
      assertEquals(opened(map(bot.get("sealed")).get("authenticationMechanism")), opened(sealedAm));
      assertEquals(map(bot.get("revealed")).get("authenticationMechanism"),
          sm.decryptAuthenticationMechanism("ingestion-bot", sealedAm));
      assertEquals(map(bot.get("masked")).get("authenticationMechanism"),
          sm.maskAuthenticationMechanism("ingestion-bot", sealedAm));

      // An ingestion pipeline and a workflow: the whole entity, named by its `name`.
      Map<String, Object> p = expected(mode, "pipeline");
      String sealedP = (String) sm.encryptIngestionPipeline(document("pipeline"));
      assertEquals(opened(p.get("sealed")), openedJson(sealedP));
      assertEquals(p.get("revealed"), parse((String) sm.decryptIngestionPipeline(sealedP)));
      assertEquals(p.get("masked"), parse((String) sm.maskIngestionPipeline(sealedP)));
      Map<String, Object> w = expected(mode, "workflow");
      Object sealedW = sm.encryptWorkflow(map(fixture("workflow").get("document")));
      assertEquals(opened(w.get("sealed")), opened(sealedW));
      assertEquals(w.get("revealed"), sm.decryptWorkflow(sealedW));
      assertEquals(w.get("masked"), sm.maskWorkflow(sealedW));

      // A whole service entity, through the library API.
      Map<String, Object> e = expected(mode, "postgresEntity");
      String sealedE = om.seal(subject("postgresEntity"), document("postgresEntity"));
      assertEquals(opened(e.get("sealed")), openedJson(sealedE));
      assertEquals(e.get("revealed"), parse(om.reveal(subject("postgresEntity"), sealedE, true)));
    }
  }

  static List<Map<String, Object>> fieldMaps(Object fields) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Object o : (List<?>) fields) {
      Map<String, Object> m = new LinkedHashMap<>();
      if (o instanceof Field) {
        Field f = (Field) o;
        m.put("pointer", f.pointer());
        m.put("secretId", f.secretId());
        m.put("treatment", f.treatment());
      } else {
        m.putAll(map(o));
      }
      out.add(m);
    }
    return out;
  }
}
