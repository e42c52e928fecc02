//! HashiCorp Vault / OpenBao (`managed-vault`, `vault`) against a real
//! OpenBao server: KV v2 and v1, namespaces, token and AppRole auth.

use std::time::Duration;

use om_secrets::kms::resilient::{Policy, Resilient};
use om_secrets::kms::vault::VaultStore;
use om_secrets::kms::{KmsErrorKind, SecretStore};
use serde_json::json;

use crate::kms_common::*;

#[test]
fn managed_roundtrip_kv2() {
    managed_roundtrip(&Kms::new(Kind::Vault));
}

#[test]
fn nonmanaged_references_must_exist() {
    nonmanaged_references(&Kms::new(Kind::Vault));
}

#[test]
fn empty_and_null_values_delete_and_stored_null_is_absent() {
    null_and_empty(&Kms::new(Kind::Vault));
}

#[test]
fn logs_hold_no_secrets_at_trace_level() {
    logs_hold_no_secrets(&Kms::new(Kind::Vault));
}

#[test]
fn unknown_parameters_are_rejected() {
    unknown_parameters(&Kms::new(Kind::Vault));
}

/// The documented mapping: id `/a/b` is `<mount>/data/a/b` holding
/// `{"value": ...}`, and custom metadata carries the tags.
#[test]
fn secret_ids_map_to_kv_paths() {
    let kms = Kms::new(Kind::Vault);
    let d = Doc::mysql("path");
    kms.om(true).json(&d.args("seal"), &d.doc);
    let path = format!(
        "secret/data/{}/openmetadata/database/{}/authtype/password",
        kms.prefix, d.name
    );
    let v = kms.vault_ok("GET", &path, None);
    assert_eq!(v["data"]["data"], json!({"value": d.secrets[0].1}));
    assert_eq!(
        v["data"]["metadata"]["custom_metadata"],
        json!({"team": "data", "env": "test"})
    );
}

#[test]
fn kv_version_1_mount() {
    let mut kms = Kms::new(Kind::Vault);
    kms.mount = unique("kv1-");
    kms.vault_ok(
        "POST",
        &format!("sys/mounts/{}", kms.mount),
        Some(json!({"type": "kv", "options": {"version": "1"}})),
    );
    kms.kv = 1;
    managed_roundtrip(&kms);
    nonmanaged_references(&kms);
    // The raw layout: <mount>/<path> holds {"value": ...}.
    let d = Doc::mysql("kv1");
    kms.om(true).json(&d.args("seal"), &d.doc);
    let v = kms.vault_ok(
        "GET",
        &format!(
            "{}/{}/openmetadata/database/{}/authtype/password",
            kms.mount, kms.prefix, d.name
        ),
        None,
    );
    assert_eq!(v["data"], json!({"value": d.secrets[0].1}));
}

#[test]
fn namespace() {
    let mut kms = Kms::new(Kind::Vault);
    let ns = unique("ns");
    kms.vault_ok("POST", &format!("sys/namespaces/{ns}"), None);
    kms.namespace = Some(ns);
    kms.vault_ok(
        "POST",
        "sys/mounts/secret",
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    );
    managed_roundtrip(&kms);
    // Without the namespace the secrets are not there.
    let d = Doc::mysql("ns");
    kms.om(true).json(&d.args("seal"), &d.doc);
    let mut root = Kms::on(Kind::Vault, kms.server.clone());
    root.prefix = kms.prefix.clone();
    assert!(root.list().is_empty());
    assert_eq!(kms.list(), d.ids(&kms));
}

