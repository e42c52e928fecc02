//! Entities other than a bare connection config: whole service entities,
//! bots, ingestion pipelines and test-connection workflows. Everything outside
//! the secret fields passes through unchanged.

use serde_json::{Value, json};

use crate::util::{Om, assert_absent};

fn without(doc: &Value, pointers: &[&str]) -> Value {
    let mut d = doc.clone();
    for p in pointers {
        *d.pointer_mut(p).unwrap() = Value::Null;
    }
    d
}

#[test]
fn a_whole_service_entity_is_sealed_in_place() {
    let om = Om::new();
    let entity = json!({
        "id": "0d1c9a4e-6f0e-4d0b-9b8a-3f4c5d6e7f80",
        "name": "mysql-prod",
        "fullyQualifiedName": "mysql-prod",
        "serviceType": "Mysql",
        "connection": {"config": {"type": "Mysql", "username": "u", "authType": {"password": "entity-pw"}, "hostPort": "h:3306"}},
        "owners": [{"name": "team-a"}]
    });
    let args = ["seal", "--service-type", "database", "--name", "mysql-prod"];
    let stored = om.json(&args, &entity);
    assert_absent(&stored, "entity-pw");
    assert_eq!(
        without(&stored, &["/connection/config/authType/password"]),
        without(&entity, &["/connection/config/authType/password"])
    );
    assert_eq!(
        om.store_ids(),
        ["/openmetadata/database/mysql-prod/authtype/password"]
    );
    let f = om.json(
        &[
            "fields",
            "--service-type",
            "database",
            "--name",
            "mysql-prod",
        ],
        &entity,
    );
    assert_eq!(f[0]["pointer"], "/connection/config/authType/password");
    assert_eq!(
        om.json(
            &[
                "reveal",
                "--service-type",
                "database",
                "--name",
                "mysql-prod"
            ],
            &stored
        ),
        entity
    );
    let masked = om.json(&["mask", "--service-type", "database"], &stored);
    assert_eq!(
        masked["connection"]["config"]["authType"]["password"],
        "*********"
    );
    assert_eq!(masked["owners"], entity["owners"]);
}

#[test]
fn a_test_connection_workflow_uses_openmetadata_ids() {
    let om = Om::new().with("SECRET_MANAGER_PREFIX", "prefix");
    let wf = json!({
        "name": "test-connection",
        "workflowType": "TEST_CONNECTION",
        "request": {
            "serviceType": "Database",
            "connectionType": "Mysql",
            "serviceName": "mysql-prod",
            "connection": {"config": {"type": "Mysql", "username": "u", "authType": {"password": "wf-pw"}, "hostPort": "h:3306"}}
        }
    });
    let stored = om.json(&["seal", "--workflow", "test-connection"], &wf);
    assert_absent(&stored, "wf-pw");
    assert_eq!(
        om.store_ids(),
        [
            "/prefix/openmetadata/workflow/test-connection/request/connection/config/authtype/password"
        ]
    );
    assert_eq!(
        om.json(&["reveal", "--workflow", "test-connection"], &stored),
        wf
    );
    let out = om.json(&["forget", "--workflow", "test-connection"], &stored);
    assert_eq!(out["deleted"].as_array().unwrap().len(), 1);
    assert!(om.store_ids().is_empty());

    let r = om.run(
        &["seal", "--workflow", "w"],
        &json!({"request": {"connection": {"config": {}}}}).to_string(),
    );
    assert!(r.err().contains("/request/serviceType"), "{}", r.stderr);
}

#[test]
fn a_bot_jwt_token_is_a_secret() {
    let om = Om::new();
    let bot = json!({
        "name": "ingestion-bot",
        "isBot": true,
        "email": "ingestion-bot@openmetadata.org",
        "authenticationMechanism": {"authType": "JWT", "config": {"JWTToken": "eyJhbGciOiJSUzI1NiJ9.bot-token", "JWTTokenExpiry": "Unlimited"}}
    });
    let stored = om.json(&["seal", "--bot", "ingestion-bot"], &bot);
    assert_absent(&stored, "bot-token");
    assert_eq!(
        stored["authenticationMechanism"]["config"]["JWTTokenExpiry"],
        "Unlimited"
    );
    assert_eq!(
        om.store_ids(),
        ["/openmetadata/bot/ingestion-bot/config/jwttoken"]
    );
    assert_eq!(om.json(&["reveal", "--bot", "ingestion-bot"], &stored), bot);
    let masked = om.json(&["mask", "--bot", "ingestion-bot"], &stored);
    assert_eq!(
        masked["authenticationMechanism"]["config"]["JWTToken"],
        "*********"
    );

    let human = json!({"name": "alice", "isBot": false, "authenticationMechanism": {"authType": "JWT", "config": {"JWTToken": "t"}}});
    let r = om.run(&["seal", "--bot", "alice"], &human.to_string());
    assert!(r.err().contains("not a bot"), "{}", r.stderr);
    // A bot without credentials has nothing to seal.
    let bare = json!({"name": "b", "isBot": true});
    assert_eq!(om.json(&["seal", "--bot", "b"], &bare), bare);
}

#[test]
fn an_ingestion_pipeline_dbt_config_is_sealed() {
    let om = Om::new();
    let pipeline = json!({
        "name": "dbt-ingest",
        "pipelineType": "dbt",
        "sourceConfig": {"config": {
            "type": "DBT",
            "dbtConfigSource": {
                "dbtConfigType": "cloud",
                "dbtCloudAuthToken": "dbt-cloud-token",
                "dbtCloudAccountId": "123",
                "dbtCloudUrl": "https://cloud.getdbt.com"
            }
        }},
        "airflowConfig": {"scheduleInterval": "0 * * * *"}
    });
    let stored = om.json(&["seal", "--pipeline", "dbt-ingest"], &pipeline);
    assert_absent(&stored, "dbt-cloud-token");
    assert_eq!(
        om.store_ids(),
        ["/openmetadata/pipeline/dbt-ingest/sourceconfig/config/dbtconfigsource/dbtcloudauthtoken"]
    );
    assert_eq!(
        om.json(&["reveal", "--pipeline", "dbt-ingest"], &stored),
        pipeline
    );

    let s3 = json!({"name": "p", "sourceConfig": {"config": {"type": "DBT", "dbtConfigSource": {
        "dbtConfigType": "s3",
        "dbtSecurityConfig": {"awsAccessKeyId": "AKIA", "awsSecretAccessKey": "dbt-s3-secret", "awsRegion": "us-east-1"}
    }}}});
    let f = om.json(&["fields", "--pipeline", "p"], &s3);
    let ids: Vec<&str> = f
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["secretId"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"/openmetadata/pipeline/p/sourceconfig/config/dbtconfigsource/dbtsecurityconfig/awssecretaccesskey"), "{ids:?}");
    // A metadata pipeline without dbt has no secrets.
    let plain = json!({"name": "m", "sourceConfig": {"config": {"type": "DatabaseMetadata"}}});
    assert_eq!(om.json(&["seal", "--pipeline", "m"], &plain), plain);
}

#[test]
fn the_target_must_be_named_once() {
    let om = Om::new();
    let r = om.run(&["seal", "--bot", "a", "--pipeline", "b"], "{}");
    assert!(r.err().contains("cannot be used with"), "{}", r.stderr);
    let r = om.run(&["seal"], "{}");
    assert!(r.err().contains("--service-type"), "{}", r.stderr);
}
