//! Every connector variant, three arms in one run: what `fields`, `mask` and
//! `seal` cost through the sandboxed plugins, through the same policy compiled
//! natively, and what OpenMetadata 2.0.7's own Python masking of the same
//! configs costs.
//!
//! ```sh
//! cargo bench -p om-secrets --bench corpus
//! ```
//!
//! The corpus is the example configs of `tools/om-connectors-2.0.7.json`
//! (what `tests/all/connectors.rs` checks): every variant of every connector
//! of every service type, plus the bot and ingestion-pipeline examples, each
//! in the document the CLI is given (a service's config alone; a bot `User`,
//! an `IngestionPipeline` around its config).
//!
//! - **sandboxed**: [`SecretsManager::fields`], [`SecretsManager::mask`] and
//!   [`SecretsManager::seal`] (`db` mode, no I/O, fixed key) through the
//!   built-in wasm plugins, loaded as the CLI loads them.
//! - **native**: the same steps with the plugins' rule tables compiled into
//!   this binary (the guest SDK's discovery run in-process, over the config's
//!   JSON text as the guest receives it), then the same host-side answer
//!   check ([`check::check_routed`]), ids, scope check, masking and sealing as
//!   the library, so the two arms differ only by the sandbox. Both arms must
//!   give the same fields, the same masked documents and sealed documents that
//!   open to the same values before anything is timed.
//! - **python**: `Model.model_validate(config)` +
//!   `model_dump_json(context={"mask_secrets": True})` with OpenMetadata's
//!   generated model of each config, in one Python process timing itself
//!   (`tools/bench/om_mask.py`; the venv comes from `tools/bench/venv.sh`:
//!   `openmetadata-ingestion==2.0.7.0` without its dependencies, plus
//!   pydantic). OpenMetadata has no sealing in Python: its masking is the
//!   figure both ratios divide. Configs the models reject are listed and left
//!   out of every arm's figures. If the venv cannot be made, the Python arm
//!   is reported missing and the other two still run.
//!
//! Each config is timed `OM_BENCH_REPS` times (default 15) in each arm,
//! interleaved; a config's time is the median of its samples; the figures are
//! the mean and the median of those over the corpus. Also: a batch (1,000
//! configs of one type in a loop, sandbox overhead per config over native),
//! and the start-up of all built-in plugins, first (compiling them into an
//! empty component cache) and from the cache; and the *floor*: `fields` of a
//! config holding only its type, sandboxed and native, which is what a
//! sandboxed call costs whatever the config holds (a fresh instance, its
//! memory reset, the call). Numbers, never assertions: under `cargo test`
//! only the arms' agreement is checked, nothing is timed.
//!
//! Only OpenMetadata's generated models are imported, never its ingestion
//! framework; the entity-name transform every validation runs imports two
//! framework classes (the profiler's, which needs SQLAlchemy), so the script
//! stands them in, as a full install would find them: that is the Python
//! figure the ratios divide. The issue's own set-up (a `--no-deps` install
//! without the stand-ins) is run second and reported on its own line: there
//! every validation fails that import and logs, which is slower than a real
//! install and not what OpenMetadata pays.
//!
//! Environment: `OM_BENCH_REPS`, `OM_BENCH_PY_REPS` (default 15),
//! `OM_BENCH_PYTHON` (an interpreter to use instead of the venv's),
//! `OM_BENCH_NO_PYTHON=1` (skip arm 3), `OM_BENCH_PY_STUBS=0` (the first
//! Python run without the stand-ins too), `OM_BENCH_PY_NO_DEPS=0` (skip the
//! second Python run), `OM_BENCH_FILTER` (substring of the config ids
//! `<type>/<Connector>#<variant>` to keep).

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use om_secrets::config::{FileConfig, Settings};
use om_secrets::fernet::{FernetKeys, PREFIX};
use om_secrets::ops::{Backend, BatchItem, SubjectKind, load_plugins};
use om_secrets::plugin::Limits;
use om_secrets::plugin::Plugins;
use om_secrets::plugin::check::{self, Treatment};
use om_secrets::secret_id::{IdBuilder, REFERENCE_PREFIX};
use om_secrets::{Field, MASK, SecretsManager, Subject};
use serde_json::{Value, json};

