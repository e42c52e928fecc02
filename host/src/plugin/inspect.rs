//! `om-secrets plugins check FILE.wasm`: validate a plugin offline, before
//! granting it, and print what to pin.
//!
//! The file goes through every load check a plugin meets at start-up (size,
//! imports, WIT version, `describe`), then a dry run: for each connector type
//! it declares, discovery on an empty config (`{"type": <it>}`) under the
//! configured limits. A `malformed-config` answer is acceptable (a plugin may
//! insist on required fields); a trap, a timeout or an answer the host refuses
//! fails the check, and so does a service type reserved for the host's other
//! entity kinds (`bot`, `workflow`). Conflicts with built-in plugins are found
//! as start-up finds them (service and connector types in any case). Pinning
//! is *not* applied: this is how one gets the digest.

use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};

use om_secrets_sandbox::cache::ComponentCache;
use om_secrets_sandbox::sandbox::Sandbox;
use om_secrets_sandbox::{PluginFailure, Refusal, read_component};

use super::registry::{Plugins, builtin, reserved_kind};
use crate::config::Settings;
use crate::{Error, Result};

/// What `plugins check` found.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    /// The file checked.
    pub file: String,
    /// sha256 of the file: what `plugins.allow` pins.
    pub sha256: String,
    /// The name the plugin declares.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The service type it declares.
    pub service_type: String,
    /// The connector types it declares.
    pub connector_types: Vec<String>,
    /// The WIT version it was built against.
    pub wit_version: String,
    /// What it imports (all offered by the host, or the check fails).
    pub imports: Vec<String>,
    /// Per connector type, the dry run's outcome.
    pub dry_run: Vec<DryRun>,
    /// Connector types a loaded built-in plugin already serves: start-up
    /// would refuse this plugin unless those built-ins are left out.
    pub conflicts: Vec<String>,
    /// A `plugins.allow` entry for it.
    pub allow: serde_json::Value,
}

/// One connector type's dry run.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// The connector type.
    pub connector_type: String,
    /// Fields found in the empty config (normally 0).
    pub fields: usize,
    /// Where the plugin found the config malformed, if it did (its own
    /// reason, plugin text, is logged, never returned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malformed: Option<String>,
}

/// Check one plugin file under the configured limits.
pub fn check_file(path: &Path, settings: &Settings) -> Result<CheckReport> {
    let bytes = read_component(path)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let source = path.display().to_string();
    let sandbox = Sandbox::new(settings.limits.clone()).map_err(|reason| Error::Plugin {
        plugin: "(engine)".into(),
        reason,
    })?;
    let cache = ComponentCache::new(settings.cache_dir.join("components"));
    let plugin = sandbox
        .load(&bytes, &source, Some(&cache))
        .map_err(|reason| Error::Plugin {
            plugin: source.clone(),
            reason,
        })?;

    // Refused at start-up whatever else it does: said before the dry run.
    if let Some(kind) = reserved_kind(&plugin.info.service_type) {
        return Err(Error::Plugin {
            plugin: source,
            reason: PluginFailure::Refused(Refusal::ReservedServiceType {
                service_type: plugin.info.service_type.clone(),
                kind: kind.to_string(),
            }),
        });
    }

    let mut dry_run = Vec::new();
    for ct in &plugin.info.connector_types {
        match plugin
            .discover(ct, &json!({ "type": ct }))
            .map_err(Error::from)
        {
            Ok(fields) => dry_run.push(DryRun {
                connector_type: ct.clone(),
                fields: fields.len(),
                malformed: None,
            }),
            Err(Error::Input { pointer, message }) => dry_run.push(DryRun {
                connector_type: ct.clone(),
                fields: 0,
                malformed: Some(match pointer {
                    Some(p) => format!("at `{p}`: {message}"),
                    None => message,
                }),
            }),
            Err(e) => return Err(e),
        }
    }

    let mut conflicts = Vec::new();
    let mut builtins = Plugins::new();
    for (name, bytes) in builtin() {
        if settings.plugins.builtin_includes(name) {
            builtins.add_bytes(&sandbox, Some(&cache), bytes, &format!("builtin:{name}"))?;
        }
    }
    for ct in &plugin.info.connector_types {
        // The same test start-up applies (case-insensitive).
        if let Some(owner) = builtins.claimant(&plugin.info.service_type, ct) {
            conflicts.push(format!(
                "{}/{ct} (built-in plugin `{}`)",
                plugin.info.service_type, owner.info.name
            ));
        }
    }

    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let info = plugin.info.clone();
    Ok(CheckReport {
        allow: json!({
            "file": file,
            "sha256": sha256,
            "name": info.name,
            "serviceType": info.service_type,
            "connectorTypes": info.connector_types,
        }),
        file: source,
        sha256,
        name: info.name,
        version: info.version,
        service_type: info.service_type,
        connector_types: info.connector_types,
        wit_version: info.wit_version,
        imports: plugin.imports.clone(),
        dry_run,
        conflicts,
    })
}
