//! `om-secrets migrate` and `om-secrets rotate` against real PostgreSQL 15
//! and MariaDB servers (started by `tests/servers/databases.sh`), holding
//! OpenMetadata-shaped tables filled with rows sealed in `db` mode by
//! om-secrets itself (`migrate_sample.rs`: every connector variant, bots,
//! dbt pipelines, workflows, human users).
//!
//! Each test gets a database of its own on a server shared by the tests of
//! its kind. Every check reads the rows back from the database and reveals
//! them through the library: every secret equals the value the row held.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use om_secrets::SecretsManager;
use om_secrets::config::{FileConfig, Settings};
use om_secrets::fernet::FernetKeys;
use om_secrets::migrate::db::{Db, Filter};
use om_secrets::ops::SubjectKind;
use om_secrets::plugin::check::Treatment;
use serde_json::Value;
use sqlx::Connection;

use crate::kms_common::{Kind, Kms, block_on, unique};
use crate::util::{Om, repo, shared_cache};

#[path = "migrate_sample.rs"]
pub(crate) mod sample;
use sample::{SampleRow, Shape};

// ---------------------------------------------------------------------------
// database servers

/// A server started by databases.sh; stopped when the last test using it
/// drops it.
struct DbServer {
    pid: u32,
    url: String,
}

impl Drop for DbServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join("tests/servers/databases.sh"))
            .args(["stop", &self.pid.to_string()])
            .stdin(Stdio::null())
            .output();
    }
}

static SERVERS: Mutex<Vec<(&'static str, Weak<DbServer>)>> = Mutex::new(Vec::new());

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("databases.sh printed no {key}: {line}"))
}

fn server(kind: &'static str) -> Arc<DbServer> {
    let mut all = SERVERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = all
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, w)| w.upgrade())
    {
        return s;
    }
    let out = Command::new("bash")
        .arg(repo().join("tests/servers/databases.sh"))
        .args(["start", kind])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "databases.sh start {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let s = Arc::new(DbServer {
        pid: field(&line, "PID").parse().unwrap(),
        url: field(&line, "URL").to_string(),
    });
    all.retain(|(k, _)| *k != kind);
    all.push((kind, Arc::downgrade(&s)));
    s
}

/// A database of its own, with OpenMetadata's tables.
pub(crate) struct TestDb {
    _server: Arc<DbServer>,
    pub(crate) url: String,
}

impl TestDb {
    fn new(kind: &'static str) -> TestDb {
        let server = server(kind);
        let name = unique("t").to_lowercase();
        let base = server.url.clone();
        block_on(async {
            if sample::is_postgres(&base) {
                let mut c = sqlx::PgConnection::connect(&base).await.unwrap();
                sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                    .execute(&mut c)
                    .await
                    .unwrap();
            } else {
                let mut c = sqlx::MySqlConnection::connect(&base).await.unwrap();
                sqlx::raw_sql(&format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                ))
                .execute(&mut c)
                .await
                .unwrap();
            }
        });
        let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        block_on(sample::create_tables(&repo(), &url));
        TestDb {
            _server: server,
            url,
        }
    }

    pub(crate) fn exec(&self, sql: &str) {
        let url = self.url.clone();
        block_on(async move {
            if sample::is_postgres(&url) {
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            } else {
                let mut c = sqlx::MySqlConnection::connect(&url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            }
        });
    }

    /// Every row's JSON text, by id.
    pub(crate) fn texts(&self) -> HashMap<String, String> {
        block_on(async {
            let db = Db::connect(&self.url).await.unwrap();
            let mut out = HashMap::new();
            for t in om_secrets::migrate::TABLES {
                if db.json_type(t.name).await.unwrap().is_none() {
                    continue;
                }
                let mut after = String::new();
                loop {
                    let page = db.page(t.name, Filter::All, &after, 1000).await.unwrap();
                    let Some(last) = page.last() else { break };
                    after = last.id.clone();
                    for r in page {
                        out.insert(r.id, r.json);
                    }
                }
            }
            db.close().await;
            out
        })
    }
}

// ---------------------------------------------------------------------------
// fixtures

/// Settings from a variable map (home and plugin cache included).
pub(crate) fn manager(vars: &[(&str, String)]) -> SecretsManager {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let cache = shared_cache().to_string_lossy().into_owned();
    let settings = Settings::resolve(FileConfig::default(), |k| match k {
        "OM_SECRETS_CACHE" => Some(cache.clone()),
        _ => map.get(k).cloned(),
    })
    .unwrap();
    block_on(SecretsManager::from_settings(&settings)).unwrap()
}

/// A database filled with sealed sample rows, and what each row must reveal.
pub(crate) struct Fixture {
    pub(crate) db: TestDb,
    pub(crate) rows: Vec<SampleRow>,
    /// The plain values each row held (revealed from its `db`-mode form).
    pub(crate) expected: Vec<Value>,
    pub(crate) key: String,
    _home: tempfile::TempDir,
}

pub(crate) fn subject_kind(r: &SampleRow) -> &SubjectKind {
    r.kind.as_ref().expect("a sealed row")
}

