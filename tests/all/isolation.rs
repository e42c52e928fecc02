//! Entity isolation and data safety (issue 8): no entity can read, overwrite
//! or delete another's secrets — whatever the name, alias, encoding,
//! reference form or entity kind — and nothing a viewer or an update does
//! loses data. Each test names the numbered item it covers.

use std::sync::Arc;

use om_secrets::fernet::FernetKeys;
use om_secrets::kms::memory::MemoryStore;
use om_secrets::kms::{KmsError, KmsErrorKind, SecretStore, SecretValue};
use om_secrets::ops::Backend;
use om_secrets::secret_id::IdBuilder;
use om_secrets::{MASK, SecretsManager, Subject};
use serde_json::{Value, json};

use crate::kms_common::{Doc, Kind, Kms};
use crate::util::{Om, assert_absent};

/// A user's config for a MySQL service whose password is `password`.
fn mysql(password: &str) -> Value {
    json!({"type": "Mysql", "username": "u", "hostPort": "db:3306", "authType": {"password": password}})
}

fn svc<'a>(op: &'a str, name: &'a str) -> Vec<&'a str> {
    vec![op, "--service-type", "database", "--name", name]
}

/// `fernet:` of `plain` under the installation's key (what a row copied
/// between entities, or forged by someone with the key, holds).
fn token(om: &Om, plain: &str) -> String {
    let r = om.run(&["fernet", "encrypt"], plain);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout.trim().to_string()
}

/// A refused run: exit status 1, nothing on stdout, no secret in the error.
fn refused<'a>(r: &'a crate::util::Run, secrets: &[&str]) -> &'a str {
    assert_eq!(
        r.code, 1,
        "expected a refusal, got {}: {}",
        r.code, r.stdout
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    for s in secrets {
        assert!(
            !r.stderr.contains(s),
            "the error shows a secret: {}",
            r.stderr
        );
    }
    &r.stderr
}

// ---------------------------------------------------------------------------
// 1. Alias references, checked on the store's canonical id (real servers).

/// Every way `aliases` spells the victim's password id is refused for the
/// attacker — at seal, at reveal, with references kept, and through a
/// workflow — while the victim itself still reads through an alias.
fn aliases_are_refused(kms: &Kms, aliases: impl Fn(&str) -> Vec<String>) {
    let om = kms.om(true);
    let victim = Doc::mysql("victim");
    om.json(&victim.args("seal"), &victim.doc);
    let id = kms.id(&format!(
        "openmetadata/database/{}/authtype/password",
        victim.name
    ));
    let pw = victim.secrets[0].1.as_str();
    assert_eq!(kms.read(std::slice::from_ref(&id))[0].as_deref(), Some(pw));
    let list = aliases(&id);
    assert!(!list.is_empty());
    for alias in &list {
        let reference = format!("secret:{alias}");
        let r = om.run(&svc("seal", "attacker"), &mysql(&reference).to_string());
        let e = refused(&r, &[pw]);
        assert!(
            e.contains("another entity") || e.contains("refuses"),
            "{alias}: {e}"
        );

        let stored = mysql(&token(&om, &reference));
        for extra in [&[][..], &["--keep-references"][..]] {
            let mut args = svc("reveal", "attacker");
            args.extend_from_slice(extra);
            let r = om.run(&args, &stored.to_string());
            let e = refused(&r, &[pw]);
            assert!(
                e.contains("another entity") || e.contains("refuses"),
                "{alias}: {e}"
            );
        }
        let wf = json!({"name": "attacker", "request": {"serviceType": "Database", "connection": {"config": stored}}});
        let r = om.run(&["reveal", "--workflow", "attacker"], &wf.to_string());
        refused(&r, &[pw]);
    }
    // The victim's own reference, in the canonical form, still resolves.
    let own = mysql(&token(&om, &format!("secret:{id}")));
    assert_eq!(
        om.json(&svc("reveal", &victim.name), &own)["authType"]["password"],
        pw
    );
}

#[test]
fn vault_aliases_cannot_reach_another_entity() {
    aliases_are_refused(&Kms::new(Kind::Vault), |id| {
        vec![
            id.trim_start_matches('/').to_string(),
            format!("/{id}"),
            id.replacen("/openmetadata/", "/openmetadata//", 1),
            id.replacen("/openmetadata/", "/openmetadata/./", 1),
            id.replacen("/database/", "/database/attacker/../", 1),
            id.replacen("/database/", "/database%2F", 1),
        ]
    });
}

