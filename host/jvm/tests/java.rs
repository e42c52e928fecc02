//! The JVM binding from a real JVM: `cargo test -p om-secrets-jvm`.
//!
//! Cargo builds this crate's `cdylib` before its integration tests; this
//! harness then assembles the jar around it (`target/<profile>/om-secrets-jvm.jar`,
//! see [`packaging`]), compiles the Java tests with the machine's `javac
//! --release 17`, starts a real OpenBao through `tests/servers/servers.sh`,
//! computes the stored forms the CLI gives for the shared fixtures (with the
//! library calls the CLI makes), and runs the JUnit 5 suite with the console
//! launcher of Debian's `junit5` package (installed with apt-get if missing).
//! The launcher's exit status and its summary counts are asserted; its whole
//! output is printed, so a failing Java test shows in `cargo test`'s output.
//!
//! A second test runs the README's ten-line program twice: from the jar alone
//! (the native library extracted from it), and from the classes with the
//! library on `java.library.path`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use om_secrets::SecretsManager;
use om_secrets::config::{FileConfig, Settings};
use om_secrets::ops::SubjectKind;
use om_secrets_jvm::packaging::{self, java_files, javac, repo_dir, test_sources};
use serde_json::{Value, json};

/// The Fernet key the parity fixtures are sealed with (both sides).
const KEY: &str = "jJ4-iIi4Fj4cZpMk8hBgY0cxuJrYHAnP6y3bKCOXJ0w=";

const JUNIT: &str = "/usr/share/java/junit-platform-console-standalone.jar";

struct Built {
    jar: PathBuf,
    test_classes: PathBuf,
    junit: PathBuf,
}

/// The jar and the compiled tests, built once per process.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    BUILT.get_or_init(|| {
        let profile = packaging::profile_dir();
        let jar = packaging::build_jar(&profile).unwrap_or_else(|e| panic!("{e}"));
        let junit = junit();
        let test_classes = profile.join("om-secrets-jvm/test-classes");
        javac(
            &java_files(&test_sources()),
            &[jar.clone(), junit.clone()],
            &test_classes,
            false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Built {
            jar,
            test_classes,
            junit,
        }
    })
}

