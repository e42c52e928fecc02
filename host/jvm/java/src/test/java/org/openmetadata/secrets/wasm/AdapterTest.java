package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The adapter's shapes, nulls, and OpenMetadata's update flow (mask, unmask, encrypt). */
class AdapterTest {
  @SuppressWarnings("unchecked")
  static Map<String, Object> mysql() {
    return (Map<String, Object>) Json.parse(document("mysql"));
  }

  @Test
  void shapesAndNulls() {
    try (OmSecrets om = open("managed-local")) {
      OpenMetadataSecretsAdapter sm = new OpenMetadataSecretsAdapter(om);
      assertNull(sm.encryptServiceConnectionConfig(null, "Mysql", "m", ServiceType.DATABASE));
      assertNull(sm.decryptServiceConnectionConfig(null, "Mysql", ServiceType.DATABASE));
      assertNull(sm.maskServiceConnectionConfig(null, "Mysql", ServiceType.DATABASE));
      assertNull(sm.encryptAuthenticationMechanism("b", null));
      assertNull(sm.encryptIngestionPipeline(null));
      assertNull(sm.decryptWorkflow(null));
      assertEquals(List.of(), sm.deleteSecretsFromServiceConnectionConfig(null, "Mysql", "m", ServiceType.DATABASE));
      Object m = sm.encryptServiceConnectionConfig(mysql(), "Mysql", "m", ServiceType.DATABASE);
      assertTrue(m instanceof Map);
      Object s = sm.encryptServiceConnectionConfig(document("mysql"), "Mysql", "m", ServiceType.DATABASE);
      assertTrue(s instanceof String);
      InvalidInputException pojo = assertThrows(InvalidInputException.class,
          () -> sm.encryptServiceConnectionConfig(new Object(), "Mysql", "m", ServiceType.DATABASE));
      assertTrue(pojo.getMessage().contains("JSON string or a Map"));
    }
  }

  @Test
  void aMissingTypeIsTakenFromTheConnectionType() {
    try (OmSecrets om = open("db")) {
      OpenMetadataSecretsAdapter sm = new OpenMetadataSecretsAdapter(om);
      Map<String, Object> c = mysql();
      c.remove("type");
      @SuppressWarnings("unchecked")
      Map<String, Object> sealed =
          (Map<String, Object>) sm.encryptServiceConnectionConfig(c, "Mysql", "m", ServiceType.DATABASE);
      assertEquals("Mysql", sealed.get("type"));
      assertTrue(str(sealed, "/authType/password").startsWith("fernet:"));
    }
  }

  @Test
  void decryptingAManagedReferenceNeedsTheServiceName() {
    try (OmSecrets om = open("managed-local")) {
      OpenMetadataSecretsAdapter sm = new OpenMetadataSecretsAdapter(om);
      Object sealed = sm.encryptServiceConnectionConfig(document("mysql"), "Mysql", "mysql-prod", ServiceType.DATABASE);
      InvalidInputException e = assertThrows(InvalidInputException.class,
          () -> sm.decryptServiceConnectionConfig(sealed, "Mysql", ServiceType.DATABASE));
      assertEquals("/authType/password", e.pointer());
      assertEquals("secret:/openmetadata/database/mysql-prod/authtype/password",
          str(sm.decryptServiceConnectionConfig(sealed, "Mysql", "mysql-prod", ServiceType.DATABASE), "/authType/password"));
    }
  }

  /** OpenMetadata's update: the UI saw a mask, sends it back with an edit; nothing is lost. */
  @Test
  void maskUnmaskEncryptKeepsTheSecret() {
    try (OmSecrets om = open("managed-local")) {
      OpenMetadataSecretsAdapter sm = new OpenMetadataSecretsAdapter(om);
      Subject svc = Subject.service("database", "mysql-prod");
      Object stored = sm.encryptServiceConnectionConfig(mysql(), "Mysql", "mysql-prod", ServiceType.DATABASE);
      @SuppressWarnings("unchecked")
      Map<String, Object> shown = (Map<String, Object>) sm.maskServiceConnectionConfig(stored, "Mysql", ServiceType.DATABASE);
      assertEquals(MASK, str(shown, "/authType/password"));
      Map<String, Object> edited = new LinkedHashMap<>(shown);
      edited.put("hostPort", "mysql2.internal:3306");
      Object merged = sm.unmaskServiceConnectionConfig(edited, stored, "Mysql", ServiceType.DATABASE);
      Object resealed = sm.encryptServiceConnectionConfig(merged, "Mysql", "mysql-prod", ServiceType.DATABASE);
      String plain = om.reveal(svc, Json.write(resealed), false);
      assertEquals("s3cr3t-Mysql-pw", str(plain, "/authType/password"));
      assertEquals("mysql2.internal:3306", str(plain, "/hostPort"));

      // The same flow for a bot, a pipeline and a workflow.
      Object am = ((Map<?, ?>) parse(document("bot"))).get("authenticationMechanism");
      Object amStored = sm.encryptAuthenticationMechanism("ingestion-bot", am);
      Object amShown = sm.maskAuthenticationMechanism("ingestion-bot", amStored);
      assertEquals(MASK, str(amShown, "/config/JWTToken"));
      Object amMerged = sm.unmaskAuthenticationMechanism("ingestion-bot", amShown, amStored);
      assertEquals(str(amStored, "/config/JWTToken"), str(amMerged, "/config/JWTToken"));
      String p = (String) sm.encryptIngestionPipeline(document("pipeline"));
      String pMerged = (String) sm.unmaskIngestionPipeline(sm.maskIngestionPipeline(p), p);
      assertEquals(parse(document("pipeline")), parse(om.reveal(Subject.pipeline("dbt-ingest"), pMerged, false)));
      String w = (String) sm.encryptWorkflow(document("workflow"));
      String wMerged = (String) sm.unmaskWorkflow(sm.maskWorkflow(w), w);
      assertEquals(parse(document("workflow")), parse(om.reveal(Subject.workflow("test-connection"), wMerged, false)));
    }
  }

  @Test
  void anEntityWithoutANameIsRefused() {
    try (OmSecrets om = open("managed-local")) {
      OpenMetadataSecretsAdapter sm = new OpenMetadataSecretsAdapter(om);
      @SuppressWarnings("unchecked")
      Map<String, Object> p = (Map<String, Object>) parse(document("pipeline"));
      p.remove("name");
      InvalidInputException e = assertThrows(InvalidInputException.class, () -> sm.encryptIngestionPipeline(p));
      assertEquals("/name", e.pointer());
    }
  }
}
