package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The three ways to configure an instance. */
class ConfigTest {
  @Test
  void fromAFileFromAMapAndFromTheEnvironment() throws Exception {
    Subject s = Subject.service("database", "mysql-prod");
    String doc = document("mysql");
    Path home = newDir("file");
    Path f = home.resolve("om-secrets.yaml");
    Files.writeString(f, "secretsManager: managed-local\nfernetKey: \"" + key() + "\"\nhome: " + home
        + "\nclusterName: om-file\n");
    try (OmSecrets om = OmSecrets.fromFile(f)) {
      String stored = om.seal(s, doc);
      assertEquals("secret:/om-file/database/mysql-prod/authtype/password",
          fernetDecrypt(str(stored, "/authType/password")));
      assertNotNull(storeBytes(home));
      assertEquals(parse(doc), parse(om.reveal(s, stored, false)));
    }
    // The harness sets no OpenMetadata variable: the embedded default, in ./.om-secrets.
    try (OmSecrets om = OmSecrets.fromEnvironment()) {
      String stored = om.seal(s, doc);
      assertTrue(str(stored, "/authType/password").startsWith("fernet:"));
      assertEquals(parse(doc), parse(om.reveal(s, stored, false)));
      assertTrue(Files.exists(Path.of(".om-secrets", "fernet.key")));
    }
  }

  /** The map OpenMetadata's JsonUtils.getMap gives of its secretsManagerConfiguration. */
  @Test
  void openMetadatasConfigurationMapIsAccepted() {
    java.util.Map<String, Object> c = new java.util.LinkedHashMap<>();
    c.put("secretsManager", "db");
    c.put("prefix", null);
    c.put("tags", java.util.List.of("team:data"));
    c.put("parameters", new java.util.LinkedHashMap<>());
    c.put("fernetKey", key());
    c.put("home", newDir("om-map").toString());
    try (OmSecrets om = OmSecrets.fromMap(c)) {
      Subject s = Subject.service("Database", "m");
      String stored = om.seal(s, document("mysql"));
      assertEquals("s3cr3t-Mysql-pw", fernetDecrypt(str(stored, "/authType/password")));
    }
    // A parameter the provider does not take (AWS's `region` for OpenBao) is an error naming it.
    c.put("parameters", java.util.Map.of("address", prop("om.test.vault.addr"),
        "token", prop("om.test.vault.token"), "region", "eu-west-1"));
    c.put("secretsManager", "managed-vault");
    ConfigException e = org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class, () -> {
      try (OmSecrets om = OmSecrets.fromMap(c)) {
        om.seal(Subject.service("database", "m"), document("mysql"));
      }
    });
    assertTrue(e.getMessage().contains("region"), e.getMessage());
  }
}
