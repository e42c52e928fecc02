//! A JVM `mask` call against the in-process Rust call, on the connector corpus:
//!
//! ```sh
//! cargo bench -p om-secrets-jvm --bench mask
//! ```
//!
//! The corpus is `host/benches/corpus.rs`'s: every example config of
//! `tools/om-connectors-2.0.7.json` (every variant of every connector, the bot
//! and ingestion-pipeline examples), each in the document the CLI is given.
//! `db` mode, fixed key, the built-in plugins from the compiled-component
//! cache. Three arms, each a plain timed loop (JMH is not reachable here), a
//! config's figure being the median of its repetitions:
//!
//! - **rust text**: what an embedder holding JSON text pays in Rust: parse,
//!   build the subject as the CLI does ([`SubjectKind::subject`]),
//!   [`SecretsManager::mask`], serialise;
//! - **rust value**: [`SecretsManager::mask`] alone, on a parsed document and
//!   a built subject;
//! - **jvm**: `OmSecrets.mask(subject, json)` from Java (`java/src/bench/java/Bench.java`,
//!   JIT warmed up first), through the jar this bench assembles.
//!
//! The Rust arms run before and after the JVM's, and each config keeps its
//! faster Rust figure (so machine noise counts against the JVM). Reported:
//! the ratio jvm / rust of the summed medians, and the median and mean of
//! the per-config ratios. Environment: `OM_BENCH_REPS` (default 200),
//! `OM_BENCH_WARMUP` (passes over the corpus before timing, default 20),
//! `OM_BENCH_FILTER` (a substring of the config ids to keep).
//! Numbers, never assertions (under `cargo test --benches` it only says how
//! to run it).

use std::collections::HashMap;
use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::Instant;

use om_secrets::config::{FileConfig, Settings};
use om_secrets::ops::SubjectKind;
use om_secrets::{SecretsManager, Subject};
use om_secrets_jvm::packaging::{self, java_files, javac};
use serde_json::Value;

/// The corpus, as `host/benches/corpus.rs` reads it.
#[path = "../../benches/support/connectors.rs"]
mod connectors;

const KEY: &str = "jJ4-iIi4Fj4cZpMk8hBgY0cxuJrYHAnP6y3bKCOXJ0w=";

struct Case {
    id: String,
    kind: SubjectKind,
    name: String,
    text: String,
}

