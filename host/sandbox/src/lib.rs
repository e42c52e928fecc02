//! # om-secrets-sandbox
//!
//! What runs om-secrets' policy plugins: WebAssembly components that say
//! where the secrets of a connector config are (the WIT world
//! `omsecrets:policy/connector-policy` in `wit/policy.wit`). A plugin may be
//! written by a third party, so it is assumed buggy or hostile (see
//! `SECURITY.md` at the repository root).
//!
//! - [`sandbox`]: one wasmtime `Engine` with the pooling allocator, a
//!   [`LoadedPlugin`] per component, and per call a fresh instance under
//!   [`Limits`]. Components that import anything but the `log` interface, or
//!   were built against an incompatible WIT version ([`compatible`]), are
//!   refused at load.
//! - [`cache`]: compiled components on disk, keyed by the plugin's sha256 and
//!   the engine's compatibility hash, checked against a digest before loading.
//! - [`check`]: the answer check: pointers must exist and name strings, no
//!   routing key, segments must match the pointers ([`check::segment`]),
//!   counts are bounded. One bad field rejects the whole answer.
//! - [`PluginFailure`], [`Refusal`]: why a call or a load failed, in words
//!   that never hold a config value; [`Error`] wraps them with the plugin's
//!   name, a malformed-config answer, or a file that cannot be read.
//!
//! ## What bounds a call
//!
//! Every call runs under [`Limits`] (details in [`sandbox`]): its CPU time
//! (epoch interruption, with a wall-clock backstop), the plugin's linear
//! memory (the store's limiter and the pool's slot size), wasmtime's stack
//! limit, the size of the config given ([`Limits::max_input_bytes`]), the
//! bytes the host copies out of the plugin in one answer or log line
//! (hostcall fuel, charged before the copy) and the number of fields
//! ([`Limits::max_fields`]). A plugin can call nothing but `log`, whose lines
//! are redacted of the config's values and bounded in size and number. Each
//! limit fails the call with its own [`PluginFailure`]; the host fails the
//! operation closed.
//!
//! ## Why a fresh instance per call
//!
//! A plugin cannot carry anything from one config (one tenant) into the
//! answer about another, and a trap leaves nothing behind to clean up. With
//! the pooling allocator an instantiation costs a few microseconds, and a
//! freed instance's linear memory is reset to the plugin's initial image
//! before its slot is used again.
//!
//! ## What it depends on, and what it must never depend on
//!
//! It depends on wasmtime (the engine), serde and serde_json (configs and
//! answers are JSON), sha2 and hex (component digests), zeroize (the config
//! text is wiped after a call), tracing (plugin log lines, redacted),
//! thiserror, and `om-secrets-files` (cache entries written owner-only and
//! atomically).
//!
//! It must never depend on anything that holds a key or reaches a store: not
//! `fernet`, not a KMS client (`vaultrs`, the AWS SDK), not `sqlx`, not
//! `tokio`, and not the host (`om-secrets`). What keeps a plugin away from
//! keys and stores is that it may import nothing but `log` and runs inside
//! wasmtime; this crate's dependencies add a second wall: the code that runs
//! next to a plugin cannot even name those types, and `.ci/run` fails when
//! `cargo tree -p om-secrets-sandbox -e normal` shows one of those crates (or
//! an HTTP client). It still runs in the host's process and is handed the
//! (decrypted) config it asks a plugin about. The host decides
//! which plugins load (grants, sha256 pins), routes configs to them, and is
//! the only one to act on their checked answers.
//!
//! One `unsafe` block: loading a cached compiled component
//! ([`cache::ComponentCache`], whose module docs say why it is sound). The
//! workspace denies `unsafe_code`, and [`sandbox`] and [`check`] forbid it.

pub mod cache;
pub mod check;
pub mod sandbox;

use std::path::PathBuf;

pub use sandbox::{Limits, LoadedPlugin, PluginInfo, Sandbox, Trust, compatible};

