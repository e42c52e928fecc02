//! The bounded load test of `om-secrets serve`: the real binary started on a
//! free loopback port (embedded default store, one API key granted
//! `privileged`, no rate limit), then 64 concurrent clients
//! ([`om_secrets::client`]) alternately masking and sealing real connector
//! configs for 20 s.
//!
//! ```sh
//! cargo bench -p om-secrets --bench serve_load
//! ```
//!
//! The configs are every variant of every service connector in
//! `tools/om-connectors-2.0.7.json` (the corpus bench's and
//! `tests/all/connectors.rs`' corpus). Each client seals under a name of its
//! own (one entity per client and service type), each seal an update of the entity's previous stored form
//! (`seal_update`, as OpenMetadata's server edits a service: the secrets the
//! new form no longer holds are deleted), so the store holds a bounded set of
//! secrets rather than growing for the whole run.
//!
//! Prints requests/s, p50/p99/max latency (all, and mask and seal apart),
//! the error count, and the server's resident memory (`VmRSS` of
//! `/proc/<pid>/status`) when ready, at start, every quarter and at the end. Exit status 1 if any request failed. Numbers,
//! not assertions on them: under `cargo test --benches` it only says how to
//! run it.
//!
//! Environment: `OM_LOAD_CLIENTS` (default 64), `OM_LOAD_SECONDS` (20),
//! `OM_LOAD_MAX_REQUESTS` (a cap on the total, default 5,000,000),
//! `OM_LOAD_STORE` (the server's `SECRET_MANAGER`: default the embedded
//! `managed-local` file store, whose every write is a synced file
//! replacement under a lock; `db` seals in place with Fernet and shows the
//! server's own cost; `in-memory` a managed store without disk).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use om_secrets::client::{Client, Target};
use serde_json::Value;
use sha2::Digest;

/// An API key for the run (the server keeps only its sha256).
const KEY: &str = "load-test-key-0123456789abcdef";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn env_u64(key: &str, default: u64) -> u64 {
    match std::env::var(key) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{key}={v}: not a number")),
        Err(_) => default,
    }
}

/// (service type, config) for every service connector variant.
fn corpus() -> Vec<(String, Value)> {
    let path = repo().join("tools/om-connectors-2.0.7.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let m: Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for (st, connectors) in m["serviceTypes"].as_object().unwrap() {
        for c in connectors.as_object().unwrap().values() {
            for v in c["variants"].as_array().unwrap() {
                out.push((st.clone(), v["config"].clone()));
            }
        }
    }
    out
}

/// Resident and peak memory of a process, in KiB.
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The server, stopped (SIGTERM, then waited for) when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The store the server runs on (`OM_LOAD_STORE`), as its environment.
fn store_env() -> Vec<(String, String)> {
    match std::env::var("OM_LOAD_STORE") {
        Ok(store) if !store.is_empty() && store != "managed-local" => vec![
            ("SECRET_MANAGER".into(), store),
            (
                "FERNET_KEY".into(),
                om_secrets::fernet::FernetKeys::generate_key(),
            ),
        ],
        _ => Vec::new(),
    }
}

