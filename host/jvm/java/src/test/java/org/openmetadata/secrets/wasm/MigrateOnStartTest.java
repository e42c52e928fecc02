package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code migrateOnStart}: a real PostgreSQL the Rust harness started (databases.sh) and filled with
 * OpenMetadata rows sealed in db mode ({@code om.test.migrate.url}, {@code om.test.migrate.rows});
 * run by the harness's {@code migrate_on_start_in_the_jvm} only. Rows are read back with {@code
 * psql}.
 */
class MigrateOnStartTest {
  /** The password of the database URL ({@code scheme://user:password@host...}). */
  private static String password(String url) {
    String auth = url.substring(url.indexOf("://") + 3, url.lastIndexOf('@'));
    return auth.substring(auth.indexOf(':') + 1);
  }

  /** Run SQL with psql; its output (unaligned, tuples only). */
  private static String psql(String url, String sql) throws IOException, InterruptedException {
    Process p =
        new ProcessBuilder("psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), "psql: " + out);
    return out.trim();
  }

  private static Map<String, Object> config(String mode, Object migrateOnStart) {
    Map<String, Object> c = TestSupport.config(mode, newDir("migrate-" + mode));
    c.put("migrateOnStart", migrateOnStart);
    return c;
  }

  @Test
  @SuppressWarnings("unchecked")
  void theInstanceOpensOnceTheDatabaseIsMigrated() throws Exception {
    String url = prop("om.test.migrate.url");
    Map<String, Object> input =
        (Map<String, Object>) Json.parse(Files.readString(Path.of(prop("om.test.migrate.rows"))));
    List<Map<String, Object>> rows = (List<Map<String, Object>>) input.get("rows");
    String pw = password(url);

    // A non-managed mode refuses it, naming the key, never the password.
    ConfigException ce =
        assertThrows(ConfigException.class, () -> OmSecrets.fromMap(config("db", url)));
    assertTrue(ce.getMessage().contains("migrateOnStart"), ce.getMessage());
    assertFalse(ce.getMessage().contains(pw), ce.getMessage());

    // managed-local: the factory returns once every row's secrets are in the store.
    Map<String, Object> c = config("managed-local", url);
    try (OmSecrets om = OmSecrets.fromMap(c)) {
      for (Map<String, Object> r : rows) {
        String stored =
            psql(url, "SELECT json FROM " + r.get("table") + " WHERE id = '" + r.get("id") + "'");
        Subject s = Subject.service((String) r.get("serviceType"), (String) r.get("name"));
        // Encrypted references now, not the values...
        List<String> refs = strings(om.reveal(s, stored, true));
        assertTrue(refs.stream().anyMatch(v -> v.startsWith("secret:/")), r.get("name") + ": " + refs);
        // ...which reveal to what the row held.
        assertEquals(r.get("expected"), Json.parse(om.reveal(s, stored, false)), (String) r.get("name"));
      }
    }
    assertTrue(rows.size() >= 5, "rows: " + rows.size());

    // A row sealed with another key: requireClean (the default) refuses to open, naming the row.
    psql(url, (String) input.get("badRowSql"));
    String badId = (String) input.get("badRowId");
    Map<String, Object> reopened = new LinkedHashMap<>(c);
    MigrationException me =
        assertThrows(MigrationException.class, () -> OmSecrets.fromMap(reopened));
    assertTrue(me.isUnclean(), me.getMessage());
    assertEquals(1, me.skippedRows(), me.getMessage());
    assertEquals(0, me.orphanedSecrets(), me.getMessage());
    assertFalse(me.isRetryable(), me.getMessage());
    assertTrue(me.getMessage().contains("skipped dbservice_entity " + badId), me.getMessage());
    assertFalse(me.getMessage().contains(pw), me.getMessage());
    // requireClean: false opens, the row left as it was.
    Map<String, Object> lenient = new LinkedHashMap<>();
    lenient.put("url", url);
    lenient.put("requireClean", false);
    reopened.put("migrateOnStart", lenient);
    String before = psql(url, "SELECT json FROM dbservice_entity WHERE id = '" + badId + "'");
    try (OmSecrets om = OmSecrets.fromMap(reopened)) {
      assertEquals(
          before, psql(url, "SELECT json FROM dbservice_entity WHERE id = '" + badId + "'"));
    }
  }
}
