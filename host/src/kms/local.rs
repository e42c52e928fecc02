//! The embedded default store (`managed-local`, or `local` for references
//! only): one JSON file on local disk, what runs when nothing is configured.
//!
//! - **Encrypted at rest**: every value is a Fernet token under the store's own
//!   key (`store.key`, generated on first use, mode 0600), distinct from
//!   `FERNET_KEY` so that rotating the database key does not lose the store.
//!   Ids are kept in clear, as a Vault path would be.
//! - **Crash-safe**: an operation (a `put`, a `delete`, or an `apply` of any
//!   number of changes) reads the file once and writes it at most once, and
//!   not at all when nothing changes: a new file beside the old one (0600),
//!   synced, renamed over the old one, directory synced
//!   (`crate::files`); a crash leaves either the old or the new file,
//!   never a torn one. `store.key` is created atomically, so a crash never
//!   leaves it empty.
//! - **Safe across processes**: every operation holds an advisory lock on
//!   `store.lock` (exclusive to write, shared to read).
//!
//! Layout under the data directory (`OM_SECRETS_HOME`): `store/secrets.json`,
//! `store/store.key`, `store/store.lock`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Change, KmsError, KmsErrorKind, SecretStore, SecretValue, absent_if_null};
use crate::fernet::FernetKeys;
use crate::files;

const NAME: &str = "local";

#[derive(Serialize, Deserialize, Default, Clone)]
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
    writes: AtomicUsize,
    parses: AtomicUsize,
    /// The file as last read or written, and what it looked like on disk
    /// then: a read whose file still looks the same needs no parse (a seal
    /// of thousands of fields reads the store once per field).
    cache: Mutex<Option<(Stamp, Arc<StoreFile>)>>,
}

/// What identifies one version of the store file: every write renames a new
/// file into place, so its inode, times and size change.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Stamp(Vec<u128>);

fn stamp(meta: &fs::Metadata) -> Stamp {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Stamp(vec![
            u128::from(meta.dev()),
            u128::from(meta.ino()),
            u128::from(meta.len()),
            meta.mtime() as u128,
            meta.mtime_nsec() as u128,
            meta.ctime() as u128,
            meta.ctime_nsec() as u128,
        ])
    }
    #[cfg(not(unix))]
    {
        let t = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Stamp(vec![u128::from(meta.len()), t])
    }
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

impl LocalStore {
    /// Open (creating on first use) the store under `home/store`.
    pub fn open(home: &Path) -> Result<Self, KmsError> {
        let dir = home.join("store");
        files::create_private_dir(home).map_err(|e| io_err(home, e))?;
        files::create_private_dir(&dir).map_err(|e| io_err(&dir, e))?;
        let key_path = dir.join("store.key");
        let raw = files::create_private_file(&key_path, FernetKeys::generate_key().as_bytes())
            .map_err(|e| io_err(&key_path, e))?;
        let key = std::str::from_utf8(&raw)
            .ok()
            .and_then(|k| FernetKeys::parse(k.trim()).ok())
            .ok_or_else(|| {
                err(
                    KmsErrorKind::Corrupt,
                    None,
                    files::damaged_key_message(&key_path, &raw, "every secret in secrets.json"),
                )
            })?;
        Ok(LocalStore {
            dir,
            key,
            writes: AtomicUsize::new(0),
            parses: AtomicUsize::new(0),
            cache: Mutex::new(None),
        })
    }

    /// How many times the store file was written (each one durable: temp
    /// file, sync, rename, directory sync).
    pub fn durable_writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// How many times the store file was read and parsed.
    pub fn parses(&self) -> usize {
        self.parses.load(Ordering::SeqCst)
    }

    fn file(&self) -> PathBuf {
        self.dir.join("secrets.json")
    }

    fn lock(&self, exclusive: bool) -> Result<File, KmsError> {
        let path = self.dir.join("store.lock");
        let f = files::open_lock_file(&path).map_err(|e| io_err(&path, e))?;
        let r = if exclusive { f.lock() } else { f.lock_shared() };
        r.map_err(|e| io_err(&path, e))?;
        Ok(f) // unlocked on drop
    }

