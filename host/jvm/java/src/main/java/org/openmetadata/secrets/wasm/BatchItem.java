package org.openmetadata.secrets.wasm;

/**
 * One document of a batch.
 *
 * @param name the entity's name (secret ids are built from it): needed by seal and forget
 * @param document the document (JSON)
 * @param stored merge: the stored (sealed) form the update is merged with; else null
 * @param previous seal: the entity's previous stored form, whose secrets the new form no longer
 *     references are deleted; else null
 */
public record BatchItem(String name, String document, String stored, String previous) {
  /**
   * A named document.
   *
   * @param name the entity's name
   * @param document the document (JSON)
   * @return the item
   */
  public static BatchItem of(String name, String document) {
    return new BatchItem(name, document, null, null);
  }

  /**
   * The name and the documents' lengths, never their text: a document holds secrets, and an item
   * is easily logged.
   *
   * @return e.g. {@code BatchItem[name=mysql-prod, document=<212 chars>, stored=null,
   *     previous=null]}
   */
  @Override
  public String toString() {
    return "BatchItem[name=" + name + ", document=" + shown(document) + ", stored=" + shown(stored)
        + ", previous=" + shown(previous) + "]";
  }

  static String shown(String document) {
    return document == null ? "null" : "<" + document.length() + " chars>";
  }
}
