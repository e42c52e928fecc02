//! Moving an OpenMetadata database's secrets into a KMS ([`migrate`]), and
//! re-encrypting its Fernet tokens with a new key ([`rotate`]).
//!
//! Both walk OpenMetadata's own tables ([`tables::TABLES`]: the service
//! tables of every service type, bot users, ingestion pipelines, automation
//! workflows) in PostgreSQL or MySQL/MariaDB, page by page in primary-key
//! order. Tables the database lacks (older or newer OpenMetadata) are
//! reported and skipped.
//!
//! ## Per row, in this order
//!
//! 1. Read the row's JSON (malformed: the row is skipped and reported).
//! 2. **migrate**: seal it in the configured managed mode through the plugins,
//!    one sandbox batch per page ([`SecretsManager::seal_batch`], store writes
//!    concurrent within the batch): a `fernet:` token of a plain value moves
//!    into the store under OpenMetadata's id, references stay. Then **read
//!    back**: the sealed form is revealed from the store and must equal the
//!    row's original values, secret by secret. **rotate**: every `fernet:`
//!    string the first key cannot decrypt is decrypted with the others and
//!    re-encrypted with the first, and checked to decrypt back.
//! 3. Update the row in a short transaction of its own, **compare-and-set on
//!    the JSON read**: a row the server changed meanwhile is re-read and
//!    handled again (its previous sealed attempt passed as `previous`, so a
//!    secret it no longer holds is deleted), never overwritten.
//!
//! A row that cannot be handled (an undecryptable token, malformed JSON, a
//! plugin error, a read-back that differs) is left as it was and listed in
//! the [`Report`] with its table, id and reason; the rest go on.
//!
//! ## Crash safety and checkpoints
//!
//! A value reaches the store (and is read back) before the row that held it
//! changes, so a crash at any point leaves every row revealable: either it
//! still holds its `fernet:` token, or it holds the reference to a value that
//! is in the store. A rerun seals again (writing the same value to the same
//! id, idempotently) and converges.
//!
//! Progress is checkpointed per table, by primary key, in a small table of
//! the target database itself (`om_secrets_checkpoint`: operation, table,
//! last id, finished, pending rows). In the database, not in a file: the
//! checkpoint then always describes the rows it sits beside — a restored
//! backup brings back its own checkpoint, and any host (a second replica
//! migrating at start-up, an operator's laptop) sees the same one. Before a
//! page's store writes, its rows are journalled as *pending*; a rerun after
//! a crash checks each pending entity once its table is done, and lists
//! every secret of its scope that no row references as an orphan (left in
//! place: it may be a user's). A run clears the checkpoints of the tables
//! it walked, so the next run is a full (idempotent) pass of them; a run
//! limited by `--only` leaves the other tables' checkpoints (and journals)
//! alone. `--restart` ignores where a table stopped, never its journal.
//! `--dry-run` writes nothing, the checkpoint table included.
//!
//! ## At start-up
//!
//! The service and the JVM binding run the same migration before they
//! report ready (`migrateOnStart: URL`), as OpenMetadata once did:
//!
//! ```no_run
//! # async fn start(manager: &om_secrets::SecretsManager) -> Result<(), om_secrets::migrate::MigrateError> {
//! use om_secrets::migrate::{MigrateOptions, Silent, migrate};
//! let opts = MigrateOptions::new("postgres://om:pw@db:5432/openmetadata_db");
//! let report = migrate(manager, &opts, &Silent).await?;
//! if !report.is_clean() {
//!     // report.skipped / report.orphans name every row (table, id, reason):
//!     // stay not-ready, or serve and alert, as configured.
//! }
//! # Ok(()) }
//! ```
//!
//! [`on_start::run`] is that call as `om-secrets serve` and the JVM binding
//! make it (progress and summary on stderr, `requireClean` judged).
//!
//! Soft-deleted rows are migrated too (a restore must find their secrets).
//!
//! ## Test hook
//!
//! `OM_SECRETS_TEST_STALL_AT_STEP=N` (tests only) makes the run stop at its
//! N-th step — after a page's store writes and read-back, after a row's
//! `UPDATE` before its `COMMIT`, after the commit, after a checkpoint —
//! print `stalled at step N` on stderr and wait to be killed; with
//! `OM_SECRETS_TEST_RESUME_FILE=PATH` too, print `paused at step N`, wait
//! until PATH exists (at most 120 s) and go on. `OM_SECRETS_TEST_STALL_BEFORE_TABLE=<table>` stalls when that
//! table is about to start. None of them changes data.

pub mod db;
pub mod on_start;
pub mod progress;
pub mod report;
pub mod tables;

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::Value;

use crate::config::Mode;
use crate::fernet::FernetKeys;
use crate::ops::{BatchItem, SubjectKind};
use crate::plugin::check::Treatment;
use crate::secret_id::{REFERENCE_PREFIX, is_plain_name, name_segment, segment};
use crate::{Error, SecretsManager};

pub use db::{Db, redact};
pub use progress::{Bar, Lines, Progress, Silent};
pub use report::{Counts, Moved, Orphan, Report, SkippedRow, TableReport};
pub use tables::{TABLES, Table, TableKind};

/// What a run of [`migrate`] or [`rotate`] does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateOptions {
    /// `postgres://user:password@host:port/db` or `mysql://…` (MySQL 8,
    /// MariaDB; `mariadb://` is accepted too).
    pub database_url: String,
    /// Count what would change per table and service type; write nothing.
    pub dry_run: bool,
    /// Only these tables (names from [`TABLES`]); `None`: all.
    pub only: Option<Vec<String>>,
    /// Ignore the checkpoint of an interrupted run and start over.
    pub restart: bool,
    /// Rows per page (one sandbox batch, one checkpoint).
    pub page_size: usize,
}

impl MigrateOptions {
    /// Every table of `database_url`, pages of 100 rows.
    pub fn new(database_url: impl Into<String>) -> Self {
        MigrateOptions {
            database_url: database_url.into(),
            dry_run: false,
            only: None,
            restart: false,
            page_size: 100,
        }
    }
}

