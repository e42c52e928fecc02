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
//!   `secretsManagerConfiguration` keys), resolved into [`config::Settings`].
//! - [`plugin`]: loading policy plugins (WebAssembly components) and running
//!   them in a sandbox: [`plugin::sandbox`] (wasmtime engine, limits, a fresh
//!   instance per call), [`plugin::cache`] (compiled components on disk),
//!   [`plugin::check`] (nothing a plugin answers is trusted).
//! - [`secret_id`]: OpenMetadata's secret ids.
//! - [`fernet`]: Fernet encryption with OpenMetadata's key handling.
//! - [`kms`]: the key management stores behind one trait, one module each.
//! - [`ops`]: the operations, and [`SecretsManager`] which holds it all.
//!
//! The host owns every capability; a plugin only says *where* the secrets are.
//! Every failure is a typed [`Error`] that names the field, id, plugin or file,
//! and never carries a secret value.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod fernet;
pub(crate) mod files;
pub mod kms;
pub mod ops;
pub mod plugin;
pub mod secret_id;

pub use error::{Error, Result};
pub use ops::{Field, SecretsManager, Subject};

/// The value shown to unprivileged callers in place of a secret: nine
/// asterisks, as OpenMetadata shows.
pub const MASK: &str = "*********";