/// Enable AppRole on a server of its own; a role whose tokens live `ttl`.
fn approle(ttl: &str) -> (Kms, String, String) {
    let kms = Kms::dedicated(Kind::Vault);
    kms.vault_ok("POST", "sys/auth/approle", Some(json!({"type": "approle"})));
    let policy =
        r#"path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }"#;
    kms.vault_ok(
        "PUT",
        "sys/policies/acl/om",
        Some(json!({"policy": policy})),
    );
    kms.vault_ok(
        "POST",
        "auth/approle/role/om",
        Some(json!({"token_policies": ["om"], "token_ttl": ttl, "token_max_ttl": ttl})),
    );
    let role_id = kms.vault_ok("GET", "auth/approle/role/om/role-id", None)["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret_id =
        kms.vault_ok("POST", "auth/approle/role/om/secret-id", None)["data"]["secret_id"]
            .as_str()
            .unwrap()
            .to_string();
    let kms = kms
        .with("VAULT_TOKEN", "")
        .with("OM_SM_VAULT_ROLE_ID", &role_id)
        .with("OM_SM_VAULT_SECRET_ID", &secret_id);
    (kms, role_id, secret_id)
}

#[test]
fn approle_through_the_cli() {
    let (kms, _, secret_id) = approle("1h");
    managed_roundtrip(&kms);
    // The AppRole secret id never reaches the logs either.
    let d = Doc::mysql("arlog");
    let run = kms
        .om(true)
        .with("OM_SECRETS_LOG", "trace")
        .run(&d.args("seal"), &d.doc.to_string());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_not_in(&run.stderr, &[secret_id.as_str()], "the log");
}

/// One login serves every call while its token lives; a token revoked
/// behind our back is refused (403) and replaced by exactly one new login.
/// The role's tokens live an hour: no call here can outlast one, so the
/// counts depend on the mechanism only, not on the machine's speed.
#[test]
fn approle_logs_in_once_and_again_when_the_token_is_revoked() {
    let (mut kms, _, _) = approle("1h");
    let shim = Shim::new(&kms.server.addr);
    kms.endpoint = shim.addr.clone();
    let store = VaultStore::connect(&kms.settings(true), Duration::from_secs(5)).unwrap();
    let id = kms.id("relogin/password");
    let refused = |shim: &Shim| shim.statuses().iter().filter(|s| **s == 403).count();
    block_on(async {
        assert_eq!(store.logins(), 0, "no login before the first call");
        store.put(&id, "v1").await.unwrap();
        for _ in 0..3 {
            assert_eq!(store.get(&id).await.unwrap().unwrap().as_str(), "v1");
        }
        assert_eq!((store.logins(), refused(&shim)), (1, 0));
        // Revoked behind our back: the 403 triggers a new login, once.
        kms.vault_ok("PUT", "sys/leases/revoke-prefix/auth/approle/login", None);
        store.put(&id, "v2").await.unwrap();
        assert_eq!((store.logins(), refused(&shim)), (2, 1));
        assert_eq!(store.get(&id).await.unwrap().unwrap().as_str(), "v2");
        assert_eq!((store.logins(), refused(&shim)), (2, 1));
    });
}

/// A token whose lease ran out is replaced before the next call, never sent
/// (no 403 seen): om-secrets logs in again ahead of the lease's end. The test
/// waits (at least) the whole lease, so a slower machine only waits longer;
/// the one window left is the lease itself between the new login and the
/// call that uses it (LEASE, a hang on loopback).
#[test]
fn approle_logs_in_again_before_the_token_expires() {
    const LEASE: Duration = Duration::from_secs(3);
    let (mut kms, _, _) = approle(&format!("{}s", LEASE.as_secs()));
    let shim = Shim::new(&kms.server.addr);
    kms.endpoint = shim.addr.clone();
    let store = VaultStore::connect(&kms.settings(true), Duration::from_secs(5)).unwrap();
    let id = kms.id("expiry/password");
    block_on(async {
        store.put(&id, "v1").await.unwrap();
        assert!(store.logins() >= 1);
        // The first token is dead by now (at the server, whatever our clock).
        tokio::time::sleep(LEASE + Duration::from_millis(500)).await;
        let (logins, answers) = (store.logins(), shim.statuses().len());
        assert_eq!(store.get(&id).await.unwrap().unwrap().as_str(), "v1");
        assert_eq!(store.logins(), logins + 1, "one new login");
        let after = &shim.statuses()[answers..];
        assert!(
            after.len() >= 2 && after.iter().all(|s| *s == 200),
            "a login, then the read with its token, none refused: {after:?}"
        );
    });
}

#[test]
fn wrong_token_is_an_auth_error() {
    let kms = Kms::new(Kind::Vault).with("VAULT_TOKEN", "not-the-token");
    let d = Doc::mysql("badtok");
    let run = kms.om(true).run(&d.args("seal"), &d.doc.to_string());
    let err = run.err();
    assert!(
        err.contains("403") && err.contains("token") && err.contains(&d.ids(&kms)[0]),
        "{err}"
    );
    assert_not_in(err, &d.values(), "the error");

    let store = Resilient::new(
        std::sync::Arc::new(
            VaultStore::connect(&kms.settings(true), Duration::from_secs(5)).unwrap(),
        ),
        Policy::default(),
    );
    let e = block_on(store.get(&kms.id("x"))).unwrap_err();
    assert_eq!(e.kind, KmsErrorKind::Auth, "{e}");
    assert_eq!(
        store.stats().retries,
        0,
        "refused credentials are not retried"
    );
}

#[test]
fn wrong_approle_secret_is_an_auth_error() {
    let (kms, _, _) = approle("1h");
    let kms = kms.with(
        "OM_SM_VAULT_SECRET_ID",
        "00000000-0000-0000-0000-000000000000",
    );
    let d = Doc::mysql("badrole");
    let run = kms.om(true).run(&d.args("seal"), &d.doc.to_string());
    let err = run.err();
    assert!(err.contains("AppRole"), "{err}");
    let store = VaultStore::connect(&kms.settings(true), Duration::from_secs(5)).unwrap();
    let e = block_on(store.get(&kms.id("x"))).unwrap_err();
    assert_eq!(e.kind, KmsErrorKind::Auth, "{e}");
}

/// A mount that does not exist is an error, not an absent secret.
#[test]
fn a_missing_mount_is_an_error() {
    let kms = Kms::new(Kind::Vault).with("OM_SM_VAULT_MOUNT", "no-such-mount");
    let d = Doc::mysql("nomount");
    let run = kms.om(true).run(&d.args("seal"), &d.doc.to_string());
    let err = run.err();
    assert!(
        err.contains("404") && err.contains("no-such-mount") && err.contains(&d.ids(&kms)[0]),
        "{err}"
    );
}

/// Issue 8, items 1 and 7: a path with or without its leading `/` is one
/// secret; every other spelling Vault or the URL would map elsewhere is
/// refused; a path ending in `/` (a map key `""`) is invalid before any
/// write, as OpenBao itself says at write time.
#[test]
fn references_canonicalise_and_ids_validate() {
    let kms = Kms::new(Kind::Vault);
    let victim = kms.id("openmetadata/database/victim/authtype/password");
    let v = victim.as_str();
    let value = write_victim(&kms, v);
    check_contract(
        &kms,
        v,
        &value,
        &Contract {
            aliases: vec![v.trim_start_matches('/').to_string()],
            refused: vec![
                format!("/{v}"),
                v.replacen("/openmetadata/", "/openmetadata//", 1),
                v.replacen("/openmetadata/", "/openmetadata/./", 1),
                v.replacen("/database/", "/database/attacker/../", 1),
                v.replacen("/database/", "/database%2F", 1),
                v.replacen("/password", "/p%61ssword", 1),
                format!("{v}/"),
                format!("{v}?version=1"),
                format!("{v}#x"),
                format!(" {v}"),
                format!("{v} "),
                format!("{v}\n"),
                v.replacen("/password", "/pass\\word", 1),
                v.replacen("/password", "/pässword", 1),
                String::new(),
                "/".into(),
            ],
            valid: vec![kms.id("openmetadata/database/v/connectionoptions/a.b_c-d.0123abcd")],
            invalid: vec![
                (kms.id("openmetadata/database/v/connectionoptions/"), true),
                (kms.id("openmetadata/database/v//x"), false),
                (kms.id("openmetadata/database/v/a b"), false),
            ],
        },
    );
}

#[test]
fn list_and_apply_kv2() {
    check_list_and_apply(&Kms::new(Kind::Vault), 3);
}

#[test]
fn list_and_apply_kv1() {
    let mut kms = Kms::new(Kind::Vault);
    kms.mount = unique("kv1l-");
    kms.vault_ok(
        "POST",
        &format!("sys/mounts/{}", kms.mount),
        Some(json!({"type": "kv", "options": {"version": "1"}})),
    );
    kms.kv = 1;
    check_list_and_apply(&kms, 3);
}
