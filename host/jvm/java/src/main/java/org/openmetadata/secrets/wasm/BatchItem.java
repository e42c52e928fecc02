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
}
