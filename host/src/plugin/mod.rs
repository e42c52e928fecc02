//! Policy plugins: WebAssembly components that say where the secrets of a
//! connector config are (the WIT world `omsecrets:policy/connector-policy` in
//! `wit/policy.wit`).
//!
//! A plugin may be written by a third party, so the host assumes it can be
//! buggy or hostile (see `SECURITY.md` at the repository root). What runs
//! plugins is a crate of its own, `om-secrets-sandbox`, which depends on
//! nothing that holds a key or reaches a store (no Fernet, no KMS client, no
//! database, not this crate): plugins never reach the KMS or the Fernet keys,
//! and `cargo tree` shows it (`.ci/run` checks). Re-exported here:
//!
//! - [`sandbox`]: one wasmtime `Engine` with the pooling allocator; per call a
//!   fresh instance under a memory cap, an epoch deadline and a cap on the
//!   bytes copied out of the plugin. Components that import anything but the
//!   `log` interface, or were built against an incompatible WIT version, are
//!   refused at load.
//! - [`cache`]: compiled components on disk, keyed by the plugin's sha256 and
//!   the engine's compatibility hash.
//! - [`check`]: the host never trusts an answer: pointers must exist and name
//!   strings, segments must match the pointers, counts are bounded.
//!
//! In this crate, because they read the host's [`Settings`](crate::Settings):
//!
//! - [`registry`]: which plugins may load (grants and sha256 pins), the set of
//!   loaded plugins (built-in and from a directory) and routing from (service
//!   type, connector type) to exactly one plugin.
//! - [`inspect`]: `om-secrets plugins check FILE.wasm`, the offline check.

pub mod inspect;
pub mod registry;

pub use om_secrets_sandbox::{
    PluginFailure, Refusal, WIT_PACKAGE, WIT_VERSION, cache, check, sandbox,
};

pub use inspect::{CheckReport, check_file};
pub use registry::{BuiltinSelection, Grant, PluginPolicy, Plugins};
pub use sandbox::{Limits, LoadedPlugin, Sandbox, compatible};

/// The sandbox's errors are the host's, variant for variant: the same text
/// and the same category wherever the host prints or maps them.
impl From<om_secrets_sandbox::Error> for crate::Error {
    fn from(e: om_secrets_sandbox::Error) -> Self {
        use om_secrets_sandbox::Error as E;
        match e {
            E::Plugin { plugin, reason } => crate::Error::Plugin { plugin, reason },
            E::Input { pointer, message } => crate::Error::Input { pointer, message },
            E::Io { path, source } => crate::Error::io(path, source),
        }
    }
}
