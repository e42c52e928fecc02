//! # om-secrets-jvm
//!
//! The JVM binding of [`om_secrets`]: OpenMetadata's server (Java) embeds the
//! host in-process through JNI, with no sidecar and no process per call. The
//! Java side (`host/jvm/java`, package `org.openmetadata.secrets.wasm`) wraps
//! the native methods of [`native`] in `OmSecrets`, `Subject`, typed
//! exceptions and an adapter with OpenMetadata's own secrets-manager calls.
//!
//! ## The boundary
//!
//! - **Bytes, not JNI strings.** Documents and names cross as UTF-8 `byte[]`.
//!   Java's own encoder is exact; JNI's modified UTF-8 would silently replace
//!   an unpaired surrogate (a corrupted secret). The Java side refuses those
//!   with an `InvalidInputException` naming the pointer before calling here.
//! - **No pointer crosses.** A Java `OmSecrets` holds a handle: a number,
//!   looked up in a registry of [`Instance`]s. A stale or forged handle finds
//!   nothing (an error, never a use-after-free); an instance closed while a
//!   call is in flight lives until that call returns (the Java side also makes
//!   `close()` wait for in-flight calls, under a read-write lock).
//! - **Answers, not exceptions.** Every call returns a tagged answer
//!   ([`Answer`]): `O` and the output, or `E` and a JSON error (kind, pointer,
//!   retryable, message) that Java turns into its typed exception. Errors are
//!   the library's, which never carry a secret value.
//! - **Panics caught.** Every call runs under `catch_unwind`; a panic becomes
//!   an `internal` error (the panic's message is not passed on).
//! - **One runtime per instance.** Store calls (`seal`, `reveal`, `forget`,
//!   batches) run on the instance's own tokio runtime (current-thread; any
//!   number of Java threads may `block_on` it at once, as its documentation
//!   allows); `mask`, `merge` and `fields` do no I/O and run directly on the
//!   caller's thread. `close()` drops the runtime once no call uses it.

#![warn(missing_docs)]
// `Thrown` (the error every call can give Java: kind, pointer, retryable,
// plugin, secret id, message, an unclean migration's counts) is 128 bytes;
// it is built only on the error path, once per failed call, and boxing it
// would add an allocation there for nothing.
#![allow(clippy::result_large_err)]

pub mod native;
pub mod packaging;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};

use om_secrets::config::{FileConfig, Settings};
use om_secrets::fernet::FernetError;
use om_secrets::ops::{BatchItem, Operation, Outcome, SubjectKind};
use om_secrets::{Error, SecretsManager};
use serde_json::Value;

/// One `OmSecrets` of the JVM: the manager and the runtime its store calls
/// run on.
pub struct Instance {
    runtime: tokio::runtime::Runtime,
    manager: SecretsManager,
    /// Largest document accepted, in bytes (4× the plugin input limit): a
    /// larger one is refused before it is parsed.
    max_document_bytes: usize,
}

/// Where an instance's configuration comes from.
pub enum Source<'a> {
    /// OpenMetadata's environment variables alone (as the CLI without
    /// `--config`).
    Environment,
    /// A YAML file, overridden by the environment (as `--config FILE`).
    File(&'a Path),
    /// The file's keys as a JSON object (from a Java `Map`), overridden by
    /// the environment.
    Map(&'a [u8]),
}

/// An error as the Java side receives it (serialised as JSON). Like every
/// library error it names fields, ids and plugins, never a secret value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Thrown {
    /// Which Java exception: `input` (InvalidInputException), `plugin`,
    /// `store`, `config`, `migration` (MigrationException), `closed`
    /// (IllegalStateException) or `internal` (OmSecretsException).
    pub kind: &'static str,
    /// The RFC 6901 pointer into the document (`input`).
    pub pointer: Option<String>,
    /// Whether trying again may succeed (`store`).
    pub retryable: bool,
    /// The plugin's name (`plugin`).
    pub plugin: Option<String>,
    /// The secret id involved (`store`), when known.
    pub secret_id: Option<String>,
    /// The message.
    pub message: String,
    /// What an unclean start-up migration left (`migration`), boxed: the
    /// other errors stay small.
    #[serde(flatten)]
    pub unclean: Option<Box<Unclean>>,
}

/// The counts of a start-up migration that finished unclean.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unclean {
    /// Rows left as they were.
    pub skipped_rows: u64,
    /// Secrets no row references.
    pub orphaned_secrets: u64,
}

