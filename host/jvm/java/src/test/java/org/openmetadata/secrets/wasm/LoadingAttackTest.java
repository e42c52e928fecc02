package org.openmetadata.secrets.wasm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.io.File;
import java.lang.reflect.InvocationTargetException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Loading the native library: once per JVM (a second class loader gets a clear error, not a second
 * copy of the library), extracted from the jar to a private file that does not outlive the load,
 * concurrent JVMs never sharing one, and an unusable temporary directory a clear error.
 */
class LoadingAttackTest {
  /** The jar (or directory) the library's classes come from, and this test's classes. */
  static Path location(Class<?> c) throws Exception {
    return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
  }

  @Test
  void aSecondClassLoaderGetsAClearErrorNotASecondCopy() throws Exception {
    assertTrue(OmSecrets.nativeLibrarySource().length() > 0); // loaded by this class loader
    URL jar = location(OmSecrets.class).toUri().toURL();
    for (int i = 0; i < 2; i++) {
      try (URLClassLoader other = new URLClassLoader(new URL[] {jar}, ClassLoader.getPlatformClassLoader())) {
        Class<?> c = other.loadClass(OmSecrets.class.getName());
        InvocationTargetException e = assertThrows(InvocationTargetException.class,
            () -> c.getMethod("nativeLibrarySource").invoke(null));
        Throwable cause = e.getCause();
        if (cause instanceof NoClassDefFoundError && cause.getCause() != null) {
          cause = cause.getCause(); // a second attempt in the same loader: the first failure
        }
        String m = String.valueOf(cause.getMessage());
        assertTrue(cause instanceof UnsatisfiedLinkError || m.contains("UnsatisfiedLinkError"), cause.toString());
        assertTrue(m.contains("another class loader"), m);
        // The failure is reported again, never a crash, on a later use in that loader.
        assertThrows(InvocationTargetException.class, () -> c.getMethod("nativeLibrarySource").invoke(null));
      }
    }
    // This loader's library still works.
    try (OmSecrets om = open("in-memory")) {
      assertEquals(MASK, str(om.mask(Subject.services("database"), document("mysql")), "/authType/password"));
    }
  }

  /** A child JVM that loads the library from the jar and reports on its temporary directory. */
  public static final class Child {
    public static void main(String[] args) throws Exception {
      try {
        System.out.println("source " + OmSecrets.nativeLibrarySource());
      } catch (Throwable e) {
        System.out.println("failed " + e);
        return;
      }
      Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
      try (Stream<Path> s = Files.list(tmp)) {
        System.out.println("left " + s.filter(p -> p.getFileName().toString().startsWith("om-secrets-jvm-")).count());
      }
      java.util.Map<String, Object> c = new java.util.HashMap<>();
      c.put("secretsManager", "in-memory");
      c.put("fernetKey", args[0]);
      try (OmSecrets om = OmSecrets.fromMap(c)) {
        System.out.println("opened " + !om.isClosed());
      }
    }
  }

  static Process child(Path tmpdir) throws Exception {
    String cp = location(OmSecrets.class) + File.pathSeparator + location(LoadingAttackTest.class);
    return new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Djava.io.tmpdir=" + tmpdir, "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", cp,
        Child.class.getName(), key())
        .redirectErrorStream(true)
        .start();
  }

  static String output(Process p) throws Exception {
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the child JVM hangs");
    assertEquals(0, p.exitValue(), out);
    return out;
  }

  /**
   * Two JVMs loading at once from one temporary directory: each its own file, removed once loaded
   * (a JVM killed -9 leaves none behind); a missing directory: a clear error naming it.
   */
  @Test
  void extractionIsPrivateLeavesNoFileAndFailsClearly() throws Exception {
    Path tmp = newDir("tmpdir");
    // Alone: nothing left in the directory once loaded, while the JVM runs.
    String alone = output(child(tmp));
    assertTrue(alone.contains("source jar") && alone.contains("opened true"), alone);
    assertTrue(alone.contains("left 0"), alone);
    // Two at once in one directory: each its own file.
    List<Process> ps = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      ps.add(child(tmp));
    }
    for (Process p : ps) {
      String out = output(p);
      assertTrue(out.contains("source jar") && out.contains("opened true"), out);
    }
    try (Stream<Path> s = Files.list(tmp)) {
      assertEquals(0, s.count());
    }
    Path missing = tmp.resolve("no-such-dir");
    String out = output(child(missing));
    assertTrue(out.contains("failed java.lang.UnsatisfiedLinkError"), out);
    assertTrue(out.contains(missing.toString()), out);
    assertTrue(out.contains("java.io.tmpdir"), out);
  }
}
