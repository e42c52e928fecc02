package org.openmetadata.secrets.wasm;

/**
 * The configuration is invalid or unusable: an unknown key or provider, a missing parameter, a bad
 * Fernet key, a store that refuses the credentials at start-up.
 */
public class ConfigException extends OmSecretsException {
  private static final long serialVersionUID = 1L;

  /**
   * A configuration error.
   *
   * @param message what is wrong (no secret value)
   */
  public ConfigException(String message) {
    super(message);
  }
}