impl Thrown {
    fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Thrown {
            kind,
            pointer: None,
            retryable: false,
            plugin: None,
            secret_id: None,
            message: message.into(),
            unclean: None,
        }
    }

    /// The start-up migration (`migrateOnStart`) failed or finished
    /// unclean with `requireClean`.
    pub fn migration(e: &om_secrets::migrate::on_start::OnStartError) -> Self {
        use om_secrets::migrate::MigrateError;
        use om_secrets::migrate::on_start::OnStartError;
        let message = e.to_string();
        match e {
            OnStartError::Failed(f) => Thrown {
                // An unreachable database may come back (a run already
                // going is waited for by on_start::run).
                retryable: matches!(f, MigrateError::Database { .. } | MigrateError::Busy(_)),
                ..Self::new("migration", message)
            },
            OnStartError::Unclean {
                skipped, orphans, ..
            } => Thrown {
                unclean: Some(Box::new(Unclean {
                    skipped_rows: *skipped as u64,
                    orphaned_secrets: *orphans as u64,
                })),
                ..Self::new("migration", message)
            },
        }
    }

    /// Invalid input at `pointer`.
    pub fn input(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Thrown {
            pointer: Some(pointer.into()),
            ..Self::new("input", message)
        }
    }

    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new("config", message)
    }

    /// A library error, as the exception Java throws for it. `type_pointer`
    /// is where the document names its connector type (for an unknown one).
    pub fn from_error(e: &Error, type_pointer: Option<&str>) -> Self {
        use om_secrets::error::ErrorCategory as C;
        let category = e.category();
        let kind = match category {
            C::Input | C::Undecryptable => "input",
            C::Plugin | C::TooLarge => "plugin",
            C::Config => "config",
            C::File
            | C::MissingSecret
            | C::StoreUnavailable
            | C::StoreDenied
            | C::StoreCorrupt
            | C::StoreRefused
            | C::Store => "store",
        };
        let mut t = Thrown {
            retryable: category.retryable(),
            ..Self::new(kind, e.to_string())
        };
        match e {
            Error::Fernet(FernetError::Decrypt { pointer } | FernetError::NotText { pointer }) => {
                t.pointer = Some(pointer.clone().unwrap_or_default());
            }
            // The library names a command-line option where the problem is
            // no place in the document (`--service-type`).
            Error::Input { pointer, .. } => {
                t.pointer = pointer.clone().filter(|p| !p.starts_with("--"));
            }
            Error::UnknownConnectorType { .. } => {
                t.pointer = Some(type_pointer.unwrap_or("").to_string());
            }
            Error::Plugin { plugin, .. } => t.plugin = Some(plugin.clone()),
            Error::Kms(k) => t.secret_id = k.id.clone(),
            Error::MissingSecret { pointer, id, .. } => {
                t.pointer = Some(pointer.clone());
                t.secret_id = Some(id.clone());
            }
            Error::Config(_) | Error::Fernet(_) | Error::Io { .. } => {}
        }
        t
    }
}

/// What a native call gives Java: `O` + output, or `E` + a [`Thrown`] as JSON.
pub type Answer = Vec<u8>;

fn ok_answer(mut out: Vec<u8>) -> Answer {
    out.insert(0, b'O');
    out
}

fn err_answer(t: &Thrown) -> Answer {
    let mut out = vec![b'E'];
    // Serialising plain strings and bools cannot fail.
    serde_json::to_writer(&mut out, t).expect("an error serialises");
    out
}

/// Run `f`, turning an error or a panic into an `E` answer.
pub fn guarded(what: &str, f: impl FnOnce() -> Result<Vec<u8>, Thrown>) -> Answer {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(out)) => ok_answer(out),
        Ok(Err(t)) => err_answer(&t),
        // The payload is not passed on: it could quote anything.
        Err(_) => err_answer(&Thrown::new(
            "internal",
            format!(
                "internal error in om-secrets during {what} (a native panic, caught); the call had no effect on the JVM"
            ),
        )),
    }
}

// ---------------------------------------------------------------- registry

static INSTANCES: LazyLock<RwLock<HashMap<i64, Arc<Instance>>>> = LazyLock::new(Default::default);
static NEXT_HANDLE: AtomicI64 = AtomicI64::new(1);

fn registry_read() -> std::sync::RwLockReadGuard<'static, HashMap<i64, Arc<Instance>>> {
    INSTANCES.read().unwrap_or_else(|e| e.into_inner())
}

