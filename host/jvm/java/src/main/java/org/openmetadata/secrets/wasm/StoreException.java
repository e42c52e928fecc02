package org.openmetadata.secrets.wasm;

/**
 * The secret store failed (a KMS error, a file of the embedded store) or a stored config refers to a
 * secret that is not there. A seal that fails here has undone its own writes.
 */
public class StoreException extends OmSecretsException {
  private static final long serialVersionUID = 1L;

  private final boolean retryable;
  private final String secretId;

  /**
   * A store failure.
   *
   * @param retryable whether the same call may succeed later (throttling, 5xx, timeouts)
   * @param secretId the secret id involved, or null
   * @param message what happened
   */
  public StoreException(boolean retryable, String secretId, String message) {
    super(message);
    this.retryable = retryable;
    this.secretId = secretId;
  }

  /**
   * Whether trying again may succeed (the store was throttling, unavailable or slow).
   *
   * @return true for a transient failure
   */
  public boolean isRetryable() {
    return retryable;
  }

  /**
   * The secret id the failure is about.
   *
   * @return the id, or null
   */
  public String secretId() {
    return secretId;
  }
}
