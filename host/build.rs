//! Builds every plugin under `plugins/` as a wasm component and embeds them in
//! the host, so that `cargo build`/`cargo test` at the root need no extra step.
//!
//! Like wasmtime's `test-programs`, this runs a nested `cargo build` for
//! `wasm32-unknown-unknown` with its own target directory (`target/plugins`),
//! shared by debug and release host builds so plugins are built once. The
//! linker `wasm-component-ld` (set in `.cargo/config.toml`) turns each cdylib
//! into a component importing only what the WIT world names.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    // The root manifest holds `[profile.plugin]`: a change there rebuilds them.
    for dir in [
        "plugins",
        "guest",
        "wit",
        ".cargo",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }

    let mut plugins: Vec<String> = fs::read_dir(root.join("plugins"))
        .expect("read plugins/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    plugins.sort();

    let target_dir = env::var_os("OM_SECRETS_PLUGIN_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_target(&root, &out).join("plugins"));
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "plugin",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    for p in &plugins {
        cmd.args(["-p", &format!("om-secrets-plugin-{p}")]);
    }
    // Host flags (coverage, sanitizers, target-cpu) do not apply to wasm.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo for the plugins");
    if !status.success() {
        panic!(
            "building the wasm plugins failed (see above). If the target is missing, run:\n    \
             rustup target add wasm32-unknown-unknown wasm32-wasip2"
        );
    }

    let wasm_dir = target_dir.join("wasm32-unknown-unknown").join("plugin");
    let mut table =
        String::from("/// Plugins built from `plugins/`: (directory name, component bytes).\n");
    table.push_str("pub const BUILTIN: &[(&str, &[u8])] = &[\n");
    for p in &plugins {
        let file = wasm_dir.join(format!("om_secrets_plugin_{}.wasm", p.replace('-', "_")));
        let dest = out.join(format!("{p}.wasm"));
        fs::copy(&file, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", file.display()));
        table.push_str(&format!(
            "    ({p:?}, include_bytes!({:?})),\n",
            dest.display().to_string()
        ));
    }
    table.push_str("];\n");
    fs::write(out.join("builtin_plugins.rs"), table).unwrap();
}

/// `<workspace>/target` (or `$CARGO_TARGET_DIR`), found from OUT_DIR
/// (`<target>/<profile>/build/<pkg>-<hash>/out`).
fn workspace_target(root: &Path, out: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    out.ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "build"))
        .and_then(|b| b.parent())
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.join("target"))
}
