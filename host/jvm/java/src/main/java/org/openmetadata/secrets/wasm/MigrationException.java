package org.openmetadata.secrets.wasm;

/**
 * The start-up migration ({@code migrateOnStart}) did not let the instance open: the database could
 * not be reached or failed, or the migration finished with rows it left as they were or secrets no
 * row references ({@code requireClean}, the default). (A migration another instance is running on
 * the same database is waited for, not an error.) The
 * message names the database without its credentials and each such row by table, id and reason,
 * never a value. Rows already migrated stay migrated; opening again reruns the migration, which
 * converges.
 */
public class MigrationException extends OmSecretsException {
  private static final long serialVersionUID = 1L;

  private final boolean retryable;
  private final long skippedRows;
  private final long orphanedSecrets;

  /**
   * A failed or unclean start-up migration.
   *
   * @param retryable whether opening again may succeed as is (the database was unreachable)
   * @param skippedRows rows left as they were (0 if the migration did not finish)
   * @param orphanedSecrets secrets no row references (0 if the migration did not finish)
   * @param message what happened (no secret value, no credential)
   */
  public MigrationException(
      boolean retryable, long skippedRows, long orphanedSecrets, String message) {
    super(message);
    this.retryable = retryable;
    this.skippedRows = skippedRows;
    this.orphanedSecrets = orphanedSecrets;
  }

  /**
   * Whether opening again may succeed without a change (the database was unreachable).
   *
   * @return true for a transient failure
   */
  public boolean isRetryable() {
    return retryable;
  }

  /**
   * Whether the migration finished, but not cleanly (rows skipped or secrets orphaned).
   *
   * @return true if {@link #skippedRows()} or {@link #orphanedSecrets()} is above 0
   */
  public boolean isUnclean() {
    return skippedRows > 0 || orphanedSecrets > 0;
  }

  /**
   * The rows the migration left as they were (each named in the message).
   *
   * @return the count, 0 if it did not finish
   */
  public long skippedRows() {
    return skippedRows;
  }

  /**
   * The secrets the migration found no row referencing (each named in the message).
   *
   * @return the count, 0 if it did not finish
   */
  public long orphanedSecrets() {
    return orphanedSecrets;
  }
}
