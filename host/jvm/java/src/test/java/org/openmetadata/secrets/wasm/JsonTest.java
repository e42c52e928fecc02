package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The small JSON reader and writer behind the Map conversions. */
class JsonTest {
  @Test
  void roundTrips() {
    String text = "{\"a\":[1,-2,3.5,1e3,true,false,null],\"b\":{\"c\":\"q\\\"\\\\\\n\\t\\u0001/é😀\"},"
        + "\"big\":123456789012345678901234567890,\"\":{}}";
    Object v = Json.parse(text);
    assertEquals(v, Json.parse(Json.write(v)));
    Map<?, ?> m = (Map<?, ?>) v;
    assertEquals(java.util.Arrays.asList(1L, -2L, 3.5, 1000.0, true, false, null),
        ((List<?>) m.get("a")).subList(0, 7));
    assertEquals(new BigInteger("123456789012345678901234567890"), m.get("big"));
    assertEquals("q\"\\\n\t\u0001/é😀", ((Map<?, ?>) m.get("b")).get("c"));
  }

  @Test
  void badTextNamesAPositionNeverContent() {
    for (String bad : List.of("", "{", "{\"a\" 1}", "[1,]", "tru", "{\"k\":\"secret-value", "1 2")) {
      InvalidInputException e = assertThrows(InvalidInputException.class, () -> Json.parse(bad));
      assertEquals("", e.pointer());
      assertEquals(false, e.getMessage().contains("secret-value"), e.getMessage());
    }
  }

  @Test
  void valuesJsonCannotHoldNameTheirPointer() {
    Map<String, Object> m = new LinkedHashMap<>();
    Map<String, Object> inner = new LinkedHashMap<>();
    inner.put("pass/word", "ab\uD800cd");
    m.put("x", inner);
    InvalidInputException e = assertThrows(InvalidInputException.class, () -> Json.write(m));
    assertEquals("/x/pass~1word", e.pointer());
    assertEquals(false, e.getMessage().contains("ab"), e.getMessage());
    m.put("x", Double.NaN);
    assertEquals("/x", assertThrows(InvalidInputException.class, () -> Json.write(m)).pointer());
    m.put("x", List.of(new Object()));
    assertEquals("/x/0", assertThrows(InvalidInputException.class, () -> Json.write(m)).pointer());
  }
}