pub(crate) fn load(kind: &'static str, shape: &Shape, key: &str) -> Fixture {
    let db = TestDb::new(kind);
    let home = tempfile::tempdir().unwrap();
    let m = manager(&[
        ("SECRET_MANAGER", "db".into()),
        ("FERNET_KEY", key.into()),
        (
            "OM_SECRETS_HOME",
            home.path().to_string_lossy().into_owned(),
        ),
    ]);
    let rows = sample::corpus(&repo(), shape);
    let stored = block_on(sample::seal(&m, &rows));
    let expected = block_on(async {
        let mut out = Vec::new();
        for (r, s) in rows.iter().zip(&stored) {
            out.push(match &r.kind {
                None => s.clone(),
                Some(k) => {
                    let subject = k.subject(Some(&r.name), s).unwrap();
                    m.reveal(&subject, s, false).await.unwrap()
                }
            });
        }
        out
    });
    block_on(sample::insert(&db.url, &rows, &stored));
    Fixture {
        db,
        rows,
        expected,
        key: key.into(),
        _home: home,
    }
}

/// The CLI in the embedded store (managed-local), with `key`.
pub(crate) fn om_local(key: &str) -> Om {
    Om::new().with("FERNET_KEY", key)
}

/// The library's manager over the same store as `om`.
pub(crate) fn manager_of(om: &Om) -> SecretsManager {
    let mut vars: Vec<(&str, String)> = om
        .vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    vars.push((
        "OM_SECRETS_HOME",
        om.home.path().join("home").to_string_lossy().into_owned(),
    ));
    manager(&vars)
}

pub(crate) struct Outcome {
    pub(crate) code: i32,
    pub(crate) stderr: String,
    pub(crate) report: Value,
}

