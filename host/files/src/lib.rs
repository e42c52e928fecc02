//! Private files in the data directory: owner-only, written atomically.
//!
//! Everything om-secrets keeps on disk (the Fernet key, the local store, its
//! key and lock, the compiled-plugin cache) goes through these helpers, so
//! every directory is 0700, every file 0600, and no crash leaves a torn or
//! empty file in place.
//!
//! A crate of its own, on `std` and `tracing` only, so that the host (its
//! Fernet key, the local store, the API key file) and the plugin sandbox
//! (`om-secrets-sandbox`, its component cache) share one copy without the
//! sandbox depending on anything that holds keys:
//!
//! - [`create_private_dir`]: create (with parents) owner-only, and tighten
//!   an existing directory to 0700;
//! - [`create_private_file`]: create a file *if absent*, atomically: a temp
//!   file (0600) is written and synced, then hard-linked into place, which
//!   fails rather than replaces if another process got there first; a crash
//!   leaves the file absent or complete, never empty;
//! - [`replace_private_file`]: write a temp file (0600), sync it, rename it
//!   over the old one and sync the directory;
//! - [`open_lock_file`]: a lock file, 0600.

#![forbid(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Create `dir` (and its parents) readable by its owner only. An existing
/// `dir` with a looser mode is tightened to 0700 (its parents are left
/// alone: they may be shared, like `/tmp`).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            tracing::warn!(
                dir = %dir.display(),
                "the directory was open to others (mode {mode:o}); made it owner-only (700)"
            );
        }
    }
    Ok(())
}

/// Sync a directory, so that a rename or link inside it is durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A fresh temp file beside `path`, mode 0600, holding `contents`, synced.
fn write_temp(path: &Path, contents: &[u8]) -> io::Result<PathBuf> {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    loop {
        let tmp = parent(path).join(format!(
            ".{name}.tmp{}.{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = match opts.open(&tmp) {
            Ok(f) => f,
            // Left by a crashed process that had our pid: pick another name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = f.write_all(contents).and_then(|_| f.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        return Ok(tmp);
    }
}

/// Create `path` (mode 0600) holding `contents` unless it exists, atomically:
/// readers and a crash see either no file or the whole of it. Returns the
/// file's contents either way (a concurrent creator wins cleanly).
pub fn create_private_file(path: &Path, contents: &[u8]) -> io::Result<Vec<u8>> {
    match fs::read(path) {
        Ok(existing) => return Ok(existing),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let tmp = write_temp(path, contents)?;
    // A hard link never replaces an existing file: the first creator wins.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(parent(path))?;
            Ok(contents.to_vec())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => fs::read(path),
        // A file system without hard links: exclusive creation still picks
        // one creator, but a crash may leave the file short (which reading
        // it then reports).
        Err(_) => {
            let mut opts = OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            match opts.open(path) {
                Ok(mut f) => {
                    f.write_all(contents)?;
                    f.sync_all()?;
                    sync_dir(parent(path))?;
                    Ok(contents.to_vec())
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => fs::read(path),
                Err(e) => Err(e),
            }
        }
    }
}

/// Remove the temp files a crashed writer of `path` left beside it. Only
/// for a caller that holds the lock every writer of `path` takes.
pub fn remove_stale_temps(path: &Path) -> io::Result<()> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(());
    };
    let prefix = format!(".{name}.tmp");
    for entry in fs::read_dir(parent(path))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Replace `path` with `contents` (mode 0600) atomically and durably: temp
/// file, sync, rename over `path`, sync the directory.
pub fn replace_private_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = write_temp(path, contents)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(parent(path))
}

/// Open (creating) a lock file, mode 0600; an existing one with a looser
/// mode is tightened.
pub fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if f.metadata()?.permissions().mode() & 0o077 != 0 {
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(f)
}

/// What to tell the operator about a key file (`fernet.key`, `store.key`)
/// that exists but holds no usable key. `used_for` says what a key in it
/// would have encrypted, and so what is lost if it is replaced.
pub fn damaged_key_message(path: &Path, contents: &[u8], used_for: &str) -> String {
    if contents.iter().all(u8::is_ascii_whitespace) {
        format!(
            "{} is empty: it was left by an interrupted first start of an older version, \
             and nothing can have been encrypted with it; delete it and om-secrets creates a new key",
            path.display()
        )
    } else {
        format!(
            "{} does not hold a valid Fernet key (truncated or damaged): restore it from a backup; \
             replacing it makes {used_for} unreadable",
            path.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    #[cfg(unix)]
    fn directories_are_private_even_when_they_existed() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let new = t.path().join("a/b");
        create_private_dir(&new).unwrap();
        assert_eq!(mode(&new), 0o700);
        let old = t.path().join("old");
        fs::create_dir(&old).unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&old).unwrap();
        assert_eq!(mode(&old), 0o700);
    }

    #[test]
    fn create_if_absent_keeps_the_first_and_leaves_no_temp_file() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("k");
        assert_eq!(create_private_file(&p, b"one").unwrap(), b"one");
        assert_eq!(create_private_file(&p, b"two").unwrap(), b"one");
        assert_eq!(fs::read(&p).unwrap(), b"one");
        #[cfg(unix)]
        assert_eq!(mode(&p), 0o600);
        let names: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("k")]);
    }

    #[test]
    fn concurrent_creators_agree() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("k");
        let got: Vec<Vec<u8>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|i| {
                    let p = &p;
                    s.spawn(move || create_private_file(p, format!("key{i}").as_bytes()).unwrap())
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let on_disk = fs::read(&p).unwrap();
        assert!(got.iter().all(|g| *g == on_disk), "{got:?}");
    }

    #[test]
    fn stale_temp_files_are_removed() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        fs::write(t.path().join(".f.tmp999.0"), "torn").unwrap();
        fs::write(t.path().join(".g.tmp999.0"), "someone else's").unwrap();
        remove_stale_temps(&p).unwrap();
        let mut names: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".g.tmp999.0"]);
    }

    #[test]
    fn replace_is_private_and_leaves_no_temp_file() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        fs::write(&p, "old").unwrap();
        replace_private_file(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        #[cfg(unix)]
        assert_eq!(mode(&p), 0o600);
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
    }

    #[test]
    #[cfg(unix)]
    fn lock_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("l");
        drop(open_lock_file(&p).unwrap());
        assert_eq!(mode(&p), 0o600);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        drop(open_lock_file(&p).unwrap());
        assert_eq!(mode(&p), 0o600);
    }

    #[test]
    fn damaged_keys_say_what_to_do() {
        let p = Path::new("/h/fernet.key");
        let m = damaged_key_message(p, b"", "x");
        assert!(
            m.contains("/h/fernet.key") && m.contains("empty") && m.contains("delete it"),
            "{m}"
        );
        let m = damaged_key_message(p, b"abc", "every sealed value");
        assert!(
            m.contains("backup") && m.contains("every sealed value"),
            "{m}"
        );
    }
}
