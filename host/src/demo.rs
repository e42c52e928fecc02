//! `om-secrets demo`: the bundled example connections, sealed, masked and
//! revealed on the configured store (by default the embedded one), each step
//! shown. Each example is checked ([`verify`]): reveal gives back the
//! original, every secret the example is known to hold was found, sealed and
//! masked, and no secret value is left in the stored or masked forms. The
//! demo exits non-zero when any example fails its check, so a caller (or a
//! test) reads the outcome from the exit status, never from the printed text
//! (which holds random Fernet tokens).

use anyhow::{Result, bail};
use om_secrets::config::Settings;
use om_secrets::{Field, MASK, SecretsManager, Subject};
use serde_json::Value;

/// (file name `<serviceType>.<name>.json`, contents, the pointers of the
/// secrets the example is known to hold).
const EXAMPLES: &[(&str, &str, &[&str])] = &[
    (
        "database.mysql-demo.json",
        include_str!("../examples/connections/database.mysql-demo.json"),
        &[
            "/authType/password",
            "/connectionOptions/init_command_password",
        ],
    ),
    (
        "database.postgres-iam-demo.json",
        include_str!("../examples/connections/database.postgres-iam-demo.json"),
        &["/authType/awsConfig/awsSecretAccessKey"],
    ),
    (
        "database.snowflake-demo.json",
        include_str!("../examples/connections/database.snowflake-demo.json"),
        &["/privateKey", "/snowflakePrivatekeyPassphrase"],
    ),
    (
        "messaging.kafka-demo.json",
        include_str!("../examples/connections/messaging.kafka-demo.json"),
        &["/saslPassword", "/schemaRegistryURL"],
    ),
    (
        "pipeline.airflow-demo.json",
        include_str!("../examples/connections/pipeline.airflow-demo.json"),
        &["/connection/authType/password"],
    ),
];

fn short(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Every string of a document, with its pointer.
fn strings<'a>(doc: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    let esc = om_secrets::plugin::check::escape_token;
    match doc {
        Value::String(s) => out.push((at, s)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| strings(v, format!("{at}/{i}"), out)),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| strings(v, format!("{at}/{}", esc(k)), out)),
        _ => {}
    }
}

/// The demo's check of one example; each problem names a pointer, never a
/// value. Empty: the example passed.
///
/// - `reveal(seal(config)) == config`;
/// - every pointer in `expected` (the example's known secrets) was found;
/// - every field found that holds a value is sealed (`fernet:`) in the stored
///   form and `*********` in the masked one;
/// - no string of the stored form (Fernet tokens aside: ciphertext, random)
///   or of the masked form contains a secret value (of a field found, or of
///   one the example is known to hold).
pub fn verify(
    expected: &[&str],
    config: &Value,
    fields: &[Field],
    sealed: &Value,
    masked: &Value,
    revealed: &Value,
) -> Vec<String> {
    let mut problems = Vec::new();
    if revealed != config {
        problems.push("reveal(seal(config)) differs from config".to_string());
    }
    for p in expected {
        if !fields.iter().any(|f| f.pointer == *p) {
            problems.push(format!("`{p}` was not found as a secret"));
        }
    }
    let mut secrets = Vec::new();
    for f in fields {
        let Some(value) = config.pointer(&f.pointer).and_then(Value::as_str) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        secrets.push(value);
        if f.treatment == om_secrets::plugin::check::Treatment::Secret
            && !sealed
                .pointer(&f.pointer)
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with("fernet:"))
        {
            problems.push(format!("`{}` is not sealed in the stored form", f.pointer));
        }
        if masked.pointer(&f.pointer).and_then(Value::as_str) != Some(MASK) {
            problems.push(format!("`{}` is not masked", f.pointer));
        }
    }
    // The known secrets count even when the plugin missed them.
    for p in expected {
        if let Some(value) = config.pointer(p).and_then(Value::as_str)
            && !value.is_empty()
            && !secrets.contains(&value)
        {
            secrets.push(value);
        }
    }
    for (form, doc) in [("stored", sealed), ("masked", masked)] {
        let mut all = Vec::new();
        strings(doc, String::new(), &mut all);
        for (at, s) in all {
            if form == "stored" && s.starts_with("fernet:") {
                continue;
            }
            if secrets.iter().any(|secret| s.contains(secret)) {
                problems.push(format!("the {form} form holds a secret at `{at}`"));
            }
        }
    }
    problems
}

