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

/// The section headers of a committed rule table: (name, nested only).
fn table_sections(table: &str) -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(repo().join(format!("plugins/{table}/rules/{table}.rules")))
        .unwrap();
    let mut got: Vec<(String, bool)> = text
        .lines()
        .filter_map(|l| {
            let inner = l.trim().strip_prefix('[')?.strip_suffix(']')?;
            Some(match inner.strip_suffix(" nested") {
                Some(name) => (name.to_string(), true),
                None => (inner.to_string(), false),
            })
        })
        .collect();
    got.sort();
    got
}

#[test]
fn the_manifest_covers_bot_and_ingestion_pipeline_configs() {
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
    // Every `type` of workflow.SourceConfig's union in 2.0.7 (three models
    // share AutoClassification).
    assert_eq!(
        sections("ingestion"),
        [
            "ApiMetadata",
            "Application",
            "AutoClassification",
            "DBT",
            "DashboardMetadata",
            "DatabaseLineage",
            "DatabaseMetadata",
            "DatabaseUsage",
            "DriveMetadata",
            "McpMetadata",
            "MessagingMetadata",
            "MetadataToElasticSearch",
            "MlModelMetadata",
            "PipelineMetadata",
            "PolicyAgent",
            "Profiler",
            "ReverseIngestion",
            "SearchMetadata",
            "StorageMetadata",
            "TestSuite",
            "dataInsight"
        ]
    );
    let ing = &m["entities"]["ingestion"];
    assert_eq!(ing["configPointer"], "/sourceConfig/config");
    assert_eq!(ing["typeKey"], "type");
    assert_eq!(ing["idKind"], "pipeline");
    assert_eq!(
        ing["idSegments"],
        serde_json::json!(["sourceconfig", "config"])
    );
    let jwt = &m["entities"]["bot"]["configTypes"]["JWT"]["variants"][0];
    assert_eq!(jwt["secrets"], serde_json::json!(["/config/JWTToken"]));
    let types = &ing["configTypes"];
    let variants = |t: &str| types[t]["variants"].as_array().unwrap().clone();
    // Every dbt source is among the DBT examples, its secrets below
    // dbtConfigSource.
    let mut dbt: Vec<String> = variants("DBT")
        .iter()
        .map(|v| {
            v["config"]["dbtConfigSource"]["dbtConfigType"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    dbt.sort();
    dbt.dedup();
    assert_eq!(dbt, ["azure", "cloud", "gcs", "http", "local", "s3"]);
    let cloud = variants("DBT")
        .into_iter()
        .find(|v| v["config"]["dbtConfigSource"]["dbtConfigType"] == "cloud")
        .unwrap();
    assert_eq!(
        cloud["secrets"],
        serde_json::json!(["/dbtConfigSource/dbtCloudAuthToken"])
    );
    // The storage manifest source's AWS secret.
    assert!(
        variants("StorageMetadata").iter().any(|v| v["secrets"]
            == serde_json::json!([
                "/storageMetadataConfigSource/securityConfig/awsSecretAccessKey"
            ])),
        "{:?}",
        types["StorageMetadata"]
    );
    // An application's private config: its token (the model's secret) and
    // every other string below it (beyond OpenMetadata).
    let app = variants("Application")
        .into_iter()
        .find(|v| v["config"]["appPrivateConfig"]["token"].is_string())
        .unwrap();
    assert_eq!(
        app["secrets"],
        serde_json::json!(["/appPrivateConfig/token"])
    );
    assert_eq!(
        app["beyond"],
        serde_json::json!([
            "/appPrivateConfig/collateURL",
            "/appPrivateConfig/limits/billingCycleStart",
            "/appPrivateConfig/waiiInstance"
        ])
    );
    // The tables the plugins embed have the same top-level sections; the
    // ingestion table's nested ones are the dbt sources and every connector
    // (a test suite's service connections).
    for e in ["bot", "ingestion"] {
        let got: Vec<String> = table_sections(e)
            .into_iter()
            .filter(|(_, nested)| !nested)
            .map(|(n, _)| n)
            .collect();
        assert_eq!(got, sections(e), "{e}.rules sections");
    }
    let nested: Vec<String> = table_sections("ingestion")
        .into_iter()
        .filter(|(_, nested)| *nested)
        .map(|(n, _)| n)
        .collect();
    for want in [
        "azure",
        "cloud",
        "gcs",
        "http",
        "local",
        "s3",
        "Mysql",
        "Snowflake",
        "Tableau",
        "Kafka",
        "S3",
    ] {
        assert!(nested.iter().any(|n| n == want), "[{want} nested] missing");
    }
    let connectors: usize = m["serviceTypes"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(st, _)| *st != "llm")
        .map(|(_, c)| c.as_object().unwrap().len())
        .sum();
    // 136 connectors (LLM services are not test-suite connections), helper
    // connections they nest, the 6 dbt sources.
    assert!(
        nested.len() >= connectors + 6,
        "{} nested sections",
        nested.len()
    );
}