/// The version of the WIT package this host implements.
pub const WIT_PACKAGE: &str = "omsecrets:policy";
/// The WIT package version this host was built with.
pub const WIT_VERSION: &str = "0.1.0";

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What calling a plugin, or reading one from disk, can fail with. The texts
/// are the host's own (`om-secrets` maps each variant onto its error of the
/// same name), and none holds a config value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A plugin failed or answered something the host refuses.
    #[error("plugin `{plugin}`: {reason}")]
    Plugin {
        /// The plugin's name (or its source, before it said its name).
        plugin: String,
        /// What happened.
        reason: PluginFailure,
    },
    /// The plugin found the config malformed: where (a prefix of its
    /// pointer that exists in the config), and a generic message naming the
    /// plugin.
    #[error("invalid input{}: {message}", at(pointer))]
    Input {
        /// Where in the config (RFC 6901 pointer), if known.
        pointer: Option<String>,
        /// What is wrong (never a config value).
        message: String,
    },
    /// A plugin file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn at(pointer: &Option<String>) -> String {
    match pointer {
        Some(p) if p.is_empty() => " at the document root".into(),
        Some(p) => format!(" at `{p}`"),
        None => String::new(),
    }
}

/// Why a plugin call or load failed. The text never holds a config value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginFailure {
    /// The call ran past its time limit.
    #[error("timed out after {limit_ms} ms")]
    Timeout {
        /// The limit.
        limit_ms: u64,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error("exceeded its memory limit of {limit_bytes} bytes")]
    MemoryLimit {
        /// The cap.
        limit_bytes: usize,
    },
    /// Unbounded recursion.
    #[error("overflowed its stack")]
    StackOverflow,
    /// The plugin panicked (message captured through the log import). The
    /// message and location are plugin text (redacted, but a plugin may
    /// encode a secret in them): they are kept here and in the log, and left
    /// out of the error's text, which reaches callers.
    #[error("panicked{}", if message.is_some() { " (its message is in om-secrets' log)" } else { "" })]
    Panic {
        /// The panic message, redacted of config values.
        message: Option<String>,
        /// Where in the plugin's source, when the message says.
        location: Option<String>,
    },
    /// Any other trap.
    #[error("trapped: {0}")]
    Trap(String),
    /// The input is larger than plugins may be given.
    #[error("input of {bytes} bytes is over the limit of {limit} bytes")]
    InputTooLarge {
        /// Input size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The plugin tried to hand the host more data in one answer (or one log
    /// line) than the output limit: the copy was stopped before it was made.
    #[error("tried to send more than the output limit of {limit} bytes to the host")]
    OutputTooLarge {
        /// The limit (`limits.maxOutputBytes`).
        limit: usize,
    },
    /// The answer is not acceptable (see [`check`]).
    #[error("invalid answer: {0}")]
    InvalidAnswer(String),
    /// The answer names a key that routes the config (its `type`, a bot's
    /// `authType`, a dbt source's `dbtConfigType`, or such a key of a nested
    /// connection): sealing or masking it would make the config unroutable
    /// (see [`check::routing_key`]).
    #[error(
        "invalid answer: `{pointer}` routes the config: a routing key cannot be a secret field"
    )]
    RoutingKey {
        /// The pointer, as the plugin gave it (redacted, shortened).
        pointer: String,
    },
    /// The component may not be loaded.
    #[error("refused at load: {0}")]
    Refused(Refusal),
}

