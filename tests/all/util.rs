//! Shared helpers: run the CLI in an isolated data directory, read the
//! embedded store, start real servers.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Environment variables that configure om-secrets: never inherited by a test.
const CONFIG_VARS: &[&str] = &[
    "SECRET_MANAGER",
    "SECRET_MANAGER_PREFIX",
    "SECRET_MANAGER_TAGS",
    "FERNET_KEY",
    "OPENMETADATA_CLUSTER_NAME",
    "OM_SECRETS_HOME",
    "OM_SECRETS_PLUGINS",
    "OM_SECRETS_CACHE",
    "OM_SECRETS_LOG",
    "OM_SECRETS_MIGRATE_ON_START",
    "OM_SM_REGION",
    "OM_SM_ACCESS_KEY_ID",
    "OM_SM_ACCESS_KEY",
    "OM_SM_ENDPOINT_URL",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_NAMESPACE",
    "OM_SM_VAULT_MOUNT",
    "OM_SM_VAULT_KV_VERSION",
    "OM_SM_VAULT_ROLE_ID",
    "OM_SM_VAULT_SECRET_ID",
    "OM_SM_CACHE_TTL_SECONDS",
    "OM_SM_WRITES_PER_SECOND",
    "OM_SM_RETRY_MAX_SECONDS",
    "OM_SM_TIMEOUT_SECONDS",
];

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A component cache shared by all tests (compiling 13 plugins per test would
/// dominate the suite).
pub fn shared_cache() -> PathBuf {
    repo().join("target").join("test-cache")
}

/// One isolated om-secrets installation: its own data directory and env.
pub struct Om {
    pub home: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

/// What a CLI run gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "om-secrets failed: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// An error as the README promises it: exit status 1, nothing on
    /// stdout; the error text (stderr) for the caller to check.
    pub fn err(&self) -> &str {
        self.failed_with(1)
    }

    /// A command-line usage error (unknown option, missing argument): clap's
    /// exit status 2, nothing on stdout.
    pub fn usage_err(&self) -> &str {
        self.failed_with(2)
    }

    fn failed_with(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "expected exit status {code}; stdout: {}; stderr: {}",
            self.stdout, self.stderr
        );
        assert!(
            self.stdout.is_empty(),
            "a failure printed to stdout: {}",
            self.stdout
        );
        &self.stderr
    }
}

impl Om {
    /// The embedded default (managed-local) in a fresh data directory.
    pub fn new() -> Self {
        Om {
            home: tempfile::tempdir().unwrap(),
            vars: Vec::new(),
        }
    }

    /// Set a variable for every run.
    pub fn with(mut self, k: &str, v: &str) -> Self {
        self.vars.push((k.into(), v.into()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_om-secrets"));
        c.args(args).current_dir(self.home.path());
        for v in CONFIG_VARS {
            c.env_remove(v);
        }
        c.env("OM_SECRETS_HOME", self.home.path().join("home"));
        c.env("OM_SECRETS_CACHE", shared_cache());
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    /// Run with `stdin` as input.
    pub fn run(&self, args: &[&str], stdin: &str) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = feed(self.command(args), stdin);
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
        }
    }

    /// Run with a JSON document on stdin and parse stdout.
    pub fn json(&self, args: &[&str], doc: &Value) -> Value {
        self.run(args, &doc.to_string()).json()
    }

    /// Path inside the data directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.home.path().join("home").join(rel)
    }

    /// Ids in the embedded store (empty if it was never written).
    pub fn store_ids(&self) -> Vec<String> {
        match std::fs::read_to_string(self.path("store/secrets.json")) {
            Ok(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                v["secrets"].as_object().unwrap().keys().cloned().collect()
            }
            Err(_) => Vec::new(),
        }
    }

    /// The raw bytes of the store file (to prove nothing was written).
    pub fn store_bytes(&self) -> Option<Vec<u8>> {
        std::fs::read(self.path("store/secrets.json")).ok()
    }
}

/// Every string anywhere in a JSON document.
pub fn strings(v: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

/// Assert that no string of `doc` contains `secret`.
pub fn assert_absent(doc: &Value, secret: &str) {
    for s in strings(doc) {
        assert!(!s.contains(secret), "secret value found in {doc}");
    }
}

/// Run `tests/servers/servers.sh` with arguments; stdout on success.
pub fn servers(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(repo().join("tests/servers/servers.sh"))
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

/// Run a command with `stdin` as its input, capturing its output.
pub fn feed(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    // Written from a thread: a command that answers as it reads (`--batch`)
    // would otherwise block on a full stdout pipe while we block on stdin.
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        // A command that exits early closes the pipe: not the test's error.
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// The project's Python (with cryptography, boto3, …), running `code`.
pub fn python(code: &str, stdin: &str) -> String {
    servers(&["install"]);
    let py = servers(&["env"])
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("PYTHON=").map(String::from))
        .expect("servers.sh env prints PYTHON=");
    let mut cmd = Command::new(py);
    cmd.args(["-c", code]);
    let out = feed(cmd, stdin);
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The plaintext of the sealed (`fernet:`) value at `pointer`, with `key`.
pub fn unseal(key: &str, v: &Value, pointer: &str) -> String {
    let token = v
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"));
    assert!(
        token.starts_with("fernet:"),
        "{pointer} is not sealed: {token}"
    );
    om_secrets::fernet::FernetKeys::parse(key)
        .unwrap()
        .decrypt(token)
        .unwrap()
        .to_string()
}

/// The built-in plugins, loaded as the CLI loads them (home in a temp dir that
/// the caller keeps alive, compiled components in the cache shared by the tests).
pub fn builtin_plugins() -> (
    tempfile::TempDir,
    std::sync::Arc<om_secrets::plugin::Plugins>,
) {
    use om_secrets::config::{FileConfig, Settings};
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_string_lossy().into_owned();
    let cache = shared_cache().to_string_lossy().into_owned();
    let settings = Settings::resolve(FileConfig::default(), |k| match k {
        "OM_SECRETS_HOME" => Some(home_path.clone()),
        "OM_SECRETS_CACHE" => Some(cache.clone()),
        _ => None,
    })
    .unwrap();
    let plugins = om_secrets::ops::load_plugins(&settings)
        .unwrap_or_else(|e| panic!("loading the plugins: {e}"));
    (home, std::sync::Arc::new(plugins))
}
