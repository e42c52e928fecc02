package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Text at the boundary: unpaired surrogates in keys as in values, NUL and control characters in
 * names and values, characters beyond the BMP, duplicate keys, deep nesting, numbers at the edges.
 */
class TextAttackTest {
  static final Subject SVC = Subject.service("database", "m");
  static final String SECRET = "s3cr3t-Mysql-pw";

  @Test
  void unpairedSurrogatesAreRefusedWhereTheyAreKeyOrValue() {
    try (OmSecrets om = open("in-memory")) {
      String doc = document("mysql");
      InvalidInputException key = assertThrows(InvalidInputException.class,
          () -> om.seal(SVC, doc.replace("\"password\"", "\"pass\uD800word\"")));
      assertEquals("/authType/pass\uD800word", key.pointer());
      InvalidInputException value = assertThrows(InvalidInputException.class,
          () -> om.mask(SVC, doc.replace(SECRET, "\uDBFF")));
      assertEquals("/authType/password", value.pointer());
      assertFalse(value.getMessage().contains(SECRET));
      // Escaped: the native parser refuses a lone surrogate escape, in a key too.
      assertEquals("", assertThrows(InvalidInputException.class,
          () -> om.seal(SVC, doc.replace("\"password\"", "\"pass\\uDC00\""))).pointer());
      // A pair, raw or escaped, is a character like any other and round-trips exactly.
      String emoji = "pw-\uD83D\uDE00-\\uD83D\\uDE01";
      String stored = om.seal(SVC, doc.replace(SECRET, emoji));
      assertEquals("pw-\uD83D\uDE00-\uD83D\uDE01", str(om.reveal(SVC, stored, false), "/authType/password"));
    }
  }

  @Test
  void nulAndControlCharacters() {
    try (OmSecrets om = open("in-memory")) {
      String doc = document("mysql");
      // Escaped NUL and controls in a secret: kept exactly.
      String stored = om.seal(SVC, doc.replace(SECRET, "a\\u0000b\\u001f\\n"));
      assertEquals("a\u0000b\u001f\n", str(om.reveal(SVC, stored, false), "/authType/password"));
      // Raw: not JSON.
      assertEquals("", assertThrows(InvalidInputException.class,
          () -> om.seal(SVC, doc.replace(SECRET, "a\u0000b"))).pointer());
      // Names with NUL, newline, slashes: valid, and each its own secret ids.
      Set<String> ids = new HashSet<>();
      for (String n : List.of("a\u0000b", "a_b", "a\nb", "a/b", "../b", "a b")) {
        String id = om.fields(Subject.service("database", n), doc).get(0).secretId();
        assertTrue(id.matches("[\\x21-\\x7e]+"), id);
        assertTrue(ids.add(id), n + " shares " + id);
      }
      // A service type with NUL: refused.
      assertThrows(InvalidInputException.class, () -> om.mask(Subject.services("data\u0000base"), doc));
    }
  }

  @Test
  void duplicateKeysDeepNestingAndNumbers() {
    try (OmSecrets om = open("in-memory")) {
      // Duplicate keys: the last wins everywhere (as Jackson reads them), so what is masked is what
      // is sealed.
      String dup = "{\"type\":\"Mysql\",\"authType\":{\"password\":\"first-pw\",\"password\":\"" + SECRET + "\"}}";
      String stored = om.seal(SVC, dup);
      assertEquals(SECRET, str(om.reveal(SVC, stored, false), "/authType/password"));
      assertFalse(om.reveal(SVC, stored, false).contains("first-pw"));
      assertEquals("{\"type\":\"Mysql\",\"authType\":{\"password\":\"" + MASK + "\"}}", om.mask(SVC, dup));
      // Deep nesting: refused by the native parser's limit, whatever the depth.
      for (int depth : new int[] {129, 100_000}) {
        String deep = "{\"type\":\"Mysql\",\"x\":" + "[".repeat(depth) + "]".repeat(depth) + "}";
        assertEquals("", assertThrows(InvalidInputException.class, () -> om.mask(SVC, deep)).pointer());
      }
      // Numbers: every i64 and u64 exactly; beyond f64's range: not JSON the store can keep.
      String nums = "{\"type\":\"Mysql\",\"a\":9223372036854775807,\"b\":-9223372036854775808,"
          + "\"c\":18446744073709551615,\"d\":9007199254740993,\"e\":1.5e300}";
      assertEquals(parse(nums), parse(om.reveal(SVC, om.seal(SVC, nums), false)));
      assertThrows(InvalidInputException.class, () -> om.mask(SVC, "{\"type\":\"Mysql\",\"a\":1e400}"));
    }
  }

  /**
   * A Java thread with a small stack ({@code -Xss256k} is not rare) and a document nested 120 deep:
   * the native parser's recursion (and a plugin's wasm stack, counted from the thread's stack
   * pointer) ran off the thread's stack and the JVM died with SIGSEGV. Such calls now run on a
   * native helper thread with room.
   */
  @Test
  void aSmallStackThreadSurvivesDeepDocuments() throws Exception {
    try (OmSecrets om = open("in-memory")) {
      String deep = "{\"type\":\"Mysql\",\"authType\":{\"password\":\"" + SECRET + "\"},\"x\":"
          + "[".repeat(120) + "]".repeat(120) + "}";
      String tooDeep = deep.replace("[", "[[[[[[[[[[").replace("]", "]]]]]]]]]]");
      List<String> problems = new java.util.concurrent.CopyOnWriteArrayList<>();
      for (long stack : new long[] {256 * 1024, 512 * 1024}) {
        Thread t = new Thread(null, () -> {
          try {
            Subject s = Subject.service("database", "deep");
            String stored = om.seal(s, deep);
            if (!SECRET.equals(str(om.reveal(s, stored, false), "/authType/password"))) {
              problems.add("reveal");
            }
            if (!om.mask(s, deep).contains(MASK)) {
              problems.add("mask");
            }
            if (!om.maskBatch(Subject.services("database"), List.of(BatchItem.of("d", deep))).get(0).ok()) {
              problems.add("batch");
            }
            try {
              om.mask(s, tooDeep);
              problems.add("a document nested 1200 deep was accepted");
            } catch (InvalidInputException expected) {
              // refused by the parser's limit
            }
          } catch (Throwable e) {
            problems.add(stack + ": " + e);
          }
        }, "small-stack", stack);
        t.start();
        assertTrue(joined(t));
      }
      assertEquals(List.of(), problems);
    }
  }

  static boolean joined(Thread t) {
    try {
      t.join(30_000);
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
    return !t.isAlive();
  }
}
