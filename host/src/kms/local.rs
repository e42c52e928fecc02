//! The embedded default store (`managed-local`, or `local` for references
//! only): one JSON file on local disk, what runs when nothing is configured.
//!
//! - **Encrypted at rest**: every value is a Fernet token under the store's own
//!   key (`store.key`, generated on first use, mode 0600), distinct from
//!   `FERNET_KEY` so that rotating the database key does not lose the store.
//!   Ids are kept in clear, as a Vault path would be.
//! - **Crash-safe**: every change writes a new file beside the old one, syncs
//!   it, renames it over the old one and syncs the directory; a crash leaves
//!   either the old or the new file, never a torn one.
//! - **Safe across processes**: every operation holds an advisory lock on
//!   `store.lock` (exclusive to write, shared to read).
//!
//! Layout under the data directory (`OM_SECRETS_HOME`): `store/secrets.json`,
//! `store/store.key`, `store/store.lock`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{KmsError, KmsErrorKind, SecretStore, SecretValue, absent_if_null};
use crate::fernet::FernetKeys;

const NAME: &str = "local";

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    format: u32,
    /// id → Fernet token (without prefix) of the value.
    secrets: BTreeMap<String, String>,
}

/// The file-backed store.
pub struct LocalStore {
    dir: PathBuf,
    key: FernetKeys,
}

fn err(kind: KmsErrorKind, id: Option<&str>, message: impl Into<String>) -> KmsError {
    KmsError::new(NAME, id, kind, message)
}

fn io_err(path: &Path, e: std::io::Error) -> KmsError {
    err(
        KmsErrorKind::Other,
        None,
        format!("{}: {e}", path.display()),
    )
}

/// Create `path` with mode 0600 holding `contents`, unless it exists. Returns
/// the file's contents either way (a concurrent creator wins cleanly).
pub(crate) fn create_private_file(path: &Path, contents: &str) -> std::io::Result<String> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(contents.as_bytes())?;
            f.sync_all()?;
            Ok(contents.to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => fs::read_to_string(path),
        Err(e) => Err(e),
    }
}

/// Create a directory (and parents) readable by its owner only.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

impl LocalStore {
    /// Open (creating on first use) the store under `home/store`.
    pub fn open(home: &Path) -> Result<Self, KmsError> {
        let dir = home.join("store");
        create_private_dir(&dir).map_err(|e| io_err(&dir, e))?;
        let key_path = dir.join("store.key");
        let key = create_private_file(&key_path, &FernetKeys::generate_key())
            .map_err(|e| io_err(&key_path, e))?;
        let key = FernetKeys::parse(key.trim()).map_err(|e| {
            err(
                KmsErrorKind::Corrupt,
                None,
                format!("{}: {e}", key_path.display()),
            )
        })?;
        Ok(LocalStore { dir, key })
    }

    fn file(&self) -> PathBuf {
        self.dir.join("secrets.json")
    }

    fn lock(&self, exclusive: bool) -> Result<File, KmsError> {
        let path = self.dir.join("store.lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let r = if exclusive { f.lock() } else { f.lock_shared() };
        r.map_err(|e| io_err(&path, e))?;
        Ok(f) // unlocked on drop
    }

    fn read(&self) -> Result<StoreFile, KmsError> {
        let path = self.file();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                err(
                    KmsErrorKind::Corrupt,
                    None,
                    format!("{} is not a valid store file: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreFile {
                format: 1,
                ..Default::default()
            }),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    fn write(&self, data: &StoreFile) -> Result<(), KmsError> {
        let path = self.file();
        let tmp = self
            .dir
            .join(format!("secrets.json.tmp{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(data).expect("store serialises");
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| io_err(&tmp, e))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(&self.dir, e))?;
        Ok(())
    }

    /// Every id in the store, sorted (for tests, `status` and migration).
    pub fn ids(&self) -> Result<Vec<String>, KmsError> {
        let _l = self.lock(false)?;
        Ok(self.read()?.secrets.into_keys().collect())
    }
}

#[async_trait]
impl SecretStore for LocalStore {
    fn name(&self) -> &str {
        NAME
    }

    async fn get(&self, id: &str) -> Result<Option<SecretValue>, KmsError> {
        let _l = self.lock(false)?;
        let data = self.read()?;
        let Some(token) = data.secrets.get(id) else {
            return Ok(None);
        };
        let value = self.key.decrypt(token).map_err(|_| {
            err(
                KmsErrorKind::Corrupt,
                Some(id),
                "cannot decrypt the stored value: store.key does not match secrets.json",
            )
        })?;
        Ok(absent_if_null(Some(value)))
    }

    async fn put(&self, id: &str, value: &str) -> Result<(), KmsError> {
        let _l = self.lock(true)?;
        let mut data = self.read()?;
        if let Some(old) = data.secrets.get(id)
            && self.key.decrypt(old).is_ok_and(|v| v.as_str() == value)
        {
            return Ok(()); // unchanged: no write
        }
        let token = self.key.encrypt(value);
        let token = token
            .strip_prefix(crate::fernet::PREFIX)
            .unwrap_or(&token)
            .to_string();
        data.secrets.insert(id.to_string(), token);
        self.write(&data)
    }

    async fn delete(&self, id: &str) -> Result<bool, KmsError> {
        let _l = self.lock(true)?;
        let mut data = self.read()?;
        if data.secrets.remove(id).is_none() {
            return Ok(false);
        }
        self.write(&data)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn persists_encrypted_and_survives_reopen() {
        let home = tempfile::tempdir().unwrap();
        let s = LocalStore::open(home.path()).unwrap();
        s.put("/openmetadata/database/x/authtype/password", "hunter2")
            .await
            .unwrap();
        let raw = fs::read_to_string(home.path().join("store/secrets.json")).unwrap();
        assert!(!raw.contains("hunter2"));
        assert!(raw.contains("/openmetadata/database/x/authtype/password"));
        let again = LocalStore::open(home.path()).unwrap();
        assert_eq!(
            again
                .get("/openmetadata/database/x/authtype/password")
                .await
                .unwrap()
                .as_deref()
                .map(String::as_str),
            Some("hunter2")
        );
        assert!(
            again
                .delete("/openmetadata/database/x/authtype/password")
                .await
                .unwrap()
        );
        assert!(
            !again
                .delete("/openmetadata/database/x/authtype/password")
                .await
                .unwrap()
        );
        assert!(
            again
                .get("/openmetadata/database/x/authtype/password")
                .await
                .unwrap()
                .is_none()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(home.path().join("store/store.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[tokio::test]
    async fn null_reads_as_absent_and_corruption_is_named() {
        let home = tempfile::tempdir().unwrap();
        let s = LocalStore::open(home.path()).unwrap();
        s.put("/a", "null").await.unwrap();
        assert!(s.get("/a").await.unwrap().is_none());
        fs::write(home.path().join("store/secrets.json"), "{not json").unwrap();
        let e = s.get("/a").await.unwrap_err();
        assert_eq!(e.kind, KmsErrorKind::Corrupt);
        assert!(e.to_string().contains("secrets.json"), "{e}");
    }
}
