//! Running plugins: one wasmtime [`Engine`] per process, an `InstancePre` per
//! plugin, and per call a fresh `Store` and instance under [`Limits`].
//!
//! Why a fresh instance per call: a plugin cannot carry anything from one
//! config (one tenant) into the answer about another, and a trap leaves
//! nothing behind to clean up. With the pooling allocator an instantiation
//! costs a few microseconds.
//!
//! Time is bounded by epoch interruption: a ticker thread advances the epoch
//! every [`TICK`]; each store's deadline is the time limit in ticks. Memory is
//! bounded by `StoreLimits` (and by the pool's slot size).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder, Trap};

use super::cache::ComponentCache;
use super::check::{self, CheckedField, Treatment};
use super::{PluginFailure, WIT_PACKAGE, WIT_VERSION};

mod bindings {
    wasmtime::component::bindgen!({
        world: "connector-policy",
        path: "../wit",
    });
}

use bindings::exports::omsecrets::policy::discovery as d;
use bindings::omsecrets::policy::types as t;

/// How often the epoch advances: the granularity of the time limit.
pub const TICK: Duration = Duration::from_millis(10);

/// How many calls may run at once (pool slots). More concurrent calls wait
/// for no one: they fail with a pool-exhausted trap, which is reported.
const POOL_SLOTS: u32 = 64;

/// Limits applied to every plugin call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory a plugin instance may use. A 1 MiB config parsed by
    /// serde_json needs a few MiB; 64 MiB leaves room without letting a
    /// runaway plugin hurt the host.
    pub memory_bytes: usize,
    /// Wall-clock time of one call. Discovery takes microseconds; a second
    /// only catches loops.
    pub time: Duration,
    /// Largest config (JSON text) given to a plugin.
    pub max_input_bytes: usize,
    /// Most fields a plugin may return for one config.
    pub max_fields: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            time: Duration::from_secs(1),
            max_input_bytes: 4 << 20,
            max_fields: 10_000,
        }
    }
}

/// Per-call host state.
struct CallState {
    limits: StoreLimits,
    plugin: Arc<str>,
    /// Lines the plugin logged (kept for the panic message), bounded.
    logged: Vec<String>,
    /// The input, to redact its values from log lines.
    input: Option<Arc<Value>>,
}

/// Longest plugin log line kept, and how many are kept per call.
const LOG_LINE_MAX: usize = 1024;
const LOG_LINES_MAX: usize = 32;

impl t::Host for CallState {}

impl bindings::omsecrets::policy::log::Host for CallState {
    fn log(&mut self, level: t::LogLevel, message: String) {
        if self.logged.len() >= LOG_LINES_MAX {
            return;
        }
        let mut line: String = message.chars().take(LOG_LINE_MAX).collect();
        if let Some(input) = &self.input {
            line = check::redact(&line, input);
        }
        let plugin = &*self.plugin;
        match level {
            t::LogLevel::Error => tracing::error!(plugin, "{line}"),
            t::LogLevel::Warn => tracing::warn!(plugin, "{line}"),
            t::LogLevel::Info => tracing::info!(plugin, "{line}"),
            t::LogLevel::Debug => tracing::debug!(plugin, "{line}"),
            t::LogLevel::Trace => tracing::trace!(plugin, "{line}"),
        }
        self.logged.push(line);
    }
}

struct Inner {
    engine: Engine,
    linker: Linker<CallState>,
    limits: Limits,
    stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The engine, linker and limits shared by every plugin.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("limits", &self.inner.limits).finish()
    }
}

/// What a loaded plugin says about itself, plus what the host measured.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    /// Name the plugin gave.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The service type it serves.
    pub service_type: String,
    /// Connector types it declared.
    pub connector_types: Vec<String>,
    /// sha256 of the component bytes, hex.
    pub sha256: String,
    /// WIT package version it was built against.
    pub wit_version: String,
    /// Where it came from (`builtin:<name>` or a file path).
    pub source: String,
}

/// A plugin ready to be called.
pub struct LoadedPlugin {
    /// Identity.
    pub info: PluginInfo,
    pre: bindings::ConnectorPolicyPre<CallState>,
    sandbox: Sandbox,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("info", &self.info).finish()
    }
}

