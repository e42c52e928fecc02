package org.openmetadata.secrets.wasm;

import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * om-secrets in this JVM: the native host with its Fernet keys, secret store and sandboxed policy
 * plugins, configured once, used from any number of threads, closed once.
 *
 * <pre>{@code
 * try (OmSecrets om = OmSecrets.fromEnvironment()) {       // the embedded default
 *   Subject mysql = Subject.service("database", "mysql-prod");
 *   String stored = om.seal(mysql, config);                 // what the database keeps
 *   String masked = om.mask(mysql, stored);                 // what a viewer sees
 *   String plain = om.reveal(mysql, stored, false);         // what a privileged caller gets
 * }
 * }</pre>
 *
 * <p>Documents are JSON strings; each operation does exactly what the {@code om-secrets} CLI does
 * with the same subject and input, and stores the same forms. Operations plan before they act:
 * bad input throws before anything is written.
 *
 * <p><b>Threads.</b> All methods are thread-safe. Store calls run on one runtime that this
 * instance owns; {@link #close()} waits for calls in flight, then shuts it down; later calls throw
 * {@link IllegalStateException}. A thread interrupted during a call finishes the call (its
 * interrupt status stays set). An instance never closed is closed when it becomes unreachable.
 *
 * <p><b>Migration at start-up.</b> With {@code migrateOnStart} configured (the database URL, or
 * {@code {url, requireClean}}; also {@code OM_SECRETS_MIGRATE_ON_START}; managed modes only), every
 * factory first runs {@code om-secrets migrate} on that OpenMetadata database, blocking, and returns
 * only once the database's secrets are in the store; its progress and summary go to stderr as
 * {@code migrateOnStart:} lines. If it cannot run, or finishes with skipped rows or orphaned secrets
 * while {@code requireClean} is true (the default), the factory throws a {@link
 * MigrationException} and no instance is made.
 */
public final class OmSecrets implements AutoCloseable {
  private static final Cleaner CLEANER = Cleaner.create();

  /** The native handle and the lock that makes close wait for calls in flight. */
  private static final class State implements Runnable {
    final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    long handle;

    State(long handle) {
      this.handle = handle;
    }

    @Override
    public void run() {
      lock.writeLock().lock();
      try {
        if (handle != 0) {
          Native.close(handle);
          handle = 0;
        }
      } finally {
        lock.writeLock().unlock();
      }
    }
  }

  private final State state;
  private final Cleaner.Cleanable cleanable;
  /** The largest document the native side accepts, in bytes: a longer string is not even encoded. */
  private final long maxDocumentBytes;

  private OmSecrets(byte[] answer) {
    if (answer.length != 17 || answer[0] != 'O') {
      Native.check(answer); // throws the error
      throw new OmSecretsException("internal error: opening gave no handle");
    }
    ByteBuffer b = ByteBuffer.wrap(answer, 1, 16);
    this.state = new State(b.getLong());
    this.maxDocumentBytes = b.getLong();
    this.cleanable = CLEANER.register(this, state);
  }

  /**
   * Configured by OpenMetadata's environment variables alone ({@code SECRET_MANAGER}, {@code
   * FERNET_KEY}, {@code OM_SECRETS_HOME}...), as the CLI without {@code --config}. With none set:
   * the embedded default, {@code managed-local} under {@code ./.om-secrets} with a generated key.
   *
   * @return a new instance
   * @throws ConfigException if the configuration is invalid or the store refuses it
   * @throws MigrationException if {@code migrateOnStart} is configured and did not finish cleanly
   */
  public static OmSecrets fromEnvironment() {
    return new OmSecrets(Native.open(0, null));
  }

  /**
   * Configured by a YAML file (OpenMetadata's {@code secretsManagerConfiguration} keys), each key
   * overridable by its environment variable, as {@code om-secrets --config FILE}.
   *
   * @param file the YAML file
   * @return a new instance
   * @throws ConfigException if the file is unreadable or invalid
   * @throws MigrationException if {@code migrateOnStart} is configured and did not finish cleanly
   */
  public static OmSecrets fromFile(Path file) {
    Objects.requireNonNull(file, "file");
    return new OmSecrets(Native.open(1, Utf8.text(file.toString(), "the path")));
  }

  /**
   * Configured by a map of the file's keys ({@code secretsManager}, {@code prefix}, {@code tags},
   * {@code parameters}, {@code fernetKey}, {@code clusterName}, {@code home}, {@code plugins},
   * {@code limits}, {@code migrateOnStart}), each overridable by its environment variable as with a
   * file. Unknown keys are errors.
   *
   * @param config the keys (values: strings, numbers, booleans, lists, maps)
   * @return a new instance
   * @throws ConfigException if the configuration is invalid
   * @throws MigrationException if {@code migrateOnStart} is configured and did not finish cleanly
   */
  public static OmSecrets fromMap(Map<String, ?> config) {
    Objects.requireNonNull(config, "config");
    String json;
    try {
      json = Json.write(config);
    } catch (InvalidInputException e) {
      throw new ConfigException("the configuration map at `" + e.pointer() + "`: " + e.getMessage());
    }
    return new OmSecrets(Native.open(2, json.getBytes(StandardCharsets.UTF_8)));
  }

  // ------------------------------------------------------------------ single documents

  /**
   * Seal every secret field of a document: the form to store (per the mode: Fernet in place, or
   * written to the store and replaced by an encrypted reference).
   *
   * @param subject what the document is; must be named
   * @param document the plain document (JSON)
   * @return the stored form (JSON)
   */
  public String seal(Subject subject, String document) {
    return seal(subject, document, null);
  }

  /**
   * Seal the new version of an entity whose stored form was {@code previous}: as {@link
   * #seal(Subject, String)}, and in managed mode the secrets {@code previous} referenced that the
   * new form no longer does are deleted.
   *
   * @param subject what the document is; must be named
   * @param document the plain document (JSON)
   * @param previous the entity's previous stored form (JSON), or null
   * @return the stored form (JSON)
   */
  public String seal(Subject subject, String document, String previous) {
    return call(Native.OP_SEAL, subject, document, previous, "the previous document", false);
  }

  /**
   * Reveal a stored document (privileged callers): Fernet-decrypt every secret field and, unless
   * {@code keepReferences}, read each {@code secret:<id>} reference from the store.
   *
   * @param subject what the document is
   * @param stored the stored form (JSON)
   * @param keepReferences decrypt only, keeping {@code secret:<id>} references (the form
   *     OpenMetadata's server hands to its ingestion side)
   * @return the plain document (JSON)
   */
  public String reveal(Subject subject, String stored, boolean keepReferences) {
    return call(Native.OP_REVEAL, subject, stored, null, null, keepReferences);
  }

  /**
   * What an unprivileged caller sees: every secret field (of a plain or stored document) as {@code
   * *********}.
   *
   * @param subject what the document is (the name is not needed)
   * @param document the document (JSON)
   * @return the masked document (JSON)
   */
  public String mask(Subject subject, String document) {
    return call(Native.OP_MASK, subject, document, null, null, false);
  }

  /**
   * Merge an update that still holds masks with the stored form: each mask takes the stored value
   * from the same place, so the result seals without losing a secret.
   *
   * @param subject what the document is (the name is not needed)
   * @param stored the stored (sealed) form (JSON)
   * @param incoming the update (JSON)
   * @return the document to seal (JSON)
   */
  public String merge(Subject subject, String stored, String incoming) {
    Objects.requireNonNull(stored, "stored");
    return call(Native.OP_MERGE, subject, incoming, stored, "the stored document", false);
  }

  /**
   * Delete the entity's secrets from the store (on hard delete; managed mode only).
   *
   * @param subject the entity; must be named
   * @param stored its stored form (JSON)
   * @return the ids deleted, sorted
   */
  public List<String> forget(Subject subject, String stored) {
    return strings(Json.parse(call(Native.OP_FORGET, subject, stored, null, null, false)));
  }

  /**
   * The secret fields of a document, located and named.
   *
   * @param subject what the document is (named: full secret ids)
   * @param document the document (JSON)
   * @return the fields, in document order
   */
  public List<Field> fields(Subject subject, String document) {
    return fieldList(Json.parse(call(Native.OP_FIELDS, subject, document, null, null, false)));
  }

  // ------------------------------------------------------------------ batches

  /**
   * Seal many documents of one kind (each item's {@code previous}, if any, as in {@link
   * #seal(Subject, String, String)}).
   *
   * @param kind the documents' kind ({@link Subject#services(String)}, {@link Subject#bots()}...)
   * @param items the documents, each named
   * @return one result per item, in order
   */
  public List<BatchResult<String>> sealBatch(Subject kind, List<BatchItem> items) {
    return batch(Native.OP_SEAL, kind, items, false);
  }

  /**
   * Reveal many documents of one kind.
   *
   * @param kind the documents' kind
   * @param items the stored documents
   * @param keepReferences decrypt only
   * @return one result per item, in order
   */
  public List<BatchResult<String>> revealBatch(
      Subject kind, List<BatchItem> items, boolean keepReferences) {
    return batch(Native.OP_REVEAL, kind, items, keepReferences);
  }

  /**
   * Mask many documents of one kind.
   *
   * @param kind the documents' kind
   * @param items the documents
   * @return one result per item, in order
   */
  public List<BatchResult<String>> maskBatch(Subject kind, List<BatchItem> items) {
    return batch(Native.OP_MASK, kind, items, false);
  }

  /**
   * Merge many updates with their stored forms (each item's {@code stored} is required).
   *
   * @param kind the documents' kind
   * @param items the updates, each with its stored form
   * @return one result per item, in order
   */
  public List<BatchResult<String>> mergeBatch(Subject kind, List<BatchItem> items) {
    return batch(Native.OP_MERGE, kind, items, false);
  }

  /**
   * Forget many entities.
   *
   * @param kind the entities' kind
   * @param items their stored forms, each named
   * @return one result per item (the deleted ids), in order
   */
  public List<BatchResult<List<String>>> forgetBatch(Subject kind, List<BatchItem> items) {
    List<BatchResult<String>> raw = batch(Native.OP_FORGET, kind, items, false);
    List<BatchResult<List<String>>> out = new ArrayList<>(raw.size());
    for (BatchResult<String> r : raw) {
      out.add(r.ok()
          ? new BatchResult<>(strings(Json.parse(r.value())), null)
          : new BatchResult<>(null, r.error()));
    }
    return out;
  }

  /**
   * The fields of many documents.
   *
   * @param kind the documents' kind
   * @param items the documents (named: full secret ids)
   * @return one result per item, in order
   */
  public List<BatchResult<List<Field>>> fieldsBatch(Subject kind, List<BatchItem> items) {
    List<BatchResult<String>> raw = batch(Native.OP_FIELDS, kind, items, false);
    List<BatchResult<List<Field>>> out = new ArrayList<>(raw.size());
    for (BatchResult<String> r : raw) {
      out.add(r.ok()
          ? new BatchResult<>(fieldList(Json.parse(r.value())), null)
          : new BatchResult<>(null, r.error()));
    }
    return out;
  }

  /**
   * Close: wait for calls in flight, then free the native instance and shut its runtime down.
   * Idempotent.
   */
  @Override
  public void close() {
    cleanable.clean();
  }

  /**
   * Whether {@link #close()} ran.
   *
   * @return true once closed
   */
  public boolean isClosed() {
    state.lock.readLock().lock();
    try {
      return state.handle == 0;
    } finally {
      state.lock.readLock().unlock();
    }
  }

  /**
   * How the native library was loaded.
   *
   * @return {@code "jar"} (extracted from this jar), {@code "java.library.path"}, or {@code "path"}
   *     (the system property {@code om.secrets.native.library})
   */
  public static String nativeLibrarySource() {
    return Native.LOADED_FROM;
  }

  // ------------------------------------------------------------------ plumbing

  private static int kindCode(Subject s) {
    return s.kind().ordinal();
  }

  private String call(
      int op, Subject subject, String document, String second, String secondName, boolean keep) {
    Objects.requireNonNull(subject, "subject");
    Objects.requireNonNull(document, "document");
    byte[] type = Utf8.text(subject.serviceType(), "the service type");
    byte[] name = Utf8.text(subject.name(), "the name");
    byte[] doc = Utf8.document(document, "the document", maxDocumentBytes);
    byte[] other = second == null ? null : Utf8.document(second, secondName, maxDocumentBytes);
    byte[] answer;
    state.lock.readLock().lock();
    try {
      long h = state.handle;
      if (h == 0) {
        throw new IllegalStateException("this OmSecrets is closed");
      }
      answer = Native.call(h, op, kindCode(subject), type, name, doc, other, keep);
    } finally {
      state.lock.readLock().unlock();
    }
    return Native.check(answer);
  }

  private List<BatchResult<String>> batch(int op, Subject kind, List<BatchItem> items, boolean keep) {
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(items, "items");
    // Each item as four fields (name, document, stored, previous): a 4-byte length (-1: absent)
    // and the UTF-8 bytes. Documents are parsed one by one on the native side.
    List<BatchResult<String>> early = new ArrayList<>(items.size());
    java.io.ByteArrayOutputStream frames = new java.io.ByteArrayOutputStream();
    int sent = 0;
    for (BatchItem item : items) {
      try {
        if (item == null || item.document() == null) {
          throw new InvalidInputException("", "a batch item without a document");
        }
        byte[][] fields = {
          Utf8.text(item.name(), "the name"),
          Utf8.document(item.document(), "the document", maxDocumentBytes),
          item.stored() == null ? null
              : Utf8.document(item.stored(), "the stored document", maxDocumentBytes),
          item.previous() == null ? null
              : Utf8.document(item.previous(), "the previous document", maxDocumentBytes)
        };
        for (byte[] f : fields) {
          int n = f == null ? -1 : f.length;
          frames.write(new byte[] {(byte) (n >>> 24), (byte) (n >>> 16), (byte) (n >>> 8), (byte) n}, 0, 4);
          if (f != null) {
            frames.write(f, 0, f.length);
          }
        }
        early.add(null);
        sent++;
      } catch (InvalidInputException e) {
        early.add(new BatchResult<>(null, e));
      }
    }
    byte[] answer;
    state.lock.readLock().lock();
    try {
      long h = state.handle;
      if (h == 0) {
        throw new IllegalStateException("this OmSecrets is closed");
      }
      answer = Native.batch(h, op, kindCode(kind), Utf8.text(kind.serviceType(), "the service type"),
          frames.toByteArray(), keep);
    } finally {
      state.lock.readLock().unlock();
    }
    if (answer.length == 0 || answer[0] != 'O') {
      Native.check(answer); // throws the batch's own error
    }
    // Frames: 4-byte big-endian length, then an answer.
    ByteBuffer b = ByteBuffer.wrap(answer, 1, answer.length - 1);
    List<BatchResult<String>> out = new ArrayList<>(items.size());
    int got = 0;
    for (BatchResult<String> e : early) {
      if (e != null) {
        out.add(e);
        continue;
      }
      int len = b.getInt();
      int at = b.position();
      b.position(at + len);
      got++;
      if (len > 0 && answer[at] == 'O') {
        out.add(new BatchResult<>(new String(answer, at + 1, len - 1, StandardCharsets.UTF_8), null));
      } else {
        out.add(new BatchResult<>(null, Native.error(answer, at, len)));
      }
    }
    if (got != sent) {
      throw new OmSecretsException("internal error: a batch answered " + got + " of " + sent + " items");
    }
    return out;
  }

  private static List<String> strings(Object v) {
    List<String> out = new ArrayList<>();
    for (Object o : (List<?>) v) {
      out.add((String) o);
    }
    return out;
  }

  private static List<Field> fieldList(Object v) {
    List<Field> out = new ArrayList<>();
    for (Object o : (List<?>) v) {
      Map<?, ?> m = (Map<?, ?>) o;
      out.add(new Field((String) m.get("pointer"), (String) m.get("secretId"), (String) m.get("treatment")));
    }
    return out;
  }

}
