//! Running plugins: one wasmtime [`Engine`] per process, an `InstancePre` per
//! plugin, and per call a fresh `Store` and instance under [`Limits`].
//!
//! Why a fresh instance per call: a plugin cannot carry anything from one
//! config (one tenant) into the answer about another, and a trap leaves
//! nothing behind to clean up. With the pooling allocator an instantiation
//! costs a few microseconds, and a freed instance's linear memory is reset
//! (decommitted to zero pages) before its slot is used again.
//!
//! What bounds a call:
//! - **time**: epoch interruption, counting the *CPU time* of the call, so
//!   that a busy host never fails an honest plugin. A ticker thread advances
//!   the epoch every [`TICK`]. Half the time limit (wall-clock) into a call,
//!   the host notes the calling thread's CPU time (Linux's
//!   `/proc/thread-self/schedstat`); from then on the call is stopped
//!   ([`PluginFailure::Timeout`]) once it has used the other half on the CPU,
//!   checked each time the rest would have run out. So a loop stops after at
//!   least the limit of wall-clock time and at most the limit of CPU time,
//!   while an honest call (microseconds of CPU) that a loaded host keeps off
//!   the CPU for longer is never cut. Measured: under 4x oversubscription
//!   (8 callers on 2 cores) an honest call took up to 0.4 s of wall-clock
//!   time, within 2.5x of the default 1 s limit. A call starved for
//!   `WALL_BACKSTOP` times the limit is stopped anyway. Where the CPU time
//!   cannot be read the limit is wall-clock time, as it was;
//! - **memory**: the store's resource limiter refuses (and traps on) any
//!   growth past [`Limits::memory_bytes`] ([`PluginFailure::MemoryLimit`]);
//!   the pool's slot size is the same cap;
//! - **stack**: wasmtime's wasm stack limit ([`PluginFailure::StackOverflow`]);
//! - **output**: wasmtime's *hostcall fuel*, set to
//!   [`Limits::max_output_bytes`], caps the bytes the host copies out of the
//!   plugin in one go (the answer, or one log line) and is charged *before*
//!   the copy, so a plugin cannot make the host allocate more than that — not
//!   even by returning a million fields that all alias one huge string
//!   ([`PluginFailure::OutputTooLarge`]);
//! - **fields**: at most [`Limits::max_fields`] ([`crate::check`]).
//!
//! At load, a component must import nothing but this package's `log` (and
//! `types`), and export `discovery` built against a compatible WIT version
//! ([`compatible`]); otherwise it is refused with a [`Refusal`] naming the
//! imports or both versions.

// No unsafe code here: the one block of the crate is in `cache`.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter,
    Store, Trap, UpdateDeadline,
};
use zeroize::Zeroizing;

use crate::cache::ComponentCache;
use crate::check::{self, CheckedField, Redactor, Treatment, printable, shorten};
use crate::{PluginFailure, Refusal, WIT_PACKAGE, WIT_VERSION};

mod bindings {
    wasmtime::component::bindgen!({
        world: "connector-policy",
        path: "../../wit",
    });
}

use bindings::exports::omsecrets::policy::discovery as d;
use bindings::omsecrets::policy::types as t;

/// How often the epoch advances: the granularity of the time limit.
pub const TICK: Duration = Duration::from_millis(10);

/// How many calls may run at once (pool slots). More concurrent calls wait
/// for no one: they fail with a pool-exhausted trap, which is reported.
const POOL_SLOTS: u32 = 64;

/// Address space reserved per linear memory, and the guard after it: 4 GiB
/// and 32 MiB (wasmtime's defaults on 64-bit hosts), which let cranelift
/// elide bounds checks. Virtual only: 128 slots reserve ~0.5 TiB of the
/// 128 TiB a 64-bit process has, and commit nothing.
const MEMORY_RESERVATION: u64 = 4 << 30;
const MEMORY_GUARD: u64 = 32 << 20;

/// How many times its time limit a call may take in wall-clock time,
/// however little CPU it got, before it is stopped.
pub(crate) const WALL_BACKSTOP: u64 = 10;

/// Bytes of a freed instance's linear memory (and tables) reset in place
/// rather than returned to the kernel: what an ordinary call dirties (its
/// stack top, the data, the heap of a config's parse), so that the next call
/// in the slot takes no page faults there.
const KEEP_RESIDENT: usize = 4 << 20;

