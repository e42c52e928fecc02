//! AWS SSM Parameter Store (`managed-aws-ssm`, `aws-ssm`) against a real moto
//! server, read back with boto3 exactly as OpenMetadata's Python
//! `AWSSSMSecretsManager` does (`get_parameter(Name=<id>, WithDecryption=True)`);
//! values are `SecureString`, tags set on creation.

use crate::kms_common::*;

#[test]
fn managed_roundtrip_read_back_by_boto3() {
    managed_roundtrip(&Kms::new(Kind::Ssm));
}

#[test]
fn nonmanaged_references_must_exist() {
    nonmanaged_references(&Kms::new(Kind::Ssm));
}

#[test]
fn empty_and_null_values_delete_and_stored_null_is_absent() {
    null_and_empty(&Kms::new(Kind::Ssm));
}

#[test]
fn logs_hold_no_secrets_at_trace_level() {
    logs_hold_no_secrets(&Kms::new(Kind::Ssm));
}

#[test]
fn unknown_parameters_are_rejected() {
    unknown_parameters(&Kms::new(Kind::Ssm));
}

/// An update overwrites (without tags, which SSM refuses with overwrite) and
/// keeps the tags set at creation and the SecureString type.
#[test]
fn updates_keep_type_and_tags() {
    let kms = Kms::new(Kind::Ssm);
    let d = Doc::mysql("upd");
    let om = kms.om(true);
    let stored = om.json(&d.args("seal"), &d.doc);
    let mut changed = d.doc.clone();
    changed["authType"]["password"] = serde_json::json!("second-value-xyz");
    om.json(&d.args("seal"), &changed);
    let pw_id = kms.id(&format!(
        "openmetadata/database/{}/authtype/password",
        d.name
    ));
    let p = kms.describe(&pw_id);
    assert_eq!(p["ok"]["type"], "SecureString");
    assert_eq!(p["ok"]["value"], "second-value-xyz");
    assert_eq!(
        kms.tags(&pw_id).get("team").map(String::as_str),
        Some("data")
    );
    assert_eq!(om.json(&d.args("reveal"), &stored), changed);
}