#[test]
fn aws_arns_cannot_reach_another_entity() {
    let kms = Kms::new(Kind::Aws);
    aliases_are_refused(&kms, |id| {
        let arn = kms.describe(id)["ok"]["arn"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_default();
        let mut v = vec![format!(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:{id}"
        )];
        if !arn.is_empty() {
            v.push(arn);
        }
        v
    });
}

#[test]
fn ssm_arns_and_selectors_cannot_reach_another_entity() {
    aliases_are_refused(&Kms::new(Kind::Ssm), |id| {
        vec![
            format!("arn:aws:ssm:us-east-1:123456789012:parameter{id}"),
            format!("{id}:1"),
            id.trim_start_matches('/').to_string(),
        ]
    });
}

// ---------------------------------------------------------------------------
// 2. --keep-references runs the same check.

#[test]
fn kept_references_are_checked_too() {
    let om = Om::new();
    let stored = om.json(&svc("seal", "victim"), &mysql("victim-pw-1"));
    let r = om.run(
        &[
            "reveal",
            "--service-type",
            "database",
            "--name",
            "attacker",
            "--keep-references",
        ],
        &stored.to_string(),
    );
    let e = refused(&r, &["victim-pw-1"]);
    assert!(
        e.contains("/openmetadata/database/victim/authtype/password"),
        "{e}"
    );
    // The owner keeps its reference.
    let kept = om.json(
        &[
            "reveal",
            "--service-type",
            "database",
            "--name",
            "victim",
            "--keep-references",
        ],
        &stored,
    );
    assert_eq!(
        kept["authType"]["password"],
        "secret:/openmetadata/database/victim/authtype/password"
    );
}

// ---------------------------------------------------------------------------
// 3. Names that collide after sanitising.

#[test]
fn names_that_sanitise_alike_never_share_secrets() {
    let om = Om::new();
    let groups: &[&[&str]] = &[
        &["db-東京", "db-大阪", "db-__"],
        &["Kafka.Prod", "kafka prod", "kafka_prod", "KAFKA_PROD"],
        &["\u{212a}afka", "kafka", "Kafka"],
    ];
    for group in groups {
        let before = om.store_ids().len();
        let mut stored = Vec::new();
        for (i, name) in group.iter().enumerate() {
            let pw = format!("pw-{i}-{}", name.len());
            stored.push((name, pw.clone(), om.json(&svc("seal", name), &mysql(&pw))));
        }
        assert_eq!(
            om.store_ids().len(),
            before + group.len(),
            "{group:?}: one secret each"
        );
        for (name, pw, s) in &stored {
            assert_eq!(
                om.json(&svc("reveal", name), s)["authType"]["password"],
                pw.as_str()
            );
        }
        // Another name's stored row does not reveal for this one.
        let (_, pw0, s0) = &stored[0];
        let r = om.run(&svc("reveal", group[1]), &s0.to_string());
        refused(&r, &[pw0]);
        // forget deletes only its own.
        let forgot = om.json(&svc("forget", group[0]), s0);
        assert_eq!(forgot["deleted"].as_array().unwrap().len(), 1, "{forgot}");
        for (name, pw, s) in &stored[1..] {
            assert_eq!(
                om.json(&svc("reveal", name), s)["authType"]["password"],
                pw.as_str()
            );
        }
    }
    // Plain names keep OpenMetadata's ids byte for byte.
    assert!(
        om.store_ids()
            .contains(&"/openmetadata/database/kafka_prod/authtype/password".to_string())
    );
    assert!(
        om.store_ids()
            .contains(&"/openmetadata/database/db-__/authtype/password".to_string())
    );
}

#[test]
fn service_types_are_case_insensitive_and_not_entity_kinds() {
    let om = Om::new();
    let stored = om.json(
        &["seal", "--service-type", "Database", "--name", "x"],
        &mysql("pw-case"),
    );
    assert_eq!(
        om.store_ids(),
        ["/openmetadata/database/x/authtype/password"]
    );
    assert_eq!(
        om.json(
            &["reveal", "--service-type", "DATABASE", "--name", "x"],
            &stored
        )["authType"]["password"],
        "pw-case"
    );
    // A "service" of type bot would write a bot's ids.
    let bot = om.json(
        &["seal", "--bot", "ingestion-bot"],
        &json!({"name": "ingestion-bot", "isBot": true, "authenticationMechanism": {"authType": "JWT", "config": {"JWTToken": "jwt-1"}}}),
    );
    for t in ["bot", "Bot", "workflow", "dbt"] {
        let cfg = json!({"type": "JWT", "authType": "JWT", "config": {"JWTToken": "forged"}});
        let r = om.run(
            &["seal", "--service-type", t, "--name", "ingestion-bot"],
            &cfg.to_string(),
        );
        let e = refused(&r, &["jwt-1"]);
        assert!(e.contains("--service-type"), "{t}: {e}");
    }
    assert_eq!(
        om.json(&["reveal", "--bot", "ingestion-bot"], &bot)["authenticationMechanism"]["config"]["JWTToken"],
        "jwt-1"
    );
}

// ---------------------------------------------------------------------------
// 4. A pipeline service and an ingestion pipeline of the same name.

fn dbt_pipeline(name: &str, token: &str) -> Value {
    json!({"name": name, "sourceConfig": {"config": {"type": "DBT", "dbtConfigSource": {
        "dbtConfigType": "cloud", "dbtCloudAuthToken": token, "dbtCloudAccountId": "1",
        "dbtCloudUrl": "https://cloud.getdbt.com"}}}})
}

#[test]
fn a_pipeline_service_cannot_reach_its_namesakes_ingestion_secrets() {
    let om = Om::new();
    let pipeline = om.json(
        &["seal", "--pipeline", "foo"],
        &dbt_pipeline("foo", "dbt-tok-1"),
    );
    let dbt_id = "/openmetadata/pipeline/foo/sourceconfig/config/dbtconfigsource/dbtcloudauthtoken";
    assert_eq!(om.store_ids(), [dbt_id]);
    let args = ["seal", "--service-type", "pipeline", "--name", "foo"];
    // As a reference, plain or copied as a token.
    for value in [
        format!("secret:{dbt_id}"),
        token(&om, &format!("secret:{dbt_id}")),
    ] {
        let cfg = json!({"type": "DBTCloud", "host": "https://x", "token": value});
        refused(&om.run(&args, &cfg.to_string()), &["dbt-tok-1"]);
        let r = om.run(
            &["reveal", "--service-type", "pipeline", "--name", "foo"],
            &json!({"type": "DBTCloud", "host": "https://x", "token": token(&om, &format!("secret:{dbt_id}"))}).to_string(),
        );
        refused(&r, &["dbt-tok-1"]);
    }
    // The service's own secrets live beside, and forgetting it leaves the pipeline's.
    let service = om.json(
        &args,
        &json!({"type": "DBTCloud", "host": "https://x", "token": "svc-tok"}),
    );
    let forgot = om.json(
        &["forget", "--service-type", "pipeline", "--name", "foo"],
        &service,
    );
    assert_eq!(
        forgot["deleted"],
        json!(["/openmetadata/pipeline/foo/token"])
    );
    assert_eq!(om.store_ids(), [dbt_id]);
    assert_eq!(
        om.json(&["reveal", "--pipeline", "foo"], &pipeline)["sourceConfig"]["config"]["dbtConfigSource"]
            ["dbtCloudAuthToken"],
        "dbt-tok-1"
    );
}

// ---------------------------------------------------------------------------
// 5. merge with arrays: by identity, never by position; orphans deleted.

fn mcp(servers: Value) -> Value {
    json!({"type": "Mcp", "servers": servers})
}

/// What OpenMetadata's server does on an update of the MCP service `tools`:
/// merge the (masked) update with the stored form, seal it knowing the
/// previous form, and return what it reveals; the new stored form replaces
/// the previous one in `stored_path`.
fn update(om: &Om, stored_path: &std::path::Path, incoming: &Value) -> Value {
    let stored_arg = stored_path.to_str().unwrap();
    let merged = om.json(
        &["merge", "--service-type", "mcp", "--stored", stored_arg],
        incoming,
    );
    let sealed = om.json(
        &[
            "seal",
            "--service-type",
            "mcp",
            "--name",
            "tools",
            "--previous",
            stored_arg,
        ],
        &merged,
    );
    std::fs::write(stored_path, sealed.to_string()).unwrap();
    om.json(
        &["reveal", "--service-type", "mcp", "--name", "tools"],
        &sealed,
    )
}

#[test]
fn merge_matches_array_elements_by_name_and_seal_deletes_orphans() {
    let om = Om::new();
    let args = ["seal", "--service-type", "mcp", "--name", "tools"];
    let v1 = mcp(json!([
        {"name": "A", "url": "https://a.example", "apiKey": "key-of-A"},
        {"name": "B", "url": "https://b.example", "apiKey": "key-of-B"}
    ]));
    let stored_path = om.home.path().join("stored.json");
    let masked = om.json(&["mask", "--service-type", "mcp"], &v1);

    // A removed; B sent back masked: B keeps its own key.
    std::fs::write(&stored_path, om.json(&args, &v1).to_string()).unwrap();
    assert_eq!(om.store_ids().len(), 2);
    let revealed = update(
        &om,
        &stored_path,
        &mcp(json!([masked["servers"][1].clone()])),
    );
    assert_eq!(
        revealed["servers"],
        json!([{"name": "B", "url": "https://b.example", "apiKey": "key-of-B"}])
    );
    // A's secret is gone; exactly one remains, holding B's key.
    assert_eq!(om.store_ids(), ["/openmetadata/mcp/tools/servers/0/apikey"]);

    // Reordering keeps each element's own key.
    std::fs::write(&stored_path, om.json(&args, &v1).to_string()).unwrap();
    let swapped = mcp(json!([
        masked["servers"][1].clone(),
        masked["servers"][0].clone()
    ]));
    let revealed = update(&om, &stored_path, &swapped);
    assert_eq!(revealed["servers"][0]["apiKey"], "key-of-B");
    assert_eq!(revealed["servers"][1]["apiKey"], "key-of-A");

    // Then a new element with a new key at index 1 must not change B's.
    let mut grown = om.json(&["mask", "--service-type", "mcp"], &revealed);
    grown["servers"][1] = json!({"name": "C", "url": "https://c.example", "apiKey": "key-of-C"});
    let revealed = update(&om, &stored_path, &grown);
    assert_eq!(revealed["servers"][0]["apiKey"], "key-of-B");
    assert_eq!(revealed["servers"][1]["apiKey"], "key-of-C");
    assert_eq!(om.store_ids().len(), 2, "{:?}", om.store_ids());

    // Elements without identity fail closed, naming the pointer.
    let anon = mcp(json!([{"url": "https://a.example", "apiKey": MASK}]));
    let r = om.run(
        &[
            "merge",
            "--service-type",
            "mcp",
            "--stored",
            stored_path.to_str().unwrap(),
        ],
        &anon.to_string(),
    );
    assert!(
        refused(&r, &[]).contains("/servers/0/apiKey"),
        "{}",
        r.stderr
    );
}

#[test]
fn forget_finds_every_id_of_the_entity_and_only_those() {
    let om = Om::new();
    let args = ["seal", "--service-type", "mcp", "--name", "svc"];
    let first = om.json(
        &args,
        &mcp(json!([{"name": "A", "apiKey": "ka"}, {"name": "B", "apiKey": "kb"}])),
    );
    // An update sealed without its previous form orphans index 1.
    let second = om.json(&args, &mcp(json!([{"name": "A", "apiKey": "ka2"}])));
    // Siblings whose names share a prefix.
    let sibling = om.json(
        &["seal", "--service-type", "mcp", "--name", "svc-2"],
        &mcp(json!([{"name": "Z", "apiKey": "kz"}])),
    );
    assert_eq!(om.store_ids().len(), 3);
    let forgot = om.json(
        &["forget", "--service-type", "mcp", "--name", "svc"],
        &second,
    );
    assert_eq!(
        forgot["deleted"],
        json!([
            "/openmetadata/mcp/svc/servers/0/apikey",
            "/openmetadata/mcp/svc/servers/1/apikey"
        ])
    );
    assert_eq!(om.store_ids(), ["/openmetadata/mcp/svc-2/servers/0/apikey"]);
    assert_eq!(
        om.json(
            &["reveal", "--service-type", "mcp", "--name", "svc-2"],
            &sibling
        )["servers"][0]["apiKey"],
        "kz"
    );
    let _ = first;
}

// ---------------------------------------------------------------------------
// 6. mask → merge → seal outside the discovered fields.

#[test]
fn masks_anywhere_are_restored_by_merge_and_refused_by_seal() {
    // db mode: the references are the user's own, never resolved here.
    let om = Om::new().with("SECRET_MANAGER", "db");
    let mut cfg = mysql("pw-6");
    cfg["databaseSchema"] = json!("secret:/team/schema-ref");
    cfg["connectionArguments"] = json!({"init": {"ref": "secret:/team/init-ref"}});
    let stored = om.json(&svc("seal", "six"), &cfg);
    let masked = om.json(&["mask", "--service-type", "database"], &stored);
    assert_eq!(masked["databaseSchema"], MASK);
    assert_eq!(masked["connectionArguments"]["init"]["ref"], MASK);
    // Sealing the masked view is refused at the first mask, whichever field.
    let mut only_outside = masked.clone();
    only_outside["authType"]["password"] = json!("new-pw");
    let r = om.run(&svc("seal", "six"), &only_outside.to_string());
    let e = refused(&r, &["new-pw"]);
    assert!(
        e.contains("/databaseSchema") || e.contains("/connectionArguments/init/ref"),
        "{e}"
    );
    // merge puts every stored value back.
    let stored_path = om.home.path().join("six.json");
    std::fs::write(&stored_path, stored.to_string()).unwrap();
    let merged = om.json(
        &[
            "merge",
            "--service-type",
            "database",
            "--stored",
            stored_path.to_str().unwrap(),
        ],
        &only_outside,
    );
    assert_eq!(merged["databaseSchema"], stored["databaseSchema"]);
    assert_eq!(merged["connectionArguments"], stored["connectionArguments"]);
    assert_ne!(merged["databaseSchema"], MASK);
    let resealed = om.json(&svc("seal", "six"), &merged);
    let mut reveal = svc("reveal", "six");
    reveal.push("--keep-references");
    let revealed = om.json(&reveal, &resealed);
    assert_eq!(
        revealed["connectionArguments"]["init"]["ref"],
        "secret:/team/init-ref"
    );
    assert_eq!(revealed["authType"]["password"], "new-pw");
    assert_eq!(revealed["databaseSchema"], "secret:/team/schema-ref");
}

// ---------------------------------------------------------------------------
// 7. Partial writes: every id checked first; a store failing half-way undone.

/// A memory store whose `fail_at`-th write fails (transiently).
struct FailingStore {
    inner: MemoryStore,
    fail_at: usize,
    seen: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl SecretStore for FailingStore {
    fn name(&self) -> &str {
        "failing"
    }
    async fn get(&self, id: &str) -> Result<Option<SecretValue>, KmsError> {
        self.inner.get(id).await
    }
    async fn put(&self, id: &str, value: &str) -> Result<(), KmsError> {
        let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == self.fail_at {
            return Err(KmsError::new(
                "failing",
                Some(id),
                KmsErrorKind::Transient,
                "injected",
            ));
        }
        self.inner.put(id, value).await
    }
    async fn delete(&self, id: &str) -> Result<bool, KmsError> {
        self.inner.delete(id).await
    }
}

fn library_manager(store: Arc<dyn SecretStore>) -> SecretsManager {
    let (_home, plugins) = crate::util::builtin_plugins();
    SecretsManager::new(
        Backend::Managed(store),
        FernetKeys::parse("jJ4-iIi4Fj4cZpMk8hBgY0cxuJrYHAnP6y3bKCOXJ0w=").unwrap(),
        IdBuilder::new("", "openmetadata"),
        plugins,
    )
}

#[test]
fn a_seal_that_fails_half_way_is_undone() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(FailingStore {
        inner: MemoryStore::new(),
        fail_at: usize::MAX,
        seen: Default::default(),
    });
    let m = library_manager(store.clone());
    let subject = Subject::service("database", Some("seven")).unwrap();
    let mut v1 = mysql("old-pw");
    v1["sslConfig"] = json!({"caCertificate": "old-ca", "sslKey": "old-key"});
    let stored = rt.block_on(m.seal(&subject, &v1)).unwrap();
    let before: Vec<(String, Option<String>)> = rt.block_on(async {
        let mut v = Vec::new();
        for id in store.inner.ids() {
            let val = store.inner.get(&id).await.unwrap().map(|s| s.to_string());
            v.push((id, val));
        }
        v
    });
    assert_eq!(before.len(), 3);
    // The second of three writes fails: the first is put back.
    let mut v2 = v1.clone();
    v2["authType"]["password"] = json!("new-pw");
    v2["sslConfig"] = json!({"caCertificate": "new-ca", "sslKey": "new-key"});
    let store2 = Arc::new(FailingStore {
        inner: MemoryStore::new(),
        fail_at: 1,
        seen: Default::default(),
    });
    rt.block_on(async {
        for (id, v) in &before {
            store2.inner.put(id, v.as_deref().unwrap()).await.unwrap();
        }
    });
    let m2 = library_manager(store2.clone());
    let e = rt.block_on(m2.seal(&subject, &v2)).unwrap_err();
    assert!(
        matches!(e, om_secrets::Error::Kms(ref k) if k.kind == KmsErrorKind::Transient),
        "{e}"
    );
    let after: Vec<(String, Option<String>)> = rt.block_on(async {
        let mut v = Vec::new();
        for id in store2.inner.ids() {
            let val = store2.inner.get(&id).await.unwrap().map(|s| s.to_string());
            v.push((id, val));
        }
        v
    });
    assert_eq!(after, before, "the store is as it was");
    let revealed = rt.block_on(m2.reveal(&subject, &stored, false)).unwrap();
    assert_eq!(revealed["authType"]["password"], "old-pw");
}

#[test]
fn vault_ids_are_validated_before_the_first_write() {
    let kms = Kms::new(Kind::Vault);
    let om = kms.om(true);
    let d = Doc::mysql("seven");
    let stored = om.json(&d.args("seal"), &d.doc);
    let ids = d.ids(&kms);
    let before = kms.read(&ids);
    // The bad field comes last: a field-by-field seal would have written the rest.
    let mut bad = d.doc.clone();
    bad["authType"]["password"] = json!("brand-new-pw");
    bad["sslConfig"]["caCertificate"] = json!("brand-new-ca");
    bad["connectionOptions"]["password"] = json!("opt-pw");
    // A URL with a password under the key "": the id `…/connectionoptions/`
    // is one Vault refuses only when written.
    bad["connectionOptions"][""] = json!("postgres://u:url-pw@h/db");
    let r = om.run(&d.args("seal"), &bad.to_string());
    refused(&r, &["brand-new-pw", "opt-pw"]);
    assert_eq!(kms.read(&ids), before, "nothing was written");
    assert_eq!(om.json(&d.args("reveal"), &stored), d.doc);
}

// ---------------------------------------------------------------------------
// 8. The document's shape is what it declares.

#[test]
fn a_bare_config_with_a_connection_key_is_still_a_config() {
    let om = Om::new();
    let mut cfg = mysql("pw-8");
    cfg["connection"] = json!({"config": {"note": "a property of this connector"}});
    let stored = om.json(&svc("seal", "eight"), &cfg);
    assert_absent(&stored, "pw-8");
    assert_eq!(
        om.store_ids(),
        ["/openmetadata/database/eight/authtype/password"]
    );
    let masked = om.json(&["mask", "--service-type", "database"], &cfg);
    assert_eq!(masked["authType"]["password"], MASK);
    // A declared entity is read from connection.config.
    let entity =
        json!({"name": "e", "serviceType": "Mysql", "connection": {"config": mysql("pw-e")}});
    let stored = om.json(&svc("seal", "e"), &entity);
    assert_absent(&stored, "pw-e");
    assert!(
        om.store_ids()
            .contains(&"/openmetadata/database/e/authtype/password".to_string())
    );
}

// ---------------------------------------------------------------------------
// 11. openMetadataServerConnection is never stored nor shown.

#[test]
fn the_servers_connection_is_never_stored_nor_shown() {
    let om = Om::new();
    let server = json!({"hostPort": "http://om:8585/api", "authProvider": "openmetadata",
        "securityConfig": {"jwtToken": "eyJ-ingestion-bot-jwt"},
        "extraHeaders": {"Authorization": "Bearer eyJ-header"}});
    let mut pipeline = dbt_pipeline("p11", "dbt-11");
    pipeline["openMetadataServerConnection"] = server.clone();
    let stored = om.json(&["seal", "--pipeline", "p11"], &pipeline);
    assert!(
        stored.get("openMetadataServerConnection").is_none(),
        "{stored}"
    );
    assert_absent(&stored, "eyJ-ingestion-bot-jwt");
    let masked = om.json(&["mask", "--pipeline", "p11"], &pipeline);
    assert!(
        masked.get("openMetadataServerConnection").is_none(),
        "{masked}"
    );
    assert_absent(&masked, "eyJ-ingestion-bot-jwt");
    assert_absent(&masked, "Bearer eyJ-header");
    // reveal leaves what a privileged caller passed.
    let mut with = stored.clone();
    with["openMetadataServerConnection"] = server.clone();
    assert_eq!(
        om.json(&["reveal", "--pipeline", "p11"], &with)["openMetadataServerConnection"],
        server
    );

    let wf = json!({"name": "w11", "request": {"serviceType": "Database", "connection": {"config": mysql("pw-11")}},
        "openMetadataServerConnection": server});
    let stored = om.json(&["seal", "--workflow", "w11"], &wf);
    assert!(
        stored.get("openMetadataServerConnection").is_none(),
        "{stored}"
    );
    let masked = om.json(&["mask", "--workflow", "w11"], &wf);
    assert!(
        masked.get("openMetadataServerConnection").is_none(),
        "{masked}"
    );
}

// Two fields of one entity that sanitise alike would share one secret.
#[test]
fn two_fields_never_share_a_secret_id() {
    let om = Om::new();
    let mut cfg = mysql("pw-f");
    cfg["connectionOptions"] = json!({"api.key": "key-one", "api_key": "key-two"});
    let r = om.run(&svc("seal", "fields"), &cfg.to_string());
    let e = refused(&r, &["key-one", "key-two"]);
    assert!(
        e.contains("/connectionOptions/api.key") && e.contains("/connectionOptions/api_key"),
        "{e}"
    );
    assert!(
        om.store_ids().is_empty(),
        "nothing written: {:?}",
        om.store_ids()
    );
}

// Red-team findings F4, F1, F5: every mode checks references into the
// namespace; an OpenMetadata-era id of a renamed-by-hash entity is named as
// such; an own reference is stored in its canonical form.
#[test]
fn every_mode_checks_references_into_the_namespace() {
    let om = Om::new();
    let stored = om.json(&svc("seal", "victim"), &mysql("victim-pw-4"));
    for mode in ["db", "local"] {
        for keep in [true, false] {
            let mut args = svc("reveal", "attacker");
            if keep {
                args.push("--keep-references");
            }
            let mut cmd = om.command(&args);
            cmd.env("SECRET_MANAGER", mode);
            let out = crate::util::feed(cmd, &stored.to_string());
            assert_eq!(out.status.code(), Some(1), "{mode} keep={keep}");
            let err = String::from_utf8(out.stderr).unwrap();
            assert!(
                err.contains("/openmetadata/database/victim/authtype/password")
                    && err.contains("another entity")
                    && !err.contains("victim-pw-4"),
                "{mode}: {err}"
            );
        }
    }
    // The owner still reads it in non-managed mode.
    let mut cmd = om.command(&svc("reveal", "victim"));
    cmd.env("SECRET_MANAGER", "local");
    let out = crate::util::feed(cmd, &stored.to_string());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["authType"]["password"], "victim-pw-4");
}