/// Largest component file accepted (the built-in ones are ~75 KB).
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;

/// Most connector types one plugin may declare, and the longest name,
/// version, service type or connector type (characters).
const MAX_CONNECTOR_TYPES: usize = 4096;
const MAX_IDENT_CHARS: usize = 128;

/// Longest plugin log line kept (bytes; longer lines are dropped, not cut, so
/// that redaction always sees whole values), and how many are kept per call.
const LOG_LINE_MAX: usize = 4096;
const LOG_LINES_MAX: usize = 32;

/// Longest message a plugin's `malformed-config` error may show (characters).
const MESSAGE_MAX: usize = 512;

/// The tracing target of what plugins log: the module's path when it was
/// part of the host, kept so that an operator's
/// `OM_SECRETS_LOG=…,om_secrets::plugin::sandbox=off` (SECURITY.md) still
/// silences them.
pub const PLUGIN_LOG_TARGET: &str = "om_secrets::plugin::sandbox";

/// What the SDK's panic hook writes before the instance traps.
const PANIC_PREFIX: &str = "plugin panicked: ";

/// Limits applied to every plugin call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory a plugin instance may use. A 1 MiB config parsed by
    /// serde_json needs a few MiB; 64 MiB leaves room without letting a
    /// runaway plugin hurt the host.
    pub memory_bytes: usize,
    /// CPU time of one call (wall-clock where the host cannot read a
    /// thread's CPU time; see the module docs). Discovery takes
    /// microseconds; a second only catches loops.
    pub time: Duration,
    /// Largest config (JSON text) given to a plugin.
    pub max_input_bytes: usize,
    /// Most bytes the host copies out of a plugin at once: one answer, or one
    /// log line (wasmtime's hostcall fuel: string bytes plus the host size of
    /// each list element, ~56 bytes per field).
    pub max_output_bytes: usize,
    /// Most fields a plugin may return for one config.
    pub max_fields: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            time: Duration::from_secs(1),
            max_input_bytes: 4 << 20,
            max_output_bytes: 8 << 20,
            max_fields: 10_000,
        }
    }
}

/// Per-call host state.
struct CallState {
    plugin: Arc<str>,
    /// The memory cap, and the size a refused growth asked for.
    memory_cap: usize,
    memory_denied: Option<usize>,
    /// Lines the plugin logged (redacted, kept for the panic message), bounded.
    logged: Vec<String>,
    /// The input (JSON text), to redact its values from what the plugin says.
    /// Parsed into a [`Redactor`] only if the plugin logs or fails.
    input: Option<Arc<Zeroizing<String>>>,
    redactor: OnceLock<Redactor>,
}

impl CallState {
    fn redactor(&self) -> &Redactor {
        self.redactor.get_or_init(|| match &self.input {
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(v) => Redactor::new(&v),
                Err(_) => Redactor::none(),
            },
            None => Redactor::none(),
        })
    }
}

/// Growth past the cap is refused *and* traps, so the failure is reported as
/// what it is rather than as whatever the guest's allocator does next.
impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap || maximum.is_some_and(|m| desired > m) {
            self.memory_denied = Some(desired);
            wasmtime::bail!(
                "memory growth to {desired} bytes refused: the limit is {} bytes",
                self.memory_cap
            );
        }
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_denied.get_or_insert(self.memory_cap);
        Err(error)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > 100_000 || maximum.is_some_and(|m| desired > m) {
            wasmtime::bail!("table growth to {desired} elements refused");
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        4
    }
}

impl t::Host for CallState {}

