//! The three modes' stored forms, round trips, idempotence and migration,
//! through the CLI on the embedded store.

use om_secrets::fernet::FernetKeys;
use serde_json::{Value, json};

use crate::util::{Om, assert_absent};

const KEY: &str = "jJ/9sz0g0OHxsfxOoSfdFdmk3ysNmPRnH3TUAbz3IHA=";

fn mysql() -> Value {
    json!({
        "type": "Mysql",
        "username": "om",
        "authType": {"password": "mysql-Pa55"},
        "hostPort": "db:3306",
        "sslConfig": {"caCertificate": "-----CA-CERT-----"},
        "connectionOptions": {"ssl_mode": "REQUIRED", "api_key": "opt-api-key"}
    })
}

const SECRETS: &[(&str, &str)] = &[
    ("/authType/password", "mysql-Pa55"),
    ("/sslConfig/caCertificate", "-----CA-CERT-----"),
    ("/connectionOptions/api_key", "opt-api-key"),
];

fn decrypt(v: &Value, pointer: &str) -> String {
    crate::util::unseal(KEY, v, pointer)
}

fn seal(om: &Om, doc: &Value) -> Value {
    om.json(
        &["seal", "--service-type", "database", "--name", "mysql-test"],
        doc,
    )
}

fn reveal(om: &Om, doc: &Value) -> Value {
    om.json(
        &[
            "reveal",
            "--service-type",
            "database",
            "--name",
            "mysql-test",
        ],
        doc,
    )
}

/// Everything but the secret fields is untouched.
fn assert_same_outside_secrets(a: &Value, b: &Value) {
    let (mut a, mut b) = (a.clone(), b.clone());
    for (p, _) in SECRETS {
        *a.pointer_mut(p).unwrap() = Value::Null;
        *b.pointer_mut(p).unwrap() = Value::Null;
    }
    assert_eq!(a, b);
}

#[test]
fn db_mode_encrypts_in_place() {
    let om = Om::new()
        .with("SECRET_MANAGER", "db")
        .with("FERNET_KEY", KEY);
    let stored = seal(&om, &mysql());
    for (p, v) in SECRETS {
        assert_absent(&stored, v);
        assert_eq!(decrypt(&stored, p), *v);
    }
    assert_same_outside_secrets(&stored, &mysql());
    assert!(
        om.store_bytes().is_none(),
        "db mode must not create a store"
    );
    assert_eq!(reveal(&om, &stored), mysql());
}

#[test]
fn managed_mode_stores_in_the_kms_under_openmetadata_ids() {
    let om = Om::new().with("FERNET_KEY", KEY); // the embedded default: managed-local
    let stored = seal(&om, &mysql());
    let ids = [
        "/openmetadata/database/mysql-test/authtype/password",
        "/openmetadata/database/mysql-test/connectionoptions/api_key",
        "/openmetadata/database/mysql-test/sslconfig/cacertificate",
    ];
    assert_eq!(om.store_ids(), ids);
    assert_eq!(
        decrypt(&stored, "/authType/password"),
        "secret:/openmetadata/database/mysql-test/authtype/password"
    );
    for (_, v) in SECRETS {
        assert_absent(&stored, v);
    }
    let raw = String::from_utf8(om.store_bytes().unwrap()).unwrap();
    for (_, v) in SECRETS {
        assert!(!raw.contains(v), "store file holds a plaintext value");
    }
    assert_eq!(reveal(&om, &stored), mysql());
    let refs = om.json(
        &[
            "reveal",
            "--service-type",
            "database",
            "--name",
            "mysql-test",
            "--keep-references",
        ],
        &stored,
    );
    assert_eq!(
        refs["authType"]["password"],
        "secret:/openmetadata/database/mysql-test/authtype/password"
    );
}