/// Seal, mask and reveal one example, showing each step; its problems
/// ([`verify`]).
async fn example(
    manager: &SecretsManager,
    file: &str,
    text: &str,
    expected: &[&str],
) -> Result<Vec<String>> {
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
    Ok(verify(
        expected, &config, &fields, &sealed, &masked, &revealed,
    ))
}

/// Run the demo. Fails (the process exits 1) when an example fails its check.
pub async fn run(manager: &SecretsManager, settings: &Settings) -> Result<()> {
    println!(
        "om-secrets demo — secretsManager: {}, data directory: {}, cluster: {}",
        settings.secrets_manager,
        settings.home.display(),
        settings.cluster_name
    );
    let mut failed = Vec::new();
    for (file, text, expected) in EXAMPLES {
        let stem = file.trim_end_matches(".json");
        // An example that cannot even be run (no plugin for it, a store
        // error) fails like one whose check fails; the others still run.
        let problems = match example(manager, file, text, expected).await {
            Ok(problems) => problems,
            Err(e) => vec![format!("error: {e:#}")],
        };
        if problems.is_empty() {
            println!(
                "check passed: reveal(seal(config)) == config; every secret found, sealed and masked; no secret in the stored or masked form"
            );
        } else {
            for p in &problems {
                println!("CHECK FAILED: {p}");
            }
            failed.push(stem);
        }
    }
    if let Some(store) = manager.store() {
        println!(
            "\nThe `{}` store now holds the secrets above; run the demo again: nothing is written twice.",
            store.name()
        );
    }
    if !failed.is_empty() {
        bail!(
            "the demo's check failed for {} of {} examples: {}",
            failed.len(),
            EXAMPLES.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use om_secrets::plugin::check::Treatment;
    use serde_json::json;

    fn field(p: &str) -> Field {
        Field {
            pointer: p.into(),
            secret_id: format!("/openmetadata/database/x{}", p.to_lowercase()),
            treatment: Treatment::Secret,
        }
    }

    #[test]
    fn the_check_passes_a_good_round_trip_and_names_every_failure() {
        let config =
            json!({"type": "Mysql", "username": "u", "authType": {"password": "pw-secret"}});
        let sealed = json!({"type": "Mysql", "username": "u", "authType": {"password": "fernet:gAAAApw-secret"}});
        let masked = json!({"type": "Mysql", "username": "u", "authType": {"password": MASK}});
        let fields = [field("/authType/password")];
        let expected = ["/authType/password"];
        // A token may contain anything (it is random): not a leak.
        assert!(verify(&expected, &config, &fields, &sealed, &masked, &config).is_empty());

        let mut revealed = config.clone();
        revealed["username"] = json!("v");
        assert_eq!(
            verify(&expected, &config, &fields, &sealed, &masked, &revealed),
            ["reveal(seal(config)) differs from config"]
        );
        // Under-reporting: the example's known secret was not found, so it is
        // stored and shown as sent.
        assert_eq!(
            verify(&expected, &config, &[], &config, &config, &config),
            [
                "`/authType/password` was not found as a secret",
                "the stored form holds a secret at `/authType/password`",
                "the masked form holds a secret at `/authType/password`",
            ]
        );
        let mut leaky = sealed.clone();
        leaky["username"] = json!("was pw-secret");
        let mut unmasked = masked.clone();
        unmasked["authType"]["password"] = json!("*");
        assert_eq!(
            verify(&expected, &config, &fields, &leaky, &unmasked, &config),
            [
                "`/authType/password` is not masked",
                "the stored form holds a secret at `/username`",
            ]
        );
        let plain = config.clone();
        assert_eq!(
            verify(&expected, &config, &fields, &plain, &masked, &config),
            [
                "`/authType/password` is not sealed in the stored form",
                "the stored form holds a secret at `/authType/password`",
            ]
        );
    }
}
