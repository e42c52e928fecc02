package org.openmetadata.secrets.wasm;

/**
 * OpenMetadata's service types, spelled as its {@code ServiceType} enum (map one onto the other
 * with {@code ServiceType.valueOf(omServiceType.name())}).
 */
public enum ServiceType {
  /** API services. */
  API("Api"),
  /** Dashboard services. */
  DASHBOARD("Dashboard"),
  /** Database services. */
  DATABASE("Database"),
  /** Drive services. */
  DRIVE("Drive"),
  /** LLM services. */
  LLM("Llm"),
  /** MCP services. */
  MCP("Mcp"),
  /** Messaging services. */
  MESSAGING("Messaging"),
  /** Metadata services. */
  METADATA("Metadata"),
  /** ML model services. */
  ML_MODEL("MlModel"),
  /** Pipeline services. */
  PIPELINE("Pipeline"),
  /** Search services. */
  SEARCH("Search"),
  /** Security services. */
  SECURITY("Security"),
  /** Storage services. */
  STORAGE("Storage");

  private final String value;

  ServiceType(String value) {
    this.value = value;
  }

  /**
   * The value OpenMetadata writes ({@code "Database"}, {@code "MlModel"}...).
   *
   * @return the value
   */
  public String value() {
    return value;
  }
}