#[path = "support/connectors.rs"]
mod connectors;

const KEY: &str = "jJ4-iIi4Fj4cZpMk8hBgY0cxuJrYHAnP6y3bKCOXJ0w=";

// ---------------------------------------------------------------- corpus

/// One example config, in the document the CLI would be given.
struct Case {
    /// `<table>/<Connector>#<variant>`.
    id: String,
    subject: Subject,
    doc: Value,
    /// The bare config (what the Python model validates).
    config: Value,
    /// The manifest's model (module path of the pydantic class).
    model: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn corpus() -> Vec<Case> {
    let m = connectors::manifest(&repo());
    let mut out: Vec<Case> = connectors::variants(&m)
        .iter()
        .map(|v| {
            let name = v.name();
            let subject = match v.table {
                "bot" => Subject::bot(Some(&name)),
                "ingestion" => Subject::pipeline(Some(&name)),
                st => Subject::service(st, Some(&name)).unwrap(),
            };
            assert_eq!(subject.config_pointer, v.pointer, "{}", v.table);
            Case {
                id: v.id(),
                doc: v.doc(),
                config: v.config.clone(),
                model: v.connector["model"].as_str().unwrap().to_string(),
                subject,
            }
        })
        .collect();
    if let Ok(f) = std::env::var("OM_BENCH_FILTER") {
        out.retain(|c| c.id.contains(&f));
    }
    out
}

// ---------------------------------------------------------------- native arm

type Answer = Vec<(String, Vec<String>, Treatment)>;

/// The policy of service type `st`, compiled natively: the plugin crate's
/// rule table, run by the guest SDK on the config's JSON text (what the guest
/// receives), its answer in the host's terms.
fn native_discover(st: &str, connector_type: &str, text: &str) -> Result<Answer, String> {
    macro_rules! tables {
        ($($name:literal => $krate:ident),* $(,)?) => {
            match st {
                $($name => $krate::RULES.discover(connector_type, text),)*
                other => return Err(format!("no native table for service type `{other}`")),
            }
        };
    }
    let found = tables! {
        "api" => om_secrets_plugin_api,
        "bot" => om_secrets_plugin_bot,
        "dashboard" => om_secrets_plugin_dashboard,
        "database" => om_secrets_plugin_database,
        "drive" => om_secrets_plugin_drive,
        "ingestion" => om_secrets_plugin_ingestion,
        "llm" => om_secrets_plugin_llm,
        "mcp" => om_secrets_plugin_mcp,
        "messaging" => om_secrets_plugin_messaging,
        "metadata" => om_secrets_plugin_metadata,
        "mlmodel" => om_secrets_plugin_mlmodel,
        "pipeline" => om_secrets_plugin_pipeline,
        "search" => om_secrets_plugin_search,
        "security" => om_secrets_plugin_security,
        "storage" => om_secrets_plugin_storage,
    }
    .map_err(|e| e.to_string())?;
    Ok(found
        .into_iter()
        .map(|f| {
            let t = match f.treatment {
                om_secrets_guest::Treatment::Secret => Treatment::Secret,
                om_secrets_guest::Treatment::Sensitive => Treatment::Sensitive,
            };
            (f.pointer, f.segments, t)
        })
        .collect())
}

/// The native twin of `SecretsManager`'s `db`-mode `fields`, `mask` and
/// `seal`: the library's steps, with native discovery in place of the
/// sandboxed call.
struct Native<'a> {
    sm: &'a SecretsManager,
    ids: IdBuilder,
    keys: FernetKeys,
    limits: Limits,
}

