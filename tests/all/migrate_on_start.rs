//! `migrateOnStart`: the real `om-secrets serve` (managed-local) migrating a
//! real PostgreSQL (started by `tests/servers/databases.sh`, OpenMetadata's
//! tables filled with rows sealed in `db` mode, as in `migrate.rs`) before
//! it turns ready.
//!
//! The migration is paused by the migrate module's test hook
//! (`OM_SECRETS_TEST_STALL_AT_STEP` + `OM_SECRETS_TEST_RESUME_FILE`) so
//! that `/readyz` and `/v1` are seen answering 503 while it runs; then 200,
//! every row holding encrypted references, every secret revealed through
//! the server equal to the row's original. A database that cannot be
//! reached, an unclean report (`requireClean`), and a non-managed mode stop
//! the server with an error naming `migrateOnStart`, never the password.

use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use om_secrets::fernet::FernetKeys;
use om_secrets::ops::SubjectKind;
use serde_json::{Value, json};

use crate::kms_common::{assert_not_in, block_on, unique};
use crate::migrate::sample::{self, SampleRow, Shape};
use crate::migrate::{Fixture, key, load, manager_of, verify};
use crate::serve_util::{Spawned, exit_within, http_within, spawn_serve, wait_listening};
use crate::util::Om;

/// A few dozen rows: every service type's first variants, no others.
fn shape() -> Shape {
    Shape {
        services: Some(24),
        others: false,
        odd_names_every: 10,
    }
}

/// The password of a database URL (`scheme://user:password@…`).
fn password(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let auth = rest.rsplit_once('@').unwrap().0;
    auth.split_once(':').unwrap().1.to_string()
}

/// One JSON request (`Value::Null`: no body) with a bearer token or none:
/// status, body.
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, String) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    let r = http_within(
        addr,
        method,
        path,
        &headers,
        body.as_bytes(),
        Duration::from_secs(60),
    );
    (r.status, r.body)
}

/// `om-secrets serve` as a child process, its output in files.
struct Serve {
    om: Om,
    child: Child,
    err: PathBuf,
    addr: Option<String>,
}