impl bindings::omsecrets::policy::log::Host for CallState {
    fn log(&mut self, level: t::LogLevel, message: String) {
        // The message may quote the config: wiped once handled.
        let message = Zeroizing::new(message);
        if self.logged.len() >= LOG_LINES_MAX {
            return;
        }
        let line = if message.len() > LOG_LINE_MAX {
            let prefix = if message.starts_with(PANIC_PREFIX) {
                PANIC_PREFIX
            } else {
                ""
            };
            format!(
                "{prefix}[log line of {} bytes dropped: over the {LOG_LINE_MAX}-byte limit]",
                message.len()
            )
        } else {
            self.redactor().redact(&message)
        };
        let shown = printable(&line);
        let plugin = &*self.plugin;
        match level {
            t::LogLevel::Error => tracing::error!(target: PLUGIN_LOG_TARGET, plugin, "{shown}"),
            t::LogLevel::Warn => tracing::warn!(target: PLUGIN_LOG_TARGET, plugin, "{shown}"),
            t::LogLevel::Info => tracing::info!(target: PLUGIN_LOG_TARGET, plugin, "{shown}"),
            t::LogLevel::Debug => tracing::debug!(target: PLUGIN_LOG_TARGET, plugin, "{shown}"),
            t::LogLevel::Trace => tracing::trace!(target: PLUGIN_LOG_TARGET, plugin, "{shown}"),
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
        f.debug_struct("Sandbox")
            .field("limits", &self.inner.limits)
            .finish()
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
    /// Why the host trusts it: `builtin` (part of this binary), `pinned`
    /// (listed in `plugins.allow` with its sha256) or `unpinned` (loaded only
    /// because `plugins.allowUnpinned` is set).
    pub trust: Trust,
}

/// Why a plugin was allowed to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    /// Embedded in this binary at build time.
    Builtin,
    /// Listed in `plugins.allow` with a matching sha256.
    Pinned,
    /// Allowed by `plugins.allowUnpinned` (development only).
    Unpinned,
}

/// A plugin ready to be called.
pub struct LoadedPlugin {
    /// Identity.
    pub info: PluginInfo,
    /// The component's imports (all of them offered by the host).
    pub imports: Vec<String>,
    pre: bindings::ConnectorPolicyPre<CallState>,
    sandbox: Sandbox,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("info", &self.info)
            .finish()
    }
}

impl Sandbox {
    /// A new engine with the given limits, and its epoch ticker.
    pub fn new(limits: Limits) -> Result<Self, PluginFailure> {
        Self::build(limits, true)
    }

    /// A new engine without the ticker: for tests that decide when time
    /// passes. The epoch advances only when the caller calls
    /// `engine().increment_epoch()`, each call counting as one [`TICK`], so a
    /// call times out after exactly its limit's worth of calls, and never
    /// while the caller does not make them (however slow the machine).
    pub fn with_manual_time(limits: Limits) -> Result<Self, PluginFailure> {
        Self::build(limits, false)
    }

    fn build(limits: Limits, ticker: bool) -> Result<Self, PluginFailure> {
        let refused = |what: &str, e: wasmtime::Error| {
            PluginFailure::Refused(Refusal::Invalid(format!("{what}: {e}")))
        };
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(POOL_SLOTS)
            .total_core_instances(POOL_SLOTS * 8)
            .total_memories(POOL_SLOTS * 2)
            .total_tables(POOL_SLOTS * 2)
            .max_memories_per_component(4)
            .max_memory_size(limits.memory_bytes)
            // A freed instance's memory (which held a config) is reset before
            // anything else runs in its slot: the pages a call dirtied in the
            // first KEEP_RESIDENT bytes are restored to the plugin's initial
            // image in place (found with the kernel's PAGEMAP_SCAN where it
            // has it, Linux 6.7+), the rest is returned to the kernel at once
            // (madvise: zero pages on next use), not batched for later. Either
            // way the next instance sees only the initial image; keeping the
            // few pages a call touches resident saves their page faults.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(Enabled::Auto)
            .decommit_batch_size(1);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            // Each slot reserves (never commits) the whole 32-bit space a
            // wasm memory can address, plus a guard: so compiled code needs
            // no bounds check on any load or store, the guard pages trap
            // instead. What a plugin may use is still `memory_bytes` (the
            // pool's slot size above and the limiter).
            .memory_reservation(MEMORY_RESERVATION)
            .memory_guard_size(MEMORY_GUARD)
            .memory_reservation_for_growth(0);
        let engine = Engine::new(&config).map_err(|e| refused("engine", e))?;
        let mut linker = Linker::new(&engine);
        bindings::ConnectorPolicy::add_to_linker::<CallState, HasSelf<CallState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| refused("linker", e))?;

