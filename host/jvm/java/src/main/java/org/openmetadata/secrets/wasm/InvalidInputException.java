package org.openmetadata.secrets.wasm;

/**
 * The input is not what the operation accepts: not JSON, not valid Unicode, a document of the wrong
 * shape, a mask about to be stored, a reference to another entity's secret, a token that does not
 * decrypt. Nothing was written to the store.
 */
public class InvalidInputException extends OmSecretsException {
  private static final long serialVersionUID = 1L;

  private final String pointer;

  /**
   * An exception at a JSON pointer.
   *
   * @param pointer RFC 6901 pointer into the document ({@code ""}: the document itself), or null
   * @param message what is wrong (no secret value)
   */
  public InvalidInputException(String pointer, String message) {
    super(message);
    this.pointer = pointer;
  }

  /**
   * Where in the document the problem is.
   *
   * @return an RFC 6901 pointer ({@code ""} for the whole document), or null when no place applies
   *     (a missing entity name)
   */
  public String pointer() {
    return pointer;
  }
}