#[test]
fn prefix_and_cluster_name_shape_the_ids() {
    let om = Om::new()
        .with("FERNET_KEY", KEY)
        .with("SECRET_MANAGER_PREFIX", "prefix")
        .with("OPENMETADATA_CLUSTER_NAME", "Prod Cluster");
    seal(
        &om,
        &json!({"type": "Mysql", "authType": {"password": "x"}}),
    );
    assert_eq!(
        om.store_ids(),
        ["/prefix/prod_cluster/database/mysql-test/authtype/password"]
    );
}

#[test]
fn non_managed_mode_passes_references_and_encrypts_the_rest() {
    let om = Om::new()
        .with("SECRET_MANAGER", "managed-local")
        .with("FERNET_KEY", KEY);
    // A secret the user keeps in the store themselves.
    seal(
        &om,
        &json!({"type": "Mysql", "authType": {"password": "team-secret"}}),
    );
    let user_ref = "secret:/openmetadata/database/mysql-test/authtype/password";

    let om = Om {
        home: om.home,
        vars: vec![
            ("SECRET_MANAGER".into(), "local".into()),
            ("FERNET_KEY".into(), KEY.into()),
        ],
    };
    let before = om.store_bytes();
    let doc = json!({"type": "Mysql", "authType": {"password": user_ref}, "sslConfig": {"caCertificate": "ca-pem"}});
    // The namespace holds per-entity ids in every mode: another entity may
    // not reference this one's secret, even where om-secrets writes nothing.
    let r = om.run(
        &["seal", "--service-type", "database", "--name", "other"],
        &doc.to_string(),
    );
    assert!(
        r.err().contains("a secret of another entity"),
        "{}",
        r.stderr
    );
    let stored = om.json(
        &["seal", "--service-type", "database", "--name", "mysql-test"],
        &doc,
    );
    assert_eq!(decrypt(&stored, "/authType/password"), user_ref);
    assert_eq!(decrypt(&stored, "/sslConfig/caCertificate"), "ca-pem");
    assert_eq!(
        om.store_bytes(),
        before,
        "non-managed mode never writes the store"
    );
    let plain = om.json(
        &[
            "reveal",
            "--service-type",
            "database",
            "--name",
            "mysql-test",
        ],
        &stored,
    );
    assert_eq!(plain["authType"]["password"], "team-secret");
    let r = om.run(
        &["reveal", "--service-type", "database", "--name", "other"],
        &stored.to_string(),
    );
    assert!(!r.err().contains("team-secret"), "{}", r.stderr);

    let missing = json!({"type": "Mysql", "authType": {"password": "secret:/team/nope"}});
    let r = om.run(
        &["seal", "--service-type", "database", "--name", "other"],
        &missing.to_string(),
    );
    let err = r.err();
    assert!(
        err.contains("/authType/password")
            && err.contains("/team/nope")
            && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn managed_mode_keeps_user_references() {
    let om = Om::new().with("FERNET_KEY", KEY);
    // A secret the user keeps outside om-secrets' namespace.
    let home = om.path("");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        use om_secrets::kms::SecretStore;
        let store = om_secrets::kms::local::LocalStore::open(&home).unwrap();
        store.put("/team/mysql-password", "team-pw").await.unwrap();
    });
    let r = "secret:/team/mysql-password";
    let stored = om.json(
        &["seal", "--service-type", "database", "--name", "copy"],
        &json!({"type": "Mysql", "authType": {"password": r}}),
    );
    assert_eq!(decrypt(&stored, "/authType/password"), r);
    assert_eq!(
        om.store_ids(),
        ["/team/mysql-password"],
        "a reference is not copied"
    );
    let plain = om.json(
        &["reveal", "--service-type", "database", "--name", "copy"],
        &stored,
    );
    assert_eq!(plain["authType"]["password"], "team-pw");
}

