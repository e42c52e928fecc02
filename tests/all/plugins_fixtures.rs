//! The test-fixture plugins of `tests/fixtures/plugins` (hostile, claiming,
//! WASI-importing and frozen-WIT plugins): built on first use, once per test
//! process (a `OnceLock`) and once across processes (a file lock, then cargo's
//! own up-to-date check), into the target directory `host/build.rs` uses for
//! the product's plugins. Also: a sandbox and plugin set shared by the
//! library-level tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use om_secrets::plugin::cache::ComponentCache;
use om_secrets::plugin::{Limits, Plugins, Sandbox};
use sha2::{Digest, Sha256};

use crate::util::{repo, shared_cache};

/// Fixtures built for `wasm32-unknown-unknown` (components importing only the
/// WIT world), by package name.
const PLAIN: &[&str] = &[
    "fixture-hostile",
    "fixture-claimer",
    "fixture-casefold",
    "fixture-botlike",
    "fixture-wit-0-1-0",
    "fixture-wit-0-1-1",
    "fixture-wit-0-2-0",
    "fixture-wit-1-0-0",
];
/// Fixtures built for `wasm32-wasip2` (they import WASI).
const WASI: &[&str] = &["fixture-wasi"];

/// The time limit of the sandbox tests: the default. (200 ms was too tight for
/// a million-field answer built on a loaded 2-core machine.)
pub const TEST_TIME_MS: u64 = 1000;

fn target_dir() -> PathBuf {
    std::env::var_os("OM_SECRETS_PLUGIN_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target").join("plugins"))
}

fn cargo(target: &str, packages: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo().join("tests/fixtures/plugins"))
        .args([
            "build",
            "--quiet",
            "--target",
            target,
            "--profile",
            "plugin",
            "--target-dir",
        ])
        .arg(target_dir())
        // The linker that makes a component of a wasm32-unknown-unknown cdylib
        // (also in .cargo/config.toml; explicit here in case cargo is run
        // from elsewhere).
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER",
            "wasm-component-ld",
        );
    for p in packages {
        cmd.args(["-p", p]);
    }
    // Host flags (coverage, sanitizers) do not apply to wasm.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo for the fixture plugins");
    assert!(
        status.success(),
        "building the fixture plugins for {target} failed (see above); targets: rustup target add wasm32-unknown-unknown wasm32-wasip2"
    );
}

fn build() -> PathBuf {
    let dir = target_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join("fixture-build.lock")).unwrap();
    lock.lock().unwrap();
    cargo("wasm32-unknown-unknown", PLAIN);
    cargo("wasm32-wasip2", WASI);
    lock.unlock().unwrap();
    dir
}

/// The component file of a fixture (`hostile`, `claimer`, `wasi`,
/// `wit-0-2-0`, …), built if needed.
pub fn fixture(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(build);
    let package = format!("fixture-{name}");
    let target = if WASI.contains(&package.as_str()) {
        "wasm32-wasip2"
    } else {
        "wasm32-unknown-unknown"
    };
    let file = dir
        .join(target)
        .join("plugin")
        .join(format!("{}.wasm", package.replace('-', "_")));
    assert!(file.exists(), "no fixture {}", file.display());
    file
}

/// The bytes of a fixture.
pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

/// sha256 of a file, hex.
pub fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The limits of the library-level sandbox tests.
pub fn test_limits() -> Limits {
    Limits {
        time: Duration::from_millis(TEST_TIME_MS),
        ..Limits::default()
    }
}

/// A time limit no bounded call reaches, however loaded the machine: the
/// tests of failures other than a timeout run under it, so that load can
/// never turn their failure into a timeout, while a real hang still ends
/// (as a timeout, which those tests do not expect).
pub const HANG_MS: u64 = 60_000;

/// The limits of the sandbox tests whose property is not about time.
pub fn untimed_limits() -> Limits {
    Limits {
        time: Duration::from_millis(HANG_MS),
        ..Limits::default()
    }
}

fn set_on(sandbox: &Sandbox) -> Plugins {
    let cache = ComponentCache::new(shared_cache().join("components"));
    let mut set = Plugins::new();
    for (name, bytes) in om_secrets::plugin::registry::builtin() {
        set.add_bytes(sandbox, Some(&cache), bytes, &format!("builtin:{name}"))
            .unwrap();
    }
    set.add_bytes(
        sandbox,
        Some(&cache),
        &fixture_bytes("hostile"),
        "hostile.wasm",
    )
    .unwrap();
    set
}

/// A sandbox with [`untimed_limits`], the built-in plugins and the hostile
/// one, shared by the tests of this process (one engine, compiled once; the
/// component cache makes later processes fast).
pub fn hostile_set() -> &'static Plugins {
    static SET: OnceLock<Plugins> = OnceLock::new();
    SET.get_or_init(|| set_on(&Sandbox::new(untimed_limits()).unwrap()))
}

/// The same plugins on an engine of its own with [`test_limits`] whose time
/// passes only when the test advances its epoch
/// ([`Sandbox::with_manual_time`]): for the time-limit test alone.
pub fn manual_time_set() -> &'static (Sandbox, Plugins) {
    static SET: OnceLock<(Sandbox, Plugins)> = OnceLock::new();
    SET.get_or_init(|| {
        let sandbox = Sandbox::with_manual_time(test_limits()).unwrap();
        let set = set_on(&sandbox);
        (sandbox, set)
    })
}