impl Native<'_> {
    /// Discovery of the config alone, checked: `LoadedPlugin::discover_by`.
    fn discover(
        &self,
        subject: &Subject,
        config: &Value,
    ) -> Result<Vec<check::CheckedField>, String> {
        let ctype = match subject.default_type(config) {
            Some(t) => t,
            None => config
                .get(&subject.type_key)
                .and_then(Value::as_str)
                .ok_or("no connector type")?,
        };
        let text = zeroize::Zeroizing::new(config.to_string());
        if text.len() > self.limits.max_input_bytes {
            return Err("input too large".into());
        }
        let answer = native_discover(&subject.service_type, ctype, &text)?;
        check::check_routed(config, &subject.type_key, answer, self.limits.max_fields)
            .map_err(|e| e.to_string())
    }

    /// `SecretsManager::fields` (its `locate`).
    fn fields(&self, subject: &Subject, doc: &Value) -> Result<Vec<Field>, String> {
        if !doc.is_object() {
            return Err("not an object".into());
        }
        let at = &subject.config_pointer;
        let config = match doc.pointer(at) {
            Some(Value::Null) | None if subject.optional => return Ok(Vec::new()),
            Some(c) => c,
            None => return Err("no config".into()),
        };
        let checked = self.discover(subject, config)?;
        let scope = subject.name.as_ref().map(|_| self.sm.scope(subject));
        let mut fields: Vec<Field> = Vec::with_capacity(checked.len());
        let mut by_id: HashMap<String, usize> = HashMap::with_capacity(checked.len());
        for c in checked {
            let pointer = format!("{at}{}", c.pointer);
            let mut segments = subject.id_segments.clone();
            segments.extend(c.segments);
            let secret_id = match &subject.name {
                Some(name) => self.ids.id(&subject.kind, name, &segments),
                None => segments.join("/"),
            };
            if let Some(scope) = &scope
                && !scope.contains(&secret_id)
            {
                return Err(format!("{pointer}: out of scope"));
            }
            if by_id.contains_key(&secret_id) {
                return Err(format!("{pointer}: shared id"));
            }
            by_id.insert(secret_id.clone(), fields.len());
            fields.push(Field {
                pointer,
                secret_id,
                treatment: c.treatment,
            });
        }
        Ok(fields)
    }

    /// `SecretsManager::mask`: native discovery, then the library's own
    /// masking of the fields found.
    fn mask(&self, subject: &Subject, doc: &Value) -> Result<Value, String> {
        let fields = self.fields(subject, doc)?;
        Ok(om_secrets::ops::mask_fields(subject, doc, &fields))
    }

    /// `SecretsManager::seal` in `db` mode, for what the corpus holds (plain
    /// strings; a token stays, a mask or structured value is refused).
    fn seal(&self, subject: &Subject, doc: &Value) -> Result<Value, String> {
        if subject.name.as_deref().is_none_or(str::is_empty) {
            return Err("needs a name".into());
        }
        let mut out = doc.clone();
        subject.drop_unstored(&mut out);
        if has_mask(&out) {
            return Err("holds the mask".into());
        }
        let fields = self.fields(subject, doc)?;
        for f in fields.iter().filter(|f| f.treatment == Treatment::Secret) {
            match doc.pointer(&f.pointer) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => match s.as_str() {
                    "" => {}
                    "null" => set(&mut out, &f.pointer, Value::Null),
                    s if s.starts_with(PREFIX) => {}
                    s if s.starts_with(REFERENCE_PREFIX) => {
                        return Err("references are not in the corpus".into());
                    }
                    s => {
                        let v = zeroize::Zeroizing::new(s.to_string());
                        set(&mut out, &f.pointer, Value::String(self.keys.encrypt(&v)));
                    }
                },
                Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                    let v = zeroize::Zeroizing::new(v.to_string());
                    set(&mut out, &f.pointer, Value::String(self.keys.encrypt(&v)));
                }
                Some(_) => return Err(format!("{}: structured", f.pointer)),
            }
        }
        Ok(out)
    }
}

fn set(doc: &mut Value, pointer: &str, v: Value) {
    if let Some(slot) = doc.pointer_mut(pointer) {
        *slot = v;
    }
}

/// Whether any string is the mask (the library also builds its pointer).
fn has_mask(v: &Value) -> bool {
    match v {
        Value::String(s) => s == MASK,
        Value::Array(a) => a.iter().any(has_mask),
        Value::Object(m) => m.values().any(has_mask),
        _ => false,
    }
}

