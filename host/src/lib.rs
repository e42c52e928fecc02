//! # om-secrets
//!
//! Keeps the credentials of OpenMetadata's connections, bots and pipelines out
//! of its database, compatibly with OpenMetadata's own secrets manager (same
//! secret ids, `secret:`/`fernet:` prefixes, Fernet keys and configuration keys).
//!
//! ## Design
//!
//! ```text
//!  config JSON ──► plugin::Sandbox ──► plugin::check ──► ops (seal/reveal/mask/merge/forget)
//!  {"type":"Mysql",  wasm component:     pointers exist,      │ mode decides:
//!   "authType":{     discover(type,      name strings,        │  db          → fernet:<token> in place
//!    "password":..}} config) → fields    ids built here       │  managed-*   → KMS write, fernet(secret:<id>)
//!                    (no keys, no I/O,                        │  non-managed → secret:<id> kept, rest fernet
//!                    memory+time caps)                        ▼
//!                                                    fernet::FernetKeys   kms::SecretStore
//! ```
//!
//! A reader meets the modules in the order data flows through them:
//!
//! - [`config`]: the YAML file and environment variables (OpenMetadata's
//!   `secretsManagerConfiguration` keys), resolved into [`Settings`].
//! - [`plugin`]: loading policy plugins (WebAssembly components) and running
//!   them in a sandbox: [`plugin::registry`] (grants, pins, routing) here;
//!   [`plugin::sandbox`] (wasmtime engine, limits, a fresh instance per
//!   call), [`plugin::cache`] (compiled components on disk) and
//!   [`plugin::check`] (nothing a plugin answers is trusted) from the
//!   `om-secrets-sandbox` crate, which depends on nothing that holds a key
//!   or reaches a store, so plugins never reach the KMS or the Fernet keys.
//! - [`secret_id`]: OpenMetadata's secret ids.
//! - [`fernet`]: Fernet encryption with OpenMetadata's key handling.
//! - [`kms`]: the key management stores behind one trait ([`SecretStore`]),
//!   one module each.
//! - [`ops`]: the operations, and [`SecretsManager`] which holds it all.
//!
//! The host owns every capability; a plugin only says *where* the secrets are.
//! Every failure is a typed [`Error`] that names the field, id, plugin or file,
//! and never carries a secret value.
//!
//! ## Embedding
//!
//! The library is the product; the `om-secrets` command, the HTTP service
//! and the JVM binding are front-ends over it. What an embedder needs is at
//! the crate root:
//!
//! ```no_run
//! # async fn demo() -> om_secrets::Result<()> {
//! use om_secrets::{SecretsManager, Settings, Subject};
//! let settings = Settings::load(None)?; // environment, or the embedded default
//! let manager = SecretsManager::from_settings(&settings).await?;
//! let mysql = Subject::service("database", Some("orders"))?;
//! let config = serde_json::json!({"type": "Mysql", "authType": {"password": "s3cret"}});
//! let stored = manager.seal(&mysql, &config).await?;   // what the database keeps
//! let shown = manager.mask(&mysql, &stored)?;           // what a viewer sees
//! let used = manager.reveal(&mysql, &stored, false).await?; // what a connector gets
//! # let _ = (shown, used); Ok(()) }
//! ```
//!
//! Many documents at once (list pages, migrations) go through
//! [`SecretsManager::batch`] with [`BatchItem`]s; a custom store implements
//! [`SecretStore`] and is given to [`SecretsManager::new`] through
//! [`ops::Backend`].
//!
//! Cargo features:
//!
//! | feature      | what it adds | default |
//! |--------------|--------------|---------|
//! | `remote-kms` | the Vault/OpenBao, AWS Secrets Manager and SSM stores (rustls with aws-lc-rs) | yes |
//! | `client`     | `client`: a typed async client for `om-secrets serve` (reqwest, the same TLS) | with `cli` |
//! | `server`     | `server`: the HTTP service behind `om-secrets serve` | with `cli` |
//! | `migrate`    | [`migrate`]: move an OpenMetadata database's secrets into the store, rotate its Fernet key (sqlx: PostgreSQL, MySQL) | with `cli` |
//! | `cli`        | the `om-secrets` binary (clap, anyhow, tracing-subscriber) | yes |
//!
//! An embedder depends on `om-secrets = { default-features = false, features =
//! ["remote-kms"] }` and gets none of the command line's dependencies.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod fernet;
/// Owner-only, atomically written files: the `om-secrets-files` crate, which
/// the plugin sandbox's component cache shares.
pub(crate) use om_secrets_files as files;
pub mod kms;
pub mod ops;
pub mod plugin;
#[cfg(any(feature = "remote-kms", feature = "client", feature = "migrate"))]
pub(crate) mod redact;
pub mod secret_id;

// `om-secrets migrate`/`rotate` as a library (its docs are its own: an outer
// doc comment here would make rustdoc resolve the module's links from the
// crate root).
#[cfg(feature = "migrate")]
pub mod migrate;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "server")]
pub mod server;

pub use config::{Mode, Provider, Settings};
pub use error::{Error, Result};
pub use kms::{KmsError, KmsErrorKind, SecretStore, SecretValue};
pub use ops::{
    Backend, BatchItem, Failure, Field, Operation, Outcome, SecretsManager, Subject, SubjectKind,
};
pub use plugin::check::Treatment;

/// The value shown to unprivileged callers in place of a secret: nine
/// asterisks, as OpenMetadata shows.
pub const MASK: &str = "*********";
