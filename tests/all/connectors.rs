//! Every OpenMetadata 2.0.7 connector, and the bot and ingestion-pipeline configs, through
//! the real plugins: for each example config of the generated manifest
//! (`tools/om-connectors-2.0.7.json`, one per union variant, a distinct value
//! in every string), `fields` finds exactly the expected secrets, `mask` hides
//! them and changes nothing else, managed `seal` leaves no secret value in the
//! stored JSON and writes each to OpenMetadata's secret id, and
//! `reveal(seal(x)) == x`.
//!
//! In-process (the library, not the binary) for speed: the plugins are loaded
//! once and every variant gets a fresh in-memory store.

use std::collections::BTreeSet;
use std::sync::Arc;

use om_secrets::fernet::FernetKeys;
use om_secrets::kms::SecretStore;
use om_secrets::kms::memory::MemoryStore;
use om_secrets::ops::Backend;
use om_secrets::plugin::Plugins;
use om_secrets::plugin::check::Treatment;
use om_secrets::secret_id::IdBuilder;
use om_secrets::{Error, MASK, SecretsManager, Subject};
use serde_json::{Value, json};

use crate::util::repo;

/// The manifest, its tokens and documents, as the benches read them.
#[path = "../../host/benches/support/connectors.rs"]
mod corpus;
use corpus::{tokens, wrap};

/// The manifest, as committed.
fn manifest() -> Value {
    corpus::manifest(&repo())
}

fn plugins() -> (tempfile::TempDir, Arc<Plugins>) {
    crate::util::builtin_plugins()
}

const KEY: &str = "jJ4-iIi4Fj4cZpMk8hBgY0cxuJrYHAnP6y3bKCOXJ0w=";

