package org.openmetadata.secrets.wasm;

/**
 * A policy plugin failed (its time or memory limit, a trap) or gave an answer the host refuses.
 * Nothing was written to the store.
 */
public class PluginException extends OmSecretsException {
  private static final long serialVersionUID = 1L;

  private final String plugin;

  /**
   * An exception naming the plugin.
   *
   * @param plugin the plugin's name
   * @param message what happened
   */
  public PluginException(String plugin, String message) {
    super(message);
    this.plugin = plugin;
  }

  /**
   * The plugin.
   *
   * @return the plugin's name
   */
  public String plugin() {
    return plugin;
  }
}
