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
    // Bounded: a few hundred mutated inputs per target (cli_json fewer: each
    // one runs the wasm plugin several times in a debug build).
    for (target, property) in TARGETS {
        let seeds = inputs(&repo().join("fuzz/seeds").join(target));
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ fnv(target.as_bytes()));
        let rounds = if *target == "cli_json" { 400 } else { 3000 };
        for i in 0..rounds {
            let (_, seed) = &seeds[i % seeds.len()];
            let data = mutate(&mut rng, seed);
            run(target, *property, &format!("mutation {i}"), &data);
        }
    }
}
