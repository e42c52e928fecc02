//! Entities other than a bare connection config: whole service entities,
//! bots, ingestion pipelines and test-connection workflows. Everything outside
//! the secret fields passes through unchanged.

use serde_json::{Value, json};

use crate::util::{Om, assert_absent, repo, strings, unseal};

const KEY: &str = "jJ/9sz0g0OHxsfxOoSfdFdmk3ysNmPRnH3TUAbz3IHA=";
const MASK: &str = "*********";

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

/// Secret ids of an ingestion pipeline `name`, for pointers below
/// `sourceConfig.config` (OpenMetadata's ids; segment rule written out).
fn pipeline_id(name: &str, pointer: &str) -> String {
    let mut id = format!("/openmetadata/pipeline/{name}/sourceconfig/config");
    for t in pointer.split('/').skip(1) {
        id.push('/');
        id.extend(
            t.replace("~1", "/")
                .replace("~0", "~")
                .chars()
                .flat_map(char::to_lowercase)
                .map(|c| {
                    if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                }),
        );
    }
    id
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn a_pipeline_config_without_type_but_with_dbt_is_a_dbt_pipeline() {
    // Documents written before `type` was set: the models' default for the
    // one pipeline model with dbtConfigSource (DbtPipeline) is DBT.
    let om = Om::new();
    let pipeline = json!({"name": "old-dbt", "sourceConfig": {"config": {"dbtConfigSource": {
        "dbtConfigType": "cloud", "dbtCloudAuthToken": "old-dbt-token", "dbtCloudAccountId": "1"
    }}}});
    let stored = om.json(&["seal", "--pipeline", "old-dbt"], &pipeline);
    assert_absent(&stored, "old-dbt-token");
    assert_eq!(
        om.store_ids(),
        ["/openmetadata/pipeline/old-dbt/sourceconfig/config/dbtconfigsource/dbtcloudauthtoken"]
    );
    assert!(stored["sourceConfig"]["config"].get("type").is_none());
    assert_eq!(
        om.json(&["reveal", "--pipeline", "old-dbt"], &stored),
        pipeline
    );
    let masked = om.json(&["mask", "--pipeline", "old-dbt"], &stored);
    assert_eq!(
        masked
            .pointer("/sourceConfig/config/dbtConfigSource/dbtCloudAuthToken")
            .unwrap(),
        MASK
    );
    // Without dbtConfigSource nothing tells the model: its type is needed.
    let r = om.run(
        &["seal", "--pipeline", "x"],
        &json!({"sourceConfig": {"config": {"markDeletedTables": true}}}).to_string(),
    );
    assert!(
        r.err().contains("/sourceConfig/config/type"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_storage_metadata_pipeline_s_manifest_credentials_are_sealed_and_masked() {
    let pipeline = json!({
        "name": "s3-manifest",
        "pipelineType": "metadata",
        "sourceConfig": {"config": {
            "type": "StorageMetadata",
            "storageMetadataConfigSource": {
                "securityConfig": {"awsAccessKeyId": "AKIAEXAMPLE", "awsSecretAccessKey": "storage-aws-secret", "awsRegion": "us-east-1"},
                "prefixConfig": {"containerName": "manifests", "objectPrefix": "om"}
            },
            "markDeletedContainers": true
        }},
        "airflowConfig": {"scheduleInterval": "0 * * * *"}
    });
    let at = "/sourceConfig/config/storageMetadataConfigSource/securityConfig/awsSecretAccessKey";

    // Managed (the default): the value goes to OpenMetadata's id.
    let om = Om::new();
    let stored = om.json(&["seal", "--pipeline", "s3-manifest"], &pipeline);
    assert_absent(&stored, "storage-aws-secret");
    assert!(
        stored
            .pointer(at)
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("fernet:")
    );
    assert_eq!(
        om.store_ids(),
        [
            "/openmetadata/pipeline/s3-manifest/sourceconfig/config/storagemetadataconfigsource/securityconfig/awssecretaccesskey"
        ]
    );
    assert_eq!(
        without(&stored, &[at]),
        without(&pipeline, &[at]),
        "nothing else changes"
    );
    assert_eq!(
        om.json(&["reveal", "--pipeline", "s3-manifest"], &stored),
        pipeline
    );
    for doc in [&pipeline, &stored] {
        let masked = om.json(&["mask", "--pipeline", "s3-manifest"], doc);
        assert_eq!(masked.pointer(at).unwrap(), MASK);
        assert_eq!(
            masked
                .pointer(
                    "/sourceConfig/config/storageMetadataConfigSource/securityConfig/awsRegion"
                )
                .unwrap(),
            "us-east-1"
        );
    }

    // db mode: Fernet in place.
    let om = Om::new()
        .with("SECRET_MANAGER", "db")
        .with("FERNET_KEY", KEY);
    let stored = om.json(&["seal", "--pipeline", "s3-manifest"], &pipeline);
    assert_eq!(unseal(KEY, &stored, at), "storage-aws-secret");
    assert!(om.store_ids().is_empty());
}

#[test]
fn an_application_pipeline_s_private_config_is_sealed_and_masked_leaf_by_leaf() {
    let base = "/sourceConfig/config/appPrivateConfig";
    let pipeline = json!({
        "name": "collate-ai",
        "pipelineType": "application",
        "sourceConfig": {"config": {
            "type": "Application",
            "sourcePythonClass": "metadata.applications.collate_ai.CollateAIApp",
            "appConfig": {"type": "CollateAI", "batchSize": 10},
            "appPrivateConfig": {
                "waiiInstance": "https://waii.example.com",
                "collateURL": "https://collate.example.com",
                "token": "waii-api-token",
                "limits": {"billingCycleStart": "2024-01-01", "actions": {"descriptions": 10}},
                "custom": {"keys": ["leaf-a", {"deep": "leaf-b"}], "count": 3, "on": true,
                    "auth": {"type": "Bearer", "value": "leaf-c"}}
            }
        }},
        "airflowConfig": {}
    });
    let leaves = [
        "/waiiInstance",
        "/collateURL",
        "/token",
        "/limits/billingCycleStart",
        "/custom/keys/0",
        "/custom/keys/1/deep",
        "/custom/auth/value",
    ];
    let pointers: Vec<String> = leaves.iter().map(|l| format!("{base}{l}")).collect();
    let om = Om::new();
    let fields = om.json(&["fields", "--pipeline", "collate-ai"], &pipeline);
    let mut got: Vec<String> = fields
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pointer"].as_str().unwrap().to_string())
        .filter(|p| p.starts_with(base))
        .collect();
    got.sort();
    assert_eq!(got, sorted(pointers.clone()));

    // Masked: a viewer sees the whole private config as one mask (as
    // OpenMetadata never returns it), numbers and flags beside the tokens
    // included.
    let masked = om.json(&["mask", "--pipeline", "collate-ai"], &pipeline);
    assert_eq!(masked.pointer(base).unwrap(), MASK);
    assert_eq!(
        masked["sourceConfig"]["config"]["sourcePythonClass"],
        "metadata.applications.collate_ai.CollateAIApp"
    );

    // Sealed (managed): each leaf under its own id, and back.
    let stored = om.json(&["seal", "--pipeline", "collate-ai"], &pipeline);
    for v in [
        "waii-api-token",
        "leaf-a",
        "leaf-b",
        "leaf-c",
        "https://waii.example.com",
    ] {
        assert!(!strings(&stored).contains(&v), "{v} stored in the clear");
    }
    let mut want: Vec<String> = leaves
        .iter()
        .map(|l| pipeline_id("collate-ai", &format!("/appPrivateConfig{l}")))
        .collect();
    want.sort();
    assert_eq!(
        want[0],
        "/openmetadata/pipeline/collate-ai/sourceconfig/config/appprivateconfig/collateurl"
    );
    assert_eq!(sorted(om.store_ids()), want);
    assert_eq!(
        om.json(&["reveal", "--pipeline", "collate-ai"], &stored),
        pipeline
    );

    // db mode: Fernet in place.
    let om = Om::new()
        .with("SECRET_MANAGER", "db")
        .with("FERNET_KEY", KEY);
    let stored = om.json(&["seal", "--pipeline", "collate-ai"], &pipeline);
    assert_eq!(
        unseal(KEY, &stored, &format!("{base}/token")),
        "waii-api-token"
    );
    assert_eq!(
        unseal(KEY, &stored, &format!("{base}/custom/keys/1/deep")),
        "leaf-b"
    );
}

#[test]
fn a_test_suite_pipeline_s_service_connections_are_sealed() {
    let pipeline = json!({
        "name": "suite",
        "sourceConfig": {"config": {
            "type": "TestSuite",
            "entityFullyQualifiedName": "mysql.db.schema.table",
            "serviceConnections": [
                {"serviceName": "mysql-prod", "serviceConnection": {"config": {"type": "Mysql", "username": "u", "authType": {"password": "suite-mysql-pw"}, "hostPort": "h:3306"}}},
                {"serviceName": "tableau", "serviceConnection": {"config": {"type": "Tableau", "hostPort": "https://t", "authType": {"personalAccessTokenName": "n", "personalAccessTokenSecret": "suite-pat"}}}}
            ]
        }}
    });
    let om = Om::new();
    let stored = om.json(&["seal", "--pipeline", "suite"], &pipeline);
    assert_absent(&stored, "suite-mysql-pw");
    assert_absent(&stored, "suite-pat");
    assert_eq!(
        sorted(om.store_ids()),
        [
            "/openmetadata/pipeline/suite/sourceconfig/config/serviceconnections/0/serviceconnection/config/authtype/password",
            "/openmetadata/pipeline/suite/sourceconfig/config/serviceconnections/1/serviceconnection/config/authtype/personalaccesstokensecret"
        ]
    );
    assert_eq!(
        om.json(&["reveal", "--pipeline", "suite"], &stored),
        pipeline
    );
}

/// One example of the manifest through seal, mask and reveal; the number of
/// fields the manifest says are secret.
fn pipeline_round_trip(om: &Om, name: &str, v: &Value) -> usize {
    let doc =
        json!({"name": name, "pipelineType": "metadata", "sourceConfig": {"config": v["config"]}});
    let expected: Vec<String> = ["secrets", "heuristic", "unguarded", "beyond"]
        .iter()
        .flat_map(|k| v[k].as_array().cloned().unwrap_or_default())
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    let at = |p: &str| format!("/sourceConfig/config{p}");
    let stored = om.json(&["seal", "--pipeline", name], &doc);
    let ids = om.store_ids();
    let values: Vec<&str> = expected
        .iter()
        .map(|p| doc.pointer(&at(p)).unwrap().as_str().unwrap())
        .collect();
    let count = |d: &Value, x: &str| strings(d).iter().filter(|s| **s == x).count();
    for (p, value) in expected.iter().zip(&values) {
        let sealed = stored.pointer(&at(p)).unwrap().as_str().unwrap();
        assert!(sealed.starts_with("fernet:"), "{name}: {p} not sealed");
        // Where the example repeats a (non-secret) value elsewhere, only
        // those other places keep it.
        let sealed_here = values.iter().filter(|x| *x == value).count();
        assert_eq!(
            count(&stored, value),
            count(&doc, value) - sealed_here,
            "{name}: {p}'s value stored"
        );
        assert!(
            ids.contains(&pipeline_id(name, p)),
            "{name}: no id for {p} in {ids:?}"
        );
    }
    // Every id of the pipeline is below its source config.
    let root = format!("/openmetadata/pipeline/{name}/sourceconfig/config/");
    let own: Vec<&String> = ids
        .iter()
        .filter(|id| id.starts_with(&format!("/openmetadata/pipeline/{name}/")))
        .collect();
    assert!(
        own.iter().all(|id| id.starts_with(&root)) && own.len() >= expected.len(),
        "{name}: {own:?}"
    );
    if !expected.is_empty() {
        let masked = om.json(&["mask", "--pipeline", name], &stored);
        for p in &expected {
            // An Application's private config is masked as a whole.
            let private = "/sourceConfig/config/appPrivateConfig";
            let shown = if at(p).starts_with(private) {
                masked.pointer(private)
            } else {
                masked.pointer(&at(p))
            };
            assert_eq!(shown.unwrap(), MASK, "{name}: {p} not masked");
        }
    }
    assert_eq!(
        om.json(&["reveal", "--pipeline", name], &stored),
        doc,
        "{name}: reveal(seal(x)) != x"
    );
    expected.len()
}

/// Every `sourceConfig.config` type of OpenMetadata 2.0.7 and every example
/// of the manifest, through the CLI: what the manifest says is secret is
/// sealed under OpenMetadata's id and masked, and `reveal(seal(x)) == x`.
#[test]
fn every_ingestion_pipeline_type_of_the_manifest_round_trips() {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tools/om-connectors-2.0.7.json")).unwrap(),
    )
    .unwrap();
    let types = manifest["entities"]["ingestion"]["configTypes"]
        .as_object()
        .expect("the manifest's ingestion pipeline types");
    assert_eq!(types.len(), 21);
    let mut examples = Vec::new();
    for (t, c) in types {
        // The first example of every type, and every one with secrets (the
        // others differ in plain fields only: 19 of 85).
        for (i, v) in c["variants"].as_array().unwrap().iter().enumerate() {
            assert_eq!(v["config"]["type"], t.as_str());
            let has_secrets = ["secrets", "heuristic", "unguarded", "beyond"]
                .iter()
                .any(|k| v[k].as_array().is_some_and(|a| !a.is_empty()));
            if i == 0 || has_secrets {
                examples.push((format!("{}-{i}", t.to_lowercase()), v));
            }
        }
    }
    assert_eq!(examples.len(), 66);
    // A few CLI runs per example: spread over threads, each with its own
    // installation.
    let secrets: usize = std::thread::scope(|s| {
        let workers: Vec<_> = examples
            .chunks(examples.len().div_ceil(4))
            .map(|chunk| {
                s.spawn(move || {
                    let om = Om::new();
                    chunk
                        .iter()
                        .map(|(name, v)| pipeline_round_trip(&om, name, v))
                        .sum::<usize>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    // The storage manifest's, dbt sources', applications', test suites'.
    assert!(secrets >= 150, "{secrets} secret fields");
}

#[test]
fn the_target_must_be_named_once() {
    let om = Om::new();
    let r = om.run(&["seal", "--bot", "a", "--pipeline", "b"], "{}");
    assert!(
        r.usage_err().contains("cannot be used with"),
        "{}",
        r.stderr
    );
    let r = om.run(&["seal"], "{}");
    assert!(r.err().contains("--service-type"), "{}", r.stderr);
}