fn manager(plugins: &Arc<Plugins>, store: Arc<MemoryStore>) -> SecretsManager {
    SecretsManager::new(
        Backend::Managed(store),
        FernetKeys::parse(KEY).unwrap(),
        IdBuilder::new("", "openmetadata"),
        plugins.clone(),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// OpenMetadata's secret-id segment: lower-cased, every character outside
/// `[a-z0-9_-]` replaced by `_` (written out here, not taken from the host).
fn om_segment(token: &str) -> String {
    token
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn strings_of<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings_of(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings_of(x, out)),
        _ => {}
    }
}

fn str_list(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|p| p.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// Where a config sits and how its ids are built, per table.
struct Kind {
    /// Table name in the manifest (`database`, …, `bot`, `ingestion`).
    table: String,
    /// The subject for an entity named `name`.
    subject: fn(&str, &str) -> Subject,
    /// Pointer of the config in the document.
    config_pointer: String,
    /// Id root below `/openmetadata`: `<kind>/<name>` + these segments.
    id_kind: String,
    id_segments: Vec<String>,
}

#[derive(Default)]
struct Tally {
    connectors: usize,
    variants: usize,
    secret_fields: usize,
    failures: Vec<String>,
}

/// Run one example config through every operation; failures are collected.
async fn check_variant(
    plugins: &Arc<Plugins>,
    kind: &Kind,
    ctype: &str,
    index: usize,
    variant: &Value,
    tally: &mut Tally,
) {
    let name = format!("{}-{index}", ctype.to_lowercase());
    let config = &variant["config"];
    let doc = wrap(&kind.config_pointer, config, &name);
    let subject = (kind.subject)(&kind.table, &name);
    let at = format!("{}/{ctype} #{index}", kind.table);
    let mut fail = |m: String| tally.failures.push(format!("{at}: {m}"));

    // What the rules must find: the model's secrets, plus what the table
    // finds on purpose (heuristic map keys, unguarded rules, beyond OM).
    let mut expected: Vec<String> = ["secrets", "heuristic", "unguarded", "beyond"]
        .iter()
        .flat_map(|k| str_list(variant, k))
        .collect();
    expected.sort();
    expected.dedup();
    let in_doc: Vec<String> = expected
        .iter()
        .map(|p| format!("{}{p}", kind.config_pointer))
        .collect();
    let values: Vec<String> = in_doc
        .iter()
        .map(|p| {
            doc.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{at}: manifest pointer {p} is not a string"))
                .to_string()
        })
        .collect();
    let distinct: BTreeSet<&String> = values.iter().collect();
    if distinct.len() != values.len() {
        fail(format!(
            "the example's secret values are not distinct: {values:?}"
        ));
    }

    let store = Arc::new(MemoryStore::new());
    let sm = manager(plugins, store.clone());

    // fields
    let fields = match sm.fields(&subject, &doc) {
        Ok(f) => f,
        Err(e) => return fail(format!("fields: {e}")),
    };
    let mut found: Vec<String> = fields.iter().map(|f| f.pointer.clone()).collect();
    found.sort();
    if found != in_doc {
        let missed: Vec<_> = in_doc.iter().filter(|p| !found.contains(p)).collect();
        let extra: Vec<_> = found.iter().filter(|p| !in_doc.contains(p)).collect();
        fail(format!("fields: missed {missed:?}, extra {extra:?}"));
    }
    for f in &fields {
        if f.treatment != Treatment::Secret {
            fail(format!(
                "fields: {} is {:?}, not secret",
                f.pointer, f.treatment
            ));
        }
    }
    tally.secret_fields += in_doc.len();

    // mask: exactly those pointers become the mask.
    let mut want = doc.clone();
    for p in &in_doc {
        *want.pointer_mut(p).unwrap() = json!(MASK);
    }
    // … and what the subject masks whole (an Application's private config).
    for p in &subject.masked_whole {
        if let Some(slot) = want.pointer_mut(p).filter(|v| !v.is_null()) {
            *slot = json!(MASK);
        }
    }
    match sm.mask(&subject, &doc) {
        Ok(m) if m == want => {}
        Ok(m) => {
            let mut got = Vec::new();
            strings_of(&m, &mut got);
            let leaked: Vec<_> = values
                .iter()
                .filter(|v| got.contains(&v.as_str()))
                .collect();
            fail(format!(
                "mask: not the config with exactly the secrets masked (secrets still shown: {leaked:?})"
            ));
        }
        Err(e) => fail(format!("mask: {e}")),
    }

    // seal (managed): no secret value left; every secret a fernet token; the
    // store holds exactly OpenMetadata's ids with the original values.
    let sealed = match sm.seal(&subject, &doc).await {
        Ok(s) => s,
        Err(e) => return fail(format!("seal: {e}")),
    };
    let mut original = Vec::new();
    strings_of(&doc, &mut original);
    let mut stored = Vec::new();
    strings_of(&sealed, &mut stored);
    for v in &values {
        // A new string containing a secret (a token that leaks it) or the
        // secret itself, anywhere in the stored JSON.
        if stored
            .iter()
            .any(|s| s == v || (s.contains(v.as_str()) && !original.contains(s)))
        {
            fail(format!(
                "seal: the stored JSON still holds the secret value {v:?}"
            ));
        }
    }
    for p in &in_doc {
        match sealed.pointer(p).and_then(Value::as_str) {
            Some(s) if s.starts_with("fernet:") => {}
            other => fail(format!("seal: {p} holds {other:?}, not a fernet: token")),
        }
    }
    let mut want_sealed = sealed.clone();
    for (p, v) in in_doc.iter().zip(&values) {
        *want_sealed.pointer_mut(p).unwrap() = json!(v);
    }
    if want_sealed != doc {
        fail("seal: changed something besides the secret fields".into());
    }
    let mut want_ids: Vec<(String, String)> = expected
        .iter()
        .zip(&values)
        .map(|(p, v)| {
            let mut id = format!("/openmetadata/{}/{}", kind.id_kind, om_segment(&name));
            for s in kind
                .id_segments
                .iter()
                .cloned()
                .chain(tokens(p).iter().map(|t| om_segment(t)))
            {
                id.push('/');
                id.push_str(&s);
            }
            (id, v.clone())
        })
        .collect();
    want_ids.sort();
    let mut got_ids = Vec::new();
    for id in store.ids() {
        let v = store
            .get(&id)
            .await
            .unwrap()
            .map(|v| v.to_string())
            .unwrap_or_default();
        got_ids.push((id, v));
    }
    if got_ids != want_ids {
        fail(format!("store: holds {got_ids:?}, expected {want_ids:?}"));
    }

    // reveal(seal(x)) == x
    match sm.reveal(&subject, &sealed, false).await {
        Ok(r) if r == doc => {}
        Ok(_) => fail("reveal(seal(x)) != x".into()),
        Err(e) => fail(format!("reveal: {e}")),
    }
}

fn service_subject(service_type: &str, name: &str) -> Subject {
    Subject::service(service_type, Some(name)).unwrap()
}

fn bot_subject(_: &str, name: &str) -> Subject {
    Subject::bot(Some(name))
}

fn pipeline_subject(_: &str, name: &str) -> Subject {
    Subject::pipeline(Some(name))
}

#[test]
fn every_connector_and_variant_round_trips() {
    let m = manifest();
    let (_home, plugins) = plugins();
    let rt = runtime();
    let mut services = Tally::default();
    let mut entities = Tally::default();

    for (service_type, connectors) in m["serviceTypes"].as_object().unwrap() {
        let kind = Kind {
            table: service_type.clone(),
            subject: service_subject,
            config_pointer: String::new(),
            id_kind: service_type.clone(),
            id_segments: Vec::new(),
        };
        for (ctype, c) in connectors.as_object().unwrap() {
            services.connectors += 1;
            for (i, v) in c["variants"].as_array().unwrap().iter().enumerate() {
                services.variants += 1;
                rt.block_on(check_variant(&plugins, &kind, ctype, i, v, &mut services));
            }
        }
    }

    for (table, e) in m["entities"].as_object().unwrap() {
        let subject: fn(&str, &str) -> Subject = match table.as_str() {
            "bot" => bot_subject,
            "ingestion" => pipeline_subject,
            other => panic!("manifest entity `{other}` has no subject here"),
        };
        let kind = Kind {
            table: table.clone(),
            subject,
            config_pointer: e["configPointer"].as_str().unwrap().into(),
            id_kind: e["idKind"].as_str().unwrap().into(),
            id_segments: str_list(e, "idSegments"),
        };
        // The host's subject agrees with the manifest on where the config is
        // and how it is routed.
        let s = subject(table, "x");
        assert_eq!(
            s.config_pointer, kind.config_pointer,
            "{table}: config pointer"
        );
        assert_eq!(
            s.type_key,
            e["typeKey"].as_str().unwrap(),
            "{table}: routing key"
        );
        assert_eq!(
            (s.kind.as_str(), &s.id_segments),
            (kind.id_kind.as_str(), &kind.id_segments),
            "{table}: id root"
        );
        for (ctype, c) in e["configTypes"].as_object().unwrap() {
            entities.connectors += 1;
            for (i, v) in c["variants"].as_array().unwrap().iter().enumerate() {
                entities.variants += 1;
                rt.block_on(check_variant(&plugins, &kind, ctype, i, v, &mut entities));
            }
        }
    }

    let counts = format!(
        "{} connectors, {} variants, {} secret fields; bot+ingestion: {} config types, {} variants, {} secret fields",
        services.connectors,
        services.variants,
        services.secret_fields,
        entities.connectors,
        entities.variants,
        entities.secret_fields
    );
    println!("connectors: {counts}");
    let failures: Vec<String> = services
        .failures
        .into_iter()
        .chain(entities.failures)
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures ({counts}):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(services.connectors, 144, "{counts}");
    assert_eq!(
        entities.connectors, 24,
        "bot JWT/SSO/BASIC + 21 ingestion pipeline types: {counts}"
    );
}

#[test]
fn a_bot_jwt_token_gets_openmetadata_s_id() {
    let (_home, plugins) = plugins();
    let store = Arc::new(MemoryStore::new());
    let sm = manager(&plugins, store.clone());
    let user = json!({
        "name": "ingestion-bot",
        "isBot": true,
        "authenticationMechanism": {"authType": "JWT", "config": {"JWTToken": "eyJ.jwt", "JWTTokenExpiry": "Unlimited"}}
    });
    let subject = Subject::bot(Some("ingestion-bot"));
    let sealed = runtime().block_on(sm.seal(&subject, &user)).unwrap();
    assert_eq!(
        store.ids(),
        ["/openmetadata/bot/ingestion-bot/config/jwttoken"]
    );
    assert!(
        sealed["authenticationMechanism"]["config"]["JWTToken"]
            .as_str()
            .unwrap()
            .starts_with("fernet:")
    );
}

#[test]
fn unknown_types_name_the_service_type_and_the_known_ones() {
    let (_home, plugins) = plugins();
    let sm = manager(&plugins, Arc::new(MemoryStore::new()));
    let cases = [
        (
            Subject::service("database", Some("x")).unwrap(),
            json!({"type": "NoSuchDb", "password": "p"}),
            "database",
            "NoSuchDb",
            "Mysql",
            57,
        ),
        (
            Subject::service("dashboard", Some("x")).unwrap(),
            json!({"type": "Mysql"}),
            "dashboard",
            "Mysql",
            "Tableau",
            22,
        ),
        (
            Subject::bot(Some("b")),
            json!({"isBot": true, "authenticationMechanism": {"authType": "KERBEROS"}}),
            "bot",
            "KERBEROS",
            "JWT",
            3,
        ),
        (
            Subject::pipeline(Some("p")),
            json!({"sourceConfig": {"config": {"type": "NoSuchPipeline"}}}),
            "ingestion",
            "NoSuchPipeline",
            "DBT",
            21,
        ),
    ];
    for (subject, doc, st, ct, some_known, n_known) in cases {
        match sm.fields(&subject, &doc) {
            Err(e @ Error::UnknownConnectorType { .. }) => {
                let msg = e.to_string();
                let Error::UnknownConnectorType {
                    service_type,
                    connector_type,
                    known,
                } = e
                else {
                    unreachable!()
                };
                assert_eq!((service_type.as_str(), connector_type.as_str()), (st, ct));
                assert_eq!(known.len(), n_known, "{st}: known types {known:?}");
                assert!(
                    known.iter().any(|k| k == some_known),
                    "{st}: known types {known:?}"
                );
                assert!(
                    msg.contains(st) && msg.contains(ct) && msg.contains(some_known),
                    "{msg}"
                );
            }
            other => panic!("{st}/{ct}: expected UnknownConnectorType, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// An oracle independent of the generator: hand-written configs and the secret
// fields a reader of OpenMetadata's schemas (and of README "Which fields are
// secrets") expects in them. Neither the manifest nor the rule tables are read
// to build these expectations.

/// The pointers `fields` finds in `doc`, sorted; every one a secret.
fn found(sm: &SecretsManager, service_type: &str, doc: &Value) -> Vec<String> {
    let subject = Subject::service(service_type, Some("oracle")).unwrap();
    let fields = sm
        .fields(&subject, doc)
        .unwrap_or_else(|e| panic!("{service_type} {}: {e}", doc["type"]));
    for f in &fields {
        assert_eq!(f.treatment, Treatment::Secret, "{}", f.pointer);
    }
    let mut p: Vec<String> = fields.into_iter().map(|f| f.pointer).collect();
    p.sort();
    p
}

fn sorted(p: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = p.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// An S3 `awsConfig` (AWSCredentials) as OpenMetadata 2.0.7 writes it.
fn aws_config() -> Value {
    json!({
        "awsAccessKeyId": "AKIAEXAMPLE",
        "awsSecretAccessKey": "aws-secret",
        "awsRegion": "eu-west-1",
        "awsSessionToken": "aws-session",
        "endPointURL": "https://s3.eu-west-1.amazonaws.com",
        "profileName": "default",
        "assumeRoleArn": "arn:aws:iam::123456789012:role/om",
        "assumeRoleSessionName": "OpenMetadataSession",
        "enabled": true
    })
}

#[test]
fn hand_written_expectations_for_representative_connectors() {
    let (_home, plugins) = plugins();
    let sm = manager(&plugins, Arc::new(MemoryStore::new()));
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "database",
            json!({"type": "Mysql", "scheme": "mysql+pymysql", "username": "app",
                   "authType": {"password": "mysql-pw"}, "hostPort": "db:3306",
                   "databaseSchema": "sales", "sslConfig": {"caCertificate": "ca-pem"},
                   "connectionOptions": {"ssl_mode": "REQUIRED"},
                   "connectionArguments": {"init_command": "SET time_zone='+00:00'"}}),
            vec!["/authType/password", "/sslConfig/caCertificate"],
        ),
        (
            "database",
            json!({"type": "Mysql", "username": "app", "hostPort": "db:3306",
                   "authType": {"awsConfig": aws_config()}}),
            // awsSessionToken: a credential OpenMetadata does not mark;
            // awsAccessKeyId: an identifier, not a secret.
            vec![
                "/authType/awsConfig/awsSecretAccessKey",
                "/authType/awsConfig/awsSessionToken",
            ],
        ),
        (
            "database",
            json!({"type": "Snowflake", "username": "svc", "account": "xy12345.eu-west-1",
                   "warehouse": "WH", "role": "SYSADMIN",
                   "privateKey": "-----BEGIN ENCRYPTED PRIVATE KEY-----",
                   "snowflakePrivatekeyPassphrase": "key-pass",
                   "connectionArguments": {}}),
            vec!["/privateKey", "/snowflakePrivatekeyPassphrase"],
        ),
        (
            "messaging",
            json!({"type": "Kafka", "bootstrapServers": "kafka:9092",
                   "securityProtocol": "SASL_SSL", "saslMechanism": "SCRAM-SHA-512",
                   "saslUsername": "om", "saslPassword": "sasl-pw",
                   "schemaRegistryURL": "https://registry:8081",
                   "basicAuthUserInfo": "reg-user:reg-pw",
                   "consumerConfig": {"sasl.jaas.config": "ScramLoginModule required password=\"j\";",
                                      "sasl.mechanism": "PLAIN", "ssl.key.password": "key-pw",
                                      "client.id": "om"},
                   "schemaRegistryConfig": {"basic.auth.user.info": "u:p",
                                            "basic.auth.credentials.source": "USER_INFO"}}),
            vec![
                "/saslPassword",
                "/basicAuthUserInfo",
                "/consumerConfig/sasl.jaas.config",
                "/consumerConfig/ssl.key.password",
                "/schemaRegistryConfig/basic.auth.user.info",
            ],
        ),
        (
            "database",
            json!({"type": "BigQuery", "hostPort": "bigquery.googleapis.com",
                   "credentials": {"gcpConfig": {
                       "type": "service_account", "projectId": "proj", "privateKeyId": "0123abcd",
                       "privateKey": "-----BEGIN PRIVATE KEY-----", "clientEmail": "om@proj.iam",
                       "clientId": "1234", "authUri": "https://accounts.google.com/o/oauth2/auth",
                       "tokenUri": "https://oauth2.googleapis.com/token"}},
                   "taxonomyProjectID": ["proj"]}),
            vec!["/credentials/gcpConfig/privateKey"],
        ),
        (
            "storage",
            json!({"type": "S3", "awsConfig": aws_config(), "bucketNames": ["raw"]}),
            vec![
                "/awsConfig/awsSecretAccessKey",
                "/awsConfig/awsSessionToken",
            ],
        ),
        (
            "dashboard",
            json!({"type": "Looker", "clientId": "looker-id", "clientSecret": "looker-secret",
                   "hostPort": "https://looker.example.com",
                   "gitCredentials": {"type": "GitHub", "repositoryOwner": "acme",
                                      "repositoryName": "lookml", "token": "ghp-token"}}),
            vec!["/clientSecret", "/gitCredentials/token"],
        ),
        (
            "pipeline",
            json!({"type": "Airflow", "hostPort": "https://airflow.example.com",
                   "numberOfStatus": 10,
                   "connection": {"type": "Mysql", "username": "airflow",
                                  "authType": {"password": "airflow-db-pw"},
                                  "hostPort": "airflow-db:3306",
                                  "connectionOptions": {"sslpassword": "ssl-pw"}}}),
            vec![
                "/connection/authType/password",
                "/connection/connectionOptions/sslpassword",
            ],
        ),
        (
            "mcp",
            json!({"type": "Mcp", "discoveryMethod": "DirectConfig",
                   "servers": [{"name": "github", "transport": "Stdio", "command": "npx",
                                "args": ["@modelcontextprotocol/server-github"],
                                "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp-mcp", "LOG_LEVEL": "debug"},
                                "apiKey": "mcp-key"}]}),
            vec![
                "/servers/0/apiKey",
                "/servers/0/env/GITHUB_PERSONAL_ACCESS_TOKEN",
            ],
        ),
        (
            "llm",
            json!({"type": "OpenAI", "apiKey": "sk-openai", "organization": "org-1",
                   "maxTokens": 4096}),
            vec!["/apiKey"],
        ),
    ];
    let mut failures = Vec::new();
    for (st, doc, want) in cases {
        let got = found(&sm, st, &doc);
        if got != sorted(&want) {
            failures.push(format!(
                "{st}/{}: found {got:?}, expected {want:?}",
                doc["type"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Issue 8 item 12, through the CLI: credential-like keys the heuristics
/// missed (Kafka's dotted properties, headers, glued and numbered password
/// names, whole values under a credential key, URLs whose password holds
/// `# / ? @`, scheme-less `user:pw@host`) are sealed and masked; the near
/// misses stay plain and readable.
#[test]
fn credential_detection_through_the_cli() {
    let secrets: &[(&str, &str)] = &[
        ("/authType/password", "basic-pw"),
        ("/hostPort", "app:pw#1/x?@db:3306"),
        ("/connectionOptions/sasl.jaas.config", "jaas-line"),
        ("/connectionOptions/basic.auth.user.info", "bu:bp"),
        ("/connectionOptions/ssl.key.password", "ssl-key-pw"),
        ("/connectionOptions/PGPASSWORD", "pg-pw"),
        ("/connectionOptions/sslpassword", "sslpassword-v"),
        ("/connectionOptions/password2", "second-pw"),
        ("/connectionOptions/pass", "pass-v"),
        ("/connectionOptions/ssl_key", "ssl-key-pem"),
        (
            "/connectionArguments/http_headers/Authorization",
            "Bearer hdr-a",
        ),
        (
            "/connectionArguments/http_headers/Proxy-Authorization",
            "Basic hdr-p",
        ),
        ("/connectionArguments/http_headers/Cookie", "session=hdr-c"),
        ("/connectionArguments/http_headers/X-Api-Key", "hdr-x"),
        ("/connectionArguments/credentials/user", "cred-user"),
        ("/connectionArguments/credentials/password", "cred-pw"),
        ("/connectionArguments/tokens/0", "tok-0"),
        ("/connectionArguments/tokens/1", "tok-1"),
        (
            "/connectionArguments/dsn",
            "mysql://root:p#w/d?x@db:3306/app",
        ),
    ];
    let plain: &[(&str, &str)] = &[
        ("/connectionOptions/ssl_mode", "REQUIRED"),
        (
            "/connectionOptions/token_url",
            "https://idp.example.com/token",
        ),
        ("/connectionOptions/password_file", "/run/secrets/pw"),
        ("/connectionOptions/authSource", "admin"),
        ("/connectionOptions/keyId", "kid-1"),
        ("/connectionOptions/sasl.mechanism", "PLAIN"),
        ("/connectionOptions/awsAccessKeyId", "AKIAEXAMPLE"),
        (
            "/connectionArguments/http_headers/Accept",
            "application/json",
        ),
        (
            "/connectionArguments/home",
            "https://db.example.com:443/@team",
        ),
        ("/username", "app"),
    ];
    detected_exactly(
        json!({"type": "Mysql", "authType": {}, "connectionOptions": {},
               "connectionArguments": {"http_headers": {}, "credentials": {}, "tokens": [null, null]}}),
        secrets,
        plain,
    );
}

/// Put `secrets` and `plain` (pointer, value) into `skeleton` and check the
/// CLI end to end: `fields` lists exactly the secrets, `mask` hides exactly
/// them, `seal` stores each as a `fernet:` token with no value left, and the
/// plain ones stay as they were.
fn detected_exactly(mut doc: Value, secrets: &[(&str, &str)], plain: &[(&str, &str)]) {
    for (p, v) in secrets.iter().chain(plain) {
        let t = tokens(p);
        let (last, parents) = t.split_last().unwrap();
        let mut at = &mut doc;
        for k in parents {
            at = &mut at[k.as_str()];
        }
        match at {
            Value::Array(a) => a[last.parse::<usize>().unwrap()] = json!(v),
            _ => at[last.as_str()] = json!(v),
        }
    }
    let om = crate::util::Om::new();

    let fields = om.json(
        &["fields", "--service-type", "database", "--name", "m"],
        &doc,
    );
    let mut got: Vec<String> = fields
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pointer"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    let want = sorted(&secrets.iter().map(|(p, _)| *p).collect::<Vec<_>>());
    assert_eq!(got, want);

    let masked = om.json(&["mask", "--service-type", "database"], &doc);
    let mut want_masked = doc.clone();
    for (p, _) in secrets {
        *want_masked.pointer_mut(p).unwrap() = json!(MASK);
    }
    assert_eq!(masked, want_masked);

    let sealed = om.json(&["seal", "--service-type", "database", "--name", "m"], &doc);
    for (p, v) in secrets {
        crate::util::assert_absent(&sealed, v);
        assert!(
            sealed
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap()
                .starts_with("fernet:"),
            "{p} is not sealed"
        );
    }
    for (p, v) in plain {
        assert_eq!(sealed.pointer(p), Some(&json!(v)), "{p} changed");
    }
}

/// Red team: a credential word split by case or separators (`passWord`,
/// `pass_word`, `passPhrase`, `PassWd`) is joined back: `fields` lists it,
/// `mask` hides it and `seal` stores no value of it; the near misses for the
/// joining (`passThrough`, `passive`, `bypass_mode`, `passWordFile`) stay
/// plain and readable.
#[test]
fn credential_words_split_by_case_are_joined() {
    let secrets: &[(&str, &str)] = &[
        // Keys equal but for case are refused in one map (they would share a
        // secret id): spread over three.
        ("/connectionOptions/passWord", "split-pw-1"),
        ("/connectionOptions/dbPassWord", "split-pw-2"),
        ("/connectionOptions/pass-word", "split-pw-3"),
        ("/connectionOptions/passPhrase", "split-pp-1"),
        ("/connectionOptions/PassWd", "split-pwd-1"),
        ("/connectionArguments/PassWord", "split-pw-4"),
        ("/connectionArguments/pass_word", "split-pw-5"),
        ("/connectionArguments/PassPhrase", "split-pp-2"),
        ("/connectionArguments/extra/PASS_WORD", "split-pw-6"),
    ];
    let plain: &[(&str, &str)] = &[
        ("/connectionOptions/passThrough", "true"),
        ("/connectionOptions/passive", "yes"),
        ("/connectionOptions/bypass_mode", "off"),
        ("/connectionOptions/password_file", "/run/secrets/pw"),
        ("/connectionOptions/passwordFile", "/run/secrets/pw2"),
        ("/connectionOptions/passWordFile", "/run/secrets/pw3"),
        ("/connectionOptions/ssl_mode", "REQUIRED"),
        ("/connectionOptions/authSource", "admin"),
        ("/username", "app"),
    ];
    detected_exactly(
        json!({"type": "Mysql", "connectionOptions": {}, "connectionArguments": {"extra": {}}}),
        secrets,
        plain,
    );
}

/// Item 12: `awsAccessKeyId` is an identifier a viewer must be able to read
/// back; `awsSessionToken` is a credential. In every `storageConfig` too.
#[test]
fn aws_key_ids_stay_readable_and_session_tokens_are_masked() {
    let om = crate::util::Om::new();
    let doc = json!({"type": "Postgres", "username": "u", "hostPort": "pg:5432",
                     "sampleDataStorageConfig": {"config": {"bucketName": "b",
                         "storageConfig": aws_config()}}});
    let masked = om.json(&["mask", "--service-type", "database"], &doc);
    let sc = "/sampleDataStorageConfig/config/storageConfig";
    let mut want = doc.clone();
    for k in ["awsSecretAccessKey", "awsSessionToken"] {
        *want.pointer_mut(&format!("{sc}/{k}")).unwrap() = json!(MASK);
    }
    assert_eq!(masked, want);
    assert_eq!(
        masked.pointer(&format!("{sc}/awsAccessKeyId")),
        Some(&json!("AKIAEXAMPLE"))
    );
}

/// Item 12: a number under a credential key cannot be sealed (the host seals
/// strings): refused, naming it, never passed through in the clear.
#[test]
fn a_number_under_a_credential_key_is_refused_naming_it() {
    let (_home, plugins) = plugins();
    let sm = manager(&plugins, Arc::new(MemoryStore::new()));
    let subject = Subject::service("database", Some("n")).unwrap();
    let doc = json!({"type": "Mysql", "connectionArguments": {"password": 1234, "port": 3306}});
    match sm.fields(&subject, &doc) {
        Err(Error::Input { pointer, .. }) => {
            assert_eq!(pointer.as_deref(), Some("/connectionArguments/password"))
        }
        other => panic!("expected an input error, got {other:?}"),
    }
    // A number under an ordinary key is no secret.
    let doc = json!({"type": "Mysql", "connectionArguments": {"port": 3306, "use_token": true}});
    assert_eq!(sm.fields(&subject, &doc).unwrap(), Vec::new());
}

/// Issue 8 item 15, through the CLI: a config newer than the rule tables (an
/// OpenLineage broker of an unknown kind, an unknown `authType` variant, an
/// unknown property) keeps no credential in plain text.
#[test]
fn configs_newer_than_the_tables_get_the_heuristics() {
    let om = crate::util::Om::new();
    let cases = [
        (
            "pipeline",
            json!({"type": "OpenLineage",
                   "brokerConfig": {"pulsarConfig": {"serviceUrl": "pulsar://broker:6650",
                                                     "token": "pulsar-jwt", "topicName": "lineage"}},
                   "namespaceToServiceMapping": {}}),
            vec![("/brokerConfig/pulsarConfig/token", "pulsar-jwt")],
        ),
        (
            "database",
            json!({"type": "Mysql", "hostPort": "db:3306", "username": "u",
                   "authType": {"oauthConfig": {"clientId": "cid", "clientSecret": "oauth-secret",
                                                "accessToken": "oauth-token",
                                                "tokenUrl": "https://idp.example.com/token"}},
                   "newFeature": {"apiToken": "new-token", "region": "eu"}}),
            vec![
                ("/authType/oauthConfig/clientSecret", "oauth-secret"),
                ("/authType/oauthConfig/accessToken", "oauth-token"),
                ("/newFeature/apiToken", "new-token"),
            ],
        ),
    ];
    for (st, doc, secrets) in cases {
        let fields = om.json(&["fields", "--service-type", st, "--name", "new"], &doc);
        let got: Vec<&str> = fields
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["pointer"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = secrets.iter().map(|(p, _)| *p).collect();
        assert_eq!(got, want, "{st}");
        let masked = om.json(&["mask", "--service-type", st], &doc);
        let mut want_masked = doc.clone();
        for (p, _) in &secrets {
            *want_masked.pointer_mut(p).unwrap() = json!(MASK);
        }
        assert_eq!(masked, want_masked, "{st}");
        let sealed = om.json(&["seal", "--service-type", st, "--name", "new"], &doc);
        for (_, v) in &secrets {
            crate::util::assert_absent(&sealed, v);
        }
        // The routing key and the rest are unchanged.
        assert_eq!(sealed["type"], doc["type"]);
    }
}

/// Issue 9: the heuristics' word lists live in `guest/src/heuristics.rs`
/// only. `tools/gen-rules.py` ports them to compute the manifest's
/// expectations; its lists must equal these, and it must decide the same on
/// every property name of the manifest's example configs, on the near misses
/// and on a set of URLs.
#[test]
fn the_generator_s_heuristics_are_the_guest_s() {
    use om_secrets_guest::heuristics as h;

    let mut keys: BTreeSet<String> = [
        "sasl.jaas.config",
        "basic.auth.user.info",
        "ssl.key.password",
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "X-Api-Key",
        "PGPASSWORD",
        "sslpassword",
        "password2",
        "pass",
        "ssl_key",
        "awsSessionToken",
        "awsAccessKeyId",
        "key_id",
        "keyId",
        "ssl_mode",
        "token_url",
        "password_file",
        "authSource",
        "sasl.mechanism",
        "auth",
        "basic_auth",
        "max_tokens",
        "pass_through",
        "secret_id",
        "APIKey",
        // A credential word split by case or separators, and near misses.
        "passWord",
        "PassWord",
        "dbPassWord",
        "passPhrase",
        "PassPhrase",
        "PassWd",
        "PASS_WORD",
        "pass-word",
        "pass_word",
        "pass_word2",
        "clientSecRet",
        "passThrough",
        "passive",
        "bypass_mode",
        "bypass_word",
        "passwordFile",
        "passWordFile",
        "pass_wordlist",
        "pass_2_word",
        "maxPassWord",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    fn collect_keys(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    out.insert(k.clone());
                    collect_keys(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| collect_keys(x, out)),
            _ => {}
        }
    }
    collect_keys(&manifest(), &mut keys);
    let keys: Vec<String> = keys.into_iter().collect();
    let urls = [
        "mysql://root:s3cret@localhost:3306/db",
        "mysql://root:pa#ss@db/x",
        "mysql://root:pa/ss@db/x",
        "redis://:pw@cache:6379",
        "user:pass@host",
        "https://host:443/@someone",
        "https://host/path?x=a:b@c",
        "mysql://root@localhost",
        "localhost:3306",
        "a b:c@d",
    ];

    let script = r#"
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("gen_rules", sys.argv[1])
m = importlib.util.module_from_spec(spec)
sys.modules["gen_rules"] = m
spec.loader.exec_module(m)
data = json.load(sys.stdin)
lists = {}
for name in data["lists"]:
    v = getattr(m, name, None)
    lists[name] = None if v is None else sorted(list(x) if isinstance(x, tuple) else x for x in v)
print(json.dumps({
    "lists": lists,
    "keys": [bool(m.is_credential_key(k)) for k in data["keys"]],
    "urls": [bool(m.url_has_password(u)) for u in data["urls"]],
}))
"#;
    let pairs: Vec<Vec<&str>> = h::CREDENTIAL_PAIRS
        .iter()
        .map(|(a, b)| vec![*a, *b])
        .collect();
    let rust_lists = json!({
        "CREDENTIAL_WORDS": h::CREDENTIAL_WORDS,
        "LAST_WORDS": h::LAST_WORDS,
        "QUALIFIED_LAST_WORDS": h::QUALIFIED_LAST_WORDS,
        "CREDENTIAL_PAIRS": pairs,
        "DESCRIPTIVE_SUFFIXES": h::DESCRIPTIVE_SUFFIXES,
        "QUANTITY_PREFIXES": h::QUANTITY_PREFIXES,
    });
    let input = json!({
        "lists": rust_lists.as_object().unwrap().keys().collect::<Vec<_>>(),
        "keys": keys,
        "urls": urls,
    });
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c")
        .arg(script)
        .arg(repo().join("tools/gen-rules.py"));
    let out = crate::util::feed(cmd, &input.to_string());
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py: Value = serde_json::from_slice(&out.stdout).unwrap();

    let mut problems = Vec::new();
    for (name, list) in rust_lists.as_object().unwrap() {
        let mut want: Vec<Value> = list.as_array().unwrap().clone();
        want.sort_by_key(|v| v.to_string());
        let mut got: Vec<Value> = py["lists"][name].as_array().cloned().unwrap_or_default();
        got.sort_by_key(|v| v.to_string());
        if got != want {
            problems.push(format!(
                "{name}: gen-rules.py has {}, the guest {}",
                json!(got),
                json!(want)
            ));
        }
    }
    for (k, py_says) in keys.iter().zip(py["keys"].as_array().unwrap()) {
        if py_says.as_bool() != Some(h::is_credential_key(k)) {
            problems.push(format!(
                "is_credential_key({k:?}): gen-rules.py says {py_says}"
            ));
        }
    }
    for (u, py_says) in urls.iter().zip(py["urls"].as_array().unwrap()) {
        if py_says.as_bool() != Some(h::url_has_password(u)) {
            problems.push(format!(
                "url_has_password({u:?}): gen-rules.py says {py_says}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "tools/gen-rules.py's copy of guest/src/heuristics.rs differs:\n{}",
        problems.join("\n")
    );
}