/// Why a component was refused at load (start-up, or `plugins check`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a component wasmtime accepts, or an engine failure.
    #[error("{0}")]
    Invalid(String),
    /// The file is larger than a plugin may be.
    #[error("the component is {bytes} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the file.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The component imports interfaces the host does not offer (WASI,
    /// sockets, anything but `omsecrets:policy/log`).
    #[error("imports {}, which the host does not offer (a plugin may import only {WIT_PACKAGE}/log)", imports.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", "))]
    Imports {
        /// Every offending import, in the component's order.
        imports: Vec<String>,
    },
    /// The component does not export the discovery interface.
    #[error("does not export {WIT_PACKAGE}/discovery: not an om-secrets policy plugin")]
    NoDiscovery,
    /// Built against a WIT version this host cannot load.
    #[error(
        "built against {WIT_PACKAGE}@{plugin}, but this host implements {WIT_PACKAGE}@{host} (it loads plugins built against {})",
        compatible_range(host)
    )]
    WitVersion {
        /// The version the plugin was built against.
        plugin: String,
        /// The version this host implements.
        host: String,
    },
    /// Not listed in `plugins.allow`.
    #[error(
        "not listed in plugins.allow (its sha256 is {sha256}); pin it with `- {{file: {file}, sha256: {sha256}}}`, or set plugins.allowUnpinned for development"
    )]
    NotListed {
        /// The file name.
        file: String,
        /// The file's digest.
        sha256: String,
    },
    /// The bytes are not the ones pinned.
    #[error("sha256 mismatch: plugins.allow pins {expected}, the file is {actual}")]
    DigestMismatch {
        /// The pinned digest.
        expected: String,
        /// The file's digest.
        actual: String,
    },
    /// The plugin's declared name or service type is not the granted one.
    #[error("declares {what} `{actual}`, but plugins.allow grants `{expected}`")]
    IdentityMismatch {
        /// `name` or `service type`.
        what: &'static str,
        /// Granted.
        expected: String,
        /// Declared.
        actual: String,
    },
    /// The plugin claims a connector type its grant does not list.
    #[error("claims connector type `{connector_type}`, which plugins.allow does not grant it (granted: {})", granted.join(", "))]
    NotGranted {
        /// The claimed type.
        connector_type: String,
        /// What the grant lists.
        granted: Vec<String>,
    },
    /// Another plugin already serves one of the connector types this one
    /// claims.
    #[error(
        "claims connector type `{connector_type}` of service type `{service_type}`, already served by plugin `{owner}` ({owner_source})"
    )]
    Claimed {
        /// The service type.
        service_type: String,
        /// The connector type.
        connector_type: String,
        /// The plugin that has it.
        owner: String,
        /// Where that plugin came from.
        owner_source: String,
    },
    /// A plugin from the directory declares a service type that is another
    /// kind of entity in the host's id space (`bot`, `workflow`, in any
    /// case): its ids would be those entities' ids.
    #[error(
        "declares service type `{service_type}`, the kind of the host's `{kind}` entities (their secret ids live under `/…/{kind}/<name>/`): a plugin from plugins.directory may not serve it"
    )]
    ReservedServiceType {
        /// As declared.
        service_type: String,
        /// The entity kind it names.
        kind: String,
    },
    /// `describe` answered something unusable.
    #[error("describe: {0}")]
    BadDescription(String),
}

fn compatible_range(host: &str) -> String {
    let mut parts = host.split('.');
    match (parts.next(), parts.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}.0 to {host}"),
        (Some(major), Some(_)) => format!("{major}.0.0 to {host}"),
        _ => host.to_string(),
    }
}

/// Read a plugin file, refusing one over [`sandbox::MAX_COMPONENT_BYTES`]
/// before reading it whole (a huge file in the plugins directory is never
/// loaded into memory; a file growing while read is cut at the limit and
/// refused too).
pub fn read_component(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let limit = sandbox::MAX_COMPONENT_BYTES;
    let too_large = |bytes: usize| Error::Plugin {
        plugin: path.display().to_string(),
        reason: PluginFailure::Refused(Refusal::TooLarge { bytes, limit }),
    };
    let io = |source: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > limit as u64 {
        return Err(too_large(usize::try_from(len).unwrap_or(usize::MAX)));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > limit {
        return Err(too_large(bytes.len()));
    }
    Ok(bytes)
}