/// Debian's JUnit 5 console launcher, installed if missing.
fn junit() -> PathBuf {
    let path = PathBuf::from(JUNIT);
    if !path.is_file() {
        eprintln!("installing Debian's junit5 (apt-get install -y junit5)");
        let ok = |c: &mut Command| {
            c.env("DEBIAN_FRONTEND", "noninteractive")
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(Command::new("apt-get").args(["install", "-y", "-q", "junit5"])) {
            ok(Command::new("apt-get").args(["update", "-q"]));
            ok(Command::new("apt-get").args(["install", "-y", "-q", "junit5"]));
        }
    }
    assert!(
        path.is_file(),
        "{JUNIT} is missing and `apt-get install junit5` failed: install Debian's junit5 package"
    );
    path
}

/// A server started by servers.sh, stopped on drop.
struct Vault {
    pid: String,
    addr: String,
    token: String,
}

fn servers(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(repo_dir().join("tests/servers/servers.sh"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run servers.sh");
    assert!(
        out.status.success(),
        "servers.sh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl Vault {
    fn start() -> Vault {
        let out = servers(&["start", "vault"]);
        let line = out.lines().last().expect("servers.sh prints a line");
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("no {k}= in {line}"))
                .to_string()
        };
        Vault {
            pid: field("PID"),
            addr: field("ADDR"),
            token: field("TOKEN"),
        }
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_dir().join("tests/servers/servers.sh"))
            .args(["stop", &self.pid])
            .stdin(Stdio::null())
            .output();
    }
}

fn fixtures() -> Value {
    let path = packaging::crate_dir().join("java/src/test/resources/fixtures.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn cache_dir() -> PathBuf {
    repo_dir().join("target/test-cache")
}

/// What the CLI stores and shows for every fixture, in `db` and
/// `managed-local` mode: the library calls `om-secrets seal|reveal
/// --keep-references|mask|fields` make (the subject built by
/// [`SubjectKind::subject`], as the CLI's `Target::subject`).
fn cli_forms(work: &Path) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut out = serde_json::Map::new();
    for mode in ["db", "managed-local"] {
        let home = work
            .join(format!("cli-{mode}"))
            .to_string_lossy()
            .into_owned();
        let cache = cache_dir().to_string_lossy().into_owned();
        let settings = Settings::resolve(FileConfig::default(), |k| match k {
            "SECRET_MANAGER" => Some(mode.to_string()),
            "FERNET_KEY" => Some(KEY.to_string()),
            "OM_SECRETS_HOME" => Some(home.clone()),
            "OM_SECRETS_CACHE" => Some(cache.clone()),
            _ => None,
        })
        .unwrap();
        let m = rt
            .block_on(SecretsManager::from_settings(&settings))
            .unwrap();
        let mut cases = serde_json::Map::new();
        for (case, f) in fixtures().as_object().unwrap() {
            let s = &f["subject"];
            let name = s["name"].as_str();
            let kind = match s["kind"].as_str().unwrap() {
                "service" => SubjectKind::Service(s["serviceType"].as_str().unwrap().into()),
                "bot" => SubjectKind::Bot,
                "pipeline" => SubjectKind::Pipeline,
                _ => SubjectKind::Workflow,
            };
            let doc = &f["document"];
            let subject = kind.subject(name, doc).unwrap();
            let sealed = rt.block_on(m.seal_update(&subject, None, doc)).unwrap();
            let revealed = rt.block_on(m.reveal(&subject, &sealed, true)).unwrap();
            cases.insert(
                case.clone(),
                json!({
                    "sealed": sealed,
                    "revealed": revealed,
                    "masked": m.mask(&subject, &sealed).unwrap(),
                    "fields": m.fields(&subject, doc).unwrap(),
                }),
            );
        }
        out.insert(mode.into(), Value::Object(cases));
    }
    Value::Object(out)
}

/// A `java` command with a clean environment (no OpenMetadata variables of
/// the caller's), run in `work` (where the embedded default keeps
/// `.om-secrets`), compiled plugins cached where the Rust tests cache them.
fn java(work: &Path) -> Command {
    let mut cmd = Command::new("java");
    cmd.env_clear();
    for k in ["PATH", "HOME", "LANG", "JAVA_HOME", "TMPDIR"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    cmd.env("OM_SECRETS_CACHE", cache_dir())
        .current_dir(work)
        .stdin(Stdio::null());
    cmd
}

/// The launcher's summary count of `what` (`tests successful`…).
fn count(output: &str, what: &str) -> Option<u64> {
    output.lines().find_map(|l| {
        let l = l
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim();
        l.strip_suffix(what)?.trim().parse().ok()
    })
}

#[test]
fn junit_suite() {
    let b = built();
    let work = tempfile::tempdir().unwrap();
    let expected = work.path().join("cli-forms.json");
    std::fs::write(&expected, cli_forms(work.path()).to_string()).unwrap();
    let vault = Vault::start();
    let started = std::time::Instant::now();
    let classpath = std::env::join_paths([b.jar.as_path(), b.test_classes.as_path()]).unwrap();
    let out = java(work.path())
        .arg("-Xmx1g")
        .arg(format!("-Dom.test.work={}", work.path().display()))
        .arg(format!(
            "-Dom.test.fixtures={}",
            packaging::crate_dir()
                .join("java/src/test/resources/fixtures.json")
                .display()
        ))
        .arg(format!("-Dom.test.expected={}", expected.display()))
        .arg(format!("-Dom.test.fernetKey={KEY}"))
        .arg(format!("-Dom.test.cache={}", cache_dir().display()))
        .arg(format!("-Dom.test.vault.addr={}", vault.addr))
        .arg(format!("-Dom.test.vault.token={}", vault.token))
        // 100,000 calls take ~40 s of one core in a debug build (a plugin call
        // is ~0.4 ms there, ~0.03 ms optimised): scaled down unless optimised.
        .arg(format!(
            "-Dom.test.rssCalls={}",
            if cfg!(debug_assertions) {
                30_000
            } else {
                100_000
            }
        ))
        .arg("-jar")
        .arg(&b.junit)
        .arg("--class-path")
        .arg(&classpath)
        .args([
            "--select-package",
            "org.openmetadata.secrets.wasm",
            // Needs a database: run by migrate_on_start_in_the_jvm.
            "--exclude-classname",
            ".*MigrateOnStartTest",
            "--details=tree",
            "--disable-banner",
            "--disable-ansi-colors",
            "--fail-if-no-tests",
        ])
        .output()
        .expect("run java");
    drop(vault);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    let log = b.test_classes.with_file_name("junit-output.txt");
    let _ = std::fs::write(&log, format!("{stdout}\n{stderr}"));
    println!("JUnit run: {:.1} s", started.elapsed().as_secs_f64());
    let found = count(&stdout, "tests found").expect("the launcher's summary");
    let ok = count(&stdout, "tests successful").unwrap_or(0);
    let failed = count(&stdout, "tests failed").unwrap_or(0);
    let aborted = count(&stdout, "tests aborted").unwrap_or(0);
    for l in stdout.lines().filter(|l| l.contains("[measure]")) {
        println!("{}", l.trim());
    }
    println!("java: {ok} passed, {failed} failed (of {found}; {aborted} aborted)");
    assert!(
        out.status.success() && failed == 0 && aborted == 0,
        "the Java suite failed ({}): {failed} failed, {aborted} aborted",
        out.status
    );
    assert!(
        found >= 30 && ok == found,
        "{ok} of {found} Java tests passed"
    );
}

/// The README's program, run from the jar alone and from java.library.path.
#[test]
fn readme_example_runs_from_the_jar_and_from_the_library_path() {
    let b = built();
    let work = tempfile::tempdir().unwrap();
    let profile = packaging::profile_dir();
    // From the jar: the native library is extracted from it.
    let cp = std::env::join_paths([b.jar.as_path(), b.test_classes.as_path()]).unwrap();
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("run java");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let from_jar = run(java(work.path())
        .arg("-Dom.test.printSource=true")
        .arg("-cp")
        .arg(&cp)
        .arg("ExampleRun"));
    check_example(&from_jar, "jar");
    // From java.library.path: the classes without the jar's copy; the
    // directory of this build's library (a test build leaves it in deps/).
    let native = packaging::native_library(&profile).unwrap();
    let native_dir = native.parent().unwrap();
    let classes = profile.join("om-secrets-jvm/classes-only");
    javac(&java_files(&packaging::main_sources()), &[], &classes, true).unwrap();
    let cp = std::env::join_paths([classes.as_path(), b.test_classes.as_path()]).unwrap();
    let from_path = run(java(work.path())
        .arg("-Dom.test.printSource=true")
        .arg(format!("-Djava.library.path={}", native_dir.display()))
        .arg("-cp")
        .arg(&cp)
        .arg("ExampleRun"));
    check_example(&from_path, "java.library.path");
    // The embedded default kept the secret in its store, under the home.
    assert!(work.path().join(".om-secrets/store/secrets.json").is_file());
}

fn check_example(stdout: &str, source: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.contains(&format!("native library from: {source}").as_str()),
        "{stdout}"
    );
    let json = |prefix: &str| -> Value {
        let l = lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in {stdout}"));
        serde_json::from_str(l).unwrap()
    };
    let stored = json("stored: ");
    assert!(
        stored["authType"]["password"]
            .as_str()
            .unwrap()
            .starts_with("fernet:"),
        "{stored}"
    );
    assert!(!json("stored: ").to_string().contains("my-s3cret"));
    assert_eq!(json("masked: ")["authType"]["password"], "*********");
    assert_eq!(json("revealed: ")["authType"]["password"], "my-s3cret");
}

#[path = "../../../tests/all/migrate_sample.rs"]
mod sample;

/// A PostgreSQL started by databases.sh (its `openmetadata_db` with
/// OpenMetadata's tables), stopped on drop.
struct Postgres {
    pid: String,
    url: String,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_dir().join("tests/servers/databases.sh"))
            .args(["stop", &self.pid])
            .stdin(Stdio::null())
            .output();
    }
}