    /// The store file (under a lock held by the caller): parsed again only
    /// when the file on disk changed since it was last read or written.
    fn read(&self) -> Result<Arc<StoreFile>, KmsError> {
        let path = self.file();
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Arc::new(StoreFile {
                    format: 1,
                    ..Default::default()
                }));
            }
            Err(e) => return Err(io_err(&path, e)),
        };
        let now = stamp(&meta);
        if let Some((at, data)) = &*self.cache.lock().unwrap()
            && *at == now
        {
            return Ok(data.clone());
        }
        let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
        self.parses.fetch_add(1, Ordering::SeqCst);
        let data: StoreFile = serde_json::from_slice(&bytes).map_err(|e| {
            err(
                KmsErrorKind::Corrupt,
                None,
                format!("{} is not a valid store file: {e}", path.display()),
            )
        })?;
        let data = Arc::new(data);
        *self.cache.lock().unwrap() = Some((now, data.clone()));
        Ok(data)
    }

    fn write(&self, data: StoreFile) -> Result<(), KmsError> {
        let path = self.file();
        let bytes = serde_json::to_vec_pretty(&data).expect("store serialises");
        *self.cache.lock().unwrap() = None;
        files::replace_private_file(&path, &bytes).map_err(|e| io_err(&path, e))?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        if let Ok(meta) = fs::metadata(&path) {
            *self.cache.lock().unwrap() = Some((stamp(&meta), Arc::new(data)));
        }
        Ok(())
    }

    /// Apply `changes` to `data` in memory: whether anything changed, and
    /// per change whether its id held a value before.
    fn apply_to(&self, data: &mut StoreFile, changes: &[Change]) -> (bool, Vec<bool>) {
        let mut changed = false;
        let mut existed = Vec::with_capacity(changes.len());
        for c in changes {
            match c {
                Change::Put(id, value) => {
                    existed.push(data.secrets.contains_key(id));
                    if let Some(old) = data.secrets.get(id)
                        && self
                            .key
                            .decrypt(old)
                            .is_ok_and(|v| v.as_str() == value.as_str())
                    {
                        continue; // unchanged
                    }
                    let token = self.key.encrypt(value);
                    let token = token
                        .strip_prefix(crate::fernet::PREFIX)
                        .unwrap_or(&token)
                        .to_string();
                    data.secrets.insert(id.clone(), token);
                    changed = true;
                }
                Change::Delete(id) => {
                    let gone = data.secrets.remove(id).is_some();
                    existed.push(gone);
                    changed |= gone;
                }
            }
        }
        (changed, existed)
    }

    /// Validate, then apply `changes` under one lock with at most one
    /// durable write; all or nothing.
    fn apply_all(&self, changes: &[Change]) -> Result<Vec<bool>, KmsError> {
        for c in changes {
            self.validate(c.id())?;
        }
        let _l = self.lock(true)?;
        let mut data = StoreFile::clone(&*self.read()?);
        let (changed, existed) = self.apply_to(&mut data, changes);
        if changed {
            // Under the exclusive lock no other writer is mid-write: any temp
            // file beside the store file was left by a crash.
            let file = self.file();
            files::remove_stale_temps(&file).map_err(|e| io_err(&file, e))?;
            self.write(data)?;
        }
        Ok(existed)
    }

    /// Every id in the store, sorted (for tests, `status` and migration).
    pub fn ids(&self) -> Result<Vec<String>, KmsError> {
        let _l = self.lock(false)?;
        Ok(self.read()?.secrets.keys().cloned().collect())
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
        self.apply_all(&[Change::Put(
            id.to_string(),
            SecretValue::new(value.to_string()),
        )])
        .map(|_| ())
    }

    async fn delete(&self, id: &str) -> Result<bool, KmsError> {
        Ok(self.apply_all(&[Change::Delete(id.to_string())])?[0])
    }

    fn validate(&self, id: &str) -> Result<(), KmsError> {
        super::check_well_formed(NAME, id)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, KmsError> {
        super::check_prefix(NAME, prefix)?;
        let _l = self.lock(false)?;
        Ok(super::under_prefix(self.read()?.secrets.keys(), prefix))
    }

    /// One read, every change, at most one durable write (none when nothing
    /// changes); all or nothing, so a failure reports 0 changes applied.
    async fn apply(&self, changes: &[Change]) -> Result<(), (usize, KmsError)> {
        self.apply_all(changes).map(|_| ()).map_err(|e| (0, e))
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

    fn put(id: &str, v: &str) -> Change {
        Change::Put(id.to_string(), SecretValue::new(v.to_string()))
    }

    #[tokio::test]
    async fn apply_is_one_durable_write_and_none_when_nothing_changes() {
        let home = tempfile::tempdir().unwrap();
        let s = LocalStore::open(home.path()).unwrap();
        let changes: Vec<Change> = (0..500)
            .map(|i| {
                put(
                    &format!("/o/database/svc/connectionoptions/k{i}"),
                    &format!("v{i}"),
                )
            })
            .collect();
        s.apply(&changes).await.unwrap();
        assert_eq!(s.durable_writes(), 1, "500 changes, one write");
        assert_eq!(
            s.get("/o/database/svc/connectionoptions/k499")
                .await
                .unwrap()
                .unwrap()
                .as_str(),
            "v499"
        );
        // The same values again, and deletes of absent ids: nothing to write.
        s.apply(&changes).await.unwrap();
        s.apply(&[Change::Delete("/o/database/svc/nothing".into())])
            .await
            .unwrap();
        assert_eq!(s.durable_writes(), 1);
        // A temp file a crashed writer left behind goes with the next write.
        fs::write(home.path().join("store/.secrets.json.tmp1.0"), "torn").unwrap();
        // Mixed: one write.
        s.apply(&[
            put("/o/database/svc/connectionoptions/k0", "new"),
            Change::Delete("/o/database/svc/connectionoptions/k1".into()),
        ])
        .await
        .unwrap();
        assert_eq!(s.durable_writes(), 2);
        assert_eq!(s.ids().unwrap().len(), 499);
        // A malformed id anywhere: nothing is applied.
        let e = s
            .apply(&[
                put("/o/database/svc/connectionoptions/k2", "changed"),
                put("/o/database/svc/connectionoptions/", "x"),
            ])
            .await
            .unwrap_err();
        assert_eq!(e.0, 0);
        assert_eq!(
            e.1.id.as_deref(),
            Some("/o/database/svc/connectionoptions/")
        );
        assert_eq!(
            s.get("/o/database/svc/connectionoptions/k2")
                .await
                .unwrap()
                .unwrap()
                .as_str(),
            "v2"
        );
        assert_eq!(s.durable_writes(), 2);
        // No temp file is left behind.
        let names: Vec<String> = fs::read_dir(home.path().join("store"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
    }

    /// Reads of a store that did not change parse it once, not per read
    /// (a seal of 6,000 fields reads it 6,000 times); a change written by
    /// another instance (another process) is seen at once.
    #[tokio::test]
    async fn reads_parse_the_file_only_when_it_changed() {
        let home = tempfile::tempdir().unwrap();
        let a = LocalStore::open(home.path()).unwrap();
        let changes: Vec<Change> = (0..200).map(|i| put(&format!("/o/k{i}"), "v")).collect();
        a.apply(&changes).await.unwrap();
        let b = LocalStore::open(home.path()).unwrap();
        for i in 0..200 {
            assert!(a.get(&format!("/o/k{i}")).await.unwrap().is_some());
            assert!(b.get(&format!("/o/k{i}")).await.unwrap().is_some());
        }
        assert_eq!((a.parses(), b.parses()), (0, 1));
        b.put("/o/k0", "changed by b").await.unwrap();
        assert_eq!(
            a.get("/o/k0").await.unwrap().unwrap().as_str(),
            "changed by b"
        );
        assert_eq!(a.parses(), 1);
        a.delete("/o/k1").await.unwrap();
        assert!(b.get("/o/k1").await.unwrap().is_none());
        assert_eq!(a.list("/o/").await.unwrap().len(), 199);
        assert_eq!((a.parses(), b.parses()), (1, 2));
    }

    #[tokio::test]
    async fn lists_exactly_below_a_prefix() {
        let home = tempfile::tempdir().unwrap();
        let s = LocalStore::open(home.path()).unwrap();
        s.apply(&[
            put("/o/database/svc/authtype/password", "a"),
            put("/o/database/svc/x/y/z", "b"),
            put("/o/database/svc-2/authtype/password", "c"),
        ])
        .await
        .unwrap();
        assert_eq!(
            s.list("/o/database/svc/").await.unwrap(),
            ["/o/database/svc/authtype/password", "/o/database/svc/x/y/z"]
        );
        assert!(s.list("/o/database/svc").await.is_err());
        assert!(
            s.canonical("o/database/svc-2/authtype/password")
                .await
                .is_err()
        );
        assert!(s.put("/o/database/svc/a b", "x").await.is_err());
    }

    #[test]
    fn an_empty_or_damaged_store_key_says_what_to_do() {
        let home = tempfile::tempdir().unwrap();
        fs::create_dir_all(home.path().join("store")).unwrap();
        let key = home.path().join("store/store.key");
        fs::write(&key, "").unwrap();
        let e = LocalStore::open(home.path()).err().unwrap();
        assert_eq!(e.kind, KmsErrorKind::Corrupt);
        assert!(
            e.message.contains("store.key")
                && e.message.contains("empty")
                && e.message.contains("delete it"),
            "{e}"
        );
        fs::write(&key, &FernetKeys::generate_key()[..20]).unwrap();
        let e = LocalStore::open(home.path()).err().unwrap();
        assert!(
            e.message.contains("store.key") && e.message.contains("backup"),
            "{e}"
        );
    }

    #[tokio::test]
    #[cfg(unix)]
    async fn files_are_0600_and_directories_0700() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let h = home.path().join("home");
        fs::create_dir(&h).unwrap();
        fs::set_permissions(&h, fs::Permissions::from_mode(0o755)).unwrap();
        let s = LocalStore::open(&h).unwrap();
        s.put("/o/a", "v").await.unwrap();
        let mode = |p: &str| fs::metadata(h.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(""), 0o700, "an existing home is tightened");
        assert_eq!(mode("store"), 0o700);
        for f in ["store/store.key", "store/store.lock", "store/secrets.json"] {
            assert_eq!(mode(f), 0o600, "{f}");
        }
    }
}
