/**
 * om-secrets embedded in the JVM: OpenMetadata's server keeps its credentials out of its database
 * in-process, through the native om-secrets host (JNI), with no sidecar and no process per call.
 *
 * <p>{@link org.openmetadata.secrets.wasm.OmSecrets} is the library: {@code seal}, {@code reveal},
 * {@code mask}, {@code merge}, {@code forget} and {@code fields} on JSON strings, one document at a
 * time or in batches, for the {@link org.openmetadata.secrets.wasm.Subject}s the CLI knows.
 * {@link org.openmetadata.secrets.wasm.OpenMetadataSecretsAdapter} offers the same operations under
 * OpenMetadata's own secrets-manager and masker method names, on JSON strings or {@code Map}s.
 *
 * <p>Every failure is an {@link org.openmetadata.secrets.wasm.OmSecretsException}: {@link
 * org.openmetadata.secrets.wasm.InvalidInputException} (with the JSON pointer), {@link
 * org.openmetadata.secrets.wasm.PluginException}, {@link org.openmetadata.secrets.wasm.StoreException}
 * (retryable or not) or {@link org.openmetadata.secrets.wasm.ConfigException}. No message ever holds
 * a secret value.
 */
package org.openmetadata.secrets.wasm;
