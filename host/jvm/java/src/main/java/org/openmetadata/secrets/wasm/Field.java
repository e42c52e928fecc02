package org.openmetadata.secrets.wasm;

/**
 * A secret field of a document, located and named.
 *
 * @param pointer RFC 6901 pointer of the field in the document
 * @param secretId the full secret id (or, for a subject without a name, the id below the entity's
 *     root, such as {@code authtype/password})
 * @param treatment {@code secret} (sealed) or {@code sensitive} (masked only)
 */
public record Field(String pointer, String secretId, String treatment) {}
