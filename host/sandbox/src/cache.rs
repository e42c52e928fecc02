//! Compiled components on disk.
//!
//! Compiling a component with cranelift takes 40–120 ms (more in a debug
//! build); loading a precompiled one takes ~0.2 ms. Entries live under
//! `<dir>/<engine compatibility hash>/<plugin sha256>.cwasm`, so a new wasmtime
//! version or a changed engine config never loads an old artifact, and a
//! changed plugin never loads another's code.
//!
//! Loading precompiled code is `unsafe` in wasmtime: the bytes are trusted to
//! be wasmtime's own output. The cache directory is created owner-only
//! (0700), each entry is a 0600 file written atomically and durably (temp
//! file, sync, rename, directory sync: `om_secrets_files`), and beside
//! it a `.sha256` file records the artifact's digest, checked before every
//! load: a torn, truncated or altered artifact is recompiled, never loaded.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::{PluginFailure, Refusal};
use om_secrets_files as files;

/// A directory of compiled components.
#[derive(Clone, Debug)]
pub struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    /// Use (creating on first write) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ComponentCache { dir: dir.into() }
    }

    fn entry(&self, engine: &Engine, sha256: &str) -> PathBuf {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        self.dir
            .join(format!("{:016x}", h.finish()))
            .join(format!("{sha256}.cwasm"))
    }

    /// The compiled component for `bytes` (whose digest is `sha256`),
    /// compiling and storing it on a miss. A cache that cannot be written
    /// is not an error: the component is compiled and used anyway.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<Component, PluginFailure> {
        let path = self.entry(engine, sha256);
        if let Some(c) = load_verified(engine, &path) {
            tracing::debug!(path = %path.display(), "component cache hit");
            return Ok(c);
        }
        let component = Component::new(engine, bytes).map_err(|e| {
            PluginFailure::Refused(Refusal::Invalid(format!("not a valid component: {e}")))
        })?;
        match component.serialize() {
            Ok(art) => {
                if let Err(e) = store(&path, &art) {
                    tracing::warn!(path = %path.display(), "cannot write the component cache: {e}");
                }
            }
            Err(e) => tracing::warn!("cannot serialise a component: {e}"),
        }
        Ok(component)
    }
}

fn digest_path(path: &Path) -> PathBuf {
    path.with_extension("cwasm.sha256")
}

fn load_verified(engine: &Engine, path: &Path) -> Option<Component> {
    let art = fs::read(path).ok()?;
    let want = fs::read_to_string(digest_path(path)).ok()?;
    if hex::encode(Sha256::digest(&art)) != want.trim() {
        tracing::warn!(path = %path.display(), "component cache entry does not match its digest; recompiling");
        return None;
    }
    deserialize(engine, &art)
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, art: &[u8]) -> Option<Component> {
    // SAFETY: `art` was produced by `Component::serialize` of this same
    // wasmtime build and engine configuration (the directory is keyed by the
    // engine's compatibility hash, and wasmtime re-checks its own header), was
    // written by this module into an owner-only directory, and matches the
    // digest recorded beside it.
    unsafe { Component::deserialize(engine, art) }.ok()
}

