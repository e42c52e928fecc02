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
