package org.openmetadata.secrets.wasm;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader and writer between text and {@code Map}/{@code List}/{@code String}/{@code
 * Number}/{@code Boolean}/{@code null}, with no third-party library. Objects read as {@link
 * LinkedHashMap} (member order kept), arrays as {@link ArrayList}, integers as {@link Long} (or
 * {@link BigInteger}), other numbers as {@link Double}.
 *
 * <p>Errors name a position or a JSON pointer, never content: the documents hold secrets.
 */
final class Json {
  private Json() {}

  // ------------------------------------------------------------------ writing

  /**
   * The JSON text of a value.
   *
   * @throws InvalidInputException for a value JSON cannot hold (an unsupported type, a non-string
   *     key, a non-finite number, a string with an unpaired surrogate, nesting deeper than {@link
   *     #MAX_DEPTH} such as a Map that contains itself), naming its pointer
   */
  static String write(Object value) {
    StringBuilder out = new StringBuilder(256);
    write(out, value, new StringBuilder(), 0);
    return out.toString();
  }

  /**
   * The deepest nesting read or written. A Map or List that contains itself would otherwise recurse
   * until a {@link StackOverflowError}; the native parser refuses anything deeper than 128 anyway.
   */
  static final int MAX_DEPTH = 512;

  private static void write(StringBuilder out, Object v, StringBuilder path, int depth) {
    if (depth > MAX_DEPTH && (v instanceof Map || v instanceof Collection || v instanceof Object[])) {
      throw new InvalidInputException(path.toString(),
          "nesting deeper than " + MAX_DEPTH + " levels (a Map or List that contains itself?)");
    }
    if (v == null) {
      out.append("null");
    } else if (v instanceof CharSequence) {
      string(out, v.toString(), path);
    } else if (v instanceof Boolean) {
      out.append(((Boolean) v).booleanValue());
    } else if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      if (Double.isNaN(d) || Double.isInfinite(d)) {
        throw new InvalidInputException(path.toString(), "a number that JSON cannot hold (NaN or infinite)");
      }
      out.append(v);
    } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte
        || v instanceof BigInteger) {
      out.append(v);
    } else if (v instanceof BigDecimal) {
      out.append(((BigDecimal) v).toString());
    } else if (v instanceof Map) {
      out.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
        if (!(e.getKey() instanceof String)) {
          throw new InvalidInputException(path.toString(), "an object key that is not a string");
        }
        String key = (String) e.getKey();
        int mark = path.length();
        path.append('/').append(key.replace("~", "~0").replace("/", "~1"));
        if (!first) {
          out.append(',');
        }
        first = false;
        string(out, key, path);
        out.append(':');
        write(out, e.getValue(), path, depth + 1);
        path.setLength(mark);
      }
      out.append('}');
    } else if (v instanceof Collection || v instanceof Object[]) {
      Iterable<?> items = v instanceof Object[] ? List.of((Object[]) v) : (Collection<?>) v;
      out.append('[');
      int i = 0;
      for (Object item : items) {
        int mark = path.length();
        path.append('/').append(i);
        if (i > 0) {
          out.append(',');
        }
        write(out, item, path, depth + 1);
        path.setLength(mark);
        i++;
      }
      out.append(']');
    } else {
      throw new InvalidInputException(
          path.toString(), "a value of type " + v.getClass().getName() + " that JSON cannot hold");
    }
  }

  private static void string(StringBuilder out, String s, StringBuilder path) {
    int bad = Utf8.unpairedSurrogate(s);
    if (bad >= 0) {
      throw new InvalidInputException(
          path.toString(), "holds an unpaired UTF-16 surrogate (not valid Unicode) at character " + bad);
    }
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"':
          out.append("\\\"");
          break;
        case '\\':
          out.append("\\\\");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        case '\b':
          out.append("\\b");
          break;
        case '\f':
          out.append("\\f");
          break;
        default:
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
      }
    }
    out.append('"');
  }

  // ------------------------------------------------------------------ reading

  /**
   * The value of a JSON text.
   *
   * @throws InvalidInputException if the text is not JSON (naming the position only)
   */
  static Object parse(String text) {
    Reader r = new Reader(text);
    r.space();
    Object v = r.value(0);
    r.space();
    if (r.pos != text.length()) {
      throw r.error("trailing characters after the JSON value");
    }
    return v;
  }

  private static final class Reader {
    final String s;
    int pos;

    Reader(String s) {
      this.s = s;
    }

    InvalidInputException error(String what) {
      return new InvalidInputException("", "not valid JSON: " + what + " at character " + pos);
    }

    void space() {
      while (pos < s.length()) {
        char c = s.charAt(pos);
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
          pos++;
        } else {
          break;
        }
      }
    }

    char peek() {
      if (pos >= s.length()) {
        throw error("unexpected end");
      }
      return s.charAt(pos);
    }

    Object value(int depth) {
      if (depth > MAX_DEPTH) {
        throw error("nesting deeper than " + MAX_DEPTH);
      }
      char c = peek();
      switch (c) {
        case '{':
          return object(depth);
        case '[':
          return array(depth);
        case '"':
          return string();
        case 't':
          return literal("true", Boolean.TRUE);
        case 'f':
          return literal("false", Boolean.FALSE);
        case 'n':
          return literal("null", null);
        default:
          if (c == '-' || (c >= '0' && c <= '9')) {
            return number();
          }
          throw error("unexpected character");
      }
    }

    Object literal(String word, Object v) {
      if (!s.startsWith(word, pos)) {
        throw error("unexpected character");
      }
      pos += word.length();
      return v;
    }

    Map<String, Object> object(int depth) {
      Map<String, Object> m = new LinkedHashMap<>();
      pos++;
      space();
      if (peek() == '}') {
        pos++;
        return m;
      }
      while (true) {
        space();
        if (peek() != '"') {
          throw error("expected a string key");
        }
        String k = string();
        space();
        if (peek() != ':') {
          throw error("expected ':'");
        }
        pos++;
        space();
        m.put(k, value(depth + 1));
        space();
        char c = peek();
        pos++;
        if (c == '}') {
          return m;
        }
        if (c != ',') {
          pos--;
          throw error("expected ',' or '}'");
        }
      }
    }

    List<Object> array(int depth) {
      List<Object> a = new ArrayList<>();
      pos++;
      space();
      if (peek() == ']') {
        pos++;
        return a;
      }
      while (true) {
        space();
        a.add(value(depth + 1));
        space();
        char c = peek();
        pos++;
        if (c == ']') {
          return a;
        }
        if (c != ',') {
          pos--;
          throw error("expected ',' or ']'");
        }
      }
    }

    String string() {
      pos++;
      StringBuilder b = null;
      int start = pos;
      while (true) {
        if (pos >= s.length()) {
          throw error("unterminated string");
        }
        char c = s.charAt(pos);
        if (c == '"') {
          String out = b == null ? s.substring(start, pos) : b.append(s, start, pos).toString();
          pos++;
          return out;
        }
        if (c < 0x20) {
          throw error("a control character in a string");
        }
        if (c == '\\') {
          if (b == null) {
            b = new StringBuilder();
          }
          b.append(s, start, pos);
          pos++;
          char e = peek();
          pos++;
          switch (e) {
            case '"':
              b.append('"');
              break;
            case '\\':
              b.append('\\');
              break;
            case '/':
              b.append('/');
              break;
            case 'b':
              b.append('\b');
              break;
            case 'f':
              b.append('\f');
              break;
            case 'n':
              b.append('\n');
              break;
            case 'r':
              b.append('\r');
              break;
            case 't':
              b.append('\t');
              break;
            case 'u':
              if (pos + 4 > s.length()) {
                throw error("a short \\u escape");
              }
              try {
                b.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
              } catch (NumberFormatException x) {
                throw error("a bad \\u escape");
              }
              pos += 4;
              break;
            default:
              pos--;
              throw error("a bad escape");
          }
          start = pos;
        } else {
          pos++;
        }
      }
    }

    Object number() {
      int start = pos;
      if (peek() == '-') {
        pos++;
      }
      boolean integral = true;
      while (pos < s.length()) {
        char c = s.charAt(pos);
        if (c >= '0' && c <= '9') {
          pos++;
        } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
          integral = false;
          pos++;
        } else {
          break;
        }
      }
      String t = s.substring(start, pos);
      try {
        if (integral) {
          BigInteger big = new BigInteger(t);
          return big.bitLength() < 64 ? (Object) big.longValue() : big;
        }
        return Double.valueOf(t);
      } catch (NumberFormatException x) {
        pos = start;
        throw error("a bad number");
      }
    }
  }
}
