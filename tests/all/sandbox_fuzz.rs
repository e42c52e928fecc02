//! The fuzz properties (`fuzz/src/lib.rs`) in the normal test suite, on the
//! stable toolchain and without cargo-fuzz: every seed (`fuzz/seeds/<target>`)
//! and every checked-in crashing input (`fuzz/regressions/<target>`) is
//! replayed, then a short deterministic randomized pass mutates the seeds.
//! `fuzz/run.sh` does the real coverage-guided fuzzing.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod props;

use std::path::Path;

use crate::util::repo;

type Property = fn(&[u8]);

const TARGETS: &[(&str, Property)] = &[
    ("discover", props::discover),
    ("check", props::check),
    ("fernet", props::fernet),
    ("secret_id", props::secret_id),
    ("cli_json", props::cli_json),
];

/// Every input file of `dir` (dot files aside), sorted. A directory that
/// cannot be read is an error, and so is one without inputs: a replay that
/// loops over nothing would pass whatever the property.
fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read fuzz inputs {}: {e}", dir.display()));
    let mut v: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fuzz inputs in {}", dir.display());
    v
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the properties: JSON syntax, pointer escapes, the
/// host's prefixes, separators of the input formats.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"/",
    b"~0",
    b"~1",
    b"~",
    b"\\u0000",
    b"fernet:",
    b"secret:",
    b"*********",
    b"\0",
    b"\t",
    b"\n",
    b"\xff",
    b"password",
    b"authType",
    b"connectionOptions",
    b"hostPort",
    b"u:p@h",
    b"..",
    b"type",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(4) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            2 if !v.is_empty() => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            _ => {
                let from = rng.below(v.len().max(1));
                let chunk: Vec<u8> = v.iter().skip(from).take(rng.below(32)).copied().collect();
                v.splice(at..at, chunk);
            }
        }
    }
    v
}

/// Values that matter to `cli_json`, put in place of a string or under a
/// new key by [`mutate_json`].
const VALUES: &[&str] = &[
    "",
    "null",
    "*********",
    "fernet:",
    "fernet:gAAAAABnot-a-token",
    "secret:/openmetadata/database/fuzz/authtype/password",
    "secret:/openmetadata/database/other/authtype/password",
    "secret:/team/pw",
    "mysql://u:p@h:3306/db",
    "Mysql",
    "pä\"ss\u{0}",
];
const KEYS: &[&str] = &[
    "password",
    "apiToken",
    "type",
    "authType",
    "connectionOptions",
    "sslKey",
    "a/b~c",
    "openMetadataServerConnection",
];

/// A JSON-aware mutation: the seed stays JSON (byte mutations mostly break
/// it, and a broken document returns before the plugin is asked).
fn mutate_json(rng: &mut Rng, seed: &[u8]) -> Option<Vec<u8>> {
    let mut doc: serde_json::Value = serde_json::from_slice(seed).ok()?;
    /// The pointer of every node.
    fn nodes(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| nodes(x, format!("{at}/{i}"), out)),
            serde_json::Value::Object(m) => m.iter().for_each(|(k, x)| {
                let k = k.replace('~', "~0").replace('/', "~1");
                nodes(x, format!("{at}/{k}"), out)
            }),
            _ => {}
        }
        out.push(at);
    }
    for _ in 0..1 + rng.below(3) {
        let mut all = Vec::new();
        nodes(&doc, String::new(), &mut all);
        let at = &all[rng.below(all.len())];
        let node = doc.pointer_mut(at).expect("a pointer just taken");
        let value = serde_json::Value::String(VALUES[rng.below(VALUES.len())].to_string());
        match node {
            serde_json::Value::Object(m) if rng.below(2) == 0 => {
                let key = KEYS[rng.below(KEYS.len())];
                let new = if rng.below(3) == 0 {
                    serde_json::json!({ KEYS[rng.below(KEYS.len())]: value })
                } else {
                    value
                };
                m.insert(key.to_string(), new);
            }
            serde_json::Value::String(_) | serde_json::Value::Null => *node = value,
            _ => {}
        }
    }
    Some(doc.to_string().into_bytes())
}

fn run(target: &str, property: Property, name: &str, data: &[u8]) {
    if std::panic::catch_unwind(|| property(data)).is_err() {
        let dir = repo().join("target").join("fuzz-failures").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{:016x}", fnv(data)));
        std::fs::write(&file, data).unwrap();
        panic!(
            "fuzz property `{target}` broken by {name} (input saved as {}; check it in under fuzz/regressions/{target}/ once fixed)",
            file.display()
        );
    }
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn sandbox_fuzz_seeds_and_regressions_replay() {
    let mut replayed = 0;
    for (target, property) in TARGETS {
        let seeds = inputs(&repo().join("fuzz/seeds").join(target));
        let regressions = inputs(&repo().join("fuzz/regressions").join(target));
        for (name, data) in seeds.iter().chain(regressions.iter()) {
            run(target, *property, name, data);
            replayed += 1;
        }
    }
    assert!(replayed >= 2 * TARGETS.len(), "{replayed}");
}

#[test]
fn sandbox_fuzz_randomized_pass() {
    // Bounded: 3000 mutated inputs per target (cli_json 1500: each runs the
    // wasm plugin several times in a debug build; half of them JSON-aware,
    // so that they reach the plugin).
    for (target, property) in TARGETS {
        // Regressions are bases too: they sit at edges a property names.
        let mut seeds = inputs(&repo().join("fuzz/seeds").join(target));
        seeds.extend(inputs(&repo().join("fuzz/regressions").join(target)));
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ fnv(target.as_bytes()));
        let rounds = if *target == "cli_json" { 1500 } else { 3000 };
        let mut json = 0;
        for i in 0..rounds {
            let (_, seed) = &seeds[i % seeds.len()];
            let data = match *target {
                "cli_json" if rng.below(2) == 0 => {
                    mutate_json(&mut rng, seed).unwrap_or_else(|| mutate(&mut rng, seed))
                }
                _ => mutate(&mut rng, seed),
            };
            json += usize::from(serde_json::from_slice::<serde_json::Value>(&data).is_ok());
            run(target, *property, &format!("mutation {i}"), &data);
        }
        if *target == "cli_json" {
            // Most mutations break the JSON and return at once: enough of
            // them must still reach the plugin for the pass to test anything.
            eprintln!("sandbox_fuzz: cli_json: {json} of {rounds} mutations are JSON");
            assert!(
                json >= rounds / 10,
                "only {json} of {rounds} mutations are JSON"
            );
        }
    }
}