fn store(path: &Path, art: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("entry has a parent");
    // The cache root and the engine's directory: both owner-only.
    if let Some(root) = dir.parent() {
        files::create_private_dir(root)?;
    }
    files::create_private_dir(dir)?;
    // Artifact first, digest last: a reader that sees the digest sees the
    // artifact it describes. Each is 0600, written atomically and durably.
    files::replace_private_file(path, art)?;
    files::replace_private_file(
        &digest_path(path),
        hex::encode(Sha256::digest(art)).as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small real component and an engine. The component is
    /// `(component (core module (func (result i32) i32.const 42)))`, encoded
    /// by hand: this crate builds no plugin of its own (the host's tests cache
    /// the built-in ones).
    fn component() -> (Engine, &'static [u8], String) {
        const BYTES: &[u8] = &[
            0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, // component, layer 1
            0x01, 0x1b, // a core module section of 27 bytes:
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // core module
            0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type: () -> i32
            0x03, 0x02, 0x01, 0x00, // one function of that type
            0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x2a, 0x0b, // i32.const 42
        ];
        let sha = hex::encode(Sha256::digest(BYTES));
        (Engine::default(), BYTES, sha)
    }

    #[test]
    fn a_cold_cache_compiles_stores_and_then_loads_the_entry() {
        let t = tempfile::tempdir().unwrap();
        let cache = ComponentCache::new(t.path().join("components"));
        let (engine, bytes, sha) = component();
        let path = cache.entry(&engine, &sha);
        assert!(!path.exists());
        cache.load(&engine, bytes, &sha).unwrap();
        let art = fs::read(&path).expect("the compiled entry was stored");
        assert_eq!(
            fs::read_to_string(digest_path(&path)).unwrap(),
            hex::encode(Sha256::digest(&art))
        );
        assert!(load_verified(&engine, &path).is_some());
        // A hit reads the entry: with other bytes under the same digest (a
        // lie no caller tells) the stored component still comes back.
        cache.load(&engine, b"not a component", &sha).unwrap();
        assert_eq!(fs::read(&path).unwrap(), art, "a hit rewrote the entry");
    }

    #[test]
    fn the_digest_is_checked_before_compiled_code_is_loaded() {
        let t = tempfile::tempdir().unwrap();
        let cache = ComponentCache::new(t.path().join("components"));
        let (engine, bytes, sha) = component();
        let path = cache.entry(&engine, &sha);
        cache.load(&engine, bytes, &sha).unwrap();
        let art = fs::read(&path).unwrap();
        // The artifact itself is loadable: only the recorded digest differs.
        assert!(deserialize(&engine, &art).is_some());
        for digest in [
            "0".repeat(64),
            String::new(),
            hex::encode(Sha256::digest(b"x")),
        ] {
            fs::write(digest_path(&path), &digest).unwrap();
            assert!(
                load_verified(&engine, &path).is_none(),
                "loaded code whose digest is {digest:?}"
            );
        }
        fs::remove_file(digest_path(&path)).unwrap();
        assert!(
            load_verified(&engine, &path).is_none(),
            "loaded code without a digest"
        );
    }

    /// The loaders of one test process (and of parallel processes) store the
    /// same entry at once: each writes a temp file of its own, so every load
    /// succeeds and the entry is whole (once, two threads shared one temp
    /// file name per process and could rename each other's half-written file).
    #[test]
    fn concurrent_loads_of_one_entry_store_it_whole() {
        let t = tempfile::tempdir().unwrap();
        let cache = ComponentCache::new(t.path().join("components"));
        let (engine, bytes, sha) = component();
        let path = cache.entry(&engine, &sha);
        for _ in 0..3 {
            let _ = fs::remove_file(&path);
            let _ = fs::remove_file(digest_path(&path));
            let art = Component::new(&engine, bytes).unwrap().serialize().unwrap();
            std::thread::scope(|s| {
                for i in 0..6 {
                    if i % 2 == 0 {
                        s.spawn(|| cache.load(&engine, bytes, &sha).unwrap());
                    } else {
                        // A store that fails is only a warning in `load`:
                        // asked directly, none may fail.
                        s.spawn(|| {
                            for _ in 0..10 {
                                store(&path, &art).unwrap();
                            }
                        });
                    }
                }
            });
            assert!(load_verified(&engine, &path).is_some());
            let names: Vec<_> = fs::read_dir(path.parent().unwrap())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names.len(), 2, "temp files left: {names:?}");
        }
    }

    #[test]
    fn a_bad_entry_is_recompiled_and_replaced() {
        let t = tempfile::tempdir().unwrap();
        let cache = ComponentCache::new(t.path().join("components"));
        let (engine, bytes, sha) = component();
        let path = cache.entry(&engine, &sha);
        cache.load(&engine, bytes, &sha).unwrap();
        let good = fs::read(&path).unwrap();
        let flipped = {
            let mut v = good.clone();
            let at = v.len() / 2;
            v[at] ^= 0xff;
            v
        };
        for (what, art) in [
            ("altered", flipped),
            ("truncated", good[..good.len() / 3].to_vec()),
            ("empty", Vec::new()),
        ] {
            fs::write(&path, &art).unwrap();
            assert!(load_verified(&engine, &path).is_none(), "{what}");
            // Recompiled from the plugin's bytes, and stored again.
            cache.load(&engine, bytes, &sha).unwrap();
            let now = fs::read(&path).unwrap();
            assert_ne!(now, art, "{what}: not replaced");
            assert_eq!(
                fs::read_to_string(digest_path(&path)).unwrap(),
                hex::encode(Sha256::digest(&now)),
                "{what}"
            );
            assert!(load_verified(&engine, &path).is_some(), "{what}");
        }
        // A bad entry with bytes that are no component either: an error, not
        // the stale code.
        fs::write(&path, b"garbage").unwrap();
        assert!(matches!(
            cache.load(&engine, b"not a component", &sha),
            Err(PluginFailure::Refused(Refusal::Invalid(_)))
        ));
    }

    #[test]
    #[cfg(unix)]
    fn entries_are_private_and_leave_no_temp_files() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("components");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let path = root.join("0123456789abcdef").join("abc.cwasm");
        store(&path, b"artifact").unwrap();
        store(&path, b"artifact v2").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&digest_path(&path)), 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"artifact v2");
        assert_eq!(
            fs::read_to_string(digest_path(&path)).unwrap(),
            hex::encode(Sha256::digest(b"artifact v2"))
        );
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 2);
    }
}