fn registry_write() -> std::sync::RwLockWriteGuard<'static, HashMap<i64, Arc<Instance>>> {
    INSTANCES.write().unwrap_or_else(|e| e.into_inner())
}

/// Register an instance; its handle (never 0).
pub fn register(instance: Instance) -> i64 {
    let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
    registry_write().insert(handle, Arc::new(instance));
    handle
}

/// The instance of a handle.
pub fn lookup(handle: i64) -> Result<Arc<Instance>, Thrown> {
    registry_read()
        .get(&handle)
        .cloned()
        .ok_or_else(|| Thrown::new("closed", "this OmSecrets is closed"))
}

/// Remove an instance: its runtime shuts down once the last call using it
/// returns (at once, when none is in flight). Unknown handles are ignored.
pub fn unregister(handle: i64) {
    let removed = registry_write().remove(&handle);
    if let Some(instance) = removed
        && let Ok(instance) = Arc::try_unwrap(instance)
    {
        // No task of ours outlives a call; give stray ones (an idle HTTP
        // connection) a moment, never a hang.
        instance
            .runtime
            .shutdown_timeout(std::time::Duration::from_secs(2));
        drop(instance.manager);
    }
}

// ---------------------------------------------------------------- opening

impl Instance {
    /// Build an instance: settings, runtime, then the manager (store, keys,
    /// plugins) on that runtime.
    pub fn open(source: Source<'_>) -> Result<Instance, Thrown> {
        let env = |k: &str| std::env::var(k).ok();
        let settings = match source {
            Source::Environment => Settings::resolve(FileConfig::default(), env),
            Source::File(path) => Settings::load(Some(path)),
            Source::Map(json) => {
                let file: FileConfig = serde_json::from_slice(json).map_err(|e| {
                    // serde names the unknown key or the wrong type, never a value.
                    Thrown::config(format!("the configuration map: {}", shown_serde_error(&e)))
                })?;
                Settings::resolve(file, env)
            }
        }
        .map_err(|e| Thrown::config(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Thrown::new("internal", format!("starting the runtime: {e}")))?;
        let manager = runtime
            .block_on(SecretsManager::from_settings(&settings))
            .map_err(|e| match Thrown::from_error(&e, None) {
                // At start-up every failure is the configuration's (a store
                // that refuses the credentials, an unreadable key file).
                t if t.kind == "plugin" => t,
                t => Thrown {
                    kind: "config",
                    ..t
                },
            })?;
        // migrateOnStart: the instance is returned only once the database's
        // secrets are in the store (blocking: this is start-up).
        if let Some(migration) = &settings.migrate_on_start {
            runtime
                .block_on(om_secrets::migrate::on_start::run(&manager, migration))
                .map_err(|e| Thrown::migration(&e))?;
        }
        Ok(Instance {
            runtime,
            manager,
            max_document_bytes: settings.limits.max_input_bytes.saturating_mul(4),
        })
    }

    /// The manager.
    pub fn manager(&self) -> &SecretsManager {
        &self.manager
    }

    /// The largest document this instance accepts, in bytes (the Java side
    /// refuses a longer string before encoding it, the native side a longer
    /// array before copying it).
    pub fn max_document_bytes(&self) -> usize {
        self.max_document_bytes
    }
}

/// The refusal of a document of `len` bytes (`what`: "the document"…),
/// larger than `max`.
pub fn too_large(what: &str, len: usize, max: usize) -> Thrown {
    Thrown::input(
        "",
        format!(
            "{what} is {len} bytes, more than the {max} this instance accepts (4 × limits.maxInputBytes)"
        ),
    )
}

/// A serde_json error as a message: its category and position only (the
/// `Display` of a type error may quote a value).
fn shown_serde_error(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Data => {
            // "unknown field `x`, expected one of …" and "invalid type: …"
            // name keys and types; invalid values could be quoted, so only
            // the unknown-field and missing-field forms pass.
            let s = e.to_string();
            if s.starts_with("unknown field") || s.starts_with("missing field") {
                s
            } else {
                format!(
                    "a key has a value of the wrong type (line {}, column {})",
                    e.line(),
                    e.column()
                )
            }
        }
        c => format!("{c:?} error at line {}, column {}", e.line(), e.column()),
    }
}

// ---------------------------------------------------------------- calls

