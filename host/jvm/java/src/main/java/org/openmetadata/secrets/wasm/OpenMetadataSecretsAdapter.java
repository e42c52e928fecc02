package org.openmetadata.secrets.wasm;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * om-secrets under OpenMetadata's own secrets-manager ({@code SecretsManager}) and masker ({@code
 * EntityMasker}) method names and arguments, so that wiring it into OpenMetadata's server is a
 * handful of lines.
 *
 * <p>Entities and configs are passed as JSON strings or as {@code Map}s (what OpenMetadata's {@code
 * JsonUtils.getMap(pojo)} gives); each method returns the same shape it was given ({@code String}
 * in, {@code String} out; {@code Map} in, {@code Map} out), and {@code null} for a {@code null}
 * config, as OpenMetadata does. Every call is exactly an {@link OmSecrets} operation:
 *
 * <table>
 *   <caption>OpenMetadata's calls and what they run</caption>
 *   <tr><th>method</th><th>operation</th><th>CLI</th></tr>
 *   <tr><td>{@code encrypt*}</td><td>{@link OmSecrets#seal}</td><td>{@code seal}</td></tr>
 *   <tr><td>{@code decrypt*}</td><td>{@link OmSecrets#reveal} keeping references (the server
 *       hands {@code secret:<id>} references to its ingestion side)</td>
 *       <td>{@code reveal --keep-references}</td></tr>
 *   <tr><td>{@code deleteSecretsFromServiceConnectionConfig}</td><td>{@link OmSecrets#forget}</td>
 *       <td>{@code forget}</td></tr>
 *   <tr><td>{@code mask*}</td><td>{@link OmSecrets#mask}</td><td>{@code mask}</td></tr>
 *   <tr><td>{@code unmask*}</td><td>{@link OmSecrets#merge}</td><td>{@code merge}</td></tr>
 * </table>
 *
 * <p>Services are named by {@code connectionName}, bots by {@code name}, ingestion pipelines and
 * workflows by their entity's {@code name}. The adapter does not own the {@link OmSecrets}: close
 * that when the server stops.
 */
public final class OpenMetadataSecretsAdapter {
  private final OmSecrets om;

  /**
   * An adapter over an instance.
   *
   * @param om the instance (not closed by the adapter)
   */
  public OpenMetadataSecretsAdapter(OmSecrets om) {
    this.om = Objects.requireNonNull(om, "om");
  }

  // ------------------------------------------------------------------ SecretsManager

  /**
   * Seal a service's connection config (OpenMetadata: {@code
   * SecretsManager.encryptServiceConnectionConfig}).
   *
   * @param connectionConfig the config (JSON string or Map), or null
   * @param connectionType the connector type ({@code "Mysql"}); set as the config's {@code type}
   *     when it has none
   * @param connectionName the service's name
   * @param serviceType the service type
   * @return the stored form, in the shape given
   */
  public Object encryptServiceConnectionConfig(
      Object connectionConfig, String connectionType, String connectionName, ServiceType serviceType) {
    if (connectionConfig == null) {
      return null;
    }
    Subject s = service(serviceType, Objects.requireNonNull(connectionName, "connectionName"));
    String doc = typed(connectionConfig, connectionType);
    return shaped(connectionConfig, om.seal(s, doc));
  }

  /**
   * Decrypt a stored connection config for the server (OpenMetadata: {@code
   * SecretsManager.decryptServiceConnectionConfig}): Fernet-decrypted, {@code secret:<id>}
   * references kept. Without the service's name a reference to a managed secret cannot be checked
   * and is refused: use {@link #decryptServiceConnectionConfig(Object, String, String,
   * ServiceType)} in managed mode.
   *
   * @param connectionConfig the stored config (JSON string or Map), or null
   * @param connectionType the connector type
   * @param serviceType the service type
   * @return the decrypted config, in the shape given
   */
  public Object decryptServiceConnectionConfig(
      Object connectionConfig, String connectionType, ServiceType serviceType) {
    return decryptServiceConnectionConfig(connectionConfig, connectionType, null, serviceType);
  }

  /**
   * Decrypt a stored connection config, the service named (references into the deployment's
   * namespace are checked to be the service's own).
   *
   * @param connectionConfig the stored config (JSON string or Map), or null
   * @param connectionType the connector type
   * @param connectionName the service's name
   * @param serviceType the service type
   * @return the decrypted config, in the shape given
   */
  public Object decryptServiceConnectionConfig(
      Object connectionConfig, String connectionType, String connectionName, ServiceType serviceType) {
    if (connectionConfig == null) {
      return null;
    }
    Subject s = service(serviceType, connectionName);
    return shaped(connectionConfig, om.reveal(s, typed(connectionConfig, connectionType), true));
  }

  /**
   * Seal a bot's authentication mechanism (OpenMetadata: {@code
   * SecretsManager.encryptAuthenticationMechanism}).
   *
   * @param name the bot's name
   * @param authenticationMechanism the mechanism ({@code {"authType": "JWT", "config": {...}}}),
   *     JSON string or Map, or null
   * @return the stored form, in the shape given
   */
  public Object encryptAuthenticationMechanism(String name, Object authenticationMechanism) {
    if (authenticationMechanism == null) {
      return null;
    }
    String user = botUser(authenticationMechanism);
    return shaped(authenticationMechanism, unwrapBot(om.seal(Subject.bot(name), user)));
  }

  /**
   * Decrypt a bot's stored authentication mechanism (OpenMetadata: {@code
   * SecretsManager.decryptAuthenticationMechanism}): references kept.
   *
   * @param name the bot's name
   * @param authenticationMechanism the stored mechanism (JSON string or Map), or null
   * @return the decrypted mechanism, in the shape given
   */
  public Object decryptAuthenticationMechanism(String name, Object authenticationMechanism) {
    if (authenticationMechanism == null) {
      return null;
    }
    String user = botUser(authenticationMechanism);
    return shaped(authenticationMechanism, unwrapBot(om.reveal(Subject.bot(name), user, true)));
  }

  /**
   * Seal an ingestion pipeline's secrets (OpenMetadata: {@code
   * SecretsManager.encryptIngestionPipeline}), named by its {@code name}.
   *
   * @param ingestionPipeline the {@code IngestionPipeline} (JSON string or Map), or null
   * @return the stored form, in the shape given
   */
  public Object encryptIngestionPipeline(Object ingestionPipeline) {
    if (ingestionPipeline == null) {
      return null;
    }
    String doc = text(ingestionPipeline);
    return shaped(ingestionPipeline, om.seal(Subject.pipeline(nameOf(doc)), doc));
  }

  /**
   * Decrypt an ingestion pipeline (OpenMetadata: {@code SecretsManager.decryptIngestionPipeline}):
   * references kept.
   *
   * @param ingestionPipeline the stored {@code IngestionPipeline} (JSON string or Map), or null
   * @return the decrypted pipeline, in the shape given
   */
  public Object decryptIngestionPipeline(Object ingestionPipeline) {
    if (ingestionPipeline == null) {
      return null;
    }
    String doc = text(ingestionPipeline);
    return shaped(ingestionPipeline, om.reveal(Subject.pipeline(nameOf(doc)), doc, true));
  }

  /**
   * Seal a test-connection workflow (OpenMetadata: {@code SecretsManager.encryptWorkflow}), named
   * by its {@code name}.
   *
   * @param workflow the automation {@code Workflow} (JSON string or Map), or null
   * @return the stored form, in the shape given
   */
  public Object encryptWorkflow(Object workflow) {
    if (workflow == null) {
      return null;
    }
    String doc = text(workflow);
    return shaped(workflow, om.seal(Subject.workflow(nameOf(doc)), doc));
  }

  /**
   * Decrypt a workflow (OpenMetadata: {@code SecretsManager.decryptWorkflow}): references kept.
   *
   * @param workflow the stored {@code Workflow} (JSON string or Map), or null
   * @return the decrypted workflow, in the shape given
   */
  public Object decryptWorkflow(Object workflow) {
    if (workflow == null) {
      return null;
    }
    String doc = text(workflow);
    return shaped(workflow, om.reveal(Subject.workflow(nameOf(doc)), doc, true));
  }

  /**
   * Delete a service's secrets from the store, on hard delete (OpenMetadata: {@code
   * SecretsManager.deleteSecretsFromServiceConnectionConfig}).
   *
   * @param connectionConfig the stored config (JSON string or Map), or null
   * @param connectionType the connector type
   * @param connectionName the service's name
   * @param serviceType the service type
   * @return the ids deleted, sorted (empty outside managed mode)
   */
  public List<String> deleteSecretsFromServiceConnectionConfig(
      Object connectionConfig, String connectionType, String connectionName, ServiceType serviceType) {
    if (connectionConfig == null) {
      return List.of();
    }
    Subject s = service(serviceType, Objects.requireNonNull(connectionName, "connectionName"));
    return om.forget(s, typed(connectionConfig, connectionType));
  }

  // ------------------------------------------------------------------ EntityMasker

  /**
   * What a viewer sees of a connection config (OpenMetadata: {@code
   * EntityMasker.maskServiceConnectionConfig}).
   *
   * @param connectionConfig the config, plain or stored (JSON string or Map), or null
   * @param connectionType the connector type
   * @param serviceType the service type
   * @return the masked config, in the shape given
   */
  public Object maskServiceConnectionConfig(
      Object connectionConfig, String connectionType, ServiceType serviceType) {
    if (connectionConfig == null) {
      return null;
    }
    return shaped(connectionConfig, om.mask(service(serviceType, null), typed(connectionConfig, connectionType)));
  }

  /**
   * What a viewer sees of a bot's authentication mechanism (OpenMetadata: {@code
   * EntityMasker.maskAuthenticationMechanism}).
   *
   * @param name the bot's name
   * @param authenticationMechanism the mechanism (JSON string or Map), or null
   * @return the masked mechanism, in the shape given
   */
  public Object maskAuthenticationMechanism(String name, Object authenticationMechanism) {
    if (authenticationMechanism == null) {
      return null;
    }
    return shaped(authenticationMechanism,
        unwrapBot(om.mask(Subject.bot(name), botUser(authenticationMechanism))));
  }

  /**
   * What a viewer sees of an ingestion pipeline (OpenMetadata: {@code
   * EntityMasker.maskIngestionPipeline}).
   *
   * @param ingestionPipeline the pipeline (JSON string or Map), or null
   * @return the masked pipeline, in the shape given
   */
  public Object maskIngestionPipeline(Object ingestionPipeline) {
    if (ingestionPipeline == null) {
      return null;
    }
    String doc = text(ingestionPipeline);
    return shaped(ingestionPipeline, om.mask(Subject.pipeline(nameOr(doc)), doc));
  }

  /**
   * What a viewer sees of a workflow (OpenMetadata: {@code EntityMasker.maskWorkflow}).
   *
   * @param workflow the workflow (JSON string or Map), or null
   * @return the masked workflow, in the shape given
   */
  public Object maskWorkflow(Object workflow) {
    if (workflow == null) {
      return null;
    }
    String doc = text(workflow);
    return shaped(workflow, om.mask(Subject.workflow(nameOr(doc)), doc));
  }

  /**
   * Put the stored secrets back where an update holds masks (OpenMetadata: {@code
   * EntityMasker.unmaskServiceConnectionConfig}).
   *
   * @param connectionConfig the update (JSON string or Map), or null
   * @param originalConnectionConfig the stored config
   * @param connectionType the connector type
   * @param serviceType the service type
   * @return the config to seal, in the shape of the update
   */
  public Object unmaskServiceConnectionConfig(
      Object connectionConfig, Object originalConnectionConfig, String connectionType,
      ServiceType serviceType) {
    if (connectionConfig == null) {
      return null;
    }
    Objects.requireNonNull(originalConnectionConfig, "originalConnectionConfig");
    return shaped(connectionConfig, om.merge(service(serviceType, null),
        typed(originalConnectionConfig, connectionType), typed(connectionConfig, connectionType)));
  }

  /**
   * Unmask a bot's authentication mechanism (OpenMetadata: {@code
   * EntityMasker.unmaskAuthenticationMechanism}).
   *
   * @param name the bot's name
   * @param authenticationMechanism the update, or null
   * @param originalAuthenticationMechanism the stored mechanism
   * @return the mechanism to seal, in the shape of the update
   */
  public Object unmaskAuthenticationMechanism(
      String name, Object authenticationMechanism, Object originalAuthenticationMechanism) {
    if (authenticationMechanism == null) {
      return null;
    }
    Objects.requireNonNull(originalAuthenticationMechanism, "originalAuthenticationMechanism");
    return shaped(authenticationMechanism, unwrapBot(om.merge(Subject.bot(name),
        botUser(originalAuthenticationMechanism), botUser(authenticationMechanism))));
  }

  /**
   * Unmask an ingestion pipeline (OpenMetadata: {@code EntityMasker.unmaskIngestionPipeline}).
   *
   * @param ingestionPipeline the update, or null
   * @param originalIngestionPipeline the stored pipeline
   * @return the pipeline to seal, in the shape of the update
   */
  public Object unmaskIngestionPipeline(Object ingestionPipeline, Object originalIngestionPipeline) {
    if (ingestionPipeline == null) {
      return null;
    }
    String doc = text(ingestionPipeline);
    return shaped(ingestionPipeline,
        om.merge(Subject.pipeline(nameOr(doc)), text(Objects.requireNonNull(originalIngestionPipeline,
            "originalIngestionPipeline")), doc));
  }

  /**
   * Unmask a workflow (OpenMetadata: {@code EntityMasker.unmaskWorkflow}).
   *
   * @param workflow the update, or null
   * @param originalWorkflow the stored workflow
   * @return the workflow to seal, in the shape of the update
   */
  public Object unmaskWorkflow(Object workflow, Object originalWorkflow) {
    if (workflow == null) {
      return null;
    }
    String doc = text(workflow);
    return shaped(workflow, om.merge(Subject.workflow(nameOr(doc)),
        text(Objects.requireNonNull(originalWorkflow, "originalWorkflow")), doc));
  }

  // ------------------------------------------------------------------ shapes

  private static Subject service(ServiceType serviceType, String name) {
    return Subject.service(Objects.requireNonNull(serviceType, "serviceType").value(), name);
  }

  /** A JSON string or a Map as text. */
  private static String text(Object v) {
    if (v instanceof String) {
      return (String) v;
    }
    if (v instanceof Map) {
      return Json.write(v);
    }
    throw new InvalidInputException("", "pass a JSON string or a Map (OpenMetadata: JsonUtils.pojoToJson"
        + " or JsonUtils.getMap), not a " + v.getClass().getName());
  }

  /** The output in the input's shape. */
  private static Object shaped(Object input, String json) {
    return input instanceof Map ? Json.parse(json) : json;
  }

  /** A connection config as text, with {@code type} set from the connector type if missing. */
  private static String typed(Object config, String connectionType) {
    if (connectionType == null) {
      return text(config);
    }
    Object parsed = config instanceof Map ? config : Json.parse(text(config));
    if (parsed instanceof Map && !((Map<?, ?>) parsed).containsKey("type")) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("type", connectionType);
      for (Map.Entry<?, ?> e : ((Map<?, ?>) parsed).entrySet()) {
        // As Json.write: a null or number key is refused, never renamed "null" or "7".
        if (!(e.getKey() instanceof String)) {
          throw new InvalidInputException("", "an object key that is not a string");
        }
        m.put((String) e.getKey(), e.getValue());
      }
      return Json.write(m);
    }
    return text(config);
  }

  /** A bot's {@code User} around its authentication mechanism. */
  private static String botUser(Object authenticationMechanism) {
    return "{\"isBot\":true,\"authenticationMechanism\":" + text(authenticationMechanism) + "}";
  }

  /** The authentication mechanism of a bot {@code User}. */
  private static String unwrapBot(String user) {
    Object m = ((Map<?, ?>) Json.parse(user)).get("authenticationMechanism");
    return Json.write(m);
  }

  /** The entity's {@code name}, required (secret ids are built from it). */
  private static String nameOf(String doc) {
    String n = nameIn(doc);
    if (n == null || n.isEmpty()) {
      throw new InvalidInputException("/name", "the entity has no name (its secret ids are built from it)");
    }
    return n;
  }

  /** The entity's {@code name} where only the kind matters (mask, merge): any placeholder will do. */
  private static String nameOr(String doc) {
    String n = nameIn(doc);
    return n == null || n.isEmpty() ? "-" : n;
  }

  private static String nameIn(String doc) {
    Object parsed = Json.parse(doc);
    if (parsed instanceof Map) {
      Object n = ((Map<?, ?>) parsed).get("name");
      if (n instanceof String) {
        return (String) n;
      }
    }
    return null;
  }
}