fn corpus() -> Vec<Case> {
    let m = connectors::manifest(&packaging::repo_dir());
    let mut out: Vec<Case> = connectors::variants(&m)
        .iter()
        .map(|v| Case {
            id: v.id(),
            kind: match v.table {
                "bot" => SubjectKind::Bot,
                "ingestion" => SubjectKind::Pipeline,
                st => SubjectKind::Service(st.to_string()),
            },
            name: v.name(),
            text: v.doc().to_string(),
        })
        .collect();
    if let Ok(f) = std::env::var("OM_BENCH_FILTER") {
        out.retain(|c| c.id.contains(&f));
    }
    out
}

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn median(mut v: Vec<u128>) -> u128 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Per config, the median ns of `reps` calls of `f`, after `warmup` passes.
fn time_arm(cases: &[Case], reps: usize, warmup: usize, f: &dyn Fn(&Case) -> usize) -> Vec<u128> {
    for _ in 0..warmup {
        for c in cases {
            black_box(f(c));
        }
    }
    cases
        .iter()
        .map(|c| {
            median(
                (0..reps)
                    .map(|_| {
                        let t = Instant::now();
                        black_box(f(c));
                        t.elapsed().as_nanos()
                    })
                    .collect(),
            )
        })
        .collect()
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        println!("mask: a benchmark, not a test: cargo bench -p om-secrets-jvm --bench mask");
        return;
    }
    let reps = env_usize("OM_BENCH_REPS", 200);
    let warmup = env_usize("OM_BENCH_WARMUP", 20);
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let cache = packaging::repo_dir().join("target/test-cache");
    let settings = Settings::resolve(FileConfig::default(), |k| match k {
        "SECRET_MANAGER" => Some("db".into()),
        "FERNET_KEY" => Some(KEY.into()),
        "OM_SECRETS_HOME" => Some(home.to_string_lossy().into_owned()),
        "OM_SECRETS_CACHE" => Some(cache.to_string_lossy().into_owned()),
        _ => None,
    })
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let m = rt
        .block_on(SecretsManager::from_settings(&settings))
        .unwrap();

    // Only configs the library masks (all of them, normally).
    let mut cases = corpus();
    cases.retain(|c| {
        let doc: Value = serde_json::from_str(&c.text).unwrap();
        let ok = c
            .kind
            .subject(Some(&c.name), &doc)
            .and_then(|s| m.mask(&s, &doc))
            .is_ok();
        if !ok {
            eprintln!("left out (the library refuses it): {}", c.id);
        }
        ok
    });
    let parsed: Vec<(Subject, Value)> = cases
        .iter()
        .map(|c| {
            let doc: Value = serde_json::from_str(&c.text).unwrap();
            (c.kind.subject(Some(&c.name), &doc).unwrap(), doc)
        })
        .collect();
    let index: HashMap<&str, usize> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();

    let text_arm = |c: &Case| {
        let doc: Value = serde_json::from_str(&c.text).unwrap();
        let s = c.kind.subject(Some(&c.name), &doc).unwrap();
        serde_json::to_string(&m.mask(&s, &doc).unwrap())
            .unwrap()
            .len()
    };
    let value_arm = |c: &Case| {
        let (s, doc) = &parsed[index[c.id.as_str()]];
        match m.mask(s, doc).unwrap() {
            Value::Object(o) => o.len(),
            _ => 0,
        }
    };
    println!(
        "mask, {} configs, {reps} repetitions each, {warmup} warm-up passes",
        cases.len()
    );
    let text1 = time_arm(&cases, reps, warmup, &text_arm);
    let value1 = time_arm(&cases, reps, warmup, &value_arm);

    // The JVM arm.
    let profile = packaging::profile_dir();
    let jar = packaging::build_jar(&profile).unwrap_or_else(|e| panic!("{e}"));
    let classes = profile.join("om-secrets-jvm/bench-classes");
    javac(
        &java_files(&packaging::crate_dir().join("java/src/bench/java")),
        std::slice::from_ref(&jar),
        &classes,
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let corpus_file = work.path().join("corpus.tsv");
    let lines: Vec<String> = cases
        .iter()
        .map(|c| {
            let (kind, st) = match &c.kind {
                SubjectKind::Service(t) => ("service", t.as_str()),
                SubjectKind::Bot => ("bot", "-"),
                _ => ("pipeline", "-"),
            };
            format!("{}\t{kind}\t{st}\t{}\t{}", c.id, c.name, c.text)
        })
        .collect();
    std::fs::write(&corpus_file, lines.join("\n")).unwrap();
    let out = Command::new("java")
        .arg("-cp")
        .arg(std::env::join_paths([jar.as_path(), classes.as_path()]).unwrap())
        .arg("Bench")
        .arg(&corpus_file)
        .arg(reps.to_string())
        .arg(warmup.to_string())
        .arg(KEY)
        .arg(work.path().join("jvm-home"))
        .env("OM_SECRETS_CACHE", &cache)
        .stdin(Stdio::null())
        .output()
        .expect("run java");
    assert!(
        out.status.success(),
        "the JVM arm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jvm_by_id: HashMap<String, u128> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (id, ns) = l.split_once('\t')?;
            Some((id.to_string(), ns.trim().parse().ok()?))
        })
        .collect();
    let jvm: Vec<u128> = cases.iter().map(|c| jvm_by_id[&c.id]).collect();

    let text2 = time_arm(&cases, reps, 1, &text_arm);
    let value2 = time_arm(&cases, reps, 1, &value_arm);
    let text: Vec<u128> = text1.iter().zip(&text2).map(|(a, b)| *a.min(b)).collect();
    let value: Vec<u128> = value1.iter().zip(&value2).map(|(a, b)| *a.min(b)).collect();

    let us = |v: &[u128]| v.iter().sum::<u128>() as f64 / v.len() as f64 / 1000.0;
    let ratios = |base: &[u128]| {
        let mut r: Vec<f64> = jvm
            .iter()
            .zip(base)
            .map(|(j, b)| *j as f64 / *b as f64)
            .collect();
        r.sort_by(|a, b| a.total_cmp(b));
        let sum = jvm.iter().sum::<u128>() as f64 / base.iter().sum::<u128>() as f64;
        (
            sum,
            r[r.len() / 2],
            r.iter().sum::<f64>() / r.len() as f64,
            r[r.len() * 9 / 10],
        )
    };
    println!(
        "mean per config: jvm {:.1} µs, rust text {:.1} µs, rust value {:.1} µs",
        us(&jvm),
        us(&text),
        us(&value)
    );
    for (label, base) in [("rust text", &text), ("rust value", &value)] {
        let (sum, med, mean, p90) = ratios(base);
        println!(
            "jvm / {label}: {sum:.3}x (summed medians), per config median {med:.3}x, mean {mean:.3}x, p90 {p90:.3}x"
        );
    }
    let (sum, ..) = ratios(&text);
    println!(
        "target jvm / rust <= 1.2x: {}",
        if sum <= 1.2 { "met" } else { "NOT met" }
    );
}