/// An operation, as the Java side numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// 0: seal (the second document, if any, is the previous stored form).
    Seal,
    /// 1: reveal.
    Reveal,
    /// 2: mask.
    Mask,
    /// 3: merge (the second document is the stored form).
    Merge,
    /// 4: forget.
    Forget,
    /// 5: fields.
    Fields,
}

impl Op {
    /// The operation numbered `n`.
    pub fn from_code(n: i32) -> Result<Op, Thrown> {
        Ok(match n {
            0 => Op::Seal,
            1 => Op::Reveal,
            2 => Op::Mask,
            3 => Op::Merge,
            4 => Op::Forget,
            5 => Op::Fields,
            _ => return Err(Thrown::new("internal", format!("unknown operation {n}"))),
        })
    }

    fn batch_operation(self, keep_references: bool) -> Operation {
        match self {
            Op::Seal => Operation::Seal,
            Op::Reveal => Operation::Reveal { keep_references },
            Op::Mask => Operation::Mask,
            Op::Merge => Operation::Merge,
            Op::Forget => Operation::Forget,
            Op::Fields => Operation::Fields,
        }
    }
}

/// The subject kind numbered `n` (0 service of `service_type`, 1 bot,
/// 2 pipeline, 3 workflow).
pub fn subject_kind(n: i32, service_type: Option<&str>) -> Result<SubjectKind, Thrown> {
    Ok(match n {
        0 => SubjectKind::Service(
            service_type
                .ok_or_else(|| Thrown::input("", "a service subject needs its service type"))?
                .to_string(),
        ),
        1 => SubjectKind::Bot,
        2 => SubjectKind::Pipeline,
        3 => SubjectKind::Workflow,
        _ => return Err(Thrown::new("internal", format!("unknown subject kind {n}"))),
    })
}

/// Where the document of `kind` names its connector type.
fn type_pointer(kind: &SubjectKind, name: Option<&str>, doc: &Value) -> Option<String> {
    let s = kind.subject(name, doc).ok()?;
    Some(format!("{}/{}", s.config_pointer, s.type_key))
}