pub(crate) fn run_db(om: &Om, op: &str, url: &str, extra: &[&str]) -> Outcome {
    let report = om.home.path().join(format!("{}.json", unique("report")));
    let mut args = vec![
        op,
        "--database-url",
        url,
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let r = om.run(&args, "");
    let report = std::fs::read_to_string(&report)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    Outcome {
        code: r.code,
        stderr: r.stderr,
        report,
    }
}

pub(crate) fn migrate(om: &Om, url: &str, extra: &[&str]) -> Outcome {
    run_db(om, "migrate", url, extra)
}

pub(crate) fn total(report: &Value, key: &str) -> u64 {
    report["totals"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("no totals.{key} in {report}"))
}

/// Rows holding secrets the migration moves (not human users, not rows
/// without a secret value).
fn sealed_rows(fx: &Fixture, m: &SecretsManager) -> usize {
    fx.rows
        .iter()
        .zip(&fx.expected)
        .filter(|(r, e)| {
            r.kind.as_ref().is_some_and(|k| {
                let subject = k.subject(Some(&r.name), e).unwrap();
                m.fields(&subject, e).unwrap().iter().any(|f| {
                    f.treatment == Treatment::Secret
                        && e.pointer(&f.pointer).is_some_and(|v| {
                            v.as_str().is_none_or(|s| !s.is_empty()) && !v.is_null()
                        })
                })
            })
        })
        .count()
}

/// Every row reveals exactly what it held; with `migrated`, every secret
/// field holds an encrypted reference (nothing plain or `fernet:`-plain
/// left); human users are untouched.
pub(crate) fn verify(fx: &Fixture, m: &SecretsManager, migrated: bool) {
    let texts = fx.db.texts();
    let key = FernetKeys::parse(&fx.key).unwrap();
    block_on(async {
        for (r, expected) in fx.rows.iter().zip(&fx.expected) {
            let text = texts
                .get(&r.id)
                .unwrap_or_else(|| panic!("row {} ({}) is gone", r.id, r.table));
            let stored: Value = serde_json::from_str(text).unwrap();
            let Some(kind) = &r.kind else {
                assert_eq!(&stored, expected, "human user {} changed", r.name);
                continue;
            };
            let subject = kind.subject(Some(&r.name), &stored).unwrap();
            let revealed = m
                .reveal(&subject, &stored, false)
                .await
                .unwrap_or_else(|e| panic!("{} {} ({}): {e}", r.table, r.id, r.name));
            assert_eq!(&revealed, expected, "{} {} ({})", r.table, r.id, r.name);
            if migrated {
                for f in m.fields(&subject, &stored).unwrap() {
                    if f.treatment != Treatment::Secret {
                        continue;
                    }
                    if let Some(s) = stored.pointer(&f.pointer).and_then(Value::as_str)
                        && !s.is_empty()
                    {
                        let plain = key.decrypt(s).unwrap_or_else(|e| {
                            panic!("{} {} {}: {e}", r.table, r.name, f.pointer)
                        });
                        assert!(
                            plain.starts_with("secret:/"),
                            "{} {} {}: not moved into the store",
                            r.table,
                            r.name,
                            f.pointer
                        );
                    }
                }
            }
        }
    });
}

/// Rows whose JSON still holds a `fernet:` token of a plain value.
fn unmigrated(fx: &Fixture) -> usize {
    let key = FernetKeys::parse(&fx.key).unwrap();
    fx.db
        .texts()
        .values()
        .filter(|t| {
            let v: Value = serde_json::from_str(t).unwrap();
            crate::util::strings(&v).iter().any(|s| {
                s.starts_with("fernet:")
                    && key
                        .decrypt(s)
                        .is_ok_and(|p| !p.is_empty() && !p.starts_with("secret:"))
            })
        })
        .count()
}

pub(crate) fn key() -> String {
    FernetKeys::generate_key()
}

// ---------------------------------------------------------------------------
// scenarios

/// Every connector variant, bots, dbt pipelines, workflows → the embedded
/// store: a dry run first (counts, nothing written), then the migration,
/// then a rerun that changes nothing.
fn full_migration_into_the_embedded_store(kind: &'static str) {
    let fx = load(kind, &Shape::default(), &key());
    let om = om_local(&fx.key);
    let before = fx.db.texts();

    let dry = migrate(&om, &fx.db.url, &["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let m = manager_of(&om);
    let movable = sealed_rows(&fx, &m) as u64;
    assert_eq!(total(&dry.report, "migrated"), movable, "{}", dry.report);
    assert_eq!(total(&dry.report, "skipped"), 0, "{}", dry.report);
    assert_eq!(dry.report["dryRun"], true);
    let db_table = dry.report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "dbservice_entity")
        .unwrap();
    assert!(
        db_table["byServiceType"]["Mysql"].as_u64().unwrap() >= 1,
        "{db_table}"
    );
    assert_eq!(fx.db.texts(), before, "the dry run wrote to the database");
    assert!(om.store_ids().is_empty(), "the dry run wrote to the store");
    assert!(!dry.stderr.contains("secret-r"), "{}", dry.stderr);

    let run = migrate(&om, &fx.db.url, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(total(&run.report, "migrated"), movable, "{}", run.report);
    assert_eq!(total(&run.report, "skipped"), 0);
    assert!(total(&run.report, "secretsWritten") >= movable);
    assert_eq!(
        total(&run.report, "rowsRead") as usize,
        fx.rows.iter().filter(|r| r.kind.is_some()).count(),
        "bots only from user_entity"
    );
    assert!(run.report["orphans"].as_array().unwrap().is_empty());
    assert!(!run.stderr.contains("secret-r"), "a value in the output");
    let m = manager_of(&om);
    verify(&fx, &m, true);
    assert_eq!(
        om.store_ids().len() as u64,
        total(&run.report, "secretsWritten")
    );

    // Idempotent: nothing changes, and it says so.
    let store = om.store_bytes();
    let texts = fx.db.texts();
    let again = migrate(&om, &fx.db.url, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(total(&again.report, "migrated"), 0, "{}", again.report);
    assert_eq!(total(&again.report, "secretsWritten"), 0);
    assert!(again.stderr.contains("nothing changed"), "{}", again.stderr);
    assert_eq!(om.store_bytes(), store);
    assert_eq!(fx.db.texts(), texts);
}

/// The same into OpenBao (managed-vault).
fn migration_into_openbao(kind: &'static str) {
    let shape = Shape {
        services: Some(60),
        ..Shape::default()
    };
    let fx = load(kind, &shape, &key());
    let kms = Kms::new(Kind::Vault).with("FERNET_KEY", &fx.key);
    let mut om = Om::new();
    for (k, v) in kms.env(true) {
        om = om.with(&k, &v);
    }
    let run = migrate(&om, &fx.db.url, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let m = manager_of(&om);
    let movable = sealed_rows(&fx, &m) as u64;
    assert_eq!(total(&run.report, "migrated"), movable, "{}", run.report);
    verify(&fx, &m, true);
    // The values are in OpenBao under the deployment's prefix.
    let listed = kms.list();
    assert!(
        listed.len() as u64 >= total(&run.report, "secretsWritten"),
        "{} ids in OpenBao",
        listed.len()
    );
    let again = migrate(&om, &fx.db.url, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(total(&again.report, "migrated"), 0, "{}", again.report);
    assert_eq!(total(&again.report, "secretsWritten"), 0);
}

/// A small deterministic generator (seeded, reported).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    std::env::var("OM_SECRETS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

/// Run the CLI until its test hook stalls it at `step`, then SIGKILL it.
/// `true` if it was killed, `false` if it finished first.
pub(crate) fn kill_at(om: &Om, url: &str, step: u64, page: &str) -> bool {
    kill_when(
        om,
        url,
        page,
        ("OM_SECRETS_TEST_STALL_AT_STEP", &step.to_string()),
    )
}

/// Run the CLI with a test hook until it stalls, then SIGKILL it.
pub(crate) fn kill_when(om: &Om, url: &str, page: &str, hook: (&str, &str)) -> bool {
    let mut cmd = om.command(&["migrate", "--database-url", url, "--page-size", page]);
    cmd.env(hook.0, hook.1)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("stalled at step") {
                let _ = tx.send(());
            }
        }
    });
    loop {
        if rx.recv_timeout(Duration::from_millis(20)).is_ok() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return true;
        }
        if let Some(status) = child.try_wait().unwrap() {
            // Finished before the step (or failed: the rerun will tell).
            let _ = status;
            return false;
        }
    }
}

/// kill -9 at 20 seeded points (between a page's store writes and its rows'
/// updates, between UPDATE and COMMIT, after commits and checkpoints), then a
/// rerun: converged, every secret revealable, no orphan.
fn kill_9_at_seeded_points_then_rerun_converges(kind: &'static str) {
    let shape = Shape {
        services: Some(150),
        ..Shape::default()
    };
    let fx = load(kind, &shape, &key());
    let om = om_local(&fx.key);
    let seed = seed();
    eprintln!("migrate kill -9 ({kind}): seed {seed} (OM_SECRETS_TEST_SEED={seed} reproduces it)");
    let mut rng = Rng(seed);
    let mut killed = 0;
    for _ in 0..20 {
        let left = unmigrated(&fx) as u64;
        // Steps of a run: about two per row changed, two per page of 16.
        let steps = 2 * left + 2 * (left / 16) + 4;
        let step = 1 + rng.below(steps);
        if kill_at(&om, &fx.db.url, step, "16") {
            killed += 1;
        }
    }
    assert!(
        killed >= 10,
        "seed {seed}: only {killed} of 20 runs were killed"
    );
    let run = migrate(&om, &fx.db.url, &["--page-size", "16"]);
    assert_eq!(run.code, 0, "seed {seed}: {}", run.stderr);
    assert!(
        run.report["orphans"].as_array().unwrap().is_empty(),
        "seed {seed}: {}",
        run.report
    );
    assert_eq!(total(&run.report, "skipped"), 0, "seed {seed}");
    let m = manager_of(&om);
    verify(&fx, &m, true);
    let again = migrate(&om, &fx.db.url, &[]);
    assert_eq!(
        total(&again.report, "migrated"),
        0,
        "seed {seed}: {}",
        again.report
    );
}

/// A writer changes rows of the page being migrated (after the page's
/// store writes, before its row updates) and deletes one: the changed rows
/// are re-read and migrated with the writer's values, nothing is
/// overwritten, and the deleted row's secrets are reported as orphans.
fn a_concurrent_writer_loses_nothing(kind: &'static str) {
    let shape = Shape {
        services: Some(40),
        others: false,
        odd_names_every: 0,
    };
    let key = key();
    let fx = load(kind, &shape, &key);
    let om = om_local(&key);
    let home = tempfile::tempdir().unwrap();
    let dbm = manager(&[
        ("SECRET_MANAGER", "db".into()),
        ("FERNET_KEY", key.clone()),
        (
            "OM_SECRETS_HOME",
            home.path().to_string_lossy().into_owned(),
        ),
    ]);
    // The first page of dbservice_entity, in key order.
    let mut first: Vec<&SampleRow> = fx
        .rows
        .iter()
        .filter(|r| r.table == "dbservice_entity")
        .collect();
    first.sort_by(|a, b| a.id.cmp(&b.id));
    first.truncate(10);
    let with_secrets: Vec<&SampleRow> = first
        .into_iter()
        .filter(|r| {
            let s = r
                .kind
                .as_ref()
                .unwrap()
                .subject(Some(&r.name), &r.doc)
                .unwrap();
            crate::util::strings(&r.doc)
                .iter()
                .any(|v| v.starts_with("secret-r"))
                && !dbm.fields(&s, &r.doc).unwrap().is_empty()
        })
        .collect();
    assert!(
        with_secrets.len() >= 5,
        "the first page needs rows with secrets"
    );
    let (changed, deleted, managed) = (&with_secrets[..3], with_secrets[3], with_secrets[4]);

    let mut cmd = om.command(&[
        "migrate",
        "--database-url",
        &fx.db.url,
        "--only",
        "dbservice_entity",
        "--page-size",
        "10",
    ]);
    let report_path = om.home.path().join("writer-report.json");
    let resume = om.home.path().join("resume");
    cmd.args(["--report", report_path.to_str().unwrap()])
        .env("OM_SECRETS_TEST_STALL_AT_STEP", "1")
        .env("OM_SECRETS_TEST_RESUME_FILE", &resume)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut seen = String::new();
    loop {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            // Say why the run ended before its pause (its output holds no
            // secret: values never reach migrate's lines).
            let status = child.wait().unwrap();
            panic!("no pause: migrate exited ({status}) after:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains("paused at step 1 (kms-written)") {
            break;
        }
    }
    // The writer: new secret values (sealed in db mode, as the server
    // would) for three rows, and one row deleted.
    let mut new_values = HashMap::new();
    block_on(async {
        let db = Db::connect(&fx.db.url).await.unwrap();
        for r in changed {
            let mut doc = r.doc.clone();
            new_secret_values(&mut doc, "writer");
            doc["description"] = Value::String("changed by the server".into());
            let subject = subject_kind(r).subject(Some(&r.name), &doc).unwrap();
            let sealed = dbm.seal(&subject, &doc).await.unwrap();
            let cur = db.row("dbservice_entity", &r.id).await.unwrap().unwrap();
            assert!(
                db.compare_and_set(
                    "dbservice_entity",
                    "jsonb",
                    &r.id,
                    &cur.json,
                    &sealed.to_string(),
                    || {}
                )
                .await
                .unwrap()
            );
            new_values.insert(
                r.id.clone(),
                dbm.reveal(&subject, &sealed, false).await.unwrap(),
            );
        }
        db.close().await;
    });
    fx.db.exec(&format!(
        "DELETE FROM dbservice_entity WHERE id = '{}'",
        deleted.id
    ));
    // A server in managed mode stores a new value under the row's own ids
    // (which this run has just written too): reported, not overwritten.
    let mm = manager_of(&om);
    let managed_value = block_on(async {
        let db = Db::connect(&fx.db.url).await.unwrap();
        let mut doc = managed.doc.clone();
        new_secret_values(&mut doc, "managed");
        let subject = subject_kind(managed)
            .subject(Some(&managed.name), &doc)
            .unwrap();
        let sealed = mm.seal(&subject, &doc).await.unwrap();
        let cur = db
            .row("dbservice_entity", &managed.id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            db.compare_and_set(
                "dbservice_entity",
                "jsonb",
                &managed.id,
                &cur.json,
                &sealed.to_string(),
                || {}
            )
            .await
            .unwrap()
        );
        db.close().await;
        mm.reveal(&subject, &sealed, false).await.unwrap()
    });
    std::fs::write(&resume, "").unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    // Orphans (the deleted row's secrets) make the run fail, listed.
    assert_eq!(status.code(), Some(1), "{rest}");
    assert_eq!(total(&report, "reread"), 5, "{report}");
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{report}");
    assert_eq!(skipped[0]["id"], managed.id.as_str(), "{report}");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("changed by a writer in managed mode"),
        "{report}"
    );
    let orphans = report["orphans"].as_array().unwrap();
    assert!(!orphans.is_empty(), "{report}");
    for o in orphans {
        assert_eq!(o["row"], deleted.id.as_str(), "{o}");
        assert!(
            o["secretId"]
                .as_str()
                .unwrap()
                .starts_with(&format!("/openmetadata/database/{}/", deleted.name)),
            "{o}"
        );
    }
    assert!(rest.contains("orphan"), "{rest}");
    // Every row reveals its latest value: the writer's where it wrote.
    let m = manager_of(&om);
    let texts = fx.db.texts();
    assert!(!texts.contains_key(&deleted.id));
    block_on(async {
        for (r, expected) in fx.rows.iter().zip(&fx.expected) {
            if r.id == deleted.id {
                continue;
            }
            let stored: Value = serde_json::from_str(&texts[&r.id]).unwrap();
            let subject = subject_kind(r).subject(Some(&r.name), &stored).unwrap();
            let revealed = m.reveal(&subject, &stored, false).await.unwrap();
            let want = if r.id == managed.id {
                &managed_value
            } else {
                new_values.get(&r.id).unwrap_or(expected)
            };
            assert_eq!(&revealed, want, "{}", r.name);
        }
    });
}

/// Rows sealed with another key, a connector no plugin knows, a config
/// that is not an object: skipped with table, id and reason (no value),
/// left byte for byte; the others migrated; exit status 1.
fn undecryptable_and_malformed_rows_are_reported(kind: &'static str) {
    let shape = Shape {
        services: Some(30),
        others: false,
        odd_names_every: 0,
    };
    let key = key();
    let fx = load(kind, &shape, &key);
    // Bad rows, inserted beside the good ones.
    let other = FernetKeys::parse(&FernetKeys::generate_key()).unwrap();
    let mk = |n: usize, config: Value| {
        let id = format!("ffffffff-0000-4000-8000-{n:012x}");
        let doc = serde_json::json!({
            "id": id, "name": format!("bad-{n}"), "serviceType": "Mysql",
            "updatedAt": 1, "updatedBy": "admin", "deleted": false,
            "connection": {"config": config}
        });
        (
            SampleRow {
                table: "dbservice_entity",
                id,
                name: format!("bad-{n}"),
                kind: None,
                doc: doc.clone(),
            },
            doc,
        )
    };
    let bad = vec![
        mk(
            1,
            serde_json::json!({"type": "Mysql", "username": "u", "authType": {"password": other.encrypt("wrong-key-secret")}}),
        ),
        mk(
            2,
            serde_json::json!({"type": "Postgres", "username": "u", "authType": {"password": other.encrypt("wrong-key-secret-2")}}),
        ),
        mk(
            3,
            serde_json::json!({"type": "Mysql", "username": "u", "authType": {"password": {"x-plain": "x-plain"}}}),
        ),
        mk(4, serde_json::json!("not an object")),
    ];
    let (rows, docs): (Vec<SampleRow>, Vec<Value>) = bad.into_iter().unzip();
    block_on(sample::insert(&fx.db.url, &rows, &docs));
    let before = fx.db.texts();
    let om = om_local(&key);
    let run = migrate(&om, &fx.db.url, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let skipped: BTreeMap<String, String> = run.report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["table"], "dbservice_entity", "{s}");
            (
                s["id"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let ids: BTreeSet<String> = rows.iter().map(|r| r.id.clone()).collect();
    assert_eq!(
        skipped.keys().cloned().collect::<BTreeSet<_>>(),
        ids,
        "{}",
        run.report
    );
    assert!(
        skipped[&rows[0].id].contains("/connection/config/authType/password"),
        "{skipped:?}"
    );
    for (id, reason) in &skipped {
        assert!(
            !reason.contains("wrong-key") && !reason.contains("x-plain"),
            "{reason}"
        );
        assert_eq!(
            fx.db.texts()[id],
            before[id],
            "skipped row {id} was written"
        );
    }
    assert!(!run.stderr.contains("wrong-key") && !run.stderr.contains("x-plain"));
    let m = manager_of(&om);
    assert_eq!(total(&run.report, "migrated"), sealed_rows(&fx, &m) as u64);
    verify(&fx, &m, true);
}

/// Rotation: rows sealed with OLD (plain values in `db` mode, and references
/// migrated into the store) re-encrypted with NEW given as `NEW,OLD`; a
/// rerun changes nothing; then with NEW alone everything still reveals and
/// nothing is left for OLD.
fn rotation_then_the_old_key_is_dropped(kind: &'static str) {
    let shape = Shape {
        services: Some(40),
        ..Shape::default()
    };
    let old = key();
    let new = key();
    let fx = load(kind, &shape, &old);
    // Half of it migrated into the store first: references under OLD too.
    let om_old = om_local(&old);
    let run = migrate(
        &om_old,
        &fx.db.url,
        &["--only", "dbservice_entity,user_entity"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    let both = format!("{new},{old}");
    let om_both = Om {
        home: tempfile::tempdir().unwrap(),
        vars: vec![("FERNET_KEY".into(), both.clone())],
    };
    let r = run_db(&om_both, "rotate", &fx.db.url, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let with_tokens = fx
        .db
        .texts()
        .values()
        .filter(|t| t.contains("fernet:"))
        .count() as u64;
    assert_eq!(total(&r.report, "migrated"), with_tokens, "{}", r.report);
    assert!(total(&r.report, "secretsWritten") >= with_tokens);
    let again = run_db(&om_both, "rotate", &fx.db.url, &[]);
    assert_eq!(total(&again.report, "migrated"), 0, "{}", again.report);
    assert!(again.stderr.contains("nothing changed"), "{}", again.stderr);

    // OLD opens nothing any more; NEW alone rotates nothing and reveals all.
    let old_keys = FernetKeys::parse(&old).unwrap();
    for t in fx.db.texts().values() {
        let v: Value = serde_json::from_str(t).unwrap();
        for s in crate::util::strings(&v) {
            if s.starts_with("fernet:") {
                assert!(
                    old_keys.decrypt(s).is_err(),
                    "a token still under the old key"
                );
            }
        }
    }
    let om_new = Om {
        home: tempfile::tempdir().unwrap(),
        vars: vec![("FERNET_KEY".into(), new.clone())],
    };
    let alone = run_db(&om_new, "rotate", &fx.db.url, &[]);
    assert_eq!(alone.code, 0, "{}", alone.stderr);
    assert_eq!(total(&alone.report, "migrated"), 0);
    // The store written under OLD's run reveals with NEW (the store's own
    // encryption key is its own, not the Fernet key).
    let mut vars: Vec<(&str, String)> = vec![("FERNET_KEY", new.clone())];
    vars.push((
        "OM_SECRETS_HOME",
        om_old
            .home
            .path()
            .join("home")
            .to_string_lossy()
            .into_owned(),
    ));
    let m = manager(&vars);
    verify(
        &Fixture {
            db: TestDb {
                _server: fx.db._server.clone(),
                url: fx.db.url.clone(),
            },
            rows: fx.rows.clone(),
            expected: fx.expected.clone(),
            key: new.clone(),
            _home: tempfile::tempdir().unwrap(),
        },
        &m,
        false,
    );
}

/// `--only`, a table the database lacks, a resumed checkpoint, `--restart`.
fn only_missing_tables_and_checkpoints(kind: &'static str) {
    let shape = Shape {
        services: Some(40),
        ..Shape::default()
    };
    let fx = load(kind, &shape, &key());
    fx.db.exec("DROP TABLE mcp_service_entity");
    let om = om_local(&fx.key);
    let bad = migrate(
        &om,
        &fx.db.url,
        &["--only", "dbservice_entity,no_such_table"],
    );
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("`no_such_table`"), "{}", bad.stderr);
    assert!(om.store_ids().is_empty());

    // Not a managed mode: refused before anything is read.
    let db_mode = Om::new()
        .with("FERNET_KEY", &fx.key)
        .with("SECRET_MANAGER", "db");
    let r = migrate(&db_mode, &fx.db.url, &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("managed secretsManager"), "{}", r.stderr);
    // An unreachable database: the error names it without its password.
    let r = migrate(
        &om,
        "postgres://om:hunter2-pw@127.0.0.1:1/openmetadata_db",
        &[],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("postgres://127.0.0.1:1/openmetadata_db"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);

    let only = migrate(&om, &fx.db.url, &["--only", "dbservice_entity,user_entity"]);
    assert_eq!(only.code, 0, "{}", only.stderr);
    let tables: Vec<&str> = only.report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    assert_eq!(tables, ["dbservice_entity", "user_entity"]);

    // A run stopped after the first table's checkpoint: the rerun resumes
    // and does not redo it; --restart walks everything again.
    let all = migrate(&om, &fx.db.url, &[]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert_eq!(
        all.report["missingTables"],
        serde_json::json!(["mcp_service_entity"])
    );
    assert!(all.stderr.contains("mcp_service_entity"), "{}", all.stderr);
    assert!(!fx.db.texts().is_empty());
    let m = manager_of(&om);
    let mut fx2 = fx;
    // The dropped table's rows are gone from the expectations.
    let keep: Vec<usize> = (0..fx2.rows.len())
        .filter(|&i| fx2.rows[i].table != "mcp_service_entity")
        .collect();
    fx2.rows = keep.iter().map(|&i| fx2.rows[i].clone()).collect();
    fx2.expected = keep.iter().map(|&i| fx2.expected[i].clone()).collect();
    verify(&fx2, &m, true);
    let restart = migrate(&om, &fx2.db.url, &["--restart"]);
    assert_eq!(restart.code, 0);
    assert_eq!(total(&restart.report, "migrated"), 0);
    assert_eq!(restart.report["resumed"], false);
}

/// A run killed mid-way resumes from its checkpoint: finished tables are
/// not read again.
fn a_killed_run_resumes_from_its_checkpoint(kind: &'static str) {
    let shape = Shape {
        services: Some(40),
        ..Shape::default()
    };
    let fx = load(kind, &shape, &key());
    let om = om_local(&fx.key);
    // Killed when the service tables are done and user_entity is next.
    assert!(kill_when(
        &om,
        &fx.db.url,
        "4",
        ("OM_SECRETS_TEST_STALL_BEFORE_TABLE", "user_entity")
    ));
    let resumed = migrate(&om, &fx.db.url, &["--page-size", "4"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(resumed.report["resumed"], true, "{}", resumed.report);
    let first = &resumed.report["tables"][0];
    assert_eq!(first["table"], "dbservice_entity");
    assert_eq!(first["alreadyDone"], true, "{first}");
    assert_eq!(first["rowsRead"], 0, "{first}");
    let m = manager_of(&om);
    verify(&fx, &m, true);
}

/// kill -9 right after a page's store writes, then the row deleted before
/// the rerun: the secrets written for it are reported as orphans (the page
/// was journalled before the writes), the rest converges.
fn a_crash_then_a_deleted_row_reports_its_orphans(kind: &'static str) {
    let shape = Shape {
        services: Some(20),
        others: false,
        odd_names_every: 0,
    };
    let fx = load(kind, &shape, &key());
    let om = om_local(&fx.key);
    assert!(kill_at(&om, &fx.db.url, 1, "10"), "not stalled at step 1");
    // The first page's rows with secrets: their values are in the store.
    let victim = first_page_row_with_secrets(&fx, 10);
    let prefix = format!("/openmetadata/database/{}/", victim.name);
    let written: Vec<String> = om
        .store_ids()
        .into_iter()
        .filter(|i| i.starts_with(&prefix))
        .collect();
    assert!(!written.is_empty(), "nothing written for {}", victim.name);
    fx.db.exec(&format!(
        "DELETE FROM dbservice_entity WHERE id = '{}'",
        victim.id
    ));
    let run = migrate(&om, &fx.db.url, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.report["resumed"], true);
    let mut orphans: Vec<String> = run.report["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["row"], victim.id.as_str(), "{o}");
            o["secretId"].as_str().unwrap().to_string()
        })
        .collect();
    orphans.sort();
    let mut want = written.clone();
    want.sort();
    assert_eq!(orphans, want, "{}", run.report);
    assert_eq!(total(&run.report, "skipped"), 0);
    // The orphans are left in place (listed, not deleted); the rest migrated.
    for id in &want {
        assert!(om.store_ids().contains(id));
    }
    let mut fx = fx;
    let keep: Vec<usize> = (0..fx.rows.len())
        .filter(|&i| fx.rows[i].id != victim.id)
        .collect();
    fx.rows = keep.iter().map(|&i| fx.rows[i].clone()).collect();
    fx.expected = keep.iter().map(|&i| fx.expected[i].clone()).collect();
    let m = manager_of(&om);
    verify(&fx, &m, true);
    // Reported once: the next run is a clean full pass.
    let again = migrate(&om, &fx.db.url, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
}

/// Entities whose names lie outside `[a-z0-9_-]` holding references to
/// OpenMetadata's id for their name: moved to their own (hashed) id when no
/// other name of the table sanitises alike, reported as a collision when one
/// does.
fn openmetadata_era_ids_move_below_the_entity_root(kind: &'static str) {
    let shape = Shape {
        services: Some(5),
        others: false,
        odd_names_every: 0,
    };
    let key = key();
    let fx = load(kind, &shape, &key);
    let om = om_local(&key);
    let fernet = FernetKeys::parse(&key).unwrap();
    let m = manager_of(&om);
    let store = m.store().unwrap().clone();
    let mk = |n: usize, name: &str, password: String| {
        let id = format!("eeeeeeee-0000-4000-8000-{n:012x}");
        let doc = serde_json::json!({
            "id": id, "name": name, "serviceType": "Mysql",
            "updatedAt": 1, "updatedBy": "admin", "deleted": false,
            "connection": {"config": {"type": "Mysql", "username": "u", "hostPort": "h:3306",
                                      "authType": {"password": password}}}
        });
        (
            SampleRow {
                table: "dbservice_entity",
                id,
                name: name.into(),
                kind: Some(SubjectKind::Service("database".into())),
                doc: doc.clone(),
            },
            doc,
        )
    };
    let legacy = |n: &str| format!("secret:/openmetadata/database/{n}/authtype/password");
    block_on(async {
        store
            .put(
                "/openmetadata/database/orders_db/authtype/password",
                "legacy-orders-pw",
            )
            .await
            .unwrap();
        store
            .put(
                "/openmetadata/database/prod/authtype/password",
                "legacy-prod-pw",
            )
            .await
            .unwrap();
    });
    let rows = vec![
        mk(1, "Orders.DB", fernet.encrypt(&legacy("orders_db"))),
        mk(2, "PROD", fernet.encrypt(&legacy("prod"))),
        mk(3, "prod", fernet.encrypt("prod-own-pw")),
    ];
    let (rows, docs): (Vec<SampleRow>, Vec<Value>) = rows.into_iter().unzip();
    block_on(sample::insert(&fx.db.url, &rows, &docs));
    let before = fx.db.texts();

    let run = migrate(&om, &fx.db.url, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // PROD: a collision with prod, reported, row untouched.
    let skipped = run.report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{}", run.report);
    assert_eq!(skipped[0]["id"], rows[1].id.as_str());
    let reason = skipped[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("another entity of the table shares"),
        "{reason}"
    );
    assert!(
        reason.contains("/openmetadata/database/prod/authtype/password"),
        "{reason}"
    );
    assert_eq!(fx.db.texts()[&rows[1].id], before[&rows[1].id]);
    // Orders.DB: moved to its own id, read back, revealed.
    let moved = run.report["moved"].as_array().unwrap();
    assert_eq!(moved.len(), 1, "{}", run.report);
    assert_eq!(
        moved[0]["from"],
        "/openmetadata/database/orders_db/authtype/password"
    );
    let to = moved[0]["to"].as_str().unwrap();
    assert!(
        to.starts_with("/openmetadata/database/orders_db.") && to.ends_with("/authtype/password"),
        "{to}"
    );
    let m = manager_of(&om);
    let reveal = |r: &SampleRow| {
        let stored: Value = serde_json::from_str(&fx.db.texts()[&r.id]).unwrap();
        let subject = subject_kind(r).subject(Some(&r.name), &stored).unwrap();
        let stored_ref = fernet
            .decrypt(
                stored
                    .pointer("/connection/config/authType/password")
                    .unwrap()
                    .as_str()
                    .unwrap(),
            )
            .unwrap()
            .to_string();
        let revealed = block_on(m.reveal(&subject, &stored, false)).unwrap();
        (
            stored_ref,
            revealed
                .pointer("/connection/config/authType/password")
                .unwrap()
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    let (stored_ref, value) = reveal(&rows[0]);
    assert_eq!(stored_ref, format!("secret:{to}"));
    assert_eq!(value, "legacy-orders-pw");
    let (stored_ref, value) = reveal(&rows[2]);
    assert_eq!(
        stored_ref,
        legacy("prod"),
        "prod's own id is OpenMetadata's"
    );
    assert_eq!(value, "prod-own-pw");
    // The rest of the database migrated as usual.
    verify(&fx, &m, true);
    // A rerun: nothing more moves; PROD is still reported.
    let again = migrate(&om, &fx.db.url, &[]);
    assert_eq!(again.code, 1);
    assert_eq!(total(&again.report, "migrated"), 0, "{}", again.report);
    assert!(again.report["moved"].as_array().unwrap().is_empty());
}

/// Every `secret-r…` string of `doc` replaced by `<prefix>-<n>-<old>` (`n`
/// counting from 1 in document order): new values a writer stores.
fn new_secret_values(doc: &mut Value, prefix: &str) {
    fn bump(v: &mut Value, prefix: &str, n: &mut usize) {
        match v {
            Value::String(s) if s.starts_with("secret-r") => {
                *n += 1;
                *s = format!("{prefix}-{n}-{s}");
            }
            Value::Array(a) => a.iter_mut().for_each(|x| bump(x, prefix, n)),
            Value::Object(m) => m.values_mut().for_each(|x| bump(x, prefix, n)),
            _ => {}
        }
    }
    bump(doc, prefix, &mut 0);
}

/// The first row, in id order, among the first `page` rows of the fixture
/// that holds a secret (`secret-r…`) value.
pub(crate) fn first_page_row_with_secrets(fx: &Fixture, page: usize) -> SampleRow {
    let mut first: Vec<&SampleRow> = fx.rows.iter().collect();
    first.sort_by(|a, b| a.id.cmp(&b.id));
    first[..page]
        .iter()
        .find(|r| {
            crate::util::strings(&r.doc)
                .iter()
                .any(|v| v.starts_with("secret-r"))
        })
        .map(|r| (*r).clone())
        .expect("a row with secrets in the first page")
}

/// Runs each named `fn(&str)` once per database engine: a `postgres` and a
/// `mariadb` test module with one `#[test]` a name (also used by
/// `migrate_attacks`).
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $( #[test] fn $name() { super::$name("postgres") } )*
        }
        mod mariadb {
            $( #[test] fn $name() { super::$name("mariadb") } )*
        }
    };
}
pub(crate) use on_both;

on_both!(
    full_migration_into_the_embedded_store,
    migration_into_openbao,
    kill_9_at_seeded_points_then_rerun_converges,
    a_concurrent_writer_loses_nothing,
    undecryptable_and_malformed_rows_are_reported,
    rotation_then_the_old_key_is_dropped,
    only_missing_tables_and_checkpoints,
    a_killed_run_resumes_from_its_checkpoint,
    openmetadata_era_ids_move_below_the_entity_root,
    a_crash_then_a_deleted_row_reports_its_orphans,
);
