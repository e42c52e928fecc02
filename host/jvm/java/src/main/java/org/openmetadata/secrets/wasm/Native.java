package org.openmetadata.secrets.wasm;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Map;

/**
 * The native methods and the loading of the native library.
 *
 * <p>The library is found, in order: at the path of the system property {@code
 * om.secrets.native.library}; on {@code java.library.path} ({@code om_secrets_jvm}); inside the jar
 * at {@code native/linux-x86_64/libom_secrets_jvm.so}, copied to a private temporary file (a new
 * name in {@code java.io.tmpdir}, so JVMs loading at once never share one) that is deleted as soon
 * as it is loaded (a JVM killed with {@code kill -9} leaves no copy behind).
 *
 * <p>It is loaded by one class loader per JVM: the JVM refuses a second class loader the same
 * file, and a second copy of it (another extraction) would be a second runtime, plugin engine and
 * handle registry in the process. A second class loader gets an {@link UnsatisfiedLinkError}
 * saying so (the owner is recorded in the system property {@value #OWNER}).
 *
 * <p>Every call answers with a tagged byte array: {@code 'O'} and the output, or {@code 'E'} and a
 * JSON error that {@link #check} turns into the typed exception.
 */
final class Native {
  private Native() {}

  static final int OP_SEAL = 0;
  static final int OP_REVEAL = 1;
  static final int OP_MASK = 2;
  static final int OP_MERGE = 3;
  static final int OP_FORGET = 4;
  static final int OP_FIELDS = 5;

  /** How the library was loaded: "path", "java.library.path" or "jar". */
  static final String LOADED_FROM;

  /** The system property naming the class loader that loaded the library in this JVM. */
  static final String OWNER = "org.openmetadata.secrets.wasm.native.loadedBy";

  static {
    LOADED_FROM = loadOnce();
  }

  /** {@link #load()}, by the first class loader to ask only. */
  private static String loadOnce() {
    ClassLoader loader = Native.class.getClassLoader();
    String me = (loader == null ? "the bootstrap class loader" : loader.toString())
        + " #" + Integer.toHexString(System.identityHashCode(loader));
    // Atomic across class loaders: the system properties are the JVM's own.
    Object owner = System.getProperties().putIfAbsent(OWNER, me);
    if (owner != null && !owner.equals(me)) {
      throw new UnsatisfiedLinkError(
          "om-secrets' native library is already loaded in this JVM by another class loader ("
              + owner + "); a JVM loads it once: put om-secrets' jar on a class path that every"
              + " user of it shares (the application's, not a plugin's or a web app's own)");
    }
    try {
      return load();
    } catch (RuntimeException | Error e) {
      System.getProperties().remove(OWNER, me);
      throw e;
    }
  }

  private static String load() {
    String explicit = System.getProperty("om.secrets.native.library");
    if (explicit != null && !explicit.isEmpty()) {
      System.load(Path.of(explicit).toAbsolutePath().toString());
      return "path";
    }
    try {
      System.loadLibrary("om_secrets_jvm");
      return "java.library.path";
    } catch (UnsatisfiedLinkError notOnPath) {
      // The jar's copy, below.
    }
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
    if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
      throw new UnsatisfiedLinkError(
          "om-secrets carries its native library for linux-x86_64 only (this is "
              + os + "-" + arch + "): put a build of libom_secrets_jvm on java.library.path");
    }
    String resource = "/native/linux-x86_64/libom_secrets_jvm.so";
    try (InputStream in = Native.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new UnsatisfiedLinkError(
            "libom_secrets_jvm.so is neither on java.library.path nor in the jar (" + resource + ")");
      }
      Path tmp = Files.createTempFile("om-secrets-jvm-", ".so");
      try {
        Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        System.load(tmp.toAbsolutePath().toString());
      } finally {
        // Loaded (mapped) or failed: the file is no longer needed either way.
        Files.deleteIfExists(tmp);
      }
      return "jar";
    } catch (IOException e) {
      throw new UnsatisfiedLinkError("extracting the native library to java.io.tmpdir ("
          + System.getProperty("java.io.tmpdir") + "): " + e
          + "; point java.io.tmpdir at a writable directory with room for it, or put"
          + " libom_secrets_jvm.so on java.library.path");
    }
  }

  static native byte[] open(int source, byte[] arg);

  static native void close(long handle);

  static native byte[] call(
      long handle,
      int op,
      int kind,
      byte[] serviceType,
      byte[] name,
      byte[] document,
      byte[] second,
      boolean keepReferences);

  static native byte[] batch(
      long handle, int op, int kind, byte[] serviceType, byte[] items, boolean keepReferences);

  static native byte[] panicForTest(boolean unguarded);

  /**
   * The output of an answer as text, or its error thrown.
   */
  static String check(byte[] answer) {
    return check(answer, 0, answer.length);
  }

  static String check(byte[] answer, int offset, int length) {
    if (length > 0 && answer[offset] == 'O') {
      return new String(answer, offset + 1, length - 1, StandardCharsets.UTF_8);
    }
    throw error(answer, offset, length);
  }

  /** The exception an {@code 'E'} answer describes. */
  static OmSecretsException error(byte[] answer, int offset, int length) {
    if (length == 0 || answer[offset] != 'E') {
      return new OmSecretsException("internal error: the native side gave no answer");
    }
    String text = new String(answer, offset + 1, length - 1, StandardCharsets.UTF_8);
    @SuppressWarnings("unchecked")
    Map<String, Object> e = (Map<String, Object>) Json.parse(text);
    String kind = (String) e.get("kind");
    String message = (String) e.get("message");
    switch (kind) {
      case "input":
        return new InvalidInputException((String) e.get("pointer"), message);
      case "plugin":
        return new PluginException((String) e.get("plugin"), message);
      case "store":
        return new StoreException(
            Boolean.TRUE.equals(e.get("retryable")), (String) e.get("secretId"), message);
      case "config":
        return new ConfigException(message);
      case "migration":
        return new MigrationException(
            Boolean.TRUE.equals(e.get("retryable")),
            e.get("skippedRows") instanceof Number ? ((Number) e.get("skippedRows")).longValue() : 0,
            e.get("orphanedSecrets") instanceof Number
                ? ((Number) e.get("orphanedSecrets")).longValue()
                : 0,
            message);
      case "closed":
        throw new IllegalStateException(message);
      default:
        return new OmSecretsException(message);
    }
  }
}