/// A sealed document with every token opened, to compare two sealings.
fn opened(keys: &FernetKeys, v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with(PREFIX) => {
            Value::String(format!("opened:{}", &*keys.decrypt(s).unwrap()))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| opened(keys, x)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), opened(keys, x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------- python arm

#[derive(Default)]
struct Python {
    /// Per config id: median warm ns, and the first (cold) call.
    times: HashMap<String, (f64, f64)>,
    /// Configs the models rejected: (id, error).
    rejected: Vec<(String, String)>,
    /// Interpreter and pydantic versions.
    about: String,
    /// Whether the two framework classes were stood in for.
    stubs: bool,
}

/// The venv's interpreter (made by `tools/bench/venv.sh`), or why not.
fn python_interpreter() -> Result<String, String> {
    if let Ok(p) = std::env::var("OM_BENCH_PYTHON") {
        return Ok(p);
    }
    let script = repo().join("tools/bench/venv.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed ({})", script.display(), out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Arm 3 in one Python process. `stubs`: stand in for the two framework
/// classes (`Some(true)`), leave them out (`Some(false)`: a `--no-deps`
/// install's behaviour), or as `OM_BENCH_PY_STUBS` says (`None`).
fn run_python(cases: &[Case], reps: usize, stubs: Option<bool>) -> Result<Python, String> {
    let py = python_interpreter()?;
    let input = json!({
        "iterations": reps,
        "configs": cases.iter().map(|c| json!({"id": c.id, "model": c.model, "config": c.config})).collect::<Vec<_>>(),
    });
    let script = repo().join("tools/bench/om_mask.py");
    let mut cmd = Command::new(&py);
    if let Some(stubs) = stubs {
        cmd.env("OM_BENCH_PY_STUBS", if stubs { "1" } else { "0" });
    }
    let mut child = cmd
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{py}: {e}"))?;
    let mut stdin = child.stdin.take().unwrap();
    let feed = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(input.to_string().as_bytes())
    });
    let out = child.wait_with_output().map_err(|e| format!("{py}: {e}"))?;
    feed.join()
        .unwrap()
        .map_err(|e| format!("feeding {py}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{} exited with {}", script.display(), out.status));
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("its output: {e}"))?;
    let mut py = Python {
        stubs: v["stubs"].as_bool() != Some(false),
        about: format!(
            "Python {}, pydantic {}, OM_PYDANTIC_DEFER_BUILD={}, {}",
            v["python"].as_str().unwrap_or("?"),
            v["pydantic"].as_str().unwrap_or("?"),
            v["defer_build"].as_str().unwrap_or("?"),
            if v["stubs"].as_bool() == Some(false) {
                "OM_BENCH_PY_STUBS=0: every validation fails an import of the profiler"
            } else {
                "the profiler's and entity-link's classes stood in for"
            }
        ),
        ..Python::default()
    };
    for r in v["results"].as_array().into_iter().flatten() {
        let id = r["id"].as_str().unwrap_or_default().to_string();
        if r["ok"].as_bool() == Some(true) {
            let mut ns: Vec<f64> = r["ns"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_f64)
                .collect();
            let first = r["first_ns"].as_f64().unwrap_or(f64::NAN);
            py.times.insert(id, (median(&mut ns), first));
        } else {
            py.rejected
                .push((id, r["error"].as_str().unwrap_or("?").to_string()));
        }
    }
    Ok(py)
}

// ---------------------------------------------------------------- timing

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn time<T>(f: impl FnOnce() -> T) -> f64 {
    let t0 = Instant::now();
    black_box(f());
    t0.elapsed().as_nanos() as f64
}

/// `fields` of each of `docs` in a loop, sandboxed then native, three times:
/// per arm, the ns per call of each run.
fn fields_loop(
    sm: &SecretsManager,
    native: &Native<'_>,
    subject: &Subject,
    docs: &[&Value],
) -> (Vec<f64>, Vec<f64>) {
    let per_call = |f: &dyn Fn(&Value)| {
        time(|| {
            for d in docs {
                f(d);
            }
        }) / docs.len() as f64
    };
    let mut runs = (Vec::new(), Vec::new());
    for _ in 0..3 {
        runs.0.push(per_call(&|d| {
            black_box(sm.fields(subject, d).unwrap());
        }));
        runs.1.push(per_call(&|d| {
            black_box(native.fields(subject, d).unwrap());
        }));
    }
    runs
}

/// Both arms on every config: the same fields, the same masked document,
/// sealed documents that open to the same values. Panics with every config
/// where they differ; returns the number of secret fields found.
fn agree(
    cases: &[Case],
    sm: &SecretsManager,
    native: &Native<'_>,
    rt: &tokio::runtime::Runtime,
) -> usize {
    let mut secret_fields = 0;
    let mut disagree = Vec::new();
    for c in cases {
        let sf = sm.fields(&c.subject, &c.doc).map_err(|e| e.to_string());
        let nf = native.fields(&c.subject, &c.doc);
        match (&sf, &nf) {
            (Ok(a), Ok(b)) if a == b => secret_fields += a.len(),
            _ => disagree.push(format!("{}: fields {sf:?} vs {nf:?}", c.id)),
        }
        let sm_mask = sm.mask(&c.subject, &c.doc).map_err(|e| e.to_string());
        if sm_mask != native.mask(&c.subject, &c.doc) {
            disagree.push(format!("{}: mask", c.id));
        }
        let a = rt
            .block_on(sm.seal(&c.subject, &c.doc))
            .map_err(|e| e.to_string());
        let b = native.seal(&c.subject, &c.doc);
        match (a, b) {
            (Ok(a), Ok(b)) if opened(&native.keys, &a) == opened(&native.keys, &b) => {}
            (a, b) => disagree.push(format!(
                "{}: seal {:?} vs {:?}",
                c.id,
                a.map(|_| "ok"),
                b.map(|_| "ok")
            )),
        }
    }
    assert!(
        disagree.is_empty(),
        "the sandboxed and native arms disagree on {} configs:\n{}",
        disagree.len(),
        disagree.join("\n")
    );
    secret_fields
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The measured operations, per arm.
const OPS: [&str; 8] = [
    "discover (plugin call + check)",
    "discover native",
    "fields",
    "fields native",
    "mask",
    "mask native",
    "seal (db)",
    "seal (db) native",
];

fn settings(home: &Path, cache: &Path) -> Settings {
    let home = home.to_string_lossy().into_owned();
    let cache = cache.to_string_lossy().into_owned();
    Settings::resolve(FileConfig::default(), |k| match k {
        "OM_SECRETS_HOME" => Some(home.clone()),
        "OM_SECRETS_CACHE" => Some(cache.clone()),
        _ => None,
    })
    .unwrap()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn us(ns: f64) -> String {
    format!("{:.1} µs", ns / 1e3)
}

/// The sandboxed arm: `db` mode with the bench's fixed key, over `plugins`.
fn sandboxed(plugins: Arc<Plugins>) -> SecretsManager {
    SecretsManager::new(
        Backend::Db,
        FernetKeys::parse(KEY).unwrap(),
        IdBuilder::new("", "openmetadata"),
        plugins,
    )
}

impl<'a> Native<'a> {
    /// The native arm beside the sandboxed `sm`: the same ids, key and limits.
    fn beside(sm: &'a SecretsManager) -> Self {
        Native {
            sm,
            ids: IdBuilder::new("", "openmetadata"),
            keys: FernetKeys::parse(KEY).unwrap(),
            limits: Limits::default(),
        }
    }
}

/// The runtime the arms' async `seal` runs on.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Under `cargo test` (no `--bench`): nothing is timed; only the check every
/// run makes first, so that a change that breaks the corpus, the native arm
/// or a plugin fails the suite rather than the next person's benchmark run.
fn check_only() {
    let cases = corpus();
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(&tmp.path().join("home"), &repo().join("target/test-cache"));
    let plugins = Arc::new(load_plugins(&s).unwrap_or_else(|e| panic!("loading the plugins: {e}")));
    let sm = sandboxed(plugins);
    let native = Native::beside(&sm);
    let rt = runtime();
    let fields = agree(&cases, &sm, &native, &rt);
    assert!(
        !cases.is_empty() && fields > 0,
        "{} configs, {fields} secret fields: the corpus lost its configs or their secrets",
        cases.len()
    );
    println!(
        "corpus: the sandboxed and native arms agree on all {} configs ({fields} secret fields); \
         time them with `cargo bench -p om-secrets --bench corpus`",
        cases.len()
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return check_only();
    }
    let reps = env_usize("OM_BENCH_REPS", 15).max(1);
    let py_reps = env_usize("OM_BENCH_PY_REPS", 15).max(1);
    let cases = corpus();
    println!(
        "om-secrets corpus bench: {} configs from tools/om-connectors-2.0.7.json, {reps} samples per config and arm",
        cases.len()
    );

    // Start-up: every built-in plugin, first into an empty component cache
    // (compiling each), then from the cache.
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let cache = tmp.path().join("cache");
    let s = settings(&home, &cache);
    let t0 = Instant::now();
    let first = load_plugins(&s).unwrap_or_else(|e| panic!("loading the plugins: {e}"));
    let first_start = t0.elapsed();
    let builtin = first.infos().count();
    drop(first);
    let mut cold = Vec::new();
    let mut plugins = None;
    for _ in 0..9 {
        let t0 = Instant::now();
        let p = load_plugins(&s).unwrap();
        cold.push(t0.elapsed().as_secs_f64() * 1e3);
        plugins = Some(p);
    }
    let plugins: Arc<Plugins> = Arc::new(plugins.unwrap());
    let sm = sandboxed(plugins.clone());
    let native = Native::beside(&sm);
    let rt = runtime();

    // Both arms agree on every config before anything is timed.
    let secret_fields = agree(&cases, &sm, &native, &rt);

    // Arms 1 and 2, interleaved per config and repetition.
    let mut samples: Vec<Vec<Vec<f64>>> =
        vec![vec![Vec::with_capacity(reps); OPS.len()]; cases.len()];
    let mut parse = vec![Vec::with_capacity(reps); cases.len()];
    for _ in 0..reps {
        for (i, c) in cases.iter().enumerate() {
            let s = &mut samples[i];
            let config = c.doc.pointer(&c.subject.config_pointer).unwrap();
            let text = config.to_string();
            parse[i].push(time(|| serde_json::from_str::<Value>(&text).unwrap()));
            let ctype = c
                .subject
                .default_type(config)
                .or_else(|| config.get(&c.subject.type_key).and_then(Value::as_str))
                .unwrap();
            s[0].push(time(|| {
                plugins
                    .route(&c.subject.service_type, ctype)
                    .and_then(|p| Ok(p.discover_by(&c.subject.type_key, ctype, config)?))
                    .unwrap()
            }));
            s[1].push(time(|| native.discover(&c.subject, config).unwrap()));
            s[2].push(time(|| sm.fields(&c.subject, &c.doc).unwrap()));
            s[3].push(time(|| native.fields(&c.subject, &c.doc).unwrap()));
            s[4].push(time(|| sm.mask(&c.subject, &c.doc).unwrap()));
            s[5].push(time(|| native.mask(&c.subject, &c.doc).unwrap()));
            s[6].push(time(|| rt.block_on(sm.seal(&c.subject, &c.doc)).unwrap()));
            s[7].push(time(|| native.seal(&c.subject, &c.doc).unwrap()));
        }
    }

    // Batch: 1,000 configs of one type in a loop (a list endpoint, a
    // migration), `fields` per config, sandboxed then native, three rounds.
    let batch_case = cases
        .iter()
        .find(|c| c.id == "database/Mysql#0")
        .unwrap_or(&cases[0]);
    let batch_docs: Vec<Value> = (0..1000)
        .map(|i| {
            let mut d = batch_case.doc.clone();
            if let Some(Value::String(s)) = d.pointer_mut("/authType/password") {
                *s = format!("secret-{i}");
            }
            d
        })
        .collect();
    let mut batch = fields_loop(
        &sm,
        &native,
        &batch_case.subject,
        &batch_docs.iter().collect::<Vec<_>>(),
    );

    // The same 1,000 through the library's batch operation (one call).
    let kind = SubjectKind::Service(batch_case.subject.service_type.clone());
    let items: Vec<BatchItem> = batch_docs
        .iter()
        .enumerate()
        .map(|(i, d)| BatchItem::named(format!("mysql-{i}"), d.clone()))
        .collect();
    let mut library_batch = Vec::new();
    for _ in 0..3 {
        library_batch.push(
            time(|| {
                let out = rt.block_on(sm.fields_batch(&kind, &items));
                assert!(out.iter().all(Result::is_ok));
                out
            }) / 1000.0,
        );
    }

    // The floor: what a sandboxed call costs whatever the config holds. The
    // batch config's type alone (no field to parse, walk or answer), both arms.
    let ctype = batch_case.doc[&batch_case.subject.type_key].clone();
    let bare = json!({ batch_case.subject.type_key.as_str(): ctype });
    let mut floor = fields_loop(&sm, &native, &batch_case.subject, &[&bare; 1000]);

    // Arm 3: OpenMetadata's Python with a full install's behaviour (the
    // profiler's classes stood in for), then as the issue set it up (a
    // `--no-deps` install, where every validation fails that import and logs).
    let no_python = std::env::var("OM_BENCH_NO_PYTHON").is_ok_and(|v| v == "1");
    let python = if no_python {
        Err("skipped (OM_BENCH_NO_PYTHON=1)".to_string())
    } else {
        run_python(&cases, py_reps, None)
    };
    let python_no_deps = match &python {
        Ok(p) if p.stubs && !std::env::var("OM_BENCH_PY_NO_DEPS").is_ok_and(|v| v == "0") => {
            Some(run_python(&cases, py_reps, Some(false)))
        }
        _ => None,
    };

    // Per config: the median of its samples. Configs the Python models
    // rejected are left out of every arm.
    let kept: Vec<usize> = (0..cases.len())
        .filter(|&i| match &python {
            Ok(p) => p.times.contains_key(&cases[i].id),
            Err(_) => true,
        })
        .collect();
    let per_config = |op: usize| -> Vec<f64> {
        kept.iter()
            .map(|&i| median(&mut samples[i][op].clone()))
            .collect()
    };
    let stats = |mut v: Vec<f64>| -> (f64, f64) {
        let m = mean(&v);
        (m, median(&mut v))
    };

    println!();
    println!(
        "corpus: {} configs kept ({} connectors' variants + bot/ingestion), {secret_fields} secret fields found in all {} configs",
        kept.len(),
        cases
            .iter()
            .filter(|c| c.subject.config_pointer.is_empty())
            .count(),
        cases.len()
    );
    match &python {
        Ok(p) if !p.rejected.is_empty() => {
            println!(
                "rejected by OpenMetadata's models ({}), left out of every arm:",
                p.rejected.len()
            );
            for (id, e) in &p.rejected {
                println!("  {id}: {e}");
            }
        }
        Ok(_) => println!("every config validates with OpenMetadata's models"),
        Err(e) => println!("python arm: NOT RUN: {e}"),
    }
    println!();
    println!(
        "per config (a config's time is the median of its samples): mean / median over the corpus"
    );
    let mut figures = HashMap::new();
    for (op, name) in OPS.iter().enumerate() {
        let (m, med) = stats(per_config(op));
        figures.insert(*name, m);
        println!("  {name:<32} {:>10} / {:>10}", us(m), us(med));
    }
    let (pm, pmed) = stats(
        kept.iter()
            .map(|&i| median(&mut parse[i].clone()))
            .collect(),
    );
    println!(
        "  {:<32} {:>10} / {:>10}",
        "(parse the config's JSON text)",
        us(pm),
        us(pmed)
    );
    let py_mean = match &python {
        Ok(p) => {
            let warm: Vec<f64> = kept.iter().map(|&i| p.times[&cases[i].id].0).collect();
            let cold: Vec<f64> = kept.iter().map(|&i| p.times[&cases[i].id].1).collect();
            let services: Vec<f64> = kept
                .iter()
                .filter(|&&i| cases[i].subject.config_pointer.is_empty())
                .map(|&i| p.times[&cases[i].id].0)
                .collect();
            let (m, med) = stats(warm);
            let (sm_, smed) = stats(services);
            let (cm, cmed) = stats(cold);
            println!(
                "  {:<32} {:>10} / {:>10}",
                "python mask (validate + dump)",
                us(m),
                us(med)
            );
            println!(
                "  {:<32} {:>10} / {:>10}",
                "  services only",
                us(sm_),
                us(smed)
            );
            println!(
                "  {:<32} {:>10} / {:>10}",
                "  first call (schema build)",
                us(cm),
                us(cmed)
            );
            println!("  ({})", p.about);
            Some(m)
        }
        Err(_) => None,
    };

    // Where the time goes: the slowest configs through the sandbox.
    let fields_of = per_config(2);
    let native_of = per_config(3);
    let mut slowest: Vec<usize> = (0..kept.len()).collect();
    slowest.sort_by(|&a, &b| fields_of[b].total_cmp(&fields_of[a]));
    println!("  slowest `fields` (sandboxed / native / python):");
    for &k in slowest.iter().take(5) {
        let id = &cases[kept[k]].id;
        let py = match &python {
            Ok(p) => us(p.times[id].0),
            Err(_) => "-".into(),
        };
        println!(
            "    {id:<30} {:>10} / {:>10} / {:>10}",
            us(fields_of[k]),
            us(native_of[k]),
            py
        );
    }

    println!();
    println!("ratios (of the means):");
    if let Some(py) = py_mean {
        println!(
            "  python mask / sandboxed mask     {:>7.1}×   (target ≥ 50)",
            py / figures["mask"]
        );
        println!(
            "  python mask / sandboxed fields   {:>7.1}×   (target ≥ 50)",
            py / figures["fields"]
        );
        println!(
            "  python mask / sandboxed seal     {:>7.1}×   (target ≥ 30)",
            py / figures["seal (db)"]
        );
    } else {
        println!("  python ratios: no python arm");
    }
    match &python_no_deps {
        Some(Ok(p)) => {
            // Over the configs this run timed (it may reject some the first
            // kept), every arm alike.
            let both: Vec<usize> = kept
                .iter()
                .copied()
                .filter(|&i| p.times.contains_key(&cases[i].id))
                .collect();
            let m = mean(
                &both
                    .iter()
                    .map(|&i| p.times[&cases[i].id].0)
                    .collect::<Vec<_>>(),
            );
            let sandboxed = |name: &str| {
                let op = OPS.iter().position(|o| *o == name).unwrap();
                mean(
                    &both
                        .iter()
                        .map(|&i| median(&mut samples[i][op].clone()))
                        .collect::<Vec<_>>(),
                )
            };
            println!(
                "  python mask as the issue set it up ({}; {} configs): {} per config; / sandboxed mask {:.1}×, / fields {:.1}×, / seal {:.1}× (not what a full install pays)",
                p.about,
                both.len(),
                us(m),
                m / sandboxed("mask"),
                m / sandboxed("fields"),
                m / sandboxed("seal (db)")
            );
        }
        Some(Err(e)) => println!("  python mask as the issue set it up: NOT RUN: {e}"),
        None => {}
    }
    println!(
        "  sandboxed / native discovery     {:>7.2}×   (target ≤ 1.2)",
        figures["discover (plugin call + check)"] / figures["discover native"]
    );
    println!(
        "  sandboxed / native fields        {:>7.2}×",
        figures["fields"] / figures["fields native"]
    );
    println!(
        "  sandboxed / native mask          {:>7.2}×",
        figures["mask"] / figures["mask native"]
    );
    println!(
        "  sandboxed / native seal          {:>7.2}×",
        figures["seal (db)"] / figures["seal (db) native"]
    );
    println!();
    let (bs, bn) = (median(&mut batch.0), median(&mut batch.1));
    println!(
        "batch: 1,000 × {} `fields` in a loop: sandboxed {} / native {} per config: sandbox overhead {} per config (target ≤ 10 µs)",
        batch_case.id,
        us(bs),
        us(bn),
        us(bs - bn)
    );
    println!(
        "batch: the same 1,000 through SecretsManager::fields_batch: {} per config",
        us(median(&mut library_batch))
    );
    let (fs, fnat) = (median(&mut floor.0), median(&mut floor.1));
    println!(
        "floor: `fields` of {bare} (nothing to find): sandboxed {} / native {}: {} per call whatever the config holds",
        us(fs),
        us(fnat),
        us(fs - fnat)
    );
    println!(
        "  (≤ 1.2× of the corpus's mean native discovery, {}, leaves {} for the sandbox in all)",
        us(figures["discover native"]),
        us(0.2 * figures["discover native"])
    );
    println!(
        "start-up of all {builtin} built-in plugins: first (compiling into an empty cache) {}; from the component cache {:.1} ms (median of {}; target ≤ 20 ms)",
        ms(first_start),
        median(&mut cold),
        cold.len()
    );
}
