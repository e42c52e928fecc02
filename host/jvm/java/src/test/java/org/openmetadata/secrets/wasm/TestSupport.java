package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/** What the tests share: fixtures, instances per mode, Fernet, pointers, memory. */
final class TestSupport {
  private TestSupport() {}

  static final String MASK = "*********";
  private static final AtomicInteger SEQ = new AtomicInteger();

  static String prop(String k) {
    String v = System.getProperty(k);
    if (v == null) {
      throw new IllegalStateException("system property " + k + " is not set: run through cargo test -p om-secrets-jvm");
    }
    return v;
  }

  static String key() {
    return prop("om.test.fernetKey");
  }

  /** A fresh directory below the harness's work directory. */
  static Path newDir(String tag) {
    try {
      return Files.createDirectories(
          Path.of(prop("om.test.work")).resolve(tag + "-" + SEQ.incrementAndGet() + "-" + System.nanoTime()));
    } catch (IOException e) {
      throw new RuntimeException(e);
    }
  }

  /** The configuration map of a mode, on a fresh home (and, for vault, a fresh prefix). */
  static Map<String, Object> config(String mode, Path home) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("secretsManager", mode);
    c.put("fernetKey", key());
    c.put("home", home.toString());
    if (mode.endsWith("vault")) {
      Map<String, Object> p = new LinkedHashMap<>();
      p.put("address", prop("om.test.vault.addr"));
      p.put("token", prop("om.test.vault.token"));
      p.put("writesPerSecond", 0);
      p.put("cacheTtlSeconds", 0);
      c.put("parameters", p);
      c.put("prefix", "jvm" + SEQ.incrementAndGet() + "x" + Long.toHexString(System.nanoTime()));
    }
    return c;
  }

  static OmSecrets open(String mode) {
    return OmSecrets.fromMap(config(mode, newDir(mode)));
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> fixtures() {
    try {
      return (Map<String, Object>) Json.parse(Files.readString(Path.of(prop("om.test.fixtures"))));
    } catch (IOException e) {
      throw new RuntimeException(e);
    }
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> fixture(String name) {
    return (Map<String, Object>) fixtures().get(name);
  }

  static String document(String name) {
    return Json.write(fixture(name).get("document"));
  }

  @SuppressWarnings("unchecked")
  static Map<String, String> secrets(String name) {
    return (Map<String, String>) fixture(name).get("secrets");
  }

  @SuppressWarnings("unchecked")
  static Subject subject(String name) {
    Map<String, Object> s = (Map<String, Object>) fixture(name).get("subject");
    String n = (String) s.get("name");
    switch ((String) s.get("kind")) {
      case "service":
        return Subject.service((String) s.get("serviceType"), n);
      case "bot":
        return Subject.bot(n);
      case "pipeline":
        return Subject.pipeline(n);
      default:
        return Subject.workflow(n);
    }
  }

  static Object parse(String json) {
    return Json.parse(json);
  }

  /** The value at an RFC 6901 pointer (null if absent). */
  static Object at(Object doc, String pointer) {
    if (doc instanceof String) {
      doc = Json.parse((String) doc);
    }
    if (pointer.isEmpty()) {
      return doc;
    }
    Object cur = doc;
    for (String t : pointer.substring(1).split("/", -1)) {
      t = t.replace("~1", "/").replace("~0", "~");
      if (cur instanceof Map) {
        cur = ((Map<?, ?>) cur).get(t);
      } else if (cur instanceof List) {
        cur = ((List<?>) cur).get(Integer.parseInt(t));
      } else {
        return null;
      }
    }
    return cur;
  }

  static String str(Object doc, String pointer) {
    return (String) at(doc, pointer);
  }

  /** Every string of a document. */
  static List<String> strings(Object v) {
    List<String> out = new ArrayList<>();
    walk(v instanceof String ? Json.parse((String) v) : v, out);
    return out;
  }

  private static void walk(Object v, List<String> out) {
    if (v instanceof String) {
      out.add((String) v);
    } else if (v instanceof Map) {
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
        out.add((String) e.getKey());
        walk(e.getValue(), out);
      }
    } else if (v instanceof List) {
      for (Object o : (List<?>) v) {
        walk(o, out);
      }
    }
  }

  static void assertNoSecret(String text, String secret) {
    assertTrue(!text.contains(secret), "a secret value appears in: " + text);
  }

  // ------------------------------------------------------------------ Fernet

  /** Fernet-decrypt a {@code fernet:} value with the test key (independent of om-secrets). */
  static String fernetDecrypt(String value) {
    try {
      String token = value.substring("fernet:".length());
      byte[] k = Base64.getUrlDecoder().decode(key());
      byte[] t = Base64.getUrlDecoder().decode(token.replace('+', '-').replace('/', '_'));
      assertEquals((byte) 0x80, t[0], "Fernet version");
      int n = t.length;
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(Arrays.copyOfRange(k, 0, 16), "HmacSHA256"));
      byte[] want = mac.doFinal(Arrays.copyOfRange(t, 0, n - 32));
      assertTrue(MessageDigest.isEqual(want, Arrays.copyOfRange(t, n - 32, n)), "Fernet HMAC");
      Cipher c = Cipher.getInstance("AES/CBC/PKCS5Padding");
      c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(Arrays.copyOfRange(k, 16, 32), "AES"),
          new IvParameterSpec(Arrays.copyOfRange(t, 9, 25)));
      return new String(c.doFinal(Arrays.copyOfRange(t, 25, n - 32)), StandardCharsets.UTF_8);
    } catch (java.security.GeneralSecurityException e) {
      throw new AssertionError("not a Fernet token of the test key", e);
    }
  }

  /** The document with every {@code fernet:} string replaced by {@code fernet->} + its plaintext. */
  static Object opened(Object v) {
    if (v instanceof String) {
      String s = (String) v;
      return s.startsWith("fernet:") ? "fernet->" + fernetDecrypt(s) : s;
    }
    if (v instanceof Map) {
      Map<String, Object> m = new LinkedHashMap<>();
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
        m.put((String) e.getKey(), opened(e.getValue()));
      }
      return m;
    }
    if (v instanceof List) {
      List<Object> l = new ArrayList<>();
      for (Object o : (List<?>) v) {
        l.add(opened(o));
      }
      return l;
    }
    return v;
  }

  static Object openedJson(String json) {
    return opened(Json.parse(json));
  }

  // ------------------------------------------------------------------ store and memory

  /** The embedded store's file (null if never written). */
  static byte[] storeBytes(Path home) {
    try {
      Path p = home.resolve("store/secrets.json");
      return Files.exists(p) ? Files.readAllBytes(p) : null;
    } catch (IOException e) {
      throw new RuntimeException(e);
    }
  }

  /** This process's resident memory, KiB (/proc/self/status VmRSS). */
  static long rssKib() {
    try {
      for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (l.startsWith("VmRSS:")) {
          return Long.parseLong(l.replaceAll("[^0-9]", ""));
        }
      }
    } catch (IOException e) {
      throw new RuntimeException(e);
    }
    throw new IllegalStateException("no VmRSS");
  }
}
