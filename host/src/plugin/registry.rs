//! The loaded plugins and routing.
//!
//! Plugins come from the host binary itself (the ones built from `plugins/`)
//! and from a directory of `*.wasm` files. Each declares a service type and the
//! connector types it serves; a (service type, connector type) pair routes to
//! exactly one plugin — two plugins claiming the same pair is a start-up error.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::cache::ComponentCache;
use super::check::CheckedField;
use super::sandbox::{LoadedPlugin, PluginInfo, Sandbox};
use crate::{Error, Result};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
}

/// The plugins built into this binary: (name, component bytes).
pub fn builtin() -> &'static [(&'static str, &'static [u8])] {
    builtin::BUILTIN
}

/// A set of loaded plugins.
#[derive(Default)]
pub struct Plugins {
    plugins: Vec<Arc<LoadedPlugin>>,
    routes: BTreeMap<(String, String), usize>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.plugins.iter().map(|p| &p.info.name)).finish()
    }
}

impl Plugins {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Load the built-in plugins and, if given, every `*.wasm` in `dir`.
    pub fn load(sandbox: &Sandbox, cache: Option<&ComponentCache>, builtins: bool, dir: Option<&Path>) -> Result<Self> {
        let mut set = Plugins::new();
        if builtins {
            for (name, bytes) in builtin() {
                set.add_bytes(sandbox, cache, bytes, &format!("builtin:{name}"))?;
            }
        }
        if let Some(dir) = dir {
            let mut files: Vec<_> = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect();
            files.sort();
            for path in files {
                let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                set.add_bytes(sandbox, cache, &bytes, &path.display().to_string())?;
            }
        }
        Ok(set)
    }

    /// Load one component and route its connector types to it.
    pub fn add_bytes(&mut self, sandbox: &Sandbox, cache: Option<&ComponentCache>, bytes: &[u8], source: &str) -> Result<&PluginInfo> {
        let plugin = sandbox
            .load(bytes, source, cache)
            .map_err(|reason| Error::Plugin { plugin: source.to_string(), reason })?;
        self.add(plugin)
    }

    /// Route a loaded plugin's connector types to it.
    pub fn add(&mut self, plugin: LoadedPlugin) -> Result<&PluginInfo> {
        let idx = self.plugins.len();
        let st = plugin.info.service_type.clone();
        for ct in &plugin.info.connector_types {
            if let Some(&other) = self.routes.get(&(st.clone(), ct.clone())) {
                return Err(Error::Config(format!(
                    "plugins `{}` ({}) and `{}` ({}) both claim connector type `{ct}` of service type `{st}`",
                    self.plugins[other].info.name,
                    self.plugins[other].info.source,
                    plugin.info.name,
                    plugin.info.source
                )));
            }
        }
        for ct in &plugin.info.connector_types {
            self.routes.insert((st.clone(), ct.clone()), idx);
        }
        tracing::debug!(plugin = %plugin.info.name, source = %plugin.info.source, "plugin loaded");
        self.plugins.push(Arc::new(plugin));
        Ok(&self.plugins[idx].info)
    }

    /// What is loaded.
    pub fn infos(&self) -> impl Iterator<Item = &PluginInfo> {
        self.plugins.iter().map(|p| &p.info)
    }

    /// The connector types known for a service type, sorted.
    pub fn connector_types(&self, service_type: &str) -> Vec<String> {
        self.routes.keys().filter(|(s, _)| s == service_type).map(|(_, c)| c.clone()).collect()
    }

    /// The service types served, sorted.
    pub fn service_types(&self) -> Vec<String> {
        let mut v: Vec<String> = self.routes.keys().map(|(s, _)| s.clone()).collect();
        v.dedup();
        v
    }

    /// The plugin for a (service type, connector type).
    pub fn route(&self, service_type: &str, connector_type: &str) -> Result<&LoadedPlugin> {
        match self.routes.get(&(service_type.to_string(), connector_type.to_string())) {
            Some(&i) => Ok(&self.plugins[i]),
            None if !self.service_types().iter().any(|s| s == service_type) => Err(Error::Input {
                pointer: None,
                message: format!(
                    "unknown service type `{service_type}`; known: {}",
                    self.service_types().join(", ")
                ),
            }),
            None => Err(Error::UnknownConnectorType {
                service_type: service_type.into(),
                connector_type: connector_type.into(),
                known: self.connector_types(service_type),
            }),
        }
    }

    /// Discover the secret fields of one connection config: its `type` routes
    /// it to a plugin, whose answer is checked.
    pub fn discover(&self, service_type: &str, config: &Value) -> Result<Vec<CheckedField>> {
        let Value::Object(map) = config else {
            return Err(Error::input("", "a connection config must be a JSON object"));
        };
        let connector_type = match map.get("type") {
            Some(Value::String(t)) => t,
            Some(_) => return Err(Error::input("/type", "`type` must be a string")),
            None => return Err(Error::input("/type", "the config has no `type` (e.g. \"Mysql\")")),
        };
        self.route(service_type, connector_type)?.discover(connector_type, config)
    }
}