/// Why a run could not run (row-level problems are not errors: they are
/// [`Report::skipped`]). Never holds a secret value or a credential.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database URL is not usable.
    #[error("database URL {0}")]
    Url(String),
    /// The database failed (connect, read, write).
    #[error("database {url}: {message}")]
    Database {
        /// The URL without credentials.
        url: String,
        /// What failed.
        message: String,
    },
    /// Another `migrate` or `rotate` holds the database's lock (the URL
    /// without credentials).
    #[error(
        "database {0}: another om-secrets migrate or rotate is running on it (one at a time; a killed run's lock is freed with its connection): try again when it has finished"
    )]
    Busy(String),
    /// `--only` names a table the migration does not know.
    #[error("--only: `{0}` is not one of OpenMetadata's tables with secrets ({known})", known = TABLES.iter().map(|t| t.name).collect::<Vec<_>>().join(", "))]
    UnknownTable(String),
    /// `migrate` needs a managed mode (values go into the store).
    #[error(
        "migrate moves secrets into a store: configure a managed secretsManager (managed-local, managed-vault, managed-aws, …); this one's mode is {0:?}"
    )]
    NotManaged(Mode),
    /// The configuration or the store failed.
    #[error(transparent)]
    Secrets(#[from] Error),
}

static STEPS: AtomicU64 = AtomicU64::new(0);

