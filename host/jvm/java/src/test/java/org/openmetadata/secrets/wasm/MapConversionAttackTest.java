package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Attacks on the adapter's {@code Map} conversion: what a Java caller can hand over that JSON
 * cannot hold is refused with an {@link InvalidInputException} naming the place, never a {@link
 * StackOverflowError} and never silently rewritten.
 */
class MapConversionAttackTest {
  static final String SECRET = "s3cr3t-Mysql-pw";

  static Map<String, Object> mysql() {
    Map<String, Object> auth = new LinkedHashMap<>();
    auth.put("password", SECRET);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("username", "u");
    m.put("hostPort", "h:3306");
    m.put("authType", auth);
    return m;
  }

  /** A Map that contains itself (or a List that does) is refused, not a stack overflow. */
  @Test
  void cyclicMapsAndListsAreRefused() {
    try (OmSecrets om = open("in-memory")) {
      OpenMetadataSecretsAdapter ad = new OpenMetadataSecretsAdapter(om);
      Map<String, Object> m = mysql();
      m.put("self", m);
      InvalidInputException e = assertThrows(InvalidInputException.class,
          () -> ad.maskServiceConnectionConfig(m, "Mysql", ServiceType.DATABASE));
      assertTrue(e.pointer().startsWith("/self/self/self"), e.pointer());
      assertFalse(e.getMessage().contains(SECRET), e.getMessage());
      Map<String, Object> l = mysql();
      List<Object> list = new ArrayList<>();
      list.add(list);
      l.put("options", list);
      e = assertThrows(InvalidInputException.class,
          () -> ad.encryptServiceConnectionConfig(l, "Mysql", "m", ServiceType.DATABASE));
      assertTrue(e.pointer().startsWith("/options/0/0/0"), e.pointer());
      // The instance is fine afterwards.
      assertEquals(MASK, ((Map<?, ?>) ((Map<?, ?>) ad.maskServiceConnectionConfig(
          mysql(), "Mysql", ServiceType.DATABASE)).get("authType")).get("password"));
    }
  }

  /** A Map nested 100,000 deep: refused at the writer's depth limit, as the reader has one. */
  @Test
  void deeplyNestedMapsAreRefused() {
    Map<String, Object> top = mysql();
    Map<String, Object> cur = new HashMap<>();
    top.put("connectionOptions", cur);
    for (int i = 0; i < 100_000; i++) {
      Map<String, Object> next = new HashMap<>();
      cur.put("a", next);
      cur = next;
    }
    InvalidInputException e = assertThrows(InvalidInputException.class, () -> Json.write(top));
    assertTrue(e.getMessage().contains("deeper than"), e.getMessage());
    // Depth the reader accepts, the writer accepts too.
    Object ok = Json.parse("[".repeat(500) + "]".repeat(500));
    assertEquals("[".repeat(500) + "]".repeat(500), Json.write(ok));
  }

  /**
   * A key that is not a string (null, a number) is refused, also where the adapter adds the
   * connector type: it used to become the key {@code "null"} or {@code "7"} without a word.
   */
  @Test
  void nonStringKeysAreRefusedNotRenamed() {
    try (OmSecrets om = open("in-memory")) {
      OpenMetadataSecretsAdapter ad = new OpenMetadataSecretsAdapter(om);
      Map<Object, Object> nullKey = new HashMap<>(mysql());
      nullKey.put(null, "x");
      Map<Object, Object> intKey = new HashMap<>(mysql());
      intKey.put(7, "x");
      for (Map<Object, Object> m : List.of(nullKey, intKey)) {
        // With the connector type added by the adapter, and with the type already there.
        assertThrows(InvalidInputException.class,
            () -> ad.maskServiceConnectionConfig(m, "Mysql", ServiceType.DATABASE));
        m.put("type", "Mysql");
        assertThrows(InvalidInputException.class,
            () -> ad.maskServiceConnectionConfig(m, "Mysql", ServiceType.DATABASE));
        assertThrows(InvalidInputException.class,
            () -> ad.encryptServiceConnectionConfig(m, null, "m", ServiceType.DATABASE));
      }
    }
  }
}
