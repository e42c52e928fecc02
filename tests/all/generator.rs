//! The committed rule tables and manifest are what `tools/gen-rules.py` makes
//! of OpenMetadata 2.0.7's models, and they cover every connector.

use std::process::Command;

use serde_json::Value;

use crate::util::repo;

/// Connectors per service type in OpenMetadata 2.0.7 (144 in all).
const COUNTS: [(&str, usize); 13] = [
    ("database", 57),
    ("dashboard", 22),
    ("messaging", 5),
    ("pipeline", 26),
    ("mlmodel", 5),
    ("storage", 4),
    ("search", 3),
    ("metadata", 7),
    ("api", 1),
    ("drive", 4),
    ("llm", 8),
    ("mcp", 1),
    ("security", 1),
];

/// `gen-rules.py --check`: regenerates everything from the pinned wheel (kept
/// in `target/om-wheel`, downloaded with pip the first time) and compares.
#[test]
fn committed_rule_tables_match_the_generator() {
    let root = repo();
    let cache = root.join("target").join("om-wheel");
    let out = Command::new("python3")
        .arg(root.join("tools/gen-rules.py"))
        .arg("--check")
        .arg("--cache-dir")
        .arg(&cache)
        .current_dir(&root)
        .env_remove("OM_WHEEL_CACHE")
        .output()
        .expect("run python3 tools/gen-rules.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "gen-rules.py --check exited with {}: the committed files and the generator disagree \
         (regenerate with `python3 tools/gen-rules.py`)\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("generated files are up to date"),
        "{stderr}"
    );
}

fn manifest() -> Value {
    let path = repo().join("tools/om-connectors-2.0.7.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_manifest_covers_144_connectors_across_13_service_types() {
    let m = manifest();
    assert_eq!(m["openmetadata"], "2.0.7");
    let types = m["serviceTypes"].as_object().unwrap();
    let mut got: Vec<(&str, usize)> = types
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_object().unwrap().len()))
        .collect();
    got.sort();
    let mut want = COUNTS.to_vec();
    want.sort();
    assert_eq!(got, want, "connectors per service type");
    let total: usize = got.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 144);
    for (st, connectors) in types {
        for (ct, c) in connectors.as_object().unwrap() {
            let variants = c["variants"].as_array().unwrap();
            assert!(!variants.is_empty(), "{st}/{ct} has no example config");
            for v in variants {
                assert_eq!(
                    v["config"]["type"],
                    ct.as_str(),
                    "{st}/{ct}: example of another type"
                );
            }
        }
    }
}

#[test]
fn the_manifest_covers_bot_and_dbt_configs() {
    let m = manifest();
    let sections = |e: &str| -> Vec<String> {
        let mut v: Vec<String> = m["entities"][e]["configTypes"]
            .as_object()
            .unwrap_or_else(|| panic!("no entities.{e}.configTypes"))
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    };
    assert_eq!(sections("bot"), ["BASIC", "JWT", "SSO"]);
    assert_eq!(
        sections("dbt"),
        ["azure", "cloud", "gcs", "http", "local", "s3"]
    );
    let jwt = &m["entities"]["bot"]["configTypes"]["JWT"]["variants"][0];
    assert_eq!(jwt["secrets"], serde_json::json!(["/config/JWTToken"]));
    let cloud = &m["entities"]["dbt"]["configTypes"]["cloud"]["variants"][0];
    assert_eq!(cloud["secrets"], serde_json::json!(["/dbtCloudAuthToken"]));
    // The tables the plugins embed have the same sections.
    for (e, want) in [("bot", sections("bot")), ("dbt", sections("dbt"))] {
        let text =
            std::fs::read_to_string(repo().join(format!("plugins/{e}/rules/{e}.rules"))).unwrap();
        let mut got: Vec<String> = text
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix('[')?
                    .strip_suffix(']')
                    .map(String::from)
            })
            .collect();
        got.sort();
        assert_eq!(got, want, "{e}.rules sections");
    }
}
