//! Building the jar: the Java sources compiled with the machine's `javac`
//! (`--release 17`, the oldest Java OpenMetadata supports) and the native
//! library of this build placed inside it at
//! `native/linux-x86_64/libom_secrets_jvm.so`, where the Java loader finds it.
//!
//! Cargo has no step after linking a `cdylib`, so the jar is assembled by
//! what runs after the build: the tests (`cargo test`), the bench, and
//! `cargo run -p om-secrets-jvm --bin om-secrets-jvm-jar`. Each writes
//! `target/<profile>/om-secrets-jvm.jar`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The file name of the native library on Linux.
pub const NATIVE_LIBRARY: &str = "libom_secrets_jvm.so";

/// Where the jar carries the native library.
pub const NATIVE_RESOURCE_DIR: &str = "native/linux-x86_64";

/// This crate's directory (`host/jvm`).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's root.
pub fn repo_dir() -> PathBuf {
    crate_dir().join("../..")
}

/// The Java sources of the library.
pub fn main_sources() -> PathBuf {
    crate_dir().join("java/src/main/java")
}

/// The Java sources of the tests.
pub fn test_sources() -> PathBuf {
    crate_dir().join("java/src/test/java")
}

/// The profile directory (`target/debug`, `target/release`) of a binary
/// cargo built: a test or bench lives in `<profile>/deps/`, a bin in
/// `<profile>/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the running executable's path");
    let dir = exe.parent().expect("the executable's directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("the profile directory").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// Every `*.java` file below `dir`, sorted.
pub fn java_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "java") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Compile `sources` into `classes` (emptied first) with `javac --release 17`;
/// `strict`: every lint and Javadoc warning of the public API is an error
/// (the library), else warnings are shown only (the tests).
pub fn javac(
    sources: &[PathBuf],
    classpath: &[PathBuf],
    classes: &Path,
    strict: bool,
) -> Result<(), String> {
    if classes.exists() {
        std::fs::remove_dir_all(classes).map_err(|e| format!("{}: {e}", classes.display()))?;
    }
    std::fs::create_dir_all(classes).map_err(|e| format!("{}: {e}", classes.display()))?;
    let mut cmd = Command::new("javac");
    cmd.args(["--release", "17", "-encoding", "UTF-8"]);
    if strict {
        cmd.args(["-Xlint:all", "-Xdoclint:all/protected", "-Werror"]);
    }
    cmd.arg("-d").arg(classes);
    if !classpath.is_empty() {
        cmd.arg("-cp")
            .arg(std::env::join_paths(classpath).map_err(|e| e.to_string())?);
    }
    cmd.args(sources);
    run(&mut cmd, "javac")
}

/// The newest native library of a profile: `cargo build` leaves it in
/// `<profile>/`, a test or bench build only in `<profile>/deps/`.
pub fn native_library(profile: &Path) -> Result<PathBuf, String> {
    [
        profile.join(NATIVE_LIBRARY),
        profile.join("deps").join(NATIVE_LIBRARY),
    ]
    .into_iter()
    .filter_map(|p| {
        let modified = std::fs::metadata(&p).and_then(|m| m.modified()).ok()?;
        Some((modified, p))
    })
    .max()
    .map(|(_, p)| p)
    .ok_or_else(|| {
        format!(
            "no {NATIVE_LIBRARY} in {}: build the crate first (cargo build -p om-secrets-jvm)",
            profile.display()
        )
    })
}

/// Build `<profile>/om-secrets-jvm.jar` from the Java sources and the native
/// library of `profile` (which must have been built). Returns its path.
pub fn build_jar(profile: &Path) -> Result<PathBuf, String> {
    let native = native_library(profile)?;
    let work = profile.join("om-secrets-jvm");
    let classes = work.join("classes");
    javac(&java_files(&main_sources()), &[], &classes, true)?;
    let resource = classes.join(NATIVE_RESOURCE_DIR);
    std::fs::create_dir_all(&resource).map_err(|e| format!("{}: {e}", resource.display()))?;
    // Without its debug information (a debug build's is ~500 MB, nearly
    // all of it the dependencies'); a plain copy where `strip` is missing.
    let target = resource.join(NATIVE_LIBRARY);
    let stripped = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&target)
        .arg(&native)
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(&native, &target)
            .map_err(|e| format!("copying {}: {e}", native.display()))?;
    }
    let jar = profile.join("om-secrets-jvm.jar");
    let _ = std::fs::remove_file(&jar);
    run(
        Command::new("jar")
            .args(["--create", "--file"])
            .arg(&jar)
            .arg("-C")
            .arg(&classes)
            .arg("."),
        "jar",
    )?;
    Ok(jar)
}