        let stop = Arc::new(AtomicBool::new(false));
        let (ticker_engine, ticker_stop) = (engine.weak(), stop.clone());
        if ticker {
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
                .map_err(|e| {
                    PluginFailure::Refused(Refusal::Invalid(format!("epoch ticker: {e}")))
                })?;
        }
        Ok(Sandbox {
            inner: Arc::new(Inner {
                engine,
                linker,
                limits,
                stop,
            }),
        })
    }

    /// The engine (for the component cache's compatibility hash).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    fn store(&self, plugin: &Arc<str>, input: Option<Arc<Zeroizing<String>>>) -> Store<CallState> {
        let limits = &self.inner.limits;
        let state = CallState {
            plugin: plugin.clone(),
            memory_cap: limits.memory_bytes,
            memory_denied: None,
            logged: Vec::new(),
            input,
            redactor: OnceLock::new(),
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        store.set_hostcall_fuel(limits.max_output_bytes);
        store.set_epoch_deadline(ticks(limits.time / 2));
        store.epoch_deadline_callback(cpu_deadline(limits.time));
        store
    }

    /// Compile (or fetch from the cache) and check a component, then ask it
    /// who it is. `source` names it in errors and logs until it has said its
    /// name. Loaded plugins are [`Trust::Builtin`] when `source` starts with
    /// `builtin:`, [`Trust::Pinned`] otherwise; the registry sets the rest.
    pub fn load(
        &self,
        bytes: &[u8],
        source: &str,
        cache: Option<&ComponentCache>,
    ) -> Result<LoadedPlugin, PluginFailure> {
        if bytes.len() > MAX_COMPONENT_BYTES {
            return Err(PluginFailure::Refused(Refusal::TooLarge {
                bytes: bytes.len(),
                limit: MAX_COMPONENT_BYTES,
            }));
        }
        let sha256 = hex::encode(Sha256::digest(bytes));
        let invalid = |e: wasmtime::Error| {
            PluginFailure::Refused(Refusal::Invalid(format!("not a valid component: {e}")))
        };
        let component = match cache {
            Some(c) => c.load(&self.inner.engine, bytes, &sha256)?,
            None => Component::new(&self.inner.engine, bytes).map_err(invalid)?,
        };
        let (wit_version, imports) =
            check_interface(&self.inner.engine, &component).map_err(PluginFailure::Refused)?;
        let pre =
            self.inner.linker.instantiate_pre(&component).map_err(|e| {
                PluginFailure::Refused(Refusal::Invalid(format!("cannot link: {e}")))
            })?;
        let pre = bindings::ConnectorPolicyPre::new(pre)
            .map_err(|e| PluginFailure::Refused(Refusal::Invalid(format!("cannot link: {e}"))))?;
        let name: Arc<str> = Arc::from(source);
        let mut store = self.store(&name, None);
        let info = pre
            .instantiate(&mut store)
            .and_then(|p| p.omsecrets_policy_discovery().call_describe(&mut store))
            .map_err(|e| self.classify(e, &store))?;
        validate_description(&info)
            .map_err(|m| PluginFailure::Refused(Refusal::BadDescription(m)))?;
        Ok(LoadedPlugin {
            info: PluginInfo {
                name: info.name,
                version: info.version,
                service_type: info.service_type,
                connector_types: info.connector_types,
                sha256,
                wit_version,
                source: source.to_string(),
                trust: if source.starts_with("builtin:") {
                    Trust::Builtin
                } else {
                    Trust::Pinned
                },
            },
            imports,
            pre,
            sandbox: self.clone(),
        })
    }

    fn classify(&self, e: wasmtime::Error, store: &Store<CallState>) -> PluginFailure {
        let limits = &self.inner.limits;
        let state = store.data();
        if state.memory_denied.is_some() {
            return PluginFailure::MemoryLimit {
                limit_bytes: limits.memory_bytes,
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginFailure::Timeout {
                limit_ms: limits.time.as_millis() as u64,
            },
            Some(Trap::StackOverflow) => PluginFailure::StackOverflow,
            Some(Trap::UnreachableCodeReached) => {
                match state
                    .logged
                    .iter()
                    .rev()
                    .find_map(|l| l.strip_prefix(PANIC_PREFIX))
                {
                    Some(text) => {
                        let (message, location) = split_panic(text);
                        PluginFailure::Panic {
                            message: Some(message),
                            location,
                        }
                    }
                    None => PluginFailure::Panic {
                        message: None,
                        location: None,
                    },
                }
            }
            Some(Trap::AllocationTooLarge) => PluginFailure::MemoryLimit {
                limit_bytes: limits.memory_bytes,
            },
            Some(other) => PluginFailure::Trap(other.to_string()),
            None => {
                let text = format!("{e:#}");
                if text.contains("fuel allocated for hostcalls has been exhausted") {
                    PluginFailure::OutputTooLarge {
                        limit: limits.max_output_bytes,
                    }
                } else {
                    PluginFailure::Trap(printable(&state.redactor().redact_cut(&text, MESSAGE_MAX)))
                }
            }
        }
    }
}