impl Sandbox {
    /// A new engine with the given limits, and its epoch ticker.
    pub fn new(limits: Limits) -> Result<Self, PluginFailure> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(POOL_SLOTS)
            .total_core_instances(POOL_SLOTS * 8)
            .total_memories(POOL_SLOTS * 2)
            .total_tables(POOL_SLOTS * 2)
            .max_memories_per_component(4)
            .max_memory_size(limits.memory_bytes);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_reservation(limits.memory_bytes as u64)
            .memory_guard_size(64 << 10)
            .memory_reservation_for_growth(0);
        let engine = Engine::new(&config).map_err(|e| PluginFailure::Refused(format!("engine: {e}")))?;
        let mut linker = Linker::new(&engine);
        bindings::ConnectorPolicy::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(|e| PluginFailure::Refused(format!("linker: {e}")))?;

        let stop = Arc::new(AtomicBool::new(false));
        let (ticker_engine, ticker_stop) = (engine.weak(), stop.clone());
        std::thread::Builder::new()
            .name("om-secrets-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match ticker_engine.upgrade() {
                        Some(e) => e.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| PluginFailure::Refused(format!("epoch ticker: {e}")))?;
        Ok(Sandbox { inner: Arc::new(Inner { engine, linker, limits, stop }) })
    }

    /// The engine (for the component cache's compatibility hash).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    fn store(&self, plugin: &Arc<str>, input: Option<Arc<Value>>) -> Store<CallState> {
        let limits = &self.inner.limits;
        let state = CallState {
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(64)
                .tables(16)
                .memories(4)
                .trap_on_grow_failure(true)
                .build(),
            plugin: plugin.clone(),
            logged: Vec::new(),
            input,
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = limits.time.as_millis().div_ceil(TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    /// Compile (or fetch from the cache) and check a component, then ask it
    /// who it is.
    pub fn load(&self, bytes: &[u8], source: &str, cache: Option<&ComponentCache>) -> Result<LoadedPlugin, PluginFailure> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = match cache {
            Some(c) => c.load(&self.inner.engine, bytes, &sha256)?,
            None => Component::new(&self.inner.engine, bytes)
                .map_err(|e| PluginFailure::Refused(format!("not a valid component: {e}")))?,
        };
        let wit_version = check_interface(&self.inner.engine, &component)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginFailure::Refused(format!("{e}")))?;
        let pre = bindings::ConnectorPolicyPre::new(pre).map_err(|e| PluginFailure::Refused(format!("{e}")))?;
        let name: Arc<str> = Arc::from(source);
        let mut store = self.store(&name, None);
        let info = pre
            .instantiate(&mut store)
            .and_then(|p| p.omsecrets_policy_discovery().call_describe(&mut store))
            .map_err(|e| self.classify(e, &store))?;
        if info.name.is_empty() || info.service_type.is_empty() {
            return Err(PluginFailure::InvalidAnswer("describe gave an empty name or service type".into()));
        }
        Ok(LoadedPlugin {
            info: PluginInfo {
                name: info.name,
                version: info.version,
                service_type: info.service_type,
                connector_types: info.connector_types,
                sha256,
                wit_version,
                source: source.to_string(),
            },
            pre,
            sandbox: self.clone(),
        })
    }

    fn classify(&self, e: wasmtime::Error, store: &Store<CallState>) -> PluginFailure {
        let limits = &self.inner.limits;
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginFailure::Timeout { limit_ms: limits.time.as_millis() as u64 },
            Some(Trap::StackOverflow) => PluginFailure::StackOverflow,
            Some(Trap::UnreachableCodeReached) => {
                let message = store.data().logged.iter().rev().find_map(|l| l.strip_prefix("plugin panicked: ").map(String::from));
                PluginFailure::Panic { message }
            }
            Some(Trap::AllocationTooLarge) => PluginFailure::MemoryLimit { limit_bytes: limits.memory_bytes },
            Some(other) => PluginFailure::Trap(other.to_string()),
            None => {
                let text = format!("{e:#}");
                if text.contains("memory") && (text.contains("grow") || text.contains("limit") || text.contains("maximum")) {
                    PluginFailure::MemoryLimit { limit_bytes: limits.memory_bytes }
                } else {
                    PluginFailure::Trap(check::redact(&text, store.data().input.as_deref().unwrap_or(&Value::Null)))
                }
            }
        }
    }
}

