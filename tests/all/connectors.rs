//! Every OpenMetadata 2.0.7 connector, and the bot and dbt configs, through
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

use om_secrets::config::{FileConfig, Settings};
use om_secrets::ops::Backend;
use om_secrets::fernet::FernetKeys;
use om_secrets::kms::SecretStore;
use om_secrets::kms::memory::MemoryStore;
use om_secrets::ops::load_plugins;
use om_secrets::plugin::Plugins;
use om_secrets::plugin::check::Treatment;
use om_secrets::secret_id::IdBuilder;
use om_secrets::{Error, MASK, SecretsManager, Subject};
use serde_json::{Value, json};

use crate::util::{repo, shared_cache};

/// The manifest, as committed.
fn manifest() -> Value {
    let path = repo().join("tools/om-connectors-2.0.7.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The built-in plugins, loaded as the CLI loads them (home in a temp dir,
/// compiled components in the cache shared by the tests).
fn plugins() -> (tempfile::TempDir, Arc<Plugins>) {
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_string_lossy().into_owned();
    let cache = shared_cache().to_string_lossy().into_owned();
    let settings = Settings::resolve(FileConfig::default(), |k| match k {
        "OM_SECRETS_HOME" => Some(home_path.clone()),
        "OM_SECRETS_CACHE" => Some(cache.clone()),
        _ => None,
    })
    .unwrap();
    let plugins = load_plugins(&settings).unwrap_or_else(|e| panic!("loading the plugins: {e}"));
    (home, Arc::new(plugins))
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

/// The unescaped tokens of an RFC 6901 pointer.
fn tokens(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
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
    /// Table name in the manifest (`database`, …, `bot`, `dbt`).
    table: String,
    /// The subject for an entity named `name`.
    subject: fn(&str, &str) -> Subject,
    /// Pointer of the config in the document.
    config_pointer: String,
    /// Id root below `/openmetadata`: `<kind>/<name>` + these segments.
    id_kind: String,
    id_segments: Vec<String>,
}

/// The document holding `config` at `pointer` (the config itself for `""`).
fn wrap(pointer: &str, config: &Value, name: &str) -> Value {
    let mut doc = config.clone();
    for t in tokens(pointer).iter().rev() {
        doc = json!({ t.as_str(): doc });
    }
    if !pointer.is_empty() {
        let m = doc.as_object_mut().unwrap();
        m.insert("name".into(), json!(name));
        if pointer == "/authenticationMechanism" {
            m.insert("isBot".into(), json!(true));
        }
        if pointer == "/sourceConfig/config/dbtConfigSource" {
            doc["sourceConfig"]["config"]["type"] = json!("DBT");
        }
    }
    doc
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
            "dbt" => pipeline_subject,
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
        "{} connectors, {} variants, {} secret fields; bot+dbt: {} config types, {} variants, {} secret fields",
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
        entities.connectors, 9,
        "bot JWT/SSO/BASIC + dbt ×6: {counts}"
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
            json!({"sourceConfig": {"config": {"type": "DBT", "dbtConfigSource": {"dbtConfigType": "ftp"}}}}),
            "dbt",
            "ftp",
            "cloud",
            6,
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
