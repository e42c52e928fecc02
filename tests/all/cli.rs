//! The CLI contract: JSON in, JSON out, errors on stderr with exit status 1;
//! discovery and secret ids; masking; merging; bad input.

use serde_json::{Value, json};

use crate::util::{Om, strings};

fn fields(om: &Om, name: &str, doc: &Value) -> Vec<(String, String)> {
    let out = om.json(
        &["fields", "--service-type", "database", "--name", name],
        doc,
    );
    out.as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["pointer"].as_str().unwrap().to_string(),
                f["secretId"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn secret_ids_across_connectors_and_auth_variants() {
    let om = Om::new();
    let cases = [
        (
            json!({"type": "Mysql", "authType": {"password": "p"}}),
            vec![(
                "/authType/password",
                "/openmetadata/database/mysql-test/authtype/password",
            )],
        ),
        (
            json!({"type": "Mysql", "authType": {"awsConfig": {"awsSecretAccessKey": "k", "awsRegion": "eu-west-1"}}}),
            vec![(
                "/authType/awsConfig/awsSecretAccessKey",
                "/openmetadata/database/mysql-test/authtype/awsconfig/awssecretaccesskey",
            )],
        ),
        (
            json!({"type": "Postgres", "authType": {"azureConfig": {"clientSecret": "c", "clientId": "id"}}}),
            vec![(
                "/authType/azureConfig/clientSecret",
                "/openmetadata/database/mysql-test/authtype/azureconfig/clientsecret",
            )],
        ),
        (
            json!({"type": "BigQuery", "credentials": {"gcpConfig": {"type": "service_account", "privateKey": "pk", "clientEmail": "e"}}}),
            vec![(
                "/credentials/gcpConfig/privateKey",
                "/openmetadata/database/mysql-test/credentials/gcpconfig/privatekey",
            )],
        ),
        (
            json!({"type": "Databricks", "authType": {"token": "dapi"}, "hostPort": "h:443", "httpPath": "/sql"}),
            vec![(
                "/authType/token",
                "/openmetadata/database/mysql-test/authtype/token",
            )],
        ),
        (
            json!({"type": "Databricks", "authType": {"clientId": "id", "clientSecret": "s"}}),
            vec![(
                "/authType/clientSecret",
                "/openmetadata/database/mysql-test/authtype/clientsecret",
            )],
        ),
        (
            json!({"type": "Snowflake", "privateKey": "pem", "snowflakePrivatekeyPassphrase": "pp", "password": "pw"}),
            vec![
                ("/password", "/openmetadata/database/mysql-test/password"),
                (
                    "/privateKey",
                    "/openmetadata/database/mysql-test/privatekey",
                ),
                (
                    "/snowflakePrivatekeyPassphrase",
                    "/openmetadata/database/mysql-test/snowflakeprivatekeypassphrase",
                ),
            ],
        ),
        (
            json!({"type": "Redshift", "authType": {"password": "p"}, "sslConfig": {"caCertificate": "ca", "sslKey": "key"}}),
            vec![
                (
                    "/authType/password",
                    "/openmetadata/database/mysql-test/authtype/password",
                ),
                (
                    "/sslConfig/caCertificate",
                    "/openmetadata/database/mysql-test/sslconfig/cacertificate",
                ),
                (
                    "/sslConfig/sslKey",
                    "/openmetadata/database/mysql-test/sslconfig/sslkey",
                ),
            ],
        ),
        (
            json!({"type": "Athena", "awsConfig": {"awsSecretAccessKey": "k", "awsRegion": "r"}, "s3StagingDir": "s3://x"}),
            vec![(
                "/awsConfig/awsSecretAccessKey",
                "/openmetadata/database/mysql-test/awsconfig/awssecretaccesskey",
            )],
        ),
        (
            json!({"type": "Mysql", "sampleDataStorageConfig": {"config": {"bucketName": "b", "storageConfig": {"awsSecretAccessKey": "k", "awsRegion": "r"}}}}),
            vec![(
                "/sampleDataStorageConfig/config/storageConfig/awsSecretAccessKey",
                "/openmetadata/database/mysql-test/sampledatastorageconfig/config/storageconfig/awssecretaccesskey",
            )],
        ),
    ];
    for (doc, want) in cases {
        let mut got = fields(&om, "mysql-test", &doc);
        got.sort();
        let want: Vec<(String, String)> = want
            .into_iter()
            .map(|(a, b)| (a.into(), b.into()))
            .collect();
        assert_eq!(got, want, "for {doc}");
    }
    // A name OpenMetadata would sanitise (so that `Test Name`, `test name`
    // and `test_name` share an id) gets a collision-free segment; a plain
    // name keeps OpenMetadata's id.
    let cfg = json!({"type": "Mysql", "authType": {"password": "p"}});
    let got = fields(&om, "Test Name", &cfg);
    assert_eq!(
        got[0].1,
        format!(
            "/openmetadata/database/{}/authtype/password",
            om_secrets::secret_id::name_segment("Test Name")
        )
    );
    assert!(
        got[0].1.starts_with("/openmetadata/database/test_name."),
        "{}",
        got[0].1
    );
    assert_eq!(
        fields(&om, "test_name", &cfg)[0].1,
        "/openmetadata/database/test_name/authtype/password"
    );
}

#[test]
fn mask_hides_every_secret_and_nothing_else() {
    let om = Om::new();
    let plain = json!({
        "type": "Mysql", "username": "user-visible", "hostPort": "h:1",
        "authType": {"password": "pw-hidden"},
        "sslConfig": {"caCertificate": "ca-hidden", "sslKey": "key-hidden"},
        "connectionOptions": {"ssl_mode": "REQUIRED", "Password": "opt-hidden"},
        "connectionArguments": {"timeout": "10"}
    });
    let masked = om.json(&["mask", "--service-type", "database"], &plain);
    let mut expected = plain.clone();
    for p in [
        "/authType/password",
        "/sslConfig/caCertificate",
        "/sslConfig/sslKey",
        "/connectionOptions/Password",
    ] {
        *expected.pointer_mut(p).unwrap() = json!("*********");
    }
    assert_eq!(masked, expected);
    // The stored form masks the same way, and no token or reference shows.
    let stored = om.json(
        &["seal", "--service-type", "database", "--name", "m"],
        &plain,
    );
    let masked_stored = om.json(&["mask", "--service-type", "database"], &stored);
    assert_eq!(masked_stored, expected);
    for s in strings(&masked_stored) {
        assert!(!s.starts_with("fernet:") && !s.starts_with("secret:"));
    }
}

#[test]
fn merge_keeps_stored_secrets_behind_the_mask() {
    let om = Om::new();
    let plain = json!({"type": "Mysql", "username": "u", "authType": {"password": "old-pw"}, "sslConfig": {"caCertificate": "old-ca"}});
    let stored = om.json(
        &["seal", "--service-type", "database", "--name", "svc"],
        &plain,
    );
    let stored_file = om.home.path().join("stored.json");
    std::fs::write(&stored_file, stored.to_string()).unwrap();

    // The UI saw the mask, changed the user and the CA, left the password.
    let mut incoming = om.json(&["mask", "--service-type", "database"], &stored);
    incoming["username"] = json!("u2");
    incoming["sslConfig"]["caCertificate"] = json!("new-ca");
    let merged = om.json(
        &[
            "merge",
            "--service-type",
            "database",
            "--stored",
            stored_file.to_str().unwrap(),
        ],
        &incoming,
    );
    assert_eq!(
        merged["authType"]["password"],
        stored["authType"]["password"]
    );
    let resealed = om.json(
        &["seal", "--service-type", "database", "--name", "svc"],
        &merged,
    );
    let revealed = om.json(
        &["reveal", "--service-type", "database", "--name", "svc"],
        &resealed,
    );
    assert_eq!(
        revealed,
        json!({"type": "Mysql", "username": "u2", "authType": {"password": "old-pw"}, "sslConfig": {"caCertificate": "new-ca"}})
    );

    // A mask with nothing stored behind it is refused, and a mask is never sealed.
    let mut orphan = incoming.clone();
    orphan["sslConfig"]["sslKey"] = json!("*********");
    let r = om.run(
        &[
            "merge",
            "--service-type",
            "database",
            "--stored",
            stored_file.to_str().unwrap(),
        ],
        &orphan.to_string(),
    );
    assert!(r.err().contains("/sslConfig/sslKey"), "{}", r.stderr);
    // The mask is refused before any write: here it is the last field,
    // after a changed password a field-by-field seal would already have
    // written.
    let mut last = incoming.clone();
    last["authType"]["password"] = json!("new-pw");
    last["sslConfig"]["sslKey"] = json!("*********");
    let before = om.store_bytes();
    assert!(before.is_some());
    for doc in [&incoming, &last] {
        let r = om.run(
            &["seal", "--service-type", "database", "--name", "svc"],
            &doc.to_string(),
        );
        let err = r.err();
        assert!(err.contains("mask"), "{err}");
        assert_eq!(om.store_bytes(), before, "a refused seal wrote: {doc}");
    }
    let r = om.run(
        &["seal", "--service-type", "database", "--name", "svc"],
        &last.to_string(),
    );
    assert!(r.err().contains("/sslConfig/sslKey"), "{}", r.stderr);
}

#[test]
fn bad_input_is_a_clear_error_and_writes_nothing() {
    let om = Om::new();
    let seal = ["seal", "--service-type", "database", "--name", "x"];
    let cases: &[(&[&str], &str, &[&str])] = &[
        (
            &seal,
            "{\"type\": \"Mysql\", \"authType\": {\"password\": \"hunter2\"",
            &["not valid JSON", "line 1"],
        ),
        (&seal, "[1, 2]", &["JSON object"]),
        (&seal, "\"hunter2\"", &["JSON object"]),
        (
            &seal,
            "{\"type\": \"NoSuchDb\", \"password\": \"hunter2\"}",
            &[
                "unknown connector type `NoSuchDb`",
                "`database`",
                "Mysql",
                "Postgres",
            ],
        ),
        (
            &seal,
            "{\"password\": \"hunter2\"}",
            &["/type", "no `type`"],
        ),
        (
            &seal,
            "{\"type\": \"Mysql\", \"authType\": {\"password\": 5}}",
            // The error names the pointer and the plugin; the plugin's reason
            // is in the log (stderr, `warn`).
            &[
                "invalid input at `/authType/password`: plugin `database` finds the config malformed here",
                "string or null",
            ],
        ),
        (
            &["seal", "--service-type", "nosuch", "--name", "x"],
            "{\"type\": \"Mysql\"}",
            &["unknown service type `nosuch`", "database"],
        ),
        (
            &["seal", "--service-type", "database"],
            "{\"type\": \"Mysql\"}",
            &["--name"],
        ),
    ];
    for (args, input, wants) in cases {
        let r = om.run(args, input);
        let err = r.err();
        for w in *wants {
            assert!(
                err.contains(w),
                "`{input}`: error should mention {w}: {err}"
            );
        }
        assert!(!err.contains("hunter2"), "an error echoed a secret: {err}");
        assert!(om.store_ids().is_empty(), "a failed seal wrote the store");
    }
    // Usage errors are clap's (exit status 2, usage on stderr); every other
    // error is exit status 1 (`Run::err`).
    for args in [
        &["seal", "--no-such-option"][..],
        &["no-such-command"][..],
        &["seal", "--service-type"][..],
    ] {
        let r = om.run(args, "{}");
        assert!(
            r.usage_err().starts_with("error: "),
            "{args:?}: {}",
            r.stderr
        );
    }
    // An unknown config key is refused, naming it.
    std::fs::write(
        om.home.path().join("bad.yaml"),
        "secretsManager: db\nsecretManagerPrefix: x\n",
    )
    .unwrap();
    let r = om.run(&["--config", "bad.yaml", "plugins"], "");
    assert!(
        r.err().contains("secretManagerPrefix") && r.stderr.contains("bad.yaml"),
        "{}",
        r.stderr
    );
}

#[test]
fn plugins_lists_every_service_type_with_digests() {
    let om = Om::new();
    let out = om.json(&["plugins"], &Value::Null);
    let list = out.as_array().unwrap();
    let mut types: Vec<&str> = list
        .iter()
        .map(|p| p["serviceType"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "api",
            "bot",
            "dashboard",
            "database",
            "drive",
            "ingestion",
            "llm",
            "mcp",
            "messaging",
            "metadata",
            "mlmodel",
            "pipeline",
            "search",
            "security",
            "storage"
        ]
    );
    let db = list
        .iter()
        .find(|p| p["serviceType"] == "database")
        .unwrap();
    assert_eq!(db["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(db["witVersion"], "0.1.0");
    let cts: Vec<&str> = db["connectorTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "Mysql",
        "Postgres",
        "MariaDB",
        "Mssql",
        "Oracle",
        "Redshift",
        "Snowflake",
        "BigQuery",
        "Databricks",
        "Trino",
        "Clickhouse",
        "Hive",
        "Athena",
        "Glue",
        "Salesforce",
    ] {
        assert!(cts.contains(&c), "database plugin lacks {c}");
    }
}

#[test]
fn fernet_commands() {
    let key = om_secrets::fernet::FernetKeys::generate_key();
    let om = Om::new().with("FERNET_KEY", &key);
    let token = om.run(&["fernet", "encrypt"], "plain text\n");
    assert_eq!(token.code, 0);
    let token = token.stdout.trim().to_string();
    assert!(token.starts_with("fernet:"));
    assert_eq!(
        om.run(&["fernet", "encrypt"], &token).stdout.trim(),
        token,
        "never encrypted twice"
    );
    assert_eq!(
        om.run(&["fernet", "decrypt"], &token).stdout,
        "plain text\n"
    );
    let keygen = om.run(&["fernet", "keygen"], "");
    assert_eq!(keygen.stdout.trim().len(), 44);
    let bad = Om::new().with("FERNET_KEY", "not-a-key");
    let r = bad.run(&["fernet", "encrypt"], "x");
    let err = r.err();
    assert!(
        err.contains("Fernet key number 1") && !err.contains("not-a-key"),
        "{err}"
    );
}

#[test]
fn the_embedded_default_creates_its_key_and_store() {
    let om = Om::new();
    let plain = json!({"type": "Mysql", "authType": {"password": "embedded-pw"}});
    let stored = om.json(
        &["seal", "--service-type", "database", "--name", "e"],
        &plain,
    );
    // Tokens are random text: the secret is looked for everywhere else.
    assert!(
        stored["authType"]["password"]
            .as_str()
            .unwrap()
            .starts_with("fernet:")
    );
    for s in strings(&stored) {
        assert!(
            s.starts_with("fernet:") || !s.contains("embedded-pw"),
            "{stored}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(om.path("fernet.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        om.json(
            &["reveal", "--service-type", "database", "--name", "e"],
            &stored
        ),
        plain
    );
    // The demo checks its own round trips and says so by its exit status;
    // what it prints holds random Fernet tokens, so only structured facts
    // are asserted: the status, and the ids in the store.
    let demo = om.run(&["demo"], "");
    assert_eq!(demo.code, 0, "{}", demo.stderr);
    let ids = om.store_ids();
    for id in DEMO_IDS {
        assert!(ids.contains(&id.to_string()), "{id} not in {ids:?}");
    }
    // Run again: the same ids, nothing new.
    let again = om.run(&["demo"], "");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(om.store_ids(), ids);
}

/// Ids the demo's examples write (a sample: one per example).
const DEMO_IDS: &[&str] = &[
    "/openmetadata/database/mysql-demo/authtype/password",
    "/openmetadata/database/mysql-demo/connectionoptions/init_command_password",
    "/openmetadata/database/postgres-iam-demo/authtype/awsconfig/awssecretaccesskey",
    "/openmetadata/database/snowflake-demo/snowflakeprivatekeypassphrase",
    "/openmetadata/messaging/kafka-demo/saslpassword",
    "/openmetadata/pipeline/airflow-demo/connection/authtype/password",
];

#[test]
fn the_demo_fails_when_an_example_fails() {
    // Without the built-in `database` plugin the three database examples
    // cannot be sealed: each fails (the demo's check on the rest still runs
    // and passes), and the exit status says so. What the check itself
    // catches (an unfound secret, a secret left in the stored or masked
    // form, a round trip that differs) is tested in `host/src/demo.rs`.
    let om = Om::new();
    std::fs::write(
        om.home.path().join("om-secrets.yaml"),
        "plugins:\n  builtin: [messaging, pipeline]\n",
    )
    .unwrap();
    let demo = om.run(&["--config", "om-secrets.yaml", "demo"], "");
    assert_eq!(demo.code, 1, "{}", demo.stderr);
    assert_eq!(
        demo.stderr.lines().last(),
        Some(
            "om-secrets: error: the demo's check failed for 3 of 5 examples: \
             database.mysql-demo, database.postgres-iam-demo, database.snowflake-demo"
        ),
        "{}",
        demo.stderr
    );
    // The examples that passed were written.
    let ids = om.store_ids();
    for id in &DEMO_IDS[4..] {
        assert!(ids.contains(&id.to_string()), "{id} not in {ids:?}");
    }
    assert!(
        !ids.iter()
            .any(|id| id.starts_with("/openmetadata/database/"))
    );
}

/// A password that merely starts with `secret:` is read as a reference (as
/// OpenMetadata reads it); when the store refuses it as an id, the error names
/// the field and never repeats the text after `secret:`.
#[test]
fn a_password_that_looks_like_a_malformed_reference_is_never_echoed() {
    let om = Om::new();
    for password in [
        "secret:/x/../Very Secret 1",
        "secret:not/rooted-Very-Secret-2",
    ] {
        let doc = json!({"type": "Mysql", "authType": {"password": password}}).to_string();
        let r = om.run(&["seal", "--service-type", "database", "--name", "x"], &doc);
        let err = r.err();
        assert!(err.contains("/authType/password"), "{err}");
        assert!(err.contains("refuses"), "{err}");
        let tail = &password["secret:".len()..];
        assert!(!err.contains(tail), "the reference's text is echoed: {err}");
        assert!(!err.contains("Very"), "{err}");
    }
}