#[test]
fn an_openmetadata_era_id_of_a_hashed_name_is_named_as_such() {
    let om = Om::new();
    // OpenMetadata names pipelines `<service>_<type>_<8 mixed-case characters>`
    // and stored their dbt token under the lower-cased name.
    let name = "mysql_dbt_aB3xY9kQ";
    let legacy = "/openmetadata/pipeline/mysql_dbt_ab3xy9kq/sourceconfig/config/dbtconfigsource/dbtcloudauthtoken";
    let doc = dbt_pipeline(name, &format!("secret:{legacy}"));
    let r = om.run(&["seal", "--pipeline", name], &doc.to_string());
    let e = refused(&r, &[]);
    assert!(
        e.contains(legacy) && e.contains("OpenMetadata's id for this entity's name"),
        "{e}"
    );
    // Sent again as a value, it goes below the entity's own root.
    let stored = om.json(
        &["seal", "--pipeline", name],
        &dbt_pipeline(name, "dbt-tok-9"),
    );
    let ids = om.store_ids();
    assert_eq!(ids.len(), 1);
    assert!(
        ids[0].starts_with("/openmetadata/pipeline/mysql_dbt_ab3xy9kq."),
        "{ids:?}"
    );
    assert_eq!(
        om.json(&["reveal", "--pipeline", name], &stored)["sourceConfig"]["config"]["dbtConfigSource"]
            ["dbtCloudAuthToken"],
        "dbt-tok-9"
    );
}

