//! The compiled-component cache through the CLI, each test with a cache of
//! its own (the shared `target/test-cache` is warm after the first run, so
//! its cold and recovery paths would never run again): a cold cache compiles
//! and stores every built-in plugin, the next run loads them all from it, and
//! a damaged entry is recompiled and replaced rather than loaded.

use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::util::Om;

/// An installation whose cache lives in its own temporary directory.
fn om_with_own_cache() -> (Om, PathBuf) {
    let om = Om::new();
    let cache = om.home.path().join("own-cache");
    let om = om
        .with("OM_SECRETS_CACHE", cache.to_str().unwrap())
        .with("OM_SECRETS_LOG", "om_secrets=debug");
    (om, cache)
}

/// Every `*.cwasm` entry under the cache, by plugin digest.
fn entries(cache: &Path) -> Vec<(String, PathBuf)> {
    let root = cache.join("components");
    let mut out = Vec::new();
    for engine_dir in std::fs::read_dir(&root).unwrap() {
        for e in std::fs::read_dir(engine_dir.unwrap().path()).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(sha) = name.strip_suffix(".cwasm") {
                out.push((sha.to_string(), p));
            }
        }
    }
    out.sort();
    out
}

fn builtin_digests() -> Vec<String> {
    let mut v: Vec<String> = om_secrets::plugin::registry::builtin()
        .iter()
        .map(|(_, b)| hex::encode(Sha256::digest(b)))
        .collect();
    v.sort();
    v
}

fn digest_matches(entry: &Path) -> bool {
    let art = std::fs::read(entry).unwrap();
    let recorded = std::fs::read_to_string(entry.with_extension("cwasm.sha256")).unwrap();
    recorded.trim() == hex::encode(Sha256::digest(&art))
}

fn hits(stderr: &str) -> usize {
    stderr.matches("component cache hit").count()
}

#[test]
fn cache_cold_compiles_every_builtin_then_loads_them() {
    let (om, cache) = om_with_own_cache();
    assert!(!cache.exists());
    let cold = om.run(&["plugins"], "");
    assert_eq!(cold.code, 0, "{}", cold.stderr);
    assert_eq!(
        hits(&cold.stderr),
        0,
        "a cold cache had hits: {}",
        cold.stderr
    );
    let stored = entries(&cache);
    assert_eq!(
        stored.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
        builtin_digests(),
        "one entry per built-in plugin"
    );
    assert!(stored.iter().all(|(_, p)| digest_matches(p)));
    let warm = om.run(&["plugins"], "");
    assert_eq!(warm.code, 0, "{}", warm.stderr);
    assert_eq!(
        hits(&warm.stderr),
        builtin_digests().len(),
        "{}",
        warm.stderr
    );
    assert_eq!(entries(&cache), stored);
}

#[test]
fn cache_a_damaged_entry_is_recompiled_not_loaded() {
    let (om, cache) = om_with_own_cache();
    let mysql = json!({"type": "Mysql", "username": "u", "authType": {"password": "pw-1"}});
    om.json(
        &["seal", "--service-type", "database", "--name", "a"],
        &mysql,
    );
    let (_, database) = om_secrets::plugin::registry::builtin()
        .iter()
        .find(|(n, _)| *n == "database")
        .unwrap();
    let sha = hex::encode(Sha256::digest(database));
    let (_, entry) = entries(&cache)
        .into_iter()
        .find(|(s, _)| *s == sha)
        .expect("the database plugin's entry");
    let good = std::fs::read(&entry).unwrap();
    let digest = std::fs::read(entry.with_extension("cwasm.sha256")).unwrap();
    let mut bad = good.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x5a;
    for (what, art) in [("altered", bad), ("truncated", good[..100].to_vec())] {
        std::fs::write(&entry, &art).unwrap();
        let r = om.run(
            &["seal", "--service-type", "database", "--name", "b"],
            &mysql.to_string(),
        );
        assert_eq!(r.code, 0, "{what}: {}", r.stderr);
        let sealed = r.json();
        assert!(
            sealed["authType"]["password"]
                .as_str()
                .unwrap()
                .starts_with("fernet:")
        );
        assert_eq!(
            r.stderr
                .matches("does not match its digest; recompiling")
                .count(),
            1,
            "{what}: {}",
            r.stderr
        );
        // Every other plugin came from the cache.
        assert_eq!(hits(&r.stderr), builtin_digests().len() - 1, "{what}");
        let now = std::fs::read(&entry).unwrap();
        assert_ne!(now, art, "{what}: the damaged entry is still there");
        assert!(digest_matches(&entry), "{what}");
        assert_eq!(
            std::fs::read(entry.with_extension("cwasm.sha256")).unwrap(),
            digest,
            "{what}: a recompiled entry has the same digest"
        );
    }
}