fn start(dir: &Path, clients: u64) -> Server {
    let hash = hex::encode(sha2::Sha256::digest(KEY.as_bytes()));
    let config = dir.join("om-secrets.yaml");
    let audit = dir.join("audit.jsonl");
    std::fs::write(
        &config,
        format!(
            "server:\n  apiKeys:\n    load: {hash}\n  roles:\n    - role: privileged\n      principals: [\"apiKey:load\"]\n  limits:\n    ratePerSecond: 0\n    maxConcurrent: {clients}\n  audit:\n    file: {}\n",
            audit.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_om-secrets"))
        .args(["--config", config.to_str().unwrap()])
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("OM_SECRETS_HOME", dir.join("home"))
        .env("OM_SECRETS_CACHE", repo().join("target/test-cache"))
        .env("OM_SECRETS_LOG", "warn")
        .envs(store_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting om-secrets serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Drain stderr for the whole run (the server must never block on it);
    // pass the listening address on, and echo the first few other lines.
    std::thread::spawn(move || {
        let mut shown = 0;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("om-secrets serve: listening on ") {
                let _ = tx.send(url.trim().to_string());
            } else if shown < 5 {
                shown += 1;
                eprintln!("  server: {line}");
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the server did not say where it listens");
    Server { child, url }
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        println!("serve_load: run with `cargo bench -p om-secrets --bench serve_load`");
        return;
    }
    let clients = env_u64("OM_LOAD_CLIENTS", 64);
    let seconds = env_u64("OM_LOAD_SECONDS", 20);
    let max_requests = env_u64("OM_LOAD_MAX_REQUESTS", 5_000_000);
    let configs = Arc::new(corpus());
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), clients);
    let pid = server.child.id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::new(&server.url).unwrap().with_token(KEY);

    // Ready, and every config masks and seals once (a config the library
    // refuses would count as a load error): the warm-up.
    let started = Instant::now();
    rt.block_on(async {
        loop {
            match client.ready().await {
                Ok(()) => break,
                Err(e) if started.elapsed() > Duration::from_secs(300) => {
                    panic!("not ready: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    let ready_after = started.elapsed();
    let rss_ready = rss(pid);
    let warm = rt.block_on(async {
        let mut refused = 0;
        for (i, (st, config)) in configs.iter().enumerate() {
            let t = Target::service(st.clone(), format!("warm-{i}"));
            if client.mask(&t, config).await.is_err() || client.seal(&t, config).await.is_err() {
                refused += 1;
            }
        }
        refused
    });
    println!(
        "om-secrets serve load: {} service configs ({warm} refused in the warm-up), {clients} clients, {seconds} s, store {}, loopback {}",
        configs.len(),
        std::env::var("OM_LOAD_STORE").unwrap_or_else(|_| "managed-local".into()),
        server.url
    );
    println!(
        "  ready after {:.2} s; RSS when ready {}",
        ready_after.as_secs_f64(),
        mib(rss_ready.0)
    );

    let total = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let duration = Duration::from_secs(seconds);
    let rss_start = rss(pid);
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let (latencies, first_errors, rss_mid, wall) = rt.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..clients {
            let client = client.clone();
            let configs = configs.clone();
            let (total, errors) = (total.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat: Vec<(bool, u32)> = Vec::with_capacity(16_384);
                // The stored form of each entity (service type, name) this
                // client sealed last.
                let mut last: std::collections::HashMap<(String, String), Value> =
                    Default::default();
                let mut first_error = None;
                let mut i = c as usize * 7;
                while Instant::now() < deadline
                    && total.fetch_add(1, Ordering::Relaxed) < max_requests
                {
                    let (st, config) = &configs[i % configs.len()];
                    // One name per client: seals update the same entities.
                    let name = format!("load-{c}");
                    let target = Target::service(st.clone(), name.clone());
                    let entity = (st.clone(), name);
                    let seal = i % 2 == 1;
                    let begun = Instant::now();
                    let r = if seal {
                        client
                            .seal_update(&target, last.get(&entity), config)
                            .await
                            .map(|stored| {
                                last.insert(entity, stored);
                            })
                    } else {
                        client.mask(&target, config).await.map(drop)
                    };
                    lat.push((
                        seal,
                        begun.elapsed().as_micros().min(u32::MAX as u128) as u32,
                    ));
                    if let Err(e) = r {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                    i += 1;
                }
                (lat, first_error)
            }));
        }
        let mut rss_mid = Vec::new();
        for _ in 0..3 {
            tokio::time::sleep(duration / 4).await;
            rss_mid.push(rss(pid).0);
        }
        let mut all = Vec::new();
        let mut first_errors = Vec::new();
        for t in tasks {
            let (lat, e) = t.await.unwrap();
            all.extend(lat);
            first_errors.extend(e);
        }
        (all, first_errors, rss_mid, t0.elapsed())
    });
    let rss_end = rss(pid);
    let n = latencies.len();
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "  {n} requests (mask and seal alternating) in {:.2} s: {:.0} requests/s",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64()
    );
    for (what, keep) in [("all", None), ("mask", Some(false)), ("seal", Some(true))] {
        let mut lat: Vec<u32> = latencies
            .iter()
            .filter(|(s, _)| keep.is_none_or(|k| k == *s))
            .map(|(_, l)| *l)
            .collect();
        lat.sort_unstable();
        let n = lat.len().max(1);
        let pct = |p: f64| {
            lat.get(((n as f64 * p).ceil() as usize).clamp(1, n) - 1)
                .copied()
                .unwrap_or(0) as f64
                / 1000.0
        };
        println!(
            "  latency {what:>4}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} requests)",
            pct(0.50),
            pct(0.99),
            pct(1.0),
            lat.len()
        );
    }
    println!("  errors: {errors}");
    for e in first_errors.iter().take(5) {
        println!("    e.g. {e}");
    }
    println!(
        "  server RSS: start {}, at 1/4 {}, 1/2 {}, 3/4 {}, end {} (peak {})",
        mib(rss_start.0),
        mib(rss_mid[0]),
        mib(rss_mid[1]),
        mib(rss_mid[2]),
        mib(rss_end.0),
        mib(rss_end.1)
    );
    let store = dir.path().join("home/store/secrets.json");
    let held = std::fs::read_to_string(&store)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["secrets"].as_object().map(|m| m.len()))
        .unwrap_or(0);
    println!(
        "  store at the end: {held} secrets, {} KiB",
        std::fs::metadata(&store)
            .map(|m| m.len() / 1024)
            .unwrap_or(0)
    );
    std::io::stdout().flush().unwrap();
    drop(server);
    if errors > 0 {
        std::process::exit(1);
    }
}