/// Reject components that import anything but this package's `log` (and its
/// `types`), or that export another major version of the interface. Returns
/// the WIT version the plugin was built against.
fn check_interface(engine: &Engine, component: &Component) -> Result<String, PluginFailure> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        let ok = split_interface(name).is_some_and(|(pkg, iface, _)| pkg == WIT_PACKAGE && (iface == "log" || iface == "types"));
        if !ok {
            return Err(PluginFailure::Refused(format!("imports `{name}`, which the host does not offer (plugins may import only {WIT_PACKAGE}/log)")));
        }
    }
    let mut version = None;
    for (name, _) in ty.exports(engine) {
        if let Some((pkg, "discovery", v)) = split_interface(name)
            && pkg == WIT_PACKAGE
        {
            version = Some(v.to_string());
        }
    }
    let version = version.ok_or_else(|| PluginFailure::Refused(format!("does not export {WIT_PACKAGE}/discovery")))?;
    if !compatible(&version, WIT_VERSION) {
        return Err(PluginFailure::Refused(format!(
            "built against {WIT_PACKAGE}@{version}, this host implements {WIT_PACKAGE}@{WIT_VERSION}"
        )));
    }
    Ok(version)
}

/// `pkg:name/iface@version` → (`pkg:name`, `iface`, `version`).
fn split_interface(name: &str) -> Option<(&str, &str, &str)> {
    let (path, version) = name.split_once('@')?;
    let (pkg, iface) = path.split_once('/')?;
    Some((pkg, iface, version))
}

/// Semver compatibility for a plugin built against `plugin`, loaded by a host
/// implementing `host`: same major (for 0.x, same minor), plugin not newer.
fn compatible(plugin: &str, host: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let mut it = v.split(['.', '-', '+']).map(|p| p.parse::<u64>().ok());
        Some((it.next()??, it.next()??, it.next()??))
    };
    let (Some(p), Some(h)) = (parse(plugin), parse(host)) else { return false };
    let same_line = if h.0 == 0 { p.0 == 0 && p.1 == h.1 } else { p.0 == h.0 };
    same_line && p <= h
}

impl LoadedPlugin {
    /// Ask the plugin for the secret fields of `config`, and check the answer.
    /// A `Malformed` policy error becomes [`crate::Error::Input`].
    pub fn discover(&self, connector_type: &str, config: &Value) -> crate::Result<Vec<CheckedField>> {
        let plugin_err = |reason| crate::Error::Plugin { plugin: self.info.name.clone(), reason };
        let text = config.to_string();
        let limits = self.sandbox.limits();
        if text.len() > limits.max_input_bytes {
            return Err(plugin_err(PluginFailure::InputTooLarge { bytes: text.len(), limit: limits.max_input_bytes }));
        }
        let input = Arc::new(config.clone());
        let name: Arc<str> = Arc::from(self.info.name.as_str());
        let mut store = self.sandbox.store(&name, Some(input));
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|p| p.omsecrets_policy_discovery().call_discover(&mut store, connector_type, &text))
            .map_err(|e| plugin_err(self.sandbox.classify(e, &store)))?;
        match result {
            Ok(fields) => {
                let answer = fields
                    .into_iter()
                    .map(|f: d::SecretField| {
                        let t = match f.treatment {
                            t::Treatment::Secret => Treatment::Secret,
                            t::Treatment::Sensitive => Treatment::Sensitive,
                        };
                        (f.pointer, f.segments, t)
                    })
                    .collect();
                check::check(config, answer, limits.max_fields).map_err(plugin_err)
            }
            Err(t::PolicyError::MalformedConfig(m)) => Err(crate::Error::Input {
                pointer: Some(m.pointer),
                message: check::redact(&m.message, config),
            }),
            Err(t::PolicyError::UnknownConnectorType(_)) => Err(plugin_err(PluginFailure::InvalidAnswer(format!(
                "declared connector type `{connector_type}` but refused it"
            )))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::compatible;

    #[test]
    fn semver_rules() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.0", "0.1.3"));
        assert!(!compatible("0.1.4", "0.1.3"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(!compatible("1.0.0", "0.1.0"));
        assert!(compatible("1.0.0", "1.2.0"));
        assert!(!compatible("2.0.0", "1.2.0"));
        assert!(!compatible("x", "0.1.0"));
    }
}
