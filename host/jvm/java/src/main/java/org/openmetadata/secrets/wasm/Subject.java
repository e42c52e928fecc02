package org.openmetadata.secrets.wasm;

import java.util.Objects;

/**
 * What a document is and whose secrets it holds, as the CLI's {@code --service-type T --name N},
 * {@code --bot N}, {@code --pipeline N} and {@code --workflow N} say. Secret ids are built from the
 * kind and the name: {@code /<prefix>/<cluster>/<serviceType|bot|pipeline|workflow>/<name>/...}.
 *
 * <p>For batches the subject gives the kind only; each item names its own entity ({@link
 * #services(String)}, {@link #bots()}, {@link #pipelines()}, {@link #workflows()}).
 */
public final class Subject {
  /** The entity kinds. */
  public enum Kind {
    /** A service: its connection config, or the whole service entity. */
    SERVICE,
    /** A bot's {@code User} entity (with {@code isBot: true}). */
    BOT,
    /** An {@code IngestionPipeline} entity. */
    PIPELINE,
    /** An automation {@code Workflow} (test connection). */
    WORKFLOW
  }

  private final Kind kind;
  private final String serviceType;
  private final String name;

  private Subject(Kind kind, String serviceType, String name) {
    this.kind = kind;
    this.serviceType = serviceType;
    this.name = name;
  }

  /**
   * A service of a type ({@code database}, {@code Database}, {@code dashboard}...), named.
   * The document is its connection config, or the whole entity ({@code {"serviceType",
   * "connection": {"config": ...}}}).
   *
   * @param serviceType the service type (case-insensitive)
   * @param name the service's name; may be null for {@code mask}, {@code merge} and {@code fields}
   * @return the subject
   */
  public static Subject service(String serviceType, String name) {
    return new Subject(Kind.SERVICE, Objects.requireNonNull(serviceType, "serviceType"), name);
  }

  /**
   * A service of a type without a name: enough for {@code mask}, {@code merge} and {@code fields},
   * and as the kind of a batch.
   *
   * @param serviceType the service type
   * @return the subject
   */
  public static Subject services(String serviceType) {
    return service(serviceType, null);
  }

  /**
   * A bot: the document is its {@code User} entity ({@code isBot}, {@code authenticationMechanism}).
   *
   * @param name the bot's name
   * @return the subject
   */
  public static Subject bot(String name) {
    return new Subject(Kind.BOT, null, Objects.requireNonNull(name, "name"));
  }

  /**
   * An ingestion pipeline: the document is the {@code IngestionPipeline} entity.
   *
   * @param name the pipeline's name
   * @return the subject
   */
  public static Subject pipeline(String name) {
    return new Subject(Kind.PIPELINE, null, Objects.requireNonNull(name, "name"));
  }

  /**
   * A test-connection workflow: the document is the automation {@code Workflow} (its {@code
   * request.serviceType} names the service type).
   *
   * @param name the workflow's name
   * @return the subject
   */
  public static Subject workflow(String name) {
    return new Subject(Kind.WORKFLOW, null, Objects.requireNonNull(name, "name"));
  }

  /**
   * Bots, as the kind of a batch.
   *
   * @return the subject
   */
  public static Subject bots() {
    return new Subject(Kind.BOT, null, null);
  }

  /**
   * Ingestion pipelines, as the kind of a batch.
   *
   * @return the subject
   */
  public static Subject pipelines() {
    return new Subject(Kind.PIPELINE, null, null);
  }

  /**
   * Workflows, as the kind of a batch.
   *
   * @return the subject
   */
  public static Subject workflows() {
    return new Subject(Kind.WORKFLOW, null, null);
  }

  /**
   * The kind.
   *
   * @return the kind
   */
  public Kind kind() {
    return kind;
  }

  /**
   * The service type (services only).
   *
   * @return the type, or null
   */
  public String serviceType() {
    return serviceType;
  }

  /**
   * The entity's name.
   *
   * @return the name, or null
   */
  public String name() {
    return name;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof Subject)) {
      return false;
    }
    Subject s = (Subject) o;
    return kind == s.kind && Objects.equals(serviceType, s.serviceType) && Objects.equals(name, s.name);
  }

  @Override
  public int hashCode() {
    return Objects.hash(kind, serviceType, name);
  }

  @Override
  public String toString() {
    return kind.name().toLowerCase(java.util.Locale.ROOT)
        + (serviceType == null ? "" : " " + serviceType)
        + (name == null ? "" : " " + name);
  }
}
