//! `om-secrets demo`: the bundled example connections, sealed, masked and
//! revealed on the configured store (by default the embedded one), each step
//! shown. Checks that reveal gives back the original and that no secret value
//! is left in the stored or masked forms; exits non-zero otherwise.

use anyhow::{Result, bail};
use om_secrets::config::Settings;
use om_secrets::{SecretsManager, Subject};
use serde_json::Value;

/// (file name `<serviceType>.<name>.json`, contents).
const EXAMPLES: &[(&str, &str)] = &[
    (
        "database.mysql-demo.json",
        include_str!("../examples/connections/database.mysql-demo.json"),
    ),
    (
        "database.postgres-iam-demo.json",
        include_str!("../examples/connections/database.postgres-iam-demo.json"),
    ),
    (
        "database.snowflake-demo.json",
        include_str!("../examples/connections/database.snowflake-demo.json"),
    ),
    (
        "messaging.kafka-demo.json",
        include_str!("../examples/connections/messaging.kafka-demo.json"),
    ),
    (
        "pipeline.airflow-demo.json",
        include_str!("../examples/connections/pipeline.airflow-demo.json"),
    ),
];

fn short(s: &str) -> String {
    if s.len() > 60 {
        format!("{}…", &s[..60])
    } else {
        s.to_string()
    }
}

fn contains_str(doc: &Value, needle: &str) -> bool {
    match doc {
        Value::String(s) => s.contains(needle),
        Value::Array(a) => a.iter().any(|v| contains_str(v, needle)),
        Value::Object(m) => m.values().any(|v| contains_str(v, needle)),
        _ => false,
    }
}

/// Run the demo.
pub async fn run(manager: &SecretsManager, settings: &Settings) -> Result<()> {
    println!(
        "om-secrets demo — secretsManager: {}, data directory: {}, cluster: {}",
        settings.secrets_manager,
        settings.home.display(),
        settings.cluster_name
    );
    let mut failures = 0;
    for (file, text) in EXAMPLES {
        let stem = file.trim_end_matches(".json");
        let (service_type, name) = stem
            .split_once('.')
            .expect("examples are named <type>.<name>.json");
        let subject = Subject::service(service_type, Some(name))?;
        let config: Value = serde_json::from_str(text)?;
        println!(
            "\n== {service_type} service `{name}` ({}) ==",
            config["type"].as_str().unwrap_or("?")
        );

        let fields = manager.fields(&subject, &config)?;
        println!("secret fields found by the `{service_type}` plugin:");
        for f in &fields {
            println!("  {:<55} → {}", f.pointer, f.secret_id);
        }
        let sealed = manager.seal(&subject, &config).await?;
        println!("stored form (what OpenMetadata's database keeps):");
        for f in &fields {
            if let Some(v) = sealed.pointer(&f.pointer).and_then(Value::as_str) {
                println!("  {:<55} = {}", f.pointer, short(v));
            }
        }
        let masked = manager.mask(&subject, &sealed)?;
        println!(
            "masked view (what a viewer sees):\n{}",
            serde_json::to_string_pretty(&masked)?
        );
        let revealed = manager.reveal(&subject, &sealed, false).await?;
        let secrets: Vec<&str> = fields
            .iter()
            .filter_map(|f| config.pointer(&f.pointer).and_then(Value::as_str))
            .collect();
        let leaked = secrets
            .iter()
            .any(|s| contains_str(&sealed, s) || contains_str(&masked, s));
        let ok = revealed == config && !leaked;
        println!(
            "reveal(seal(config)) == config: {}; no secret in stored or masked form: {}",
            if revealed == config { "yes" } else { "NO" },
            if leaked { "NO" } else { "yes" }
        );
        if !ok {
            failures += 1;
        }
    }
    if let Some(store) = manager.store() {
        println!(
            "\nThe `{}` store now holds the secrets above; run the demo again: nothing is written twice.",
            store.name()
        );
    }
    if failures > 0 {
        bail!("{failures} example(s) failed");
    }
    Ok(())
}
