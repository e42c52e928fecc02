//! Policy plugins: WebAssembly components that say where the secrets of a
//! connector config are (the WIT world `omsecrets:policy/connector-policy` in
//! `wit/policy.wit`).
//!
//! - [`sandbox`]: one wasmtime `Engine` with the pooling allocator; per call a
//!   fresh instance under a memory cap and an epoch deadline.
//! - [`cache`]: compiled components on disk, keyed by the plugin's sha256 and
//!   the engine's compatibility hash.
//! - [`check`]: the host never trusts an answer: pointers must exist and name
//!   strings, segments must match the pointers, counts are bounded.
//! - [`registry`]: the set of loaded plugins (built-in and from a directory)
//!   and routing from (service type, connector type) to a plugin.

pub mod cache;
pub mod check;
pub mod registry;
pub mod sandbox;

pub use registry::Plugins;
pub use sandbox::{Limits, LoadedPlugin, Sandbox};

/// The version of the WIT package this host implements.
pub const WIT_PACKAGE: &str = "omsecrets:policy";
/// The WIT package version this host was built with.
pub const WIT_VERSION: &str = "0.1.0";

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
    /// The plugin panicked (message captured through the log import).
    #[error("panicked{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Panic {
        /// The panic message, redacted of config values.
        message: Option<String>,
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
    /// The answer is not acceptable (see [`check`]).
    #[error("invalid answer: {0}")]
    InvalidAnswer(String),
    /// The component cannot be loaded.
    #[error("refused at load: {0}")]
    Refused(String),
}