/// The test hook (see the module docs).
fn step(label: &str) {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    let at = AT.get_or_init(|| {
        std::env::var("OM_SECRETS_TEST_STALL_AT_STEP")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if let Some(at) = at {
        let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
        if n == *at {
            // With OM_SECRETS_TEST_RESUME_FILE the run pauses until that
            // file exists (a test changes rows meanwhile), then goes on;
            // without, it waits to be killed.
            if let Ok(file) = std::env::var("OM_SECRETS_TEST_RESUME_FILE") {
                eprintln!("om-secrets: test hook: paused at step {n} ({label})");
                let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
                while !std::path::Path::new(&file).exists() && std::time::Instant::now() < until {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                return;
            }
            eprintln!("om-secrets: test hook: stalled at step {n} ({label})");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }
}

/// The test hook's `OM_SECRETS_TEST_STALL_BEFORE_TABLE=<table>`: stall when
/// that table is about to start (the tables before it are finished).
fn stall_before(table: &str) {
    if std::env::var("OM_SECRETS_TEST_STALL_BEFORE_TABLE").is_ok_and(|t| t == table) {
        eprintln!("om-secrets: test hook: stalled at step before {table}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// Move every secret of an OpenMetadata database into `manager`'s store
/// (see the module docs): the library API behind `om-secrets migrate`, and
/// what the service or the JVM binding runs at start-up (`migrateOnStart`)
/// before they report ready. `manager` must be in a managed mode.
///
/// Returns the report — also when rows were skipped (check
/// [`Report::is_clean`]); an error only when the run itself could not go
/// on (database unreachable, store down, bad options).
pub async fn migrate(
    manager: &SecretsManager,
    opts: &MigrateOptions,
    progress: &dyn Progress,
) -> Result<Report, MigrateError> {
    if manager.mode() != Mode::Managed {
        return Err(MigrateError::NotManaged(manager.mode()));
    }
    run(Op::Migrate(manager), opts, progress).await
}

/// Re-encrypt every `fernet:` token of the same tables with the first key of
/// `fernet_key` (OpenMetadata's `FERNET_KEY`: comma-separated, the new key
/// first; the others only decrypt). Tokens the first key already decrypts
/// are left alone, so a rerun changes nothing; afterwards the old keys can
/// be dropped. Same guarantees as [`migrate`]; no store is touched.
pub async fn rotate(
    fernet_key: &str,
    opts: &MigrateOptions,
    progress: &dyn Progress,
) -> Result<Report, MigrateError> {
    let all = FernetKeys::parse(fernet_key).map_err(Error::from)?;
    let first_raw = fernet_key
        .split(',')
        .find(|k| !k.trim().is_empty())
        .unwrap_or_default();
    let first = FernetKeys::parse(first_raw).map_err(Error::from)?;
    run(Op::Rotate { all, first }, opts, progress).await
}

enum Op<'a> {
    Migrate(&'a SecretsManager),
    Rotate { all: FernetKeys, first: FernetKeys },
}

impl Op<'_> {
    fn name(&self) -> &'static str {
        match self {
            Op::Migrate(_) => "migrate",
            Op::Rotate { .. } => "rotate",
        }
    }
}

/// A row journalled before its page's store writes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
struct Pending {
    id: String,
    name: String,
}

struct Ctx<'a> {
    op: &'a Op<'a>,
    db: &'a Db,
    url: &'a str,
    table: &'static Table,
    json_type: String,
    dry_run: bool,
    /// How many distinct names of the table share each sanitised form
    /// (OpenMetadata-era id roots): more than one is a collision.
    namesakes: HashMap<String, usize>,
    /// Names held by more than one row of the table (ingestion pipelines are
    /// unique only below their service): their secret ids would be one.
    shared_names: HashMap<String, usize>,
}

impl Ctx<'_> {
    fn db_err(&self, e: sqlx::Error) -> MigrateError {
        MigrateError::Database {
            url: redact(self.url),
            message: db::scrub(&e.to_string(), self.url),
        }
    }
}

async fn run(
    op: Op<'_>,
    opts: &MigrateOptions,
    progress: &dyn Progress,
) -> Result<Report, MigrateError> {
    let started = Instant::now();
    let url = opts.database_url.as_str();
    // `rotate` also walks the tables OpenMetadata Fernet-encrypts values of
    // itself (settings, event subscriptions): an old key dropped after a
    // rotation must not be needed there either.
    let rotating = matches!(op, Op::Rotate { .. });
    let selected: Vec<&'static Table> = match &opts.only {
        None if rotating => TABLES.iter().chain(tables::ROTATE_ONLY).collect(),
        None => TABLES.iter().collect(),
        Some(names) => {
            let mut v = Vec::new();
            for n in names {
                let found = if rotating {
                    tables::rotated_by_name(n.trim())
                } else {
                    tables::by_name(n.trim())
                };
                let t = found.ok_or_else(|| MigrateError::UnknownTable(n.trim().to_string()))?;
                if !v.contains(&t) {
                    v.push(t);
                }
            }
            v
        }
    };
    let db = Db::connect(url).await?;
    // One run at a time per database (a dry run writes nothing and needs
    // none): two runs interleaving with a writer could store one run's
    // stale value under an id the other's row update already references,
    // and one run's end would clear the other's checkpoints.
    let lock = if opts.dry_run {
        None
    } else {
        match db.try_lock().await {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                db.close().await;
                return Err(MigrateError::Busy(redact(url)));
            }
            Err(e) => {
                db.close().await;
                return Err(MigrateError::Database {
                    url: redact(url),
                    message: db::scrub(&e.to_string(), url),
                });
            }
        }
    };
    let result = run_on(&op, &db, url, &selected, opts, progress).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    db.close().await;
    let mut report = result?;
    report.total();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn run_on(
    op: &Op<'_>,
    db: &Db,
    url: &str,
    selected: &[&'static Table],
    opts: &MigrateOptions,
    progress: &dyn Progress,
) -> Result<Report, MigrateError> {
    let name = op.name();
    let db_err = |e: sqlx::Error| MigrateError::Database {
        url: redact(url),
        message: db::scrub(&e.to_string(), url),
    };
    let mut report = Report {
        operation: name.into(),
        dry_run: opts.dry_run,
        database: redact(url),
        ..Report::default()
    };
    let mut checkpoints = HashMap::new();
    if !opts.dry_run {
        db.ensure_checkpoint_table().await.map_err(db_err)?;
        for (t, last, finished, pending) in db.checkpoints(name).await.map_err(db_err)? {
            // Only the selected tables' checkpoints are this run's; the
            // others (an interrupted run's, kept for the run that walks them)
            // are left alone. `--restart` ignores where a table stopped, never
            // its journal: the entities it lists may have orphans.
            if !selected.iter().any(|s| s.name == t) {
                continue;
            }
            if opts.restart {
                if pending.is_some() {
                    checkpoints.insert(t, (String::new(), false, pending));
                }
            } else {
                checkpoints.insert(t, (last, finished, pending));
            }
        }
    }
    report.resumed = !opts.restart && !checkpoints.is_empty();
    if report.resumed {
        progress.note(&format!(
            "{name}: resuming an interrupted run from its checkpoint (--restart to start over)"
        ));
    }
    let page_size = opts.page_size.max(1);
    for &table in selected {
        let Some(json_type) = db.json_type(table.name).await.map_err(db_err)? else {
            progress.note(&format!(
                "{}: not in this database (older or newer OpenMetadata): skipped",
                table.name
            ));
            report.missing_tables.push(table.name.to_string());
            continue;
        };
        let mut namesakes = HashMap::new();
        let mut shared_names = HashMap::new();
        if matches!(op, Op::Migrate(_)) {
            let mut rows_per_name: HashMap<String, usize> = HashMap::new();
            for n in db.names(table.name, table.filter()).await.map_err(db_err)? {
                *rows_per_name.entry(n).or_insert(0) += 1;
            }
            for n in rows_per_name.keys() {
                *namesakes.entry(segment(n)).or_insert(0usize) += 1;
            }
            rows_per_name.retain(|_, rows| *rows > 1);
            shared_names = rows_per_name;
        }
        let ctx = Ctx {
            op,
            db,
            url,
            table,
            json_type,
            dry_run: opts.dry_run,
            namesakes,
            shared_names,
        };
        let (mut after, finished, pending) = checkpoints
            .remove(table.name)
            .unwrap_or_else(|| (String::new(), false, None));
        let mut tr = TableReport {
            table: table.name.to_string(),
            ..TableReport::default()
        };
        if finished {
            tr.already_done = true;
            progress.table_finished(table.name, &tr);
            report.tables.push(tr);
            continue;
        }
        // Entities journalled by an interrupted run: checked for orphans
        // once the table is done, and kept in every journal until then.
        let earlier: BTreeSet<Pending> = match pending.as_deref().map(serde_json::from_str) {
            None => BTreeSet::new(),
            Some(Ok(p)) => p,
            Some(Err(_)) => {
                // A journal that cannot be read (cut, edited) is reported as
                // unchecked, never taken as empty.
                if matches!(op, Op::Migrate(_)) {
                    report.orphans.push(Orphan {
                        table: table.name.to_string(),
                        row: String::new(),
                        secret_id: format!(
                            "(not checked: the interrupted run's journal in {} is unreadable; compare the store's ids of this table's entities with their rows' references)",
                            db::CHECKPOINT_TABLE
                        ),
                    });
                }
                BTreeSet::new()
            }
        };
        stall_before(table.name);
        let total = db
            .count(table.name, table.filter(), Some(&after))
            .await
            .map_err(db_err)?;
        progress.table_started(table.name, total);
        loop {
            let rows = db
                .page(table.name, table.filter(), &after, page_size)
                .await
                .map_err(db_err)?;
            let Some(last) = rows.last().map(|r| r.id.clone()) else {
                break;
            };
            let n = rows.len() as u64;
            handle_page(&ctx, rows, &earlier, &after, &mut tr, &mut report).await?;
            progress.rows_done(table.name, n);
            if !opts.dry_run {
                let journal = journal(&earlier);
                db.save_checkpoint(name, table.name, &last, false, journal.as_deref())
                    .await
                    .map_err(db_err)?;
                step("checkpoint");
            }
            after = last;
        }
        if !opts.dry_run {
            if let Op::Migrate(manager) = op {
                for p in &earlier {
                    orphans_of(&ctx, manager, p, &mut report).await?;
                }
            }
            db.save_checkpoint(name, table.name, &after, true, None)
                .await
                .map_err(db_err)?;
        }
        progress.table_finished(table.name, &tr);
        report.tables.push(tr);
    }
    if !opts.dry_run {
        // Every selected table walked: the next run is a full pass of them
        // again. Other tables' checkpoints (and journals) stay for the run
        // that walks them.
        let walked: Vec<&str> = selected.iter().map(|t| t.name).collect();
        db.clear_checkpoints(name, &walked).await.map_err(db_err)?;
    }
    Ok(report)
}

fn journal(pending: &BTreeSet<Pending>) -> Option<String> {
    (!pending.is_empty()).then(|| serde_json::to_string(pending).expect("plain strings"))
}

/// A parsed row.
struct Parsed {
    id: String,
    text: String,
    doc: Value,
    name: String,
}

/// Why a row's JSON cannot be used; never quotes it. The rows of a table
/// only `rotate` walks may hold any JSON value (a setting may be a whole
/// `fernet:` string) and have no name.
fn parse_row(table: &Table, id: &str, text: &str) -> Result<(Value, String), String> {
    if table.kind == TableKind::Fernet {
        return serde_json::from_str(text)
            .map(|doc| (doc, String::new()))
            .map_err(|e| {
                format!(
                    "malformed JSON ({:?} error at line {}, column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                )
            });
    }
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "malformed JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    if !doc.is_object() {
        return Err("the json column does not hold an object".into());
    }
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| "the entity has no `name` (secret ids are built from it)".to_string())?;
    if doc
        .get("id")
        .and_then(Value::as_str)
        .is_some_and(|j| j != id)
    {
        return Err("the JSON's `id` differs from the row's".into());
    }
    let _ = table;
    Ok((doc.clone(), name.to_string()))
}

/// The entity's type for the per-service-type counts.
fn service_type_of(table: &Table, doc: &Value) -> String {
    let s = match table.kind {
        TableKind::Service(_) => doc.get("serviceType"),
        TableKind::Workflow => doc.pointer("/request/serviceType"),
        TableKind::Pipeline => doc.get("pipelineType"),
        TableKind::Bot => return "bot".into(),
        TableKind::Fernet => return table.name.into(),
    };
    s.and_then(Value::as_str).unwrap_or("unknown").to_string()
}

/// Whether a row has no config for the plugins at all (a service without a
/// connection): nothing to do.
fn has_no_config(table: &Table, doc: &Value) -> bool {
    matches!(table.kind, TableKind::Service(_))
        && doc.pointer("/connection/config").is_none_or(Value::is_null)
}

async fn handle_page(
    ctx: &Ctx<'_>,
    rows: Vec<db::RawRow>,
    earlier: &BTreeSet<Pending>,
    _after: &str,
    tr: &mut TableReport,
    report: &mut Report,
) -> Result<(), MigrateError> {
    let table = ctx.table;
    let mut parsed = Vec::with_capacity(rows.len());
    for r in rows {
        tr.counts.rows_read += 1;
        match parse_row(table, &r.id, &r.json) {
            Ok((doc, name)) => {
                if matches!(ctx.op, Op::Migrate(_)) && has_no_config(table, &doc) {
                    tr.counts.unchanged += 1;
                    continue;
                }
                if matches!(ctx.op, Op::Migrate(_))
                    && let Some(rows) = ctx.shared_names.get(&name)
                {
                    // One row's move would overwrite another's value (and
                    // each would reveal the other's): left in their `db`
                    // form, which keeps each its own.
                    skip(
                        tr,
                        report,
                        table,
                        &r.id,
                        format!(
                            "{rows} rows of this table share the name of this one, and secret ids are built from the name alone (OpenMetadata names ingestion pipelines uniquely only below their service): they would overwrite each other's secrets, so none is moved; rename all but one"
                        ),
                    );
                    continue;
                }
                parsed.push(Parsed {
                    id: r.id,
                    text: r.json,
                    doc,
                    name,
                })
            }
            Err(reason) => skip(tr, report, table, &r.id, reason),
        }
    }
    if parsed.is_empty() {
        return Ok(());
    }
    match ctx.op {
        Op::Migrate(manager) if ctx.dry_run => {
            dry_run_page(manager, table, parsed, tr, report).await
        }
        Op::Migrate(manager) => {
            // Journal the page's entities before any store write.
            let mut journal_set = earlier.clone();
            journal_set.extend(parsed.iter().map(|p| Pending {
                id: p.id.clone(),
                name: p.name.clone(),
            }));
            let after_prev = _after;
            ctx.db
                .save_checkpoint(
                    ctx.op.name(),
                    table.name,
                    after_prev,
                    false,
                    journal(&journal_set).as_deref(),
                )
                .await
                .map_err(|e| ctx.db_err(e))?;
            let mut work: Vec<(Parsed, Option<Value>)> =
                parsed.into_iter().map(|p| (p, None)).collect();
            for attempt in 0..6 {
                if work.is_empty() {
                    break;
                }
                let id_docs: HashMap<String, Value> = work
                    .iter()
                    .map(|(p, _)| (p.id.clone(), p.doc.clone()))
                    .collect();
                let kind = table.subject_kind();
                let retry = migrate_rows(ctx, manager, work, tr, report).await?;
                let mut next = Vec::new();
                for (id, previous) in retry {
                    tr.counts.reread += 1;
                    if attempt == 5 {
                        skip(
                            tr,
                            report,
                            table,
                            &id,
                            "changed by another writer at every attempt: left for the next run"
                                .into(),
                        );
                        continue;
                    }
                    match ctx
                        .db
                        .row(table.name, &id)
                        .await
                        .map_err(|e| ctx.db_err(e))?
                    {
                        None => {
                            // Deleted meanwhile: what the attempt wrote is
                            // referenced by nothing.
                            orphans_of_attempt(table, &id, &previous, manager, report).await;
                        }
                        Some(r) => match parse_row(table, &r.id, &r.json) {
                            Ok((doc, name)) => {
                                // A writer in managed mode that stored its own
                                // value under an id this run just wrote: the
                                // store may now hold this run's older value.
                                let written =
                                    written_ids(manager, &kind, &name, &previous, &id_docs, &id)
                                        .await;
                                let now = referenced_ids(manager, &kind, &name, &doc)
                                    .await
                                    .unwrap_or_default();
                                let clash: Vec<&String> = written.intersection(&now).collect();
                                if !clash.is_empty() {
                                    skip(
                                        tr,
                                        report,
                                        table,
                                        &id,
                                        format!(
                                            "changed by a writer in managed mode after this run wrote {}: the store may hold the value this row held before; enter the secret again",
                                            clash
                                                .iter()
                                                .map(|c| format!("`{c}`"))
                                                .collect::<Vec<_>>()
                                                .join(", ")
                                        ),
                                    );
                                    continue;
                                }
                                next.push((
                                    Parsed {
                                        id: r.id,
                                        text: r.json,
                                        doc,
                                        name,
                                    },
                                    Some(previous),
                                ))
                            }
                            Err(reason) => skip(tr, report, table, &id, reason),
                        },
                    }
                }
                work = next;
            }
            Ok(())
        }
        Op::Rotate { all, first } => {
            for p in parsed {
                rotate_row(ctx, all, first, p, tr, report).await?;
            }
            Ok(())
        }
    }
}

fn skip(tr: &mut TableReport, report: &mut Report, table: &Table, id: &str, reason: String) {
    tr.counts.skipped += 1;
    report.skipped.push(SkippedRow {
        table: table.name.to_string(),
        id: id.to_string(),
        reason,
    });
}

/// `"null"` strings (old OpenMetadata's cleared secrets) read as null: the
/// sealed form stores them so.
fn normalise(v: &mut Value) {
    match v {
        Value::String(s) if s == "null" => *v = Value::Null,
        Value::Array(a) => a.iter_mut().for_each(normalise),
        Value::Object(m) => m.values_mut().for_each(normalise),
        _ => {}
    }
}

/// How many strings differ between two forms of a document (the secrets a
/// seal rewrote).
fn changed_strings(old: &Value, new: &Value) -> u64 {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => b
            .iter()
            .map(|(k, v)| match a.get(k) {
                Some(o) => changed_strings(o, v),
                None => u64::from(v.is_string()),
            })
            .sum(),
        (Value::Array(a), Value::Array(b)) => b
            .iter()
            .enumerate()
            .map(|(i, v)| match a.get(i) {
                Some(o) => changed_strings(o, v),
                None => u64::from(v.is_string()),
            })
            .sum(),
        (o, Value::String(n)) => u64::from(o.as_str() != Some(n.as_str())),
        _ => 0,
    }
}

/// Seal, read back and write a set of rows; returns the rows whose
/// compare-and-set missed (with the sealed form attempted).
async fn migrate_rows(
    ctx: &Ctx<'_>,
    manager: &SecretsManager,
    work: Vec<(Parsed, Option<Value>)>,
    tr: &mut TableReport,
    report: &mut Report,
) -> Result<Vec<(String, Value)>, MigrateError> {
    let table = ctx.table;
    let kind = table.subject_kind();
    // OpenMetadata-era references of hashed names: their values inlined
    // (read from the old id), so that sealing writes them to the entity's
    // own ids; the rows' documents as sealed and compared.
    let mut docs: Vec<Value> = Vec::with_capacity(work.len());
    let mut moves: Vec<Vec<(String, String)>> = Vec::with_capacity(work.len());
    let mut refused: Vec<Option<String>> = Vec::with_capacity(work.len());
    for (p, _) in &work {
        match adopt_legacy(ctx, manager, &kind, &p.name, &p.doc).await {
            Ok(Some((doc, m))) => {
                docs.push(doc);
                moves.push(m);
                refused.push(None);
            }
            Ok(None) => {
                docs.push(p.doc.clone());
                moves.push(Vec::new());
                refused.push(None);
            }
            Err(reason) => {
                docs.push(p.doc.clone());
                moves.push(Vec::new());
                refused.push(Some(reason));
            }
        }
    }
    // Only the rows not refused are sealed: a refused row must write
    // nothing to the store (its secrets would be orphans of a skipped row).
    let items: Vec<BatchItem> = work
        .iter()
        .zip(&docs)
        .zip(&refused)
        .filter(|(_, r)| r.is_none())
        .map(|(((p, previous), doc), _)| BatchItem {
            previous: previous.clone(),
            ..BatchItem::named(p.name.clone(), doc.clone())
        })
        .collect();
    let mut results = manager.seal_batch(&kind, &items).await.into_iter();
    let sealed: Vec<crate::Result<Value>> = refused
        .into_iter()
        .map(|r| match r {
            Some(reason) => Err(Error::Input {
                pointer: None,
                message: reason,
            }),
            None => results
                .next()
                .expect("seal_batch answers every item it is given"),
        })
        .collect();
    // Which rows changed, and their read-back.
    let mut changed = Vec::new();
    let mut outcome: Vec<Option<Value>> = Vec::with_capacity(work.len());
    for ((p, _), s) in work.iter().zip(sealed) {
        match s {
            Ok(s) if s == p.doc => {
                tr.counts.unchanged += 1;
                outcome.push(None);
            }
            Ok(s) => {
                changed.push(outcome.len());
                outcome.push(Some(s));
            }
            Err(e) => {
                if matches!(e, Error::Kms(_)) {
                    // The store itself failed: stop (rows written so far
                    // are consistent; the checkpoint lets a rerun resume).
                    return Err(e.into());
                }
                skip(tr, report, table, &p.id, e.to_string());
                outcome.push(None);
            }
        }
    }
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let back_items: Vec<BatchItem> = changed
        .iter()
        .map(|&i| {
            BatchItem::named(
                work[i].0.name.clone(),
                outcome[i].clone().expect("changed rows are sealed"),
            )
        })
        .collect();
    let orig_items: Vec<BatchItem> = changed
        .iter()
        .map(|&i| BatchItem::named(work[i].0.name.clone(), docs[i].clone()))
        .collect();
    let back = manager.reveal_batch(&kind, &back_items, false).await;
    let orig = manager.reveal_batch(&kind, &orig_items, false).await;
    step("kms-written");
    let mut retry = Vec::new();
    let mut updates: Vec<(usize, Value)> = Vec::new();
    for ((&i, back), orig) in changed.iter().zip(back).zip(orig) {
        let p = &work[i].0;
        let sealed = outcome[i].take().expect("changed rows are sealed");
        let verdict =
            match (back, orig) {
                (Ok(mut b), Ok(mut o)) => {
                    if let Ok(subject) = kind.subject(Some(&p.name), &p.doc) {
                        subject.drop_unstored(&mut o);
                    }
                    normalise(&mut b);
                    normalise(&mut o);
                    if b == o {
                        Ok(())
                    } else {
                        Err("the store's values read back differ from the row's: row left as it was"
                        .to_string())
                    }
                }
                (Err(e), _) => Err(format!("read-back failed: {e}")),
                (_, Err(e)) => Err(e.to_string()),
            };
        if let Err(reason) = verdict {
            skip(tr, report, table, &p.id, reason);
            continue;
        }
        updates.push((i, sealed));
    }
    // The row updates: each its own short transaction, compare-and-set on
    // the text read; several at once (the pool's connections), results
    // taken in row order.
    let mut running = tokio::task::JoinSet::new();
    for (k, (i, sealed)) in updates.iter().enumerate() {
        let p = &work[*i].0;
        let (db, name, json_type) = (ctx.db.clone(), table.name, ctx.json_type.clone());
        let (id, old, new) = (p.id.clone(), p.text.clone(), sealed.to_string());
        running.spawn(async move {
            let r = db
                .compare_and_set(name, &json_type, &id, &old, &new, || step("row-updated"))
                .await;
            if matches!(r, Ok(true)) {
                step("row-committed");
            }
            (k, r)
        });
    }
    let mut results: Vec<Option<Result<bool, sqlx::Error>>> =
        updates.iter().map(|_| None).collect();
    while let Some(done) = running.join_next().await {
        let (k, r) = done.expect("a row update task never panics");
        results[k] = Some(r);
    }
    for ((i, sealed), r) in updates.into_iter().zip(results) {
        let p = &work[i].0;
        let set = r.expect("every update ran").map_err(|e| ctx.db_err(e))?;
        if set {
            for (from, to) in std::mem::take(&mut moves[i]) {
                report.moved.push(report::Moved {
                    table: table.name.to_string(),
                    row: p.id.clone(),
                    from,
                    to,
                });
            }
            tr.counts.migrated += 1;
            tr.counts.secrets_written += changed_strings(&p.doc, &sealed);
            *tr.by_service_type
                .entry(service_type_of(table, &p.doc))
                .or_default() += 1;
        } else {
            retry.push((p.id.clone(), sealed));
        }
    }
    Ok(retry)
}

/// A document of an entity whose name lies outside `[a-z0-9_-]` may hold
/// references to OpenMetadata's id for it (`…/<kind>/<sanitised name>/…`),
/// which om-secrets refuses to read for the entity (namesakes share it). The
/// migration sees every name of the table: when no other name sanitises
/// alike, the value is read from the old id and put in the field as a
/// `fernet:` token, so sealing writes it to the entity's own id (and reads
/// it back) before the row changes. `Ok(None)`: nothing to move; `Err`: a
/// collision or a missing value (the row is skipped).
async fn adopt_legacy(
    ctx: &Ctx<'_>,
    manager: &SecretsManager,
    kind: &SubjectKind,
    name: &str,
    doc: &Value,
) -> Result<Option<(Value, Vec<(String, String)>)>, String> {
    if is_plain_name(name) {
        return Ok(None);
    }
    let Some(store) = manager.store() else {
        return Ok(None);
    };
    let Ok(subject) = kind.subject(Some(name), doc) else {
        return Ok(None);
    };
    let Ok(fields) = manager.fields(&subject, doc) else {
        return Ok(None);
    };
    let own = format!("/{}/", name_segment(name));
    let old = format!("/{}/", segment(name));
    let scope = manager.scope(&subject);
    let Some(at) = scope.root.rfind(&own) else {
        return Ok(None);
    };
    // The entity's root in OpenMetadata's form (the sub-root a pipeline owns
    // included).
    let legacy_root = format!(
        "{}{old}{}",
        &scope.root[..at],
        &scope.root[at + own.len()..]
    );
    let mut out = doc.clone();
    let mut moves = Vec::new();
    for f in fields.iter().filter(|f| f.treatment == Treatment::Secret) {
        let Some(token) = doc
            .pointer(&f.pointer)
            .and_then(Value::as_str)
            .filter(|s| s.starts_with("fernet:"))
        else {
            continue;
        };
        let Ok(plain) = manager.fernet().decrypt(token) else {
            continue; // reported by the seal
        };
        let Some(id) = plain.strip_prefix(REFERENCE_PREFIX) else {
            continue;
        };
        if !id.starts_with(&legacy_root) {
            continue;
        }
        // Only what the entity's own scope would hold there: a pipeline
        // service's root covers the sub-root of the ingestion pipelines of
        // the same name (another table), which its scope excludes; such a
        // reference is left for the seal to refuse.
        if !scope.contains(&format!("{}{}", scope.root, &id[legacy_root.len()..])) {
            continue;
        }
        if ctx.namesakes.get(&segment(name)).copied().unwrap_or(1) > 1 {
            return Err(format!(
                "field `{}` references `{id}`, OpenMetadata's id for this name, which another entity of the table shares (names that sanitise alike): not moved; send the value again",
                f.pointer
            ));
        }
        let value = store
            .get(id)
            .await
            .map_err(|e| format!("field `{}`: reading `{id}`: {e}", f.pointer))?
            .ok_or_else(|| {
                format!(
                    "field `{}` references `{id}`, which the store does not hold",
                    f.pointer
                )
            })?;
        if let Some(slot) = out.pointer_mut(&f.pointer) {
            *slot = Value::String(manager.fernet().encrypt(&value));
        }
        moves.push((id.to_string(), f.secret_id.clone()));
    }
    Ok((!moves.is_empty()).then_some((out, moves)))
}

/// The own ids a sealed form references (`secret:<id>` after decryption).
async fn referenced_ids(
    manager: &SecretsManager,
    kind: &SubjectKind,
    name: &str,
    doc: &Value,
) -> crate::Result<BTreeSet<String>> {
    let subject = kind.subject(Some(name), doc)?;
    let kept = manager.reveal(&subject, doc, true).await?;
    let mut out = BTreeSet::new();
    for f in manager.fields(&subject, &kept)? {
        if f.treatment != Treatment::Secret {
            continue;
        }
        if let Some(id) = kept
            .pointer(&f.pointer)
            .and_then(Value::as_str)
            .and_then(|s| s.strip_prefix(REFERENCE_PREFIX))
        {
            out.insert(id.to_string());
        }
    }
    Ok(out)
}

/// The ids an attempt wrote: those it references that the row it sealed
/// (`docs[id]`) did not.
async fn written_ids(
    manager: &SecretsManager,
    kind: &SubjectKind,
    name: &str,
    attempt: &Value,
    docs: &HashMap<String, Value>,
    id: &str,
) -> BTreeSet<String> {
    let after = referenced_ids(manager, kind, name, attempt)
        .await
        .unwrap_or_default();
    let before = match docs.get(id) {
        Some(d) => referenced_ids(manager, kind, name, d)
            .await
            .unwrap_or_default(),
        None => BTreeSet::new(),
    };
    after.difference(&before).cloned().collect()
}

/// A row deleted after its attempt was written: the attempt's references
/// are orphans.
async fn orphans_of_attempt(
    table: &Table,
    id: &str,
    attempt: &Value,
    manager: &SecretsManager,
    report: &mut Report,
) {
    let name = attempt
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Ok(ids) = referenced_ids(manager, &table.subject_kind(), name, attempt).await {
        for s in ids {
            report.orphans.push(Orphan {
                table: table.name.to_string(),
                row: id.to_string(),
                secret_id: s,
            });
        }
    }
}

/// After a crash: the secrets in the scope of a journalled entity that its
/// row (if still there) does not reference.
async fn orphans_of(
    ctx: &Ctx<'_>,
    manager: &SecretsManager,
    p: &Pending,
    report: &mut Report,
) -> Result<(), MigrateError> {
    let table = ctx.table;
    let kind = table.subject_kind();
    let Some(store) = manager.store() else {
        return Ok(());
    };
    let row = ctx
        .db
        .row(table.name, &p.id)
        .await
        .map_err(|e| ctx.db_err(e))?;
    let (doc, referenced) = match row.as_ref().map(|r| parse_row(table, &r.id, &r.json)) {
        Some(Ok((doc, name))) => {
            let refs = referenced_ids(manager, &kind, &name, &doc)
                .await
                .unwrap_or_default();
            (Some(doc), refs)
        }
        // Unreadable rows were reported as skipped.
        Some(Err(_)) => return Ok(()),
        None => (None, BTreeSet::new()),
    };
    // The scope the journalled name owned.
    let probe = doc.unwrap_or_else(|| {
        serde_json::json!({"name": p.name, "isBot": true, "request": {"serviceType": "Database"}})
    });
    let Ok(subject) = kind.subject(Some(&p.name), &probe) else {
        return Ok(());
    };
    let scope = manager.scope(&subject);
    let listed = match store.list(&scope.root).await {
        Ok(l) => l,
        Err(e) => {
            // Unchecked is reported, never assumed clean.
            report.orphans.push(Orphan {
                table: table.name.to_string(),
                row: p.id.clone(),
                secret_id: format!(
                    "{} (not checked: {e}; compare the store's ids below it with the row's references)",
                    scope.root
                ),
            });
            return Ok(());
        }
    };
    for id in listed.into_iter().filter(|i| scope.contains(i)) {
        if !referenced.contains(&id) {
            report.orphans.push(Orphan {
                table: table.name.to_string(),
                row: p.id.clone(),
                secret_id: id,
            });
        }
    }
    Ok(())
}

/// `--dry-run` of a page: which secret fields hold values that would move.
async fn dry_run_page(
    manager: &SecretsManager,
    table: &Table,
    parsed: Vec<Parsed>,
    tr: &mut TableReport,
    report: &mut Report,
) -> Result<(), MigrateError> {
    let kind = table.subject_kind();
    let items: Vec<BatchItem> = parsed
        .iter()
        .map(|p| BatchItem::named(p.name.clone(), p.doc.clone()))
        .collect();
    let found = manager.fields_batch(&kind, &items).await;
    for (p, fields) in parsed.iter().zip(found) {
        let fields = match fields {
            Ok(f) => f,
            Err(e) => {
                skip(tr, report, table, &p.id, e.to_string());
                continue;
            }
        };
        let mut moves = 0u64;
        let mut bad = None;
        for f in fields.iter().filter(|f| f.treatment == Treatment::Secret) {
            match p.doc.pointer(&f.pointer) {
                Some(Value::String(s)) if s.is_empty() || s == "null" || s == crate::MASK => {}
                Some(Value::String(s)) if s.starts_with("fernet:") => {
                    match manager.fernet().decrypt(s) {
                        Ok(plain) if plain.is_empty() || plain.starts_with(REFERENCE_PREFIX) => {}
                        Ok(_) => moves += 1,
                        Err(e) => {
                            bad = Some(Error::from(e.at(&f.pointer)).to_string());
                            break;
                        }
                    }
                }
                Some(Value::String(s)) if s.starts_with(REFERENCE_PREFIX) => {}
                Some(Value::String(_) | Value::Number(_) | Value::Bool(_)) => moves += 1,
                _ => {}
            }
        }
        if let Some(reason) = bad {
            skip(tr, report, table, &p.id, reason);
        } else if moves > 0 {
            tr.counts.migrated += 1;
            tr.counts.secrets_written += moves;
            *tr.by_service_type
                .entry(service_type_of(table, &p.doc))
                .or_default() += 1;
        } else {
            tr.counts.unchanged += 1;
        }
    }
    Ok(())
}

/// Re-encrypt the tokens of one row the first key cannot decrypt.
/// `Ok(None)`: nothing to do; `Err(pointer)`: undecryptable.
fn rotate_doc(
    all: &FernetKeys,
    first: &FernetKeys,
    v: &mut Value,
    at: &mut String,
) -> Result<u64, String> {
    match v {
        Value::String(s) if s.starts_with("fernet:") => {
            if first.decrypt(s).is_ok() {
                return Ok(0);
            }
            let plain = all.decrypt(s).map_err(|_| at.clone())?;
            let token = first.encrypt(&plain);
            match first.decrypt(&token) {
                Ok(back) if *back == *plain => {
                    *s = token;
                    Ok(1)
                }
                _ => Err(at.clone()),
            }
        }
        Value::Array(a) => {
            let mut n = 0;
            for (i, x) in a.iter_mut().enumerate() {
                let len = at.len();
                at.push('/');
                at.push_str(&i.to_string());
                n += rotate_doc(all, first, x, at)?;
                at.truncate(len);
            }
            Ok(n)
        }
        Value::Object(m) => {
            let mut n = 0;
            for (k, x) in m.iter_mut() {
                let len = at.len();
                at.push('/');
                at.push_str(&crate::plugin::check::escape_token(k));
                n += rotate_doc(all, first, x, at)?;
                at.truncate(len);
            }
            Ok(n)
        }
        _ => Ok(0),
    }
}

async fn rotate_row(
    ctx: &Ctx<'_>,
    all: &FernetKeys,
    first: &FernetKeys,
    mut p: Parsed,
    tr: &mut TableReport,
    report: &mut Report,
) -> Result<(), MigrateError> {
    let table = ctx.table;
    for attempt in 0..6 {
        let mut doc = p.doc.clone();
        let n = match rotate_doc(all, first, &mut doc, &mut String::new()) {
            Ok(n) => n,
            Err(pointer) => {
                skip(
                    tr,
                    report,
                    table,
                    &p.id,
                    format!(
                        "field `{pointer}`: a fernet: token no key of FERNET_KEY decrypts (check that the key that sealed it is in the list)"
                    ),
                );
                return Ok(());
            }
        };
        if n == 0 {
            tr.counts.unchanged += 1;
            return Ok(());
        }
        if ctx.dry_run {
            tr.counts.migrated += 1;
            tr.counts.secrets_written += n;
            return Ok(());
        }
        let set = ctx
            .db
            .compare_and_set(
                table.name,
                &ctx.json_type,
                &p.id,
                &p.text,
                &doc.to_string(),
                || step("row-updated"),
            )
            .await
            .map_err(|e| ctx.db_err(e))?;
        if set {
            step("row-committed");
            tr.counts.migrated += 1;
            tr.counts.secrets_written += n;
            *tr.by_service_type
                .entry(service_type_of(table, &p.doc))
                .or_default() += 1;
            return Ok(());
        }
        tr.counts.reread += 1;
        if attempt == 5 {
            break;
        }
        match ctx
            .db
            .row(table.name, &p.id)
            .await
            .map_err(|e| ctx.db_err(e))?
        {
            None => return Ok(()),
            Some(r) => match parse_row(table, &r.id, &r.json) {
                Ok((doc, name)) => {
                    p = Parsed {
                        id: r.id,
                        text: r.json,
                        doc,
                        name,
                    }
                }
                Err(reason) => {
                    skip(tr, report, table, &p.id, reason);
                    return Ok(());
                }
            },
        }
    }
    skip(
        tr,
        report,
        table,
        &p.id,
        "changed by another writer at every attempt: left for the next run".into(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_strings_counts_rewritten_values() {
        let a = json!({"c": {"p": "fernet:a", "u": "x"}, "l": ["fernet:b"]});
        let b = json!({"c": {"p": "fernet:z", "u": "x"}, "l": ["fernet:y"]});
        assert_eq!(changed_strings(&a, &b), 2);
        assert_eq!(changed_strings(&a, &a), 0);
    }

    #[test]
    fn rotation_reencrypts_only_what_the_first_key_cannot_open() {
        let old = FernetKeys::generate_key();
        let new = FernetKeys::generate_key();
        let old_keys = FernetKeys::parse(&old).unwrap();
        let all = FernetKeys::parse(&format!("{new},{old}")).unwrap();
        let first = FernetKeys::parse(&new).unwrap();
        let mut doc =
            json!({"a": old_keys.encrypt("s1"), "b": [first.encrypt("s2")], "c": "plain"});
        let n = rotate_doc(&all, &first, &mut doc, &mut String::new()).unwrap();
        assert_eq!(n, 1);
        assert_eq!(*first.decrypt(doc["a"].as_str().unwrap()).unwrap(), "s1");
        assert_eq!(
            rotate_doc(&all, &first, &mut doc, &mut String::new()).unwrap(),
            0
        );
        let mut bad = json!({"x": {"y": FernetKeys::parse(&FernetKeys::generate_key()).unwrap().encrypt("z")}});
        assert_eq!(
            rotate_doc(&all, &first, &mut bad, &mut String::new()).unwrap_err(),
            "/x/y"
        );
    }

    #[test]
    fn the_table_list_is_openmetadatas() {
        assert_eq!(TABLES.len(), 16);
        assert_eq!(
            tables::by_name("user_entity").unwrap().filter(),
            db::Filter::Bots
        );
        assert!(tables::by_name("bot_entity").is_none());
    }
}
