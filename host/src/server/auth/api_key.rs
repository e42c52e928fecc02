//! API keys: the configuration holds each key's sha256; a presented token is
//! hashed and compared with every configured hash in constant time.
//!
//! With no credential configured, [`admin_key`] creates (once) a random key
//! in `<home>/admin-api.key`, mode 0600.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::server::ServeError;

/// The name the generated admin key has (`apiKey:admin`).
pub const ADMIN: &str = "admin";

/// The file, under the data directory, holding the generated admin key.
pub const ADMIN_KEY_FILE: &str = "admin-api.key";

/// Configured keys: name and sha256.
#[derive(Default)]
pub struct ApiKeys {
    keys: Vec<(String, [u8; 32])>,
}

impl ApiKeys {
    /// Keys from (name, sha256) pairs.
    pub fn new(keys: impl IntoIterator<Item = (String, [u8; 32])>) -> Self {
        ApiKeys {
            keys: keys.into_iter().collect(),
        }
    }

    /// The name of the key `token` is, if any. Every configured hash is
    /// compared, each in constant time.
    pub fn check(&self, token: &str) -> Option<String> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (name, hash) in &self.keys {
            if bool::from(hash.ct_eq(&digest)) {
                found = Some(name.clone());
            }
        }
        found
    }
}

/// The sha256 of a key, hex: what `server.apiKeys` holds.
pub fn hash_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The admin key under `home`: created with a random value if absent.
/// Returns the file, the key's sha256 and whether it was created now.
pub fn admin_key(home: &Path) -> Result<(PathBuf, [u8; 32], bool), ServeError> {
    let io = |p: &Path, e: std::io::Error| ServeError::Io {
        path: p.to_path_buf(),
        source: e,
    };
    crate::files::create_private_dir(home).map_err(|e| io(home, e))?;
    let path = home.join(ADMIN_KEY_FILE);
    let existed = path.exists();
    // 32 random bytes (the Fernet key generator's), url-safe, no padding.
    let fresh = format!(
        "oms_{}",
        crate::fernet::FernetKeys::generate_key().trim_end_matches('=')
    );
    let raw =
        crate::files::create_private_file(&path, fresh.as_bytes()).map_err(|e| io(&path, e))?;
    let key = std::str::from_utf8(&raw)
        .ok()
        .map(str::trim)
        .filter(|k| k.len() >= 16)
        .ok_or_else(|| {
            ServeError::Config(format!(
                "{}: not an API key (delete it and restart to create a new one)",
                path.display()
            ))
        })?;
    Ok((path, Sha256::digest(key.as_bytes()).into(), !existed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_by_hash_only() {
        let keys = ApiKeys::new([("om".to_string(), {
            let h: [u8; 32] = Sha256::digest(b"s3cret-key").into();
            h
        })]);
        assert_eq!(keys.check("s3cret-key").as_deref(), Some("om"));
        assert_eq!(keys.check("s3cret-kez"), None);
        assert_eq!(keys.check(""), None);
        // What `sha256sum` prints for the key (FIPS 180-2's "abc" vector).
        assert_eq!(
            hash_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn admin_key_is_private_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let (p, h, created) = admin_key(d.path()).unwrap();
        assert!(created);
        let (p2, h2, created2) = admin_key(d.path()).unwrap();
        assert_eq!((p, h), (p2.clone(), h2));
        assert!(!created2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p2).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