#[test]
fn an_own_reference_is_stored_in_the_form_the_store_resolves() {
    let kms = Kms::new(Kind::Ssm);
    let om = kms.om(true);
    let me = Doc::mysql("own");
    let stored = om.json(&me.args("seal"), &me.doc);
    let id = kms.id(&format!(
        "openmetadata/database/{}/authtype/password",
        me.name
    ));
    let mut again = stored.clone();
    again["authType"]["password"] = json!(format!("secret:{id}:1"));
    let resealed = om.json(&me.args("seal"), &again);
    assert_eq!(
        crate::kms_common::decrypt(&resealed, "/authType/password"),
        format!("secret:{id}")
    );
}

// Red team 2, F3: OpenMetadata never returns an Application's private
// config; numbers and flags beside its tokens were shown.
#[test]
fn an_applications_private_config_is_masked_whole_and_merged_back() {
    let om = Om::new();
    let app = json!({"name": "app1", "sourceConfig": {"config": {"type": "Application",
        "appConfig": {"type": "SearchIndexing"},
        "appPrivateConfig": {"token": "app-tok-1", "pin": 1234, "on": true}}}});
    let stored = om.json(&["seal", "--pipeline", "app1"], &app);
    let masked = om.json(&["mask", "--pipeline", "app1"], &stored);
    assert_eq!(masked["sourceConfig"]["config"]["appPrivateConfig"], MASK);
    assert_eq!(
        masked["sourceConfig"]["config"]["appConfig"]["type"],
        "SearchIndexing"
    );
    // A viewer's update keeps the stored private config, whole.
    let stored_path = om.home.path().join("app1.json");
    std::fs::write(&stored_path, stored.to_string()).unwrap();
    let merged = om.json(
        &[
            "merge",
            "--pipeline",
            "app1",
            "--stored",
            stored_path.to_str().unwrap(),
        ],
        &masked,
    );
    assert_eq!(
        merged["sourceConfig"]["config"]["appPrivateConfig"],
        stored["sourceConfig"]["config"]["appPrivateConfig"]
    );
    let resealed = om.json(&["seal", "--pipeline", "app1"], &merged);
    assert_eq!(om.json(&["reveal", "--pipeline", "app1"], &resealed), app);
}