impl Serve {
    /// Start `serve` on a free port with `config` (a file's text) if any.
    fn start(om: Om, config: Option<&str>) -> Serve {
        let Spawned { child, err, .. } = spawn_serve(&om, config, "serve");
        Serve {
            om,
            child,
            err,
            addr: None,
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Wait until stderr holds `what` (or the process exits: its status).
    fn wait_for(&mut self, what: &str, limit: Duration) -> Result<(), ExitStatus> {
        let t0 = Instant::now();
        loop {
            if self.logs().contains(what) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                // The line may have been written just before the exit.
                if self.logs().contains(what) {
                    return Ok(());
                }
                return Err(status);
            }
            assert!(
                t0.elapsed() < limit,
                "no `{what}` within {limit:?}: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address it listens on.
    fn addr(&mut self) -> String {
        if self.addr.is_none() {
            let a = wait_listening(&mut self.child, &self.err, Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("{e}"));
            self.addr = Some(a);
        }
        self.addr.clone().unwrap()
    }

    fn get(&mut self, path: &str) -> (u16, String) {
        let addr = self.addr();
        http(&addr, "GET", path, None, &Value::Null)
    }

    /// Poll `/readyz` until 200 (panics if the process exits first).
    fn wait_ready(&mut self, limit: Duration) {
        let t0 = Instant::now();
        while self.get("/readyz").0 != 200 {
            if let Some(s) = self.child.try_wait().unwrap() {
                panic!("serve exited ({s}): {}", self.logs());
            }
            assert!(t0.elapsed() < limit, "never ready: {}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The exit status, within `limit`.
    fn exit(&mut self, limit: Duration) -> ExitStatus {
        exit_within(&mut self.child, limit)
            .unwrap_or_else(|| panic!("serve still running after {limit:?}: {}", self.logs()))
    }

    /// Stop it; its installation (home, store, variables) back.
    fn stop(mut self) -> Om {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.om, Om::new())
    }

    /// The admin API key the server made in its home.
    fn admin_key(&self) -> String {
        std::fs::read_to_string(self.om.path("admin-api.key"))
            .unwrap()
            .trim()
            .to_string()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The route of a row's entity (`/v1/services/database/<name>`…).
fn route(r: &SampleRow) -> String {
    match r.kind.as_ref().expect("a sealed row") {
        SubjectKind::Service(st) => format!("/v1/services/{st}/{}", r.name),
        SubjectKind::Bot => format!("/v1/bots/{}", r.name),
        SubjectKind::Pipeline => format!("/v1/pipelines/{}", r.name),
        SubjectKind::Workflow => format!("/v1/workflows/{}", r.name),
    }
}

/// Every secret string of the fixture's rows (none may reach a log).
fn secret_values(fx: &Fixture) -> Vec<String> {
    fx.expected
        .iter()
        .flat_map(|e| crate::util::strings(e).into_iter().map(str::to_string))
        .filter(|s| s.starts_with("secret-r"))
        .collect()
}

/// The managed-local server of a fixture, its FERNET_KEY that of the rows.
fn om_for(fx: &Fixture) -> Om {
    Om::new().with("FERNET_KEY", &fx.key)
}

#[test]
fn serve_migrates_before_it_turns_ready() {
    let key = key();
    let fx = load("postgres", &shape(), &key);
    let om = om_for(&fx);
    let resume = om.home.path().join("resume");
    // Pause after the first page's store writes (no row rewritten yet).
    let om = om
        .with("OM_SECRETS_MIGRATE_ON_START", &fx.db.url)
        .with("OM_SECRETS_TEST_STALL_AT_STEP", "1")
        .with("OM_SECRETS_TEST_RESUME_FILE", resume.to_str().unwrap());
    let mut s = Serve::start(om, None);
    s.wait_for("paused at step 1", Duration::from_secs(120))
        .unwrap_or_else(|st| panic!("serve exited ({st}): {}", s.logs()));
    // Running: alive, not ready, and /v1 refuses.
    assert_eq!(s.get("/healthz").0, 200);
    let (status, body) = s.get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("start-up tasks"), "{body}");
    let token = s.admin_key();
    let addr = s.addr();
    let row = fx.rows.iter().find(|r| r.kind.is_some()).unwrap();
    let (status, body) = http(
        &addr,
        "POST",
        &format!("{}/mask", route(row)),
        Some(&token),
        &json!({"document": fx.expected[0]}),
    );
    assert_eq!(status, 503, "{body}");
    // Go on: ready once the migration has finished.
    std::fs::write(&resume, "").unwrap();
    s.wait_ready(Duration::from_secs(180));
    let logs = s.logs();
    assert!(
        logs.contains("migrateOnStart: dbservice_entity:")
            && logs.contains("migrateOnStart: migrate: "),
        "progress and summary lines: {logs}"
    );
    // Every row moved into the store and reveals its original values
    // (through the library over the server's store)…
    let m = manager_of(&s.om);
    verify(&fx, &m, true);
    // …and through the server.
    let texts = fx.db.texts();
    let keys = FernetKeys::parse(&key).unwrap();
    let mut revealed = 0;
    for (r, expected) in fx.rows.iter().zip(&fx.expected) {
        let stored: Value = serde_json::from_str(&texts[&r.id]).unwrap();
        let refs: Vec<String> = crate::util::strings(&stored)
            .into_iter()
            .filter(|v| v.starts_with("fernet:"))
            .map(|v| keys.decrypt(v).unwrap().to_string())
            .collect();
        if refs.is_empty() {
            continue;
        }
        assert!(
            refs.iter()
                .all(|p| p.is_empty() || p.starts_with("secret:/")),
            "{} {}: {refs:?}",
            r.table,
            r.name
        );
        let (status, body) = http(
            &addr,
            "POST",
            &format!("{}/reveal", route(r)),
            Some(&token),
            &json!({"document": stored}),
        );
        assert_eq!(status, 200, "{} {}: {body}", r.table, r.name);
        let got: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(&got["document"], expected, "{} {}", r.table, r.name);
        revealed += 1;
    }
    assert!(revealed >= 15, "only {revealed} rows held secrets");
    // Nothing of the password or of a secret in the server's output.
    let mut values = secret_values(&fx);
    values.push(password(&fx.db.url));
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    assert_not_in(&s.logs(), &values, "the server's output");
}

/// Two replicas at once on one database and one store: the second waits
/// for the first's lock (not ready meanwhile, still running), then runs
/// its own (idempotent) pass and turns ready.
#[test]
fn a_second_replica_waits_for_the_first() {
    let key = key();
    let mut shape = shape();
    shape.services = Some(12);
    let fx = load("postgres", &shape, &key);
    let om = om_for(&fx);
    let home = om.path("");
    let resume = om.home.path().join("resume");
    let om = om
        .with("OM_SECRETS_MIGRATE_ON_START", &fx.db.url)
        .with("OM_SECRETS_TEST_STALL_AT_STEP", "1")
        .with("OM_SECRETS_TEST_RESUME_FILE", resume.to_str().unwrap());
    let mut a = Serve::start(om, None);
    a.wait_for("paused at step 1", Duration::from_secs(120))
        .unwrap_or_else(|st| panic!("serve exited ({st}): {}", a.logs()));
    // The second replica: the same store, the same database.
    let om_b = Om::new()
        .with("FERNET_KEY", &key)
        .with("OM_SECRETS_HOME", home.to_str().unwrap())
        .with("OM_SECRETS_MIGRATE_ON_START", &fx.db.url);
    let mut b = Serve::start(om_b, None);
    b.wait_for(
        "another migration is running on postgres://",
        Duration::from_secs(120),
    )
    .unwrap_or_else(|st| panic!("serve exited ({st}): {}", b.logs()));
    assert_eq!(b.get("/readyz").0, 503);
    assert_eq!(a.get("/readyz").0, 503);
    assert!(b.child.try_wait().unwrap().is_none(), "{}", b.logs());
    std::fs::write(&resume, "").unwrap();
    a.wait_ready(Duration::from_secs(180));
    b.wait_ready(Duration::from_secs(180));
    assert!(
        b.logs().contains("migrateOnStart: migrate: ") && b.logs().contains("nothing changed"),
        "the second pass rewrote nothing: {}",
        b.logs()
    );
    verify(&fx, &manager_of(&a.om), true);
    assert_not_in(&b.logs(), &[&password(&fx.db.url)], "the server's output");
}

#[test]
fn an_unreachable_database_stops_serve() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pw = format!("pw-{}", unique("x"));
    let url = format!("postgres://om:{pw}@127.0.0.1:{port}/openmetadata_db");
    let om = Om::new()
        .with("FERNET_KEY", &key())
        .with("OM_SECRETS_MIGRATE_ON_START", &url);
    let mut s = Serve::start(om, None);
    // One direct connection first: the refusal stops serve at once, with
    // the server's own reason (not a pool timeout 30 s later).
    let status = s.exit(Duration::from_secs(20));
    let logs = s.logs();
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(
        logs.contains(
            "error: start-up task failed: migrateOnStart: database postgres://127.0.0.1:"
        ),
        "{logs}"
    );
    assert!(logs.contains("refused"), "{logs}");
    assert!(!logs.contains("timed out"), "{logs}");
    assert_not_in(&logs, &[&pw], "the server's output");
}

#[test]
fn a_non_managed_mode_is_refused_before_serving() {
    let url = "postgres://om:hunter2-nm@127.0.0.1:1/openmetadata_db";
    for mode in ["db", "local"] {
        let om = Om::new()
            .with("FERNET_KEY", &key())
            .with("SECRET_MANAGER", mode);
        let mut s = Serve::start(om, Some(&format!("migrateOnStart: {url}\n")));
        let status = s.exit(Duration::from_secs(30));
        let logs = s.logs();
        assert_eq!(status.code(), Some(1), "{logs}");
        assert!(
            logs.contains("migrateOnStart") && logs.contains("needs a managed secretsManager"),
            "{logs}"
        );
        assert!(!logs.contains("listening on"), "{logs}");
        assert_not_in(&logs, &["hunter2-nm"], "the server's output");
    }
}

/// A row sealed with another key: with `requireClean` (the default) the
/// server stops naming the row; with `requireClean: false` it serves, the
/// other rows migrated, the bad row left as it was.
#[test]
fn an_unclean_report_stops_serve_unless_require_clean_is_false() {
    let key = key();
    let mut shape = shape();
    shape.services = Some(12);
    let fx = load("postgres", &shape, &key);
    let other = FernetKeys::parse(&FernetKeys::generate_key()).unwrap();
    let id = "ffffffff-0000-4000-8000-00000000000b".to_string();
    let doc = json!({
        "id": id, "name": "bad-1", "serviceType": "Mysql",
        "updatedAt": 1, "updatedBy": "admin", "deleted": false,
        "connection": {"config": {"type": "Mysql", "username": "u",
            "authType": {"password": other.encrypt("wrong-key-secret")}}}
    });
    let bad = SampleRow {
        table: "dbservice_entity",
        id: id.clone(),
        name: "bad-1".into(),
        kind: None,
        doc: doc.clone(),
    };
    block_on(sample::insert(&fx.db.url, &[bad], &[doc]));
    let before = fx.db.texts()[&id].clone();
    let pw = password(&fx.db.url);

    let om = om_for(&fx).with("OM_SECRETS_MIGRATE_ON_START", &fx.db.url);
    let mut s = Serve::start(om, None);
    let status = s.exit(Duration::from_secs(180));
    let logs = s.logs();
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(
        logs.contains("error: start-up task failed: migrateOnStart: the migration of postgres://")
            && logs.contains("1 skipped rows")
            && logs.contains("requireClean: true")
            && logs.contains(&format!("skipped dbservice_entity {id}: ")),
        "{logs}"
    );
    assert_not_in(&logs, &[&pw, "wrong-key-secret"], "the server's output");
    // The good rows were migrated all the same (each committed on its own).
    let m = manager_of(&s.om);
    verify(&fx, &m, true);
    let om = s.stop();

    // requireClean: false serves, and logs the row (the URL still from
    // the variable, which overrides the file's).
    let config = "migrateOnStart:\n  url: 'postgres://nobody@127.0.0.1:1/not_this_one'\n  requireClean: false\n";
    let mut s = Serve::start(om, Some(config));
    s.wait_ready(Duration::from_secs(180));
    let logs = s.logs();
    assert!(
        logs.contains(&format!("migrateOnStart: skipped dbservice_entity {id}: "))
            && logs.contains("serving anyway (requireClean: false)"),
        "{logs}"
    );
    assert_not_in(&logs, &[&pw, "wrong-key-secret"], "the server's output");
    assert_eq!(fx.db.texts()[&id], before, "the skipped row was written");
    let m = manager_of(&s.om);
    verify(&fx, &m, true);
}
