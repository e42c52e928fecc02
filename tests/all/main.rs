//! End-to-end tests of om-secrets, one module per feature, driving the real
//! `om-secrets` binary (and, where a feature needs one, real servers started
//! through `tests/servers/servers.sh`).

mod util;

mod cli;
mod entities;
mod fernet_interop;
mod modes;