#[test]
fn another_entitys_managed_secret_cannot_be_referenced() {
    let om = Om::new().with("FERNET_KEY", KEY);
    let victim = seal(
        &om,
        &json!({"type": "Mysql", "authType": {"password": "victim-pw"}}),
    );
    let before = om.store_bytes().expect("the store exists");
    // A user pointing their service at the victim's secret. The bad field
    // comes last, after a plain secret a field-by-field seal would already
    // have written: every check runs before the first write.
    let r = "secret:/openmetadata/database/mysql-test/authtype/password";
    let attempt = json!({"type": "Mysql", "authType": {"password": "attacker-pw"},
                         "connectionOptions": {"apiToken": r}});
    let fields = om.json(
        &["fields", "--service-type", "database", "--name", "attacker"],
        &attempt,
    );
    assert_eq!(
        fields
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["pointer"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["/authType/password", "/connectionOptions/apiToken"]
    );
    let out = om.run(
        &["seal", "--service-type", "database", "--name", "attacker"],
        &attempt.to_string(),
    );
    let err = out.err();
    assert!(
        err.contains("another entity") && err.contains("/connectionOptions/apiToken"),
        "{err}"
    );
    assert_eq!(om.store_bytes().as_deref(), Some(&before[..]), "seal wrote");
    // Someone with the database copying the victim's token into another row
    // (again after a plain secret).
    let copied = json!({"type": "Mysql", "authType": {"password": "attacker-pw"},
                        "connectionOptions": {"apiToken": victim["authType"]["password"]}});
    for op in ["seal", "reveal"] {
        let out = om.run(
            &[op, "--service-type", "database", "--name", "attacker"],
            &copied.to_string(),
        );
        let err = out.err();
        assert!(
            err.contains("another entity") && !err.contains("victim-pw"),
            "{op}: {err}"
        );
        assert_eq!(om.store_bytes().as_deref(), Some(&before[..]), "{op} wrote");
    }
    assert_eq!(
        om.store_ids(),
        ["/openmetadata/database/mysql-test/authtype/password"]
    );
    // The owner still reads it.
    assert_eq!(reveal(&om, &victim)["authType"]["password"], "victim-pw");
}

#[test]
fn sealing_twice_changes_and_writes_nothing() {
    for mode in ["db", "managed-local"] {
        let om = Om::new()
            .with("SECRET_MANAGER", mode)
            .with("FERNET_KEY", KEY);
        let once = seal(&om, &mysql());
        let bytes = om.store_bytes();
        let twice = seal(&om, &once);
        assert_eq!(twice, once, "{mode}: sealing a sealed config changed it");
        assert_eq!(
            om.store_bytes(),
            bytes,
            "{mode}: sealing a sealed config wrote the store"
        );
    }
}

#[test]
fn db_sealed_configs_migrate_into_the_store() {
    let om = Om::new()
        .with("SECRET_MANAGER", "db")
        .with("FERNET_KEY", KEY);
    let db_stored = seal(&om, &mysql());
    let om = Om {
        home: om.home,
        vars: vec![
            ("SECRET_MANAGER".into(), "managed-local".into()),
            ("FERNET_KEY".into(), KEY.into()),
        ],
    };
    let managed = seal(&om, &db_stored);
    assert_eq!(
        decrypt(&managed, "/authType/password"),
        "secret:/openmetadata/database/mysql-test/authtype/password"
    );
    assert_eq!(om.store_ids().len(), 3);
    assert_eq!(reveal(&om, &managed), mysql());
    assert_eq!(seal(&om, &managed), managed, "migration is idempotent");
}

#[test]
fn clearing_a_secret_deletes_it_and_never_stores_null() {
    let om = Om::new().with("FERNET_KEY", KEY);
    let stored = seal(&om, &mysql());
    let mut cleared = stored.clone();
    cleared["authType"]["password"] = Value::Null;
    cleared["sslConfig"]["caCertificate"] = json!("");
    let out = seal(&om, &cleared);
    assert_eq!(out["authType"]["password"], Value::Null);
    assert_eq!(out["sslConfig"]["caCertificate"], "");
    assert_eq!(
        om.store_ids(),
        ["/openmetadata/database/mysql-test/connectionoptions/api_key"]
    );
    let raw = String::from_utf8(om.store_bytes().unwrap()).unwrap();
    assert!(!raw.contains("\"null\""));
    // The string "null" (old OpenMetadata's cleared secret) clears too.
    let mut nulled = out.clone();
    nulled["connectionOptions"]["api_key"] = json!("null");
    let out = seal(&om, &nulled);
    assert_eq!(out["connectionOptions"]["api_key"], Value::Null);
    assert!(om.store_ids().is_empty(), "{:?}", om.store_ids());
}

#[test]
fn forget_deletes_own_secrets_only() {
    let om = Om::new().with("FERNET_KEY", KEY);
    seal(
        &om,
        &json!({"type": "Mysql", "authType": {"password": "team"}}),
    );
    // A secret the user keeps outside om-secrets' namespace, referenced.
    let home = om.path("");
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            use om_secrets::kms::SecretStore;
            let store = om_secrets::kms::local::LocalStore::open(&home).unwrap();
            store.put("/team/ca", "team-ca").await.unwrap();
        });
    let mine = om.json(
        &["seal", "--service-type", "database", "--name", "svc"],
        &json!({"type": "Mysql", "authType": {"password": "own"}, "sslConfig": {"caCertificate": "secret:/team/ca"}}),
    );
    assert_eq!(om.store_ids().len(), 3);
    let out = om.json(
        &["forget", "--service-type", "database", "--name", "svc"],
        &mine,
    );
    assert_eq!(
        out["deleted"],
        json!(["/openmetadata/database/svc/authtype/password"])
    );
    assert_eq!(
        om.store_ids(),
        [
            "/openmetadata/database/mysql-test/authtype/password",
            "/team/ca"
        ]
    );
    // The service can be re-created under the same name.
    let again = om.json(
        &["seal", "--service-type", "database", "--name", "svc"],
        &json!({"type": "Mysql", "authType": {"password": "new"}}),
    );
    assert_eq!(
        om.json(
            &["reveal", "--service-type", "database", "--name", "svc"],
            &again
        )["authType"]["password"],
        "new"
    );
}

