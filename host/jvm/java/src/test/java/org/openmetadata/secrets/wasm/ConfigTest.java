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
}