/// Whole ticks covering `d` (at least one).
fn ticks(d: Duration) -> u64 {
    d.as_millis().div_ceil(TICK.as_millis()).max(1) as u64
}

/// CPU time the calling thread has run, from Linux's per-thread schedstat;
/// `None` elsewhere or when it cannot be read.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// The epoch-deadline callback of a call under time limit `limit`, first
/// reached half the limit into the call (see the module docs): it notes the
/// thread's CPU time, then stops the call once it has used the other half of
/// the limit on the CPU since, or has taken [`WALL_BACKSTOP`] times the limit
/// in all. Without a readable CPU time it stops the call at the limit.
fn cpu_deadline(
    limit: Duration,
) -> impl FnMut(wasmtime::StoreContextMut<'_, CallState>) -> wasmtime::Result<UpdateDeadline>
+ Send
+ Sync
+ 'static {
    let budget = limit - limit / 2;
    let mut waited = ticks(limit / 2);
    let mut mark: Option<Duration> = None;
    move |_| {
        let Some(now) = thread_cpu_time() else {
            let left = ticks(limit).saturating_sub(waited);
            if left == 0 {
                return Ok(UpdateDeadline::Interrupt);
            }
            waited += left;
            return Ok(UpdateDeadline::Continue(left));
        };
        let used = now.saturating_sub(*mark.get_or_insert(now));
        if used >= budget || waited >= ticks(limit) * WALL_BACKSTOP {
            return Ok(UpdateDeadline::Interrupt);
        }
        let more = ticks(budget - used);
        waited += more;
        Ok(UpdateDeadline::Continue(more))
    }
}