#[test]
fn a_changed_key_is_a_clear_error() {
    let om = Om::new()
        .with("SECRET_MANAGER", "db")
        .with("FERNET_KEY", KEY);
    let stored = seal(&om, &mysql());
    let other = Om::new()
        .with("SECRET_MANAGER", "db")
        .with("FERNET_KEY", &FernetKeys::generate_key());
    let r = other.run(
        &[
            "reveal",
            "--service-type",
            "database",
            "--name",
            "mysql-test",
        ],
        &stored.to_string(),
    );
    let err = r.err();
    assert!(
        err.contains("/authType/password") && err.contains("Fernet key changed"),
        "{err}"
    );
    // Rotation: new key first, old key still listed.
    let rotated = Om::new().with("SECRET_MANAGER", "db").with(
        "FERNET_KEY",
        &format!("{},{KEY}", FernetKeys::generate_key()),
    );
    assert_eq!(reveal(&rotated, &stored), mysql());

    let mut tampered = stored.clone();
    let t = tampered["authType"]["password"]
        .as_str()
        .unwrap()
        .to_string();
    let mid = t.len() / 2;
    let flip = if &t[mid..mid + 1] == "A" { "B" } else { "A" };
    tampered["authType"]["password"] = json!(format!("{}{flip}{}", &t[..mid], &t[mid + 1..]));
    let r = om.run(
        &[
            "reveal",
            "--service-type",
            "database",
            "--name",
            "mysql-test",
        ],
        &tampered.to_string(),
    );
    assert!(r.err().contains("cannot decrypt"), "{}", r.stderr);
}
