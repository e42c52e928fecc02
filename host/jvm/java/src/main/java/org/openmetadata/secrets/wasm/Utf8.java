package org.openmetadata.secrets.wasm;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * Strings to UTF-8 bytes for the native side, exactly. Java's own encoder (and JNI's modified
 * UTF-8) would replace an unpaired surrogate with {@code ?} or U+FFFD without a word: a secret
 * silently changed. Such a string is refused instead, naming the JSON pointer of the value (or key)
 * that holds it.
 */
final class Utf8 {
  private Utf8() {}

  /**
   * The index of the first unpaired surrogate of {@code s}, or -1.
   */
  static int unpairedSurrogate(String s) {
    int n = s.length();
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      if (c >= Character.MIN_SURROGATE && c <= Character.MAX_SURROGATE) {
        if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
          i++;
        } else {
          return i;
        }
      }
    }
    return -1;
  }

  /**
   * The UTF-8 bytes of a JSON document of at most {@code maxBytes}.
   *
   * @param what how messages name it ("the document")
   * @param maxBytes the largest document accepted: a longer string (each char is at least one
   *     byte) is refused before it is scanned or encoded, so a 100 MB string costs no copy
   * @throws InvalidInputException if it is too long, or holds an unpaired surrogate (at the
   *     pointer of the string)
   */
  static byte[] document(String json, String what, long maxBytes) {
    if (json.length() > maxBytes) {
      throw new InvalidInputException("", what + " is at least " + json.length()
          + " bytes, more than the " + maxBytes + " this instance accepts (4 × limits.maxInputBytes)");
    }
    int bad = unpairedSurrogate(json);
    if (bad >= 0) {
      String pointer = "";
      try {
        String p = locate(Json.parse(json), "");
        if (p != null) {
          pointer = p;
        }
      } catch (InvalidInputException notJson) {
        // The position is all there is to say.
      }
      throw new InvalidInputException(
          pointer,
          what + " holds an unpaired UTF-16 surrogate (not valid Unicode) at character " + bad);
    }
    return json.getBytes(StandardCharsets.UTF_8);
  }

  /**
   * The UTF-8 bytes of a name or type (null stays null).
   *
   * @throws InvalidInputException if it holds an unpaired surrogate
   */
  static byte[] text(String s, String what) {
    if (s == null) {
      return null;
    }
    int bad = unpairedSurrogate(s);
    if (bad >= 0) {
      throw new InvalidInputException(
          null, what + " holds an unpaired UTF-16 surrogate (not valid Unicode) at character " + bad);
    }
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** The pointer of the first string (value or key) below {@code v} with an unpaired surrogate. */
  private static String locate(Object v, String at) {
    if (v instanceof String) {
      return unpairedSurrogate((String) v) >= 0 ? at : null;
    }
    if (v instanceof Map) {
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
        String k = (String) e.getKey();
        String p = at + "/" + k.replace("~", "~0").replace("/", "~1");
        if (unpairedSurrogate(k) >= 0) {
          return p;
        }
        String found = locate(e.getValue(), p);
        if (found != null) {
          return found;
        }
      }
    }
    if (v instanceof List) {
      List<?> l = (List<?>) v;
      for (int i = 0; i < l.size(); i++) {
        String found = locate(l.get(i), at + "/" + i);
        if (found != null) {
          return found;
        }
      }
    }
    return null;
  }
}