impl Instance {
    /// Parse a document, refusing one too large or not JSON (the message
    /// never quotes it).
    fn parse(&self, bytes: &[u8], what: &str) -> Result<Value, Thrown> {
        if bytes.len() > self.max_document_bytes {
            return Err(too_large(what, bytes.len(), self.max_document_bytes));
        }
        serde_json::from_slice(bytes).map_err(|e| {
            Thrown::input(
                "",
                format!(
                    "{what} is not valid JSON ({:?} error at line {}, column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            )
        })
    }

    /// One document: what the CLI does with `--service-type T [--name N]`,
    /// `--bot N`, `--pipeline N` or `--workflow N`. Output: the document
    /// (seal, reveal, mask, merge), the deleted ids (forget) or the fields
    /// (fields), as JSON.
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &self,
        op: Op,
        kind: &SubjectKind,
        name: Option<&str>,
        doc: &[u8],
        second: Option<&[u8]>,
        keep_references: bool,
    ) -> Result<Vec<u8>, Thrown> {
        let doc = self.parse(doc, "the document")?;
        let second = match second {
            Some(b) => Some(self.parse(
                b,
                if op == Op::Merge {
                    "the stored document"
                } else {
                    "the previous document"
                },
            )?),
            None => None,
        };
        let name = name.filter(|n| !n.is_empty());
        if name.is_none() && !matches!(kind, SubjectKind::Service(_)) {
            return Err(Thrown {
                pointer: None,
                ..Thrown::input("", "bots, pipelines and workflows need the entity's name")
            });
        }
        let fail = |e: Error| Thrown::from_error(&e, type_pointer(kind, name, &doc).as_deref());
        let subject = kind.subject(name, &doc).map_err(fail)?;
        let m = &self.manager;
        let out: Value = match op {
            Op::Seal => self
                .runtime
                .block_on(m.seal_update(&subject, second.as_ref(), &doc))
                .map_err(fail)?,
            Op::Reveal => self
                .runtime
                .block_on(m.reveal(&subject, &doc, keep_references))
                .map_err(fail)?,
            Op::Mask => m.mask(&subject, &doc).map_err(fail)?,
            Op::Merge => {
                let stored = second
                    .ok_or_else(|| Thrown::input("", "merge needs the stored (sealed) document"))?;
                m.merge(&subject, &stored, &doc).map_err(fail)?
            }
            Op::Forget => {
                let deleted = self
                    .runtime
                    .block_on(m.forget(&subject, &doc))
                    .map_err(fail)?;
                serde_json::to_value(deleted).expect("ids serialise")
            }
            Op::Fields => serde_json::to_value(m.fields(&subject, &doc).map_err(fail)?)
                .expect("fields serialise"),
        };
        Ok(serde_json::to_vec(&out).expect("a JSON value serialises"))
    }

    /// Many documents of one kind (see [`om_secrets::SecretsManager::batch`]). `items`
    /// frames each item as four fields — name, document, stored, previous —
    /// each a 4-byte big-endian length (`-1`: absent) and that many bytes of
    /// UTF-8; every document is parsed on its own, so one that is not JSON
    /// fails alone. The output frames one answer per item, in order: a
    /// 4-byte big-endian length, then an [`Answer`] (`O` + the document, the
    /// deleted ids or the fields, as a single call gives them; or `E` +
    /// error).
    pub fn batch(
        &self,
        op: Op,
        kind: &SubjectKind,
        items: &[u8],
        keep_references: bool,
    ) -> Result<Vec<u8>, Thrown> {
        let frames = frames(items)?;
        let mut parsed: Vec<Result<BatchItem, Thrown>> = Vec::with_capacity(frames.len());
        for (i, [name, document, stored, previous]) in frames.into_iter().enumerate() {
            parsed.push(self.batch_item(i, name, document, stored, previous, op));
        }
        let good: Vec<BatchItem> = parsed
            .iter_mut()
            .filter_map(|p| p.as_mut().ok().map(std::mem::take))
            .collect();
        let results = self.runtime.block_on(self.manager.batch(
            op.batch_operation(keep_references),
            kind,
            &good,
        ));
        let mut results = results.into_iter().zip(good.iter());
        let mut out = Vec::new();
        for p in parsed {
            let answer = match p {
                Err(t) => err_answer(&t),
                Ok(_) => {
                    let (r, item) = results.next().expect("one result per item");
                    match r {
                        Ok(outcome) => ok_answer(outcome_json(&outcome)),
                        Err(e) => err_answer(&Thrown::from_error(
                            &e,
                            type_pointer(kind, item.name.as_deref(), &item.document).as_deref(),
                        )),
                    }
                }
            };
            out.extend_from_slice(&(answer.len() as u32).to_be_bytes());
            out.extend_from_slice(&answer);
        }
        Ok(out)
    }
}

/// An outcome's own JSON: the document, the deleted ids or the fields.
fn outcome_json(o: &Outcome) -> Vec<u8> {
    match o {
        Outcome::Document(v) => serde_json::to_vec(v),
        Outcome::Deleted(ids) => serde_json::to_vec(ids),
        Outcome::Fields(f) => serde_json::to_vec(f),
    }
    .expect("an outcome serialises")
}

type Frame<'a> = Option<&'a [u8]>;

/// The items of a batch: four optional byte strings each.
fn frames(mut b: &[u8]) -> Result<Vec<[Frame<'_>; 4]>, Thrown> {
    let bad = || Thrown::new("internal", "a malformed batch frame");
    let mut out = Vec::new();
    while !b.is_empty() {
        let mut item: [Frame<'_>; 4] = [None; 4];
        for slot in &mut item {
            let (len, rest) = b.split_first_chunk::<4>().ok_or_else(bad)?;
            let len = i32::from_be_bytes(*len);
            b = rest;
            if len >= 0 {
                let (v, rest) = b.split_at_checked(len as usize).ok_or_else(bad)?;
                *slot = Some(v);
                b = rest;
            }
        }
        out.push(item);
    }
    Ok(out)
}

impl Instance {
    /// One item of a batch (as the CLI's `--batch` line): no message quotes it.
    fn batch_item(
        &self,
        i: usize,
        name: Frame<'_>,
        document: Frame<'_>,
        stored: Frame<'_>,
        previous: Frame<'_>,
        op: Op,
    ) -> Result<BatchItem, Thrown> {
        let name = match name {
            None => None,
            Some(n) => Some(String::from_utf8(n.to_vec()).map_err(|_| {
                Thrown::input("", format!("batch item {i}: the name is not valid UTF-8"))
            })?),
        };
        let what = |w: &str| format!("batch item {i}: the {w}");
        let document = self.parse(
            document.ok_or_else(|| Thrown::input("", what("document is missing")))?,
            &what("document"),
        )?;
        let stored = stored
            .map(|b| self.parse(b, &what("stored document")))
            .transpose()?;
        let previous = previous
            .map(|b| self.parse(b, &what("previous document")))
            .transpose()?;
        if op == Op::Merge && stored.is_none() {
            return Err(Thrown::input(
                "",
                format!("batch item {i}: merge needs the stored (sealed) document"),
            ));
        }
        Ok(BatchItem {
            name,
            document,
            stored,
            previous,
        })
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use om_secrets::kms::KmsErrorKind;

    use super::*;

    fn frame(fields: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in fields {
            match f {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(b) => {
                    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    out.extend_from_slice(b);
                }
            }
        }
        out
    }

    #[test]
    fn batch_frames_round_trip_and_malformed_ones_are_errors() {
        let mut b = frame(&[Some(b"a"), Some(b"{}"), None, None]);
        b.extend(frame(&[None, Some(b"[1]"), Some(b""), None]));
        let f = frames(&b).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0], [Some(&b"a"[..]), Some(&b"{}"[..]), None, None]);
        assert_eq!(f[1], [None, Some(&b"[1]"[..]), Some(&b""[..]), None]);
        assert_eq!(frames(&[]).unwrap().len(), 0);
        for bad in [&b[..3], &b[..b.len() - 1], &frame(&[Some(b"abc")])[..6]] {
            assert_eq!(frames(bad).unwrap_err().kind, "internal");
        }
        // A length beyond the buffer.
        let mut huge = i32::MAX.to_be_bytes().to_vec();
        huge.extend_from_slice(b"x");
        assert!(frames(&huge).is_err());
    }

    #[test]
    fn a_panic_is_an_internal_error_without_its_message() {
        let a = guarded("a test", || panic!("secret-in-a-panic"));
        assert_eq!(a[0], b'E');
        let t: Value = serde_json::from_slice(&a[1..]).unwrap();
        assert_eq!(t["kind"], "internal");
        assert!(!t["message"].as_str().unwrap().contains("secret-in-a-panic"));
        assert_eq!(guarded("ok", || Ok(b"{}".to_vec())), b"O{}");
    }

    #[test]
    fn library_errors_map_to_the_java_exceptions() {
        let kms = |kind| {
            Error::Kms(om_secrets::kms::KmsError::new(
                "vault",
                Some("/om/x"),
                kind,
                "down",
            ))
        };
        let t = Thrown::from_error(&kms(KmsErrorKind::Transient), None);
        assert_eq!(
            (t.kind, t.retryable, t.secret_id.as_deref()),
            ("store", true, Some("/om/x"))
        );
        assert!(!Thrown::from_error(&kms(KmsErrorKind::Auth), None).retryable);
        let t = Thrown::from_error(&Error::input("/a/b", "bad"), None);
        assert_eq!((t.kind, t.pointer.as_deref()), ("input", Some("/a/b")));
        let t = Thrown::from_error(&Error::input("--service-type", "bad"), None);
        assert_eq!((t.kind, t.pointer), ("input", None));
        let t = Thrown::from_error(&Error::Config("x".into()), None);
        assert_eq!(t.kind, "config");
        let t = Thrown::from_error(
            &Error::Fernet(FernetError::Decrypt {
                pointer: Some("/p".into()),
            }),
            None,
        );
        assert_eq!((t.kind, t.pointer.as_deref()), ("input", Some("/p")));
        let t = Thrown::from_error(
            &Error::UnknownConnectorType {
                service_type: "database".into(),
                connector_type: "Nope".into(),
                known: vec![],
            },
            Some("/connection/config/type"),
        );
        assert_eq!(t.pointer.as_deref(), Some("/connection/config/type"));
        let t = Thrown::from_error(
            &Error::MissingSecret {
                pointer: "/p".into(),
                id: "/om/y".into(),
                store: "local".into(),
            },
            None,
        );
        assert_eq!(
            (t.kind, t.retryable, t.secret_id.as_deref()),
            ("store", false, Some("/om/y"))
        );
    }

    #[test]
    fn unknown_handles_and_codes_are_errors() {
        assert_eq!(lookup(i64::MIN).unwrap_err().kind, "closed");
        unregister(i64::MIN); // ignored
        assert!(Op::from_code(9).is_err());
        assert!(subject_kind(7, None).is_err());
        assert_eq!(subject_kind(0, None).unwrap_err().kind, "input");
    }
}
