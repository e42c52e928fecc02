//! End-to-end tests of om-secrets, one module per feature, driving the real
//! `om-secrets` binary (and, where a feature needs one, real servers started
//! through `tests/servers/servers.sh`).

mod util;

mod batch;
mod cache;
mod cli;
mod client;
mod connectors;
mod entities;
mod fernet_interop;
mod generator;
mod isolation;
mod kms_aws;
mod kms_common;
mod kms_faults;
mod kms_ssm;
mod kms_vault;
#[cfg(feature = "migrate")]
mod migrate;
#[cfg(feature = "migrate")]
mod migrate_attacks;
#[cfg(feature = "migrate")]
mod migrate_on_start;
mod modes;
mod plugins;
mod plugins_fixtures;
mod sandbox;
mod sandbox_fuzz;
mod serve;
mod serve_attacks;
mod serve_util;
mod store_safety;