// Review finding: db mode has no store to say what an ARN or a selector
// resolves to; red team 2 F4: an error never echoes a value from `type`.
#[test]
fn db_mode_refuses_namespace_references_it_cannot_resolve_and_errors_echo_no_type_value() {
    let om = Om::new().with("SECRET_MANAGER", "db");
    for reference in [
        "secret:arn:aws:ssm:us-east-1:123456789012:parameter/openmetadata/database/victim/authtype/password",
        "secret:/openmetadata/database/victim/authtype/password:1",
        "secret:openmetadata/database/victim/authtype/password",
    ] {
        let r = om.run(&svc("seal", "attacker"), &mysql(reference).to_string());
        assert!(
            refused(&r, &[]).contains("/authType/password"),
            "{reference}: {}",
            r.stderr
        );
    }
    // A reference of the user's own, outside the namespace, still passes.
    om.json(&svc("seal", "attacker"), &mysql("secret:/team/db-password"));

    let token = token(&om, "TOPSECRET-TYPE");
    let r = om.run(
        &["mask", "--service-type", "database"],
        &json!({"type": token}).to_string(),
    );
    let e = refused(&r, &[&token, "TOPSECRET-TYPE"]);
    assert!(e.contains("no connector type name"), "{e}");
    let r = om.run(
        &["mask", "--service-type", "database"],
        &json!({"type": "NoSuchDb"}).to_string(),
    );
    assert!(refused(&r, &[]).contains("`NoSuchDb`"), "{}", r.stderr);
}
