package org.openmetadata.secrets.wasm;

import java.util.List;

/**
 * What one document of a batch gave: a result, or the exception a single call would have thrown
 * (one bad document never stops the others).
 *
 * @param <T> the result type: a document (JSON), the deleted ids, or the fields
 * @param value the result, or null on error
 * @param error the error, or null on success
 */
public record BatchResult<T>(T value, OmSecretsException error) {
  /**
   * Whether the document succeeded.
   *
   * @return true on success
   */
  public boolean ok() {
    return error == null;
  }

  /**
   * The result, or the error thrown.
   *
   * @return the result
   * @throws OmSecretsException this document's error
   */
  public T get() {
    if (error != null) {
      throw error;
    }
    return value;
  }

  /**
   * The results, or the first error thrown.
   *
   * @param results the results of a batch
   * @param <T> the result type
   * @return every value, in order
   */
  public static <T> List<T> all(List<BatchResult<T>> results) {
    return results.stream().map(BatchResult::get).toList();
  }

  /**
   * The error, or the value unless it is a document: a document (a revealed one holds plaintext
   * secrets) shows as its length only; deleted ids and fields are shown.
   *
   * @return e.g. {@code BatchResult[value=<212 chars>]} or {@code BatchResult[error=...]}
   */
  @Override
  public String toString() {
    if (error != null) {
      return "BatchResult[error=" + error + "]";
    }
    return "BatchResult[value=" + (value instanceof String ? BatchItem.shown((String) value) : value) + "]";
  }
}