/// `migrateOnStart` from the JVM (`MigrateOnStartTest`): a real PostgreSQL
/// filled with a dozen service rows sealed in `db` mode (the rows of
/// `tests/all/migrate_sample.rs`); the Java test opens a managed-local
/// instance with `migrateOnStart`, reads the rows back with psql and
/// reveals them.
#[test]
fn migrate_on_start_in_the_jvm() {
    let b = built();
    let work = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(repo_dir().join("tests/servers/databases.sh"))
        .args(["start", "postgres"])
        .stdin(Stdio::null())
        .output()
        .expect("run databases.sh");
    assert!(
        out.status.success(),
        "databases.sh start postgres: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {k}= in {line}"))
            .to_string()
    };
    let pg = Postgres {
        pid: field("PID"),
        url: field("URL"),
    };
    // The rows, sealed in db mode with the suite's key, inserted.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let home = work.path().join("db-mode").to_string_lossy().into_owned();
    let cache = cache_dir().to_string_lossy().into_owned();
    let settings = Settings::resolve(FileConfig::default(), |k| match k {
        "SECRET_MANAGER" => Some("db".to_string()),
        "FERNET_KEY" => Some(KEY.to_string()),
        "OM_SECRETS_HOME" => Some(home.clone()),
        "OM_SECRETS_CACHE" => Some(cache.clone()),
        _ => None,
    })
    .unwrap();
    let m = rt
        .block_on(SecretsManager::from_settings(&settings))
        .unwrap();
    let shape = sample::Shape {
        services: Some(12),
        others: false,
        odd_names_every: 0,
    };
    let rows = sample::corpus(&repo_dir(), &shape);
    let stored = rt.block_on(sample::seal(&m, &rows));
    rt.block_on(sample::create_tables(&repo_dir(), &pg.url));
    rt.block_on(sample::insert(&pg.url, &rows, &stored));
    let mut with_secrets = Vec::new();
    for (r, s) in rows.iter().zip(&stored) {
        let Some(SubjectKind::Service(st)) = &r.kind else {
            continue;
        };
        let subject = SubjectKind::Service(st.clone())
            .subject(Some(&r.name), s)
            .unwrap();
        let expected = rt.block_on(m.reveal(&subject, s, false)).unwrap();
        if expected.to_string().contains("\"secret-r") {
            with_secrets.push(json!({
                "table": r.table, "id": r.id, "name": r.name,
                "serviceType": st, "expected": expected,
            }));
        }
    }
    // A row sealed with another key, for the Java test to insert later.
    let other =
        om_secrets::fernet::FernetKeys::parse(&om_secrets::fernet::FernetKeys::generate_key())
            .unwrap();
    let bad_id = "ffffffff-0000-4000-8000-0000000000b1";
    let bad = json!({
        "id": bad_id, "name": "bad-1", "serviceType": "Mysql",
        "updatedAt": 1, "updatedBy": "admin", "deleted": false,
        "connection": {"config": {"type": "Mysql", "username": "u",
            "authType": {"password": other.encrypt("wrong-key-secret")}}}
    });
    let input = work.path().join("migrate-rows.json");
    std::fs::write(
        &input,
        json!({
            "rows": with_secrets,
            "badRowId": bad_id,
            "badRowSql": format!(
                "INSERT INTO dbservice_entity (json, namehash) VALUES ('{}'::jsonb, 'bad-1-hash')",
                bad.to_string().replace('\'', "''")
            ),
        })
        .to_string(),
    )
    .unwrap();
    let classpath = std::env::join_paths([b.jar.as_path(), b.test_classes.as_path()]).unwrap();
    let out = java(work.path())
        .arg(format!("-Dom.test.work={}", work.path().display()))
        .arg(format!("-Dom.test.fernetKey={KEY}"))
        .arg(format!("-Dom.test.migrate.url={}", pg.url))
        .arg(format!("-Dom.test.migrate.rows={}", input.display()))
        .arg("-jar")
        .arg(&b.junit)
        .arg("--class-path")
        .arg(&classpath)
        .args([
            "--select-class",
            "org.openmetadata.secrets.wasm.MigrateOnStartTest",
            "--details=tree",
            "--disable-banner",
            "--disable-ansi-colors",
            "--fail-if-no-tests",
        ])
        .output()
        .expect("run java");
    drop(pg);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    let ok = count(&stdout, "tests successful").unwrap_or(0);
    assert!(
        out.status.success() && ok == 1,
        "MigrateOnStartTest failed ({}): {ok} passed",
        out.status
    );
    // The progress and the summary went to stderr, without the password or
    // a secret value.
    assert!(
        stderr.contains("migrateOnStart: migrate: "),
        "no summary on stderr: {stderr}"
    );
    let pw = {
        let rest = field("URL");
        let auth = rest
            .split_once("://")
            .unwrap()
            .1
            .rsplit_once('@')
            .unwrap()
            .0
            .to_string();
        auth.split_once(':').unwrap().1.to_string()
    };
    assert!(!stderr.contains(&pw) && !stdout.contains(&pw));
    assert!(!stderr.contains("wrong-key-secret") && !stderr.contains("secret-r1-"));
}