/// `panicked at src/lib.rs:3:5:\nmessage` → (`message`, `src/lib.rs:3:5`),
/// both printable on one line.
fn split_panic(text: &str) -> (String, Option<String>) {
    if let Some(rest) = text.strip_prefix("panicked at ")
        && let Some((location, message)) = rest.split_once(":\n")
    {
        return (printable(message), Some(printable(location)));
    }
    (printable(text), None)
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= MAX_IDENT_CHARS
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A plugin's identity routes calls and names it in every message: it must be
/// short, plain and unambiguous.
fn validate_description(info: &t::PluginInfo) -> Result<(), String> {
    if !is_ident(&info.name) {
        return Err(format!(
            "the name `{}` is not 1 to {MAX_IDENT_CHARS} of [A-Za-z0-9_.-]",
            printable(&shorten(&info.name, 64))
        ));
    }
    if !is_ident(&info.service_type) {
        return Err(format!(
            "the service type `{}` is not 1 to {MAX_IDENT_CHARS} of [A-Za-z0-9_.-]",
            printable(&shorten(&info.service_type, 64))
        ));
    }
    if info.version.chars().count() > MAX_IDENT_CHARS || info.version.chars().any(char::is_control)
    {
        return Err("the version is too long or holds control characters".into());
    }
    if info.connector_types.is_empty() || info.connector_types.len() > MAX_CONNECTOR_TYPES {
        return Err(format!(
            "declares {} connector types (1 to {MAX_CONNECTOR_TYPES} allowed)",
            info.connector_types.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for ct in &info.connector_types {
        if !is_ident(ct) {
            return Err(format!(
                "the connector type `{}` is not 1 to {MAX_IDENT_CHARS} of [A-Za-z0-9_.-]",
                printable(&shorten(ct, 64))
            ));
        }
        if !seen.insert(ct) {
            return Err(format!("declares connector type `{ct}` twice"));
        }
    }
    Ok(())
}

/// Check what a component imports and which WIT version it was built
/// against: the version first (a plugin for another version is reported as
/// such, whatever else is wrong with it), then every import. Returns the
/// version and the imports.
pub fn check_interface(
    engine: &Engine,
    component: &Component,
) -> Result<(String, Vec<String>), Refusal> {
    let ty = component.component_type();
    let mut version = None;
    for (name, _) in ty.exports(engine) {
        if let Some((pkg, iface, v)) = split_interface(name)
            && pkg == WIT_PACKAGE
            && iface == "discovery"
        {
            version = Some(v.to_string());
        }
        if name == format!("{WIT_PACKAGE}/discovery") {
            version = Some(String::new());
        }
    }
    let version = version.ok_or(Refusal::NoDiscovery)?;
    if !compatible(&version, WIT_VERSION) {
        return Err(Refusal::WitVersion {
            plugin: if version.is_empty() {
                "(no version)".into()
            } else {
                version
            },
            host: WIT_VERSION.into(),
        });
    }
    let mut imports = Vec::new();
    let mut refused = Vec::new();
    for (name, _) in ty.imports(engine) {
        imports.push(name.to_string());
        let ok = split_interface(name).is_some_and(|(pkg, iface, v)| {
            pkg == WIT_PACKAGE && (iface == "log" || iface == "types") && compatible(v, WIT_VERSION)
        });
        if !ok {
            refused.push(name.to_string());
        }
    }
    if !refused.is_empty() {
        return Err(Refusal::Imports { imports: refused });
    }
    Ok((version, imports))
}

/// `pkg:name/iface@version` → (`pkg:name`, `iface`, `version`).
fn split_interface(name: &str) -> Option<(&str, &str, &str)> {
    let (path, version) = name.split_once('@')?;
    let (pkg, iface) = path.split_once('/')?;
    Some((pkg, iface, version))
}

/// Whether a host implementing WIT version `host` loads a plugin built
/// against `plugin`. Semver, as the component model applies it: the same
/// major version (for `0.x`, the same minor: `0.1.*` is one line, `0.2.0` is
/// another), and the plugin not newer than the host — a newer plugin may rely
/// on what this host does not have. So a host at `0.1.3` loads plugins built
/// against `0.1.0` to `0.1.3`; a host at `1.4.0` loads `1.0.0` to `1.4.0`.
/// Pre-release and build suffixes are ignored; a version that is not
/// `MAJOR.MINOR.PATCH` is never compatible.
pub fn compatible(plugin: &str, host: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let core = v.split(['-', '+']).next()?;
        let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
        let v = (it.next()??, it.next()??, it.next()??);
        it.next().is_none().then_some(v)
    };
    let (Some(p), Some(h)) = (parse(plugin), parse(host)) else {
        return false;
    };
    let same_line = if h.0 == 0 {
        p.0 == 0 && p.1 == h.1
    } else {
        p.0 == h.0
    };
    same_line && p <= h
}

impl LoadedPlugin {
    /// Ask the plugin for the secret fields of a connection config (routed by
    /// its `type`), and check the answer: [`LoadedPlugin::discover_by`] with
    /// `"type"`.
    pub fn discover(
        &self,
        connector_type: &str,
        config: &Value,
    ) -> crate::Result<Vec<CheckedField>> {
        self.discover_by("type", connector_type, config)
    }

    /// Ask the plugin for the secret fields of `config`, which the host routed
    /// to it by its `type_key` property (holding `connector_type`), and check
    /// the answer ([`check::check_routed`]).
    ///
    /// A `malformed-config` answer becomes [`crate::Error::Input`] with a
    /// generic message naming the plugin, at the longest prefix of the
    /// plugin's pointer that exists in the config: the plugin's own message
    /// (redacted, cut) goes to the log only, never to the caller, since a
    /// plugin may put an encoded secret in it.
    pub fn discover_by(
        &self,
        type_key: &str,
        connector_type: &str,
        config: &Value,
    ) -> crate::Result<Vec<CheckedField>> {
        let plugin_err = |reason| crate::Error::Plugin {
            plugin: self.info.name.clone(),
            reason,
        };
        // The config's JSON text holds plaintext secrets: wiped after the call.
        let text = Arc::new(Zeroizing::new(config.to_string()));
        let limits = self.sandbox.limits();
        if text.len() > limits.max_input_bytes {
            return Err(plugin_err(PluginFailure::InputTooLarge {
                bytes: text.len(),
                limit: limits.max_input_bytes,
            }));
        }
        let name: Arc<str> = Arc::from(self.info.name.as_str());
        let mut store = self.sandbox.store(&name, Some(text.clone()));
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|p| {
                p.omsecrets_policy_discovery()
                    .call_discover(&mut store, connector_type, &text)
            })
            .map_err(|e| plugin_err(self.sandbox.classify(e, &store)))?;
        drop(store);
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
                check::check_routed(config, type_key, answer, limits.max_fields).map_err(plugin_err)
            }
            Err(t::PolicyError::MalformedConfig(m)) => {
                // Both strings come from the plugin: redacted and cut, for
                // the log only.
                let message = Zeroizing::new(m.message);
                let claimed = Zeroizing::new(m.pointer);
                let redactor = Redactor::new(config);
                tracing::warn!(
                    plugin = %self.info.name,
                    pointer = %printable(&redactor.redact_cut(&claimed, 200)),
                    "the plugin finds the config malformed: {}",
                    printable(&redactor.redact_cut(&message, MESSAGE_MAX))
                );
                Err(crate::Error::Input {
                    pointer: Some(existing_prefix(config, &claimed)),
                    message: format!(
                        "plugin `{}` finds the config malformed here (its reason is in om-secrets' log)",
                        self.info.name
                    ),
                })
            }
            Err(t::PolicyError::UnknownConnectorType(_)) => {
                Err(plugin_err(PluginFailure::InvalidAnswer(format!(
                    "declared connector type `{connector_type}` but refused it"
                ))))
            }
        }
    }
}

