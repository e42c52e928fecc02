//! AWS SSM Parameter Store (`managed-aws-ssm`, `aws-ssm`) against a real moto
//! server, read back with boto3 exactly as OpenMetadata's Python
//! `AWSSSMSecretsManager` does (`get_parameter(Name=<id>, WithDecryption=True)`);
//! values are `SecureString`, tags set on creation.

use serde_json::json;

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

/// Issue 8, items 1 and 7: ARNs, `name:version` and `name:label` selectors
/// name the parameter; names GetParameter would not read as exactly one of
/// ours (no leading `/`, `/aws/reference/secretsmanager/…`, other regions,
/// bad selectors) are refused; names SSM cannot hold are invalid, as moto
/// says too for the reserved `aws`/`ssm` prefixes.
#[test]
fn references_canonicalise_and_ids_validate() {
    let kms = Kms::new(Kind::Ssm);
    let victim = kms.id("openmetadata/database/victim/authtype/password");
    let v = victim.as_str();
    let value = write_victim(&kms, v);
    let labelled = kms.boto3(json!({"op": "label_parameter", "id": v, "label": "stable"}));
    assert_eq!(labelled["ok"], true, "{labelled}");
    let arn = format!("arn:aws:ssm:{REGION}:123456789012:parameter{v}");
    let deepest = kms.id(&(0..14)
        .map(|i| format!("l{i}"))
        .collect::<Vec<_>>()
        .join("/"));
    check_contract(
        &kms,
        v,
        &value,
        &Contract {
            aliases: vec![
                arn.clone(),
                format!("{v}:1"),
                format!("{v}:stable"),
                format!("{arn}:1"),
            ],
            refused: vec![
                v.trim_start_matches('/').to_string(),
                format!("/aws/reference/secretsmanager{v}"),
                arn.replace(REGION, "eu-west-1"),
                format!("{v}:"),
                format!("{v}:1:2"),
                format!("{v}/"),
                format!("{v} "),
                v.replacen("/openmetadata/", "/openmetadata//", 1),
                format!("arn:aws:secretsmanager:{REGION}:123456789012:secret:{v}"),
                String::new(),
            ],
            valid: vec![
                kms.id("openmetadata/database/v/connectionoptions/a.b_c-d"),
                deepest.clone(),
            ],
            invalid: vec![
                ("/aws/om-test/x".into(), true),
                ("/ssm/om-test/x".into(), true),
                (format!("{deepest}/l15"), false),
                (kms.id("openmetadata/database/v/a b"), false),
                (kms.id("openmetadata/database/v/a+b"), false),
                (format!("/{}", "a".repeat(1000)), false),
            ],
        },
    );
}

/// More ids than one page of GetParametersByPath (10).
#[test]
fn list_and_apply() {
    check_list_and_apply(&Kms::new(Kind::Ssm), 12);
}
