package org.openmetadata.secrets.wasm;

/**
 * A failure of om-secrets. Subclasses say what failed; this class itself is thrown for internal
 * errors (a native panic, caught at the boundary). Messages name fields by JSON pointer, secrets by
 * id, plugins by name and files by path, and never hold a secret value.
 */
public class OmSecretsException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with a message.
   *
   * @param message what happened (no secret value)
   */
  public OmSecretsException(String message) {
    super(message);
  }
}