/// The longest prefix of `pointer` (a plugin's) that names something in
/// `config`, canonical: only what the caller itself sent can be shown back,
/// so nothing a plugin encodes in a pointer reaches the caller. `""` (the
/// config) when not even the first token exists or it is not a pointer.
fn existing_prefix(config: &Value, pointer: &str) -> String {
    let Some(toks) = check::tokens(pointer) else {
        return String::new();
    };
    let mut at = String::new();
    let mut here = config;
    for tok in &toks {
        // The resolver the answer check uses (no `+1` index names anything).
        let Some(next) = check::step(here, tok) else {
            break;
        };
        at.push('/');
        at.push_str(&check::escape_token(tok));
        here = next;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::{compatible, existing_prefix, split_panic};

    #[test]
    fn only_what_exists_of_a_plugins_pointer_is_shown() {
        let c = serde_json::json!({"a": {"b~/c": [1, {"d": 2}]}, "s": "x"});
        for (pointer, shown) in [
            ("/a/b~0~1c/1/d", "/a/b~0~1c/1/d"),
            ("/a/b~0~1c/1/encoded-secret", "/a/b~0~1c/1"),
            ("/a/b~0~1c/01", "/a/b~0~1c"),
            ("/a/b~0~1c/+1", "/a/b~0~1c"),
            ("/a/b~0~1c/-0", "/a/b~0~1c"),
            ("/a/b~0~1c/9", "/a/b~0~1c"),
            ("/s/x", "/s"),
            ("/hunter2", ""),
            ("not a pointer", ""),
            ("", ""),
        ] {
            assert_eq!(existing_prefix(&c, pointer), shown, "{pointer}");
        }
    }

    #[test]
    fn semver_rules() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.0", "0.1.3"));
        assert!(compatible("0.1.2", "0.1.3"));
        assert!(!compatible("0.1.4", "0.1.3"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(!compatible("0.0.9", "0.1.0"));
        assert!(!compatible("1.0.0", "0.1.0"));
        assert!(compatible("1.0.0", "1.2.0"));
        assert!(compatible("1.1.7", "1.2.0"));
        assert!(!compatible("1.3.0", "1.2.0"));
        assert!(!compatible("2.0.0", "1.2.0"));
        assert!(compatible("0.1.0-rc1", "0.1.0"));
        assert!(!compatible("x", "0.1.0"));
        assert!(!compatible("", "0.1.0"));
        assert!(!compatible("0.1.0.1", "0.1.0"));
    }

    #[test]
    fn panic_messages_are_split() {
        assert_eq!(
            split_panic("panicked at src/lib.rs:3:5:\nboom\nagain"),
            (
                "boom\\nagain".to_string(),
                Some("src/lib.rs:3:5".to_string())
            )
        );
        assert_eq!(split_panic("odd"), ("odd".to_string(), None));
    }
}
