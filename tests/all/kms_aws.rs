//! AWS Secrets Manager (`managed-aws`, `aws`) against a real moto server,
//! read back with boto3 exactly as OpenMetadata's Python `AWSSecretsManager`
//! does (`get_secret_value(SecretId=<id>)["SecretString"]`).

use serde_json::json;

use crate::kms_common::*;
use crate::util::python;

#[test]
fn managed_roundtrip_read_back_by_boto3() {
    managed_roundtrip(&Kms::new(Kind::Aws));
}

#[test]
fn nonmanaged_references_must_exist() {
    nonmanaged_references(&Kms::new(Kind::Aws));
}

#[test]
fn empty_and_null_values_delete_and_stored_null_is_absent() {
    null_and_empty(&Kms::new(Kind::Aws));
}

#[test]
fn logs_hold_no_secrets_at_trace_level() {
    logs_hold_no_secrets(&Kms::new(Kind::Aws));
}

#[test]
fn unknown_parameters_are_rejected() {
    unknown_parameters(&Kms::new(Kind::Aws));
}

/// A secret left in its recovery window (deleted without force by something
/// else) reads as absent, and sealing restores and updates it.
#[test]
fn a_secret_scheduled_for_deletion_is_restored_on_write() {
    let kms = Kms::new(Kind::Aws);
    let d = Doc::mysql("window");
    let om = kms.om(true);
    let stored = om.json(&d.args("seal"), &d.doc);
    let pw_id = kms.id(&format!(
        "openmetadata/database/{}/authtype/password",
        d.name
    ));
    let code = format!(
        "import boto3, json, sys\nr = json.load(sys.stdin)\nc = boto3.client('secretsmanager', endpoint_url=r['e'], region_name='{REGION}', aws_access_key_id='{AWS_KEY_ID}', aws_secret_access_key='{AWS_SECRET_KEY}')\nc.delete_secret(SecretId=r['id'], RecoveryWindowInDays=7)\n"
    );
    python(
        &code,
        &json!({"e": kms.server.addr, "id": pw_id}).to_string(),
    );
    let run = om.run(&d.args("reveal"), &stored.to_string());
    assert!(run.err().contains(&pw_id), "{}", run.stderr);
    let resealed = om.json(&d.args("seal"), &d.doc);
    assert_eq!(
        decrypt(&resealed, "/authType/password"),
        format!("secret:{pw_id}")
    );
    assert_eq!(om.json(&d.args("reveal"), &stored), d.doc);
    assert_eq!(
        kms.read(std::slice::from_ref(&pw_id))[0].as_deref(),
        Some(d.secrets[0].1.as_str())
    );
}

/// Issue 8, items 1 and 7: an ARN, full (with AWS's `-XXXXXX` suffix) or
/// partial, names the secret whose name the store answers; ARNs of another
/// region or of no secret, and names Secrets Manager cannot hold, are refused.
/// (moto does not enforce the naming rules, so `validate` is checked alone.)
#[test]
fn references_canonicalise_and_ids_validate() {
    let kms = Kms::new(Kind::Aws);
    let victim = kms.id("openmetadata/database/victim/authtype/password");
    let v = victim.as_str();
    // Created first so that its full ARN is known.
    let value = write_victim(&kms, v);
    let full_arn = kms.describe(v)["ok"]["arn"].as_str().unwrap().to_string();
    assert!(
        full_arn.len() > v.len() + 7 && full_arn.contains(v),
        "{full_arn}"
    );
    let partial = format!("arn:aws:secretsmanager:{REGION}:123456789012:secret:{v}");
    assert_ne!(full_arn, partial, "the full ARN has a suffix");
    check_contract(
        &kms,
        v,
        &value,
        &Contract {
            aliases: vec![full_arn.clone(), partial.clone()],
            refused: vec![
                partial.replace(REGION, "eu-west-1"),
                full_arn.replace(REGION, "eu-west-1"),
                format!(
                    "arn:aws:secretsmanager:{REGION}:123456789012:secret:{}",
                    kms.id("none")
                ),
                format!("arn:aws:secretsmanager:{REGION}:123456789012:secret:"),
                format!("arn:aws:ssm:{REGION}:123456789012:parameter{v}"),
                format!("arn:aws:secretsmanager:{REGION}:123456789012:other:{v}"),
                format!("{v} "),
                format!("{v}:x"),
                v.replacen("/password", "/pässword", 1),
                String::new(),
            ],
            valid: vec![kms.id("openmetadata/database/v/connectionoptions/a+b=c.d@e_f-g")],
            invalid: vec![
                (kms.id("openmetadata/database/v/a b"), false),
                (kms.id("openmetadata/database/v/a%b"), false),
                (format!("/{}", "a".repeat(512)), false),
                (kms.id("openmetadata/database/v//x"), false),
            ],
        },
    );
}

/// A name with capitals is confirmed by the store: it names itself,
/// existing or not.
#[test]
fn names_with_capitals_are_their_own_canonical_form() {
    let kms = Kms::new(Kind::Aws);
    let upper = kms.id("Team/DB-Password");
    kms.put_raw(&upper, "x");
    let settings = kms.settings(false);
    block_on(async {
        let store = om_secrets::kms::open(&settings).await.unwrap().unwrap();
        assert_eq!(store.canonical(&upper).await.unwrap(), upper);
        let absent = kms.id("Team/None");
        assert_eq!(store.canonical(&absent).await.unwrap(), absent);
    });
}

/// More ids than one page of ListSecrets (100).
#[test]
fn list_and_apply() {
    check_list_and_apply(&Kms::new(Kind::Aws), 101);
}
