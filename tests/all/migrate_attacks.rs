//! Attacks on `om-secrets migrate` / `rotate` (issue 13): each test is an
//! interleaving or a crafted row that broke a guarantee before its fix —
//! nothing lost, entity isolation, resumability, no leaks — against the same
//! real PostgreSQL and MariaDB servers as `migrate.rs`.

use std::io::BufRead;
use std::process::Stdio;

use serde_json::json;

use om_secrets::fernet::FernetKeys;
use om_secrets::ops::SubjectKind;

use crate::kms_common::block_on;
use crate::migrate::sample::{self, SampleRow, Shape};
use crate::migrate::{key, kill_at, load, manager_of, migrate, om_local, on_both, total, verify};

fn few_services(n: usize) -> Shape {
    Shape {
        services: Some(n),
        others: false,
        odd_names_every: 0,
    }
}

/// A pipeline *service* whose name lies outside `[a-z0-9_-]` ("My.Pipe")
/// holding a `fernet:` token of a reference to OpenMetadata's id for its
/// sanitised name — but below the sub-root that belongs to the *ingestion
/// pipeline* named `my_pipe` (another table: `ingestion_pipeline_entity`).
/// The OpenMetadata-era move must not read that secret into the service's
/// own id (the attacker could then reveal another entity's dbt credentials):
/// the row is reported and left byte for byte, nothing of the victim's is
/// copied.
fn a_pipeline_service_cannot_adopt_an_ingestion_pipelines_secret(kind: &'static str) {
    let key = key();
    let fx = load(kind, &few_services(2), &key);
    let om = om_local(&key);
    let fernet = FernetKeys::parse(&key).unwrap();
    let m = manager_of(&om);
    let store = m.store().unwrap().clone();
    let victim_id = "/openmetadata/pipeline/my_pipe/sourceconfig/config/dbtconfigsource/dbtsecurityconfig/awssecretaccesskey";
    block_on(store.put(victim_id, "victim-dbt-secret-value")).unwrap();
    let id = "aaaaaaaa-0000-4000-8000-000000000001".to_string();
    let doc = json!({
        "id": id, "name": "My.Pipe", "serviceType": "Airbyte",
        "updatedAt": 1, "updatedBy": "mallory", "deleted": false,
        "connection": {"config": {"type": "Airbyte", "hostPort": "http://h:8000",
                                  "username": "u",
                                  "password": fernet.encrypt(&format!("secret:{victim_id}"))}}
    });
    let row = SampleRow {
        table: "pipeline_service_entity",
        id: id.clone(),
        name: "My.Pipe".into(),
        kind: Some(SubjectKind::Service("pipeline".into())),
        doc: doc.clone(),
    };
    block_on(sample::insert(&fx.db.url, &[row], &[doc]));
    let before = fx.db.texts()[&id].clone();

    let run = migrate(&om, &fx.db.url, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.report["moved"].as_array().unwrap().is_empty(),
        "{}",
        run.report
    );
    let skipped = run.report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{}", run.report);
    assert_eq!(skipped[0]["id"], id.as_str());
    assert_eq!(skipped[0]["table"], "pipeline_service_entity");
    assert_eq!(fx.db.texts()[&id], before, "the attacker's row changed");
    // Nothing of the victim's was copied anywhere else in the store.
    let m = manager_of(&om);
    let store = m.store().unwrap().clone();
    for sid in om.store_ids() {
        if sid == victim_id {
            continue;
        }
        let v = block_on(store.get(&sid)).unwrap();
        assert_ne!(
            v.as_deref().map(|s| s.as_str()),
            Some("victim-dbt-secret-value"),
            "the victim's secret was copied to {sid}"
        );
    }
    assert!(!run.stderr.contains("victim-dbt-secret-value"));
}

/// A run killed right after a page's store writes leaves a journal in the
/// checkpoint of `dbservice_entity`; the row is then deleted. A run limited
/// to another table (`--only user_entity`) must not wipe that journal (nor
/// the resume point), and `--restart` ignores the resume point but not the
/// journal: the next full run still lists the deleted row's secrets as
/// orphans.
fn an_only_run_keeps_other_tables_checkpoints(kind: &'static str) {
    let fx = load(kind, &few_services(20), &key());
    let om = om_local(&fx.key);
    assert!(kill_at(&om, &fx.db.url, 1, "10"), "not stalled at step 1");
    let victim = crate::migrate::first_page_row_with_secrets(&fx, 10);
    let prefix = format!("/openmetadata/database/{}/", victim.name);
    let mut written: Vec<String> = om
        .store_ids()
        .into_iter()
        .filter(|i| i.starts_with(&prefix))
        .collect();
    written.sort();
    assert!(!written.is_empty());
    fx.db.exec(&format!(
        "DELETE FROM dbservice_entity WHERE id = '{}'",
        victim.id
    ));

    let only = migrate(&om, &fx.db.url, &["--only", "user_entity"]);
    assert_eq!(only.code, 0, "{}", only.stderr);

    // `--restart` ignores where the table stopped, not its journal.
    let run = migrate(&om, &fx.db.url, &["--restart"]);
    assert_eq!(run.report["resumed"], false, "{}", run.report);
    let mut orphans: Vec<String> = run.report["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["secretId"].as_str().unwrap().to_string())
        .collect();
    orphans.sort();
    assert_eq!(orphans, written, "{}", run.report);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mut fx = fx;
    let keep: Vec<usize> = (0..fx.rows.len())
        .filter(|&i| fx.rows[i].id != victim.id)
        .collect();
    fx.rows = keep.iter().map(|&i| fx.rows[i].clone()).collect();
    fx.expected = keep.iter().map(|&i| fx.expected[i].clone()).collect();
    verify(&fx, &manager_of(&om), true);
    let again = migrate(&om, &fx.db.url, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(total(&again.report, "migrated"), 0);
}

/// Two runs at once: while one is stopped between a page's store writes
/// and its row updates, a second `migrate` (or a `rotate`) is refused before
/// it writes anything — two runs interleaving with a writer could leave one
/// run's stale value under an id the other's row already references, and
/// one's end would clear the other's checkpoints. A dry run still runs. The
/// lock is the session's: once the first is killed, a rerun converges.
fn a_second_run_at_once_is_refused(kind: &'static str) {
    let fx = load(kind, &few_services(20), &key());
    let om = om_local(&fx.key);
    let mut cmd = om.command(&["migrate", "--database-url", &fx.db.url, "--page-size", "5"]);
    cmd.env("OM_SECRETS_TEST_STALL_AT_STEP", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut first = cmd.spawn().unwrap();
    let stderr = first.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    loop {
        let line = lines
            .next()
            .expect("the first run ended before its test hook")
            .unwrap();
        if line.contains("stalled at step") {
            break;
        }
    }
    let rows = fx.db.texts();
    let ids = om.store_ids();
    let second = migrate(&om, &fx.db.url, &[]);
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("another om-secrets migrate or rotate is running"),
        "{}",
        second.stderr
    );
    let rotate = crate::migrate::run_db(&om, "rotate", &fx.db.url, &[]);
    assert_eq!(rotate.code, 1, "{}", rotate.stderr);
    assert!(
        rotate.stderr.contains("another om-secrets"),
        "{}",
        rotate.stderr
    );
    assert_eq!(fx.db.texts(), rows, "a refused run changed rows");
    assert_eq!(om.store_ids(), ids, "a refused run wrote to the store");
    let dry = migrate(&om, &fx.db.url, &["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);

    first.kill().unwrap(); // SIGKILL: its session, and the lock, go
    first.wait().unwrap();
    let run = migrate(&om, &fx.db.url, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    verify(&fx, &manager_of(&om), true);
}

/// The database password never reaches an error line, however the URL
/// carries it: in the query string (`?password=`, which sqlx takes), with
/// an unescaped `/` in the user information, percent-encoded.
#[test]
fn database_passwords_in_any_url_form_stay_out_of_errors() {
    let om = om_local(&key());
    for (url, shown) in [
        (
            "postgres://127.0.0.1:99999?user=om&password=hunter2-qs",
            "postgres://127.0.0.1:99999",
        ),
        (
            "postgres://om:pa/ss-hunter3@127.0.0.1:5432/db",
            "postgres://127.0.0.1:5432/db",
        ),
        (
            "mysql://om:hunter4%21x@127.0.0.1:99999/db?password=hunter5",
            "mysql://127.0.0.1:99999/db",
        ),
    ] {
        for op in ["migrate", "rotate"] {
            let r = om.run(&[op, "--database-url", url], "");
            assert_eq!(r.code, 1, "{op} {url}: {}", r.stderr);
            assert!(
                !r.stderr.contains("hunter") && !r.stderr.contains("pa/ss"),
                "{op}: {}",
                r.stderr
            );
            assert!(r.stderr.contains(shown), "{op}: {}", r.stderr);
        }
    }
}

/// OpenMetadata names an ingestion pipeline uniquely only below its service
/// (`fqnHash` is of `service.name`), but builds its secret ids from the name
/// alone: two pipelines named `dbt_pipe` under two services share their ids.
/// In `db` mode each row holds its own token; migrated on different pages,
/// the second would overwrite the first's value in the store, and the first
/// would then reveal the second's secret — its own lost. Such rows are left
/// as they are and reported, both revealing their own values.
fn rows_sharing_a_name_are_not_moved_onto_one_id(kind: &'static str) {
    let key = key();
    let fx = load(kind, &few_services(2), &key);
    let fernet = FernetKeys::parse(&key).unwrap();
    let pg = sample::is_postgres(&fx.db.url);
    let mk = |n: u32, secret: &str| {
        let id = format!("bbbbbbbb-0000-4000-8000-00000000000{n}");
        let doc = json!({
            "id": id, "name": "dbt_pipe", "fullyQualifiedName": format!("svc{n}.dbt_pipe"),
            "pipelineType": "dbt", "updatedAt": 1, "updatedBy": "admin", "deleted": false,
            "sourceConfig": {"config": {"type": "DBT", "dbtConfigSource": {
                "dbtConfigType": "s3",
                "dbtSecurityConfig": {"awsAccessKeyId": "AK", "awsRegion": "us-east-1",
                                      "awsSecretAccessKey": fernet.encrypt(secret)}}}}
        });
        let text = doc.to_string().replace('\'', "''");
        if pg {
            fx.db.exec(&format!(
                "INSERT INTO ingestion_pipeline_entity (json, fqnhash) VALUES ('{text}'::json, 'svc{n}-hash')"
            ));
        } else {
            fx.db.exec(&format!(
                "INSERT INTO ingestion_pipeline_entity (id, fqnHash, json) VALUES ('{id}', 'svc{n}-hash', '{text}')"
            ));
        }
        id
    };
    let first = mk(1, "first-pipeline-secret");
    let second = mk(2, "second-pipeline-secret");
    let before = fx.db.texts();
    let om = om_local(&key);
    // One row per page: the two rows are sealed apart.
    let run = migrate(&om, &fx.db.url, &["--page-size", "1"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let skipped: Vec<&str> = run.report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, [first.as_str(), second.as_str()], "{}", run.report);
    let reason = run.report["skipped"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("share the name"), "{reason}");
    let m = manager_of(&om);
    for (id, want) in [
        (&first, "first-pipeline-secret"),
        (&second, "second-pipeline-secret"),
    ] {
        assert_eq!(fx.db.texts()[id], before[id], "row {id} was written");
        let doc: serde_json::Value = serde_json::from_str(&fx.db.texts()[id]).unwrap();
        let subject = SubjectKind::Pipeline
            .subject(Some("dbt_pipe"), &doc)
            .unwrap();
        let revealed = block_on(m.reveal(&subject, &doc, false)).unwrap();
        assert_eq!(
            revealed
                .pointer(
                    "/sourceConfig/config/dbtConfigSource/dbtSecurityConfig/awsSecretAccessKey"
                )
                .and_then(|v| v.as_str()),
            Some(want),
            "row {id}"
        );
    }
    // The rest of the database migrated as usual.
    verify(&fx, &m, true);
}

/// The journal of a page (its entities' ids and names, written before its
/// store writes) must fit the checkpoint table whatever the page size:
/// MySQL's `text` holds 64 KiB, which 300 entities with 240-character names
/// exceed — in strict mode every run then failed at its first page, and
/// without strict mode the journal was cut and its orphans never reported.
fn a_big_pages_journal_fits_the_checkpoint_table(kind: &'static str) {
    let key = key();
    let fx = load(kind, &few_services(1), &key);
    let fernet = FernetKeys::parse(&key).unwrap();
    let (rows, docs): (Vec<SampleRow>, Vec<serde_json::Value>) = (0..300)
        .map(|n| {
            let id = format!("cccccccc-0000-4000-8000-{n:012x}");
            let name = format!("{n:04}-{}", "x".repeat(235));
            let doc = json!({
                "id": id, "name": name, "serviceType": "Mysql",
                "updatedAt": 1, "updatedBy": "admin", "deleted": false,
                "connection": {"config": {"type": "Mysql", "username": "u", "hostPort": "h:3306",
                                          "authType": {"password": fernet.encrypt(&format!("big-page-pw-{n}"))}}}
            });
            let row = SampleRow {
                table: "dbservice_entity",
                id,
                name,
                kind: Some(SubjectKind::Service("database".into())),
                doc: json!({}),
            };
            (row, doc)
        })
        .unzip();
    block_on(sample::insert(&fx.db.url, &rows, &docs));
    let om = om_local(&key);
    let run = migrate(&om, &fx.db.url, &["--page-size", "1000"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(total(&run.report, "migrated"), 301, "{}", run.report);
    verify(&fx, &manager_of(&om), true);
}

/// A journal in the checkpoint table that cannot be read (cut by a column
/// too small before, or edited) is reported as an unchecked table, never
/// taken as "nothing pending".
fn an_unreadable_journal_is_reported_not_ignored(kind: &'static str) {
    let fx = load(kind, &few_services(20), &key());
    let om = om_local(&fx.key);
    assert!(kill_at(&om, &fx.db.url, 1, "10"), "not stalled at step 1");
    fx.db.exec(
        "UPDATE om_secrets_checkpoint SET pending = '[{\"id\":\"cut' WHERE table_name = 'dbservice_entity'",
    );
    let run = migrate(&om, &fx.db.url, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let orphans = run.report["orphans"].as_array().unwrap();
    assert_eq!(orphans.len(), 1, "{}", run.report);
    assert_eq!(orphans[0]["table"], "dbservice_entity");
    assert!(
        orphans[0]["secretId"]
            .as_str()
            .unwrap()
            .contains("not checked"),
        "{}",
        run.report
    );
    verify(&fx, &manager_of(&om), true);
}

/// OpenMetadata Fernet-encrypts values outside the tables `migrate` walks,
/// whatever its secrets manager: the SMTP password and Slack tokens in
/// `openmetadata_settings` (a setting may be one whole `fernet:` string),
/// webhook secret keys of `event_subscription_entity`. A `rotate` that left
/// them under the old key made "then drop the old key" lose them; they are
/// re-encrypted too, and decrypt with the new key alone.
fn rotate_also_reencrypts_openmetadatas_own_fernet_values(kind: &'static str) {
    let old = key();
    let new = key();
    let fx = load(kind, &few_services(2), &old);
    let oldk = FernetKeys::parse(&old).unwrap();
    let newk = FernetKeys::parse(&new).unwrap();
    let pg = sample::is_postgres(&fx.db.url);
    if pg {
        fx.db.exec(
            "CREATE TABLE openmetadata_settings (id SERIAL NOT NULL, configType VARCHAR(36) NOT NULL, \
             json JSONB NOT NULL, PRIMARY KEY (id, configType), UNIQUE (configType)); \
             CREATE TABLE event_subscription_entity (id varchar(36) NOT NULL, json JSONB NOT NULL, PRIMARY KEY (id))",
        );
    } else {
        fx.db.exec(
            "CREATE TABLE openmetadata_settings (id MEDIUMINT NOT NULL AUTO_INCREMENT, configType VARCHAR(36) NOT NULL, \
             json JSON NOT NULL, PRIMARY KEY (id, configType), UNIQUE (configType)); \
             CREATE TABLE event_subscription_entity (id varchar(36) NOT NULL, json JSON NOT NULL, PRIMARY KEY (id))",
        );
    }
    let smtp = json!({"username": "u", "serverEndpoint": "smtp.example.com",
                      "password": oldk.encrypt("smtp-password-value")});
    let slack = json!(oldk.encrypt(r#"{"botToken":"xoxb-slack-value"}"#));
    let hook_id = "dddddddd-0000-4000-8000-000000000001";
    let hook = json!({"id": hook_id, "name": "hook", "destinations": [
        {"type": "Webhook", "config": {"endpoint": "http://h", "secretKey": oldk.encrypt("webhook-secret-value")}}]});
    let q = |v: &serde_json::Value| v.to_string().replace('\'', "''");
    fx.db.exec(&format!(
        "INSERT INTO openmetadata_settings (configType, json) VALUES ('emailConfiguration', '{}'), ('slackAppConfiguration', '{}')",
        q(&smtp),
        q(&slack)
    ));
    fx.db.exec(&format!(
        "INSERT INTO event_subscription_entity (id, json) VALUES ('{hook_id}', '{}')",
        q(&hook)
    ));
    let om = om_local(&format!("{new},{old}"));
    let run = crate::migrate::run_db(&om, "rotate", &fx.db.url, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let read = |sql: &str| -> serde_json::Value {
        let url = fx.db.url.clone();
        let sql = sql.to_string();
        let text: String = block_on(async move {
            use sqlx::Connection;
            if pg {
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
            } else {
                let mut c = sqlx::MySqlConnection::connect(&url).await.unwrap();
                sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
            }
        });
        serde_json::from_str(&text).unwrap()
    };
    let cast = if pg {
        "json::text"
    } else {
        "CAST(json AS CHAR)"
    };
    let smtp_after = read(&format!(
        "SELECT {cast} FROM openmetadata_settings WHERE configType = 'emailConfiguration'"
    ));
    let slack_after = read(&format!(
        "SELECT {cast} FROM openmetadata_settings WHERE configType = 'slackAppConfiguration'"
    ));
    let hook_after = read(&format!("SELECT {cast} FROM event_subscription_entity"));
    let dec = |v: &serde_json::Value| newk.decrypt(v.as_str().unwrap()).map(|p| p.to_string());
    assert_eq!(
        dec(&smtp_after["password"]).as_deref(),
        Ok("smtp-password-value")
    );
    assert_eq!(
        dec(&slack_after).as_deref(),
        Ok(r#"{"botToken":"xoxb-slack-value"}"#)
    );
    assert_eq!(
        dec(&hook_after["destinations"][0]["config"]["secretKey"]).as_deref(),
        Ok("webhook-secret-value")
    );
    assert_eq!(smtp_after["username"], "u");
    // A rerun changes nothing.
    let again = crate::migrate::run_db(&om, "rotate", &fx.db.url, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(total(&again.report, "migrated"), 0, "{}", again.report);
}

/// OpenBao stops between two pages (after the first page's values were
/// written and read back): the next page's store writes fail, the run ends
/// with an error, and no row of the pages after the first changed — none
/// updated without its values in the store — nor any value in the output.
fn openbao_stopping_mid_run_updates_no_row_it_could_not_write(kind: &'static str) {
    use crate::kms_common::{Kind, Kms};
    let fx = load(kind, &few_services(30), &key());
    let kms = Kms::dedicated(Kind::Vault)
        .with("OM_SM_RETRY_MAX_SECONDS", "1")
        .with("FERNET_KEY", &fx.key);
    let om = kms.om(true);
    let resume = om.home.path().join("resume");
    let mut cmd = om.command(&["migrate", "--database-url", &fx.db.url, "--page-size", "5"]);
    cmd.env("OM_SECRETS_TEST_STALL_AT_STEP", "1")
        .env("OM_SECRETS_TEST_RESUME_FILE", &resume)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("ended before its test hook").unwrap();
        if line.contains("paused at step") {
            break;
        }
    }
    let before = fx.db.texts();
    let _held = kms.server.stop_and_hold();
    std::fs::write(&resume, "").unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest:?}");
    let stderr = rest.join("\n");
    assert!(
        !stderr.contains("secret-r"),
        "a value in the output: {stderr}"
    );
    // Only rows of the first page (ids in order) may have changed.
    let mut ids: Vec<&String> = before.keys().collect();
    ids.sort();
    let first_page: Vec<&String> = fx
        .rows
        .iter()
        .filter(|r| r.table == "dbservice_entity")
        .map(|r| &r.id)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .take(5)
        .collect();
    let after = fx.db.texts();
    for (id, text) in &before {
        if !first_page.contains(&id) {
            assert_eq!(&after[id], text, "row {id} changed after the store stopped");
        }
    }
}

on_both!(
    a_pipeline_service_cannot_adopt_an_ingestion_pipelines_secret,
    an_only_run_keeps_other_tables_checkpoints,
    a_second_run_at_once_is_refused,
    rows_sharing_a_name_are_not_moved_onto_one_id,
    a_big_pages_journal_fits_the_checkpoint_table,
    an_unreadable_journal_is_reported_not_ignored,
    rotate_also_reencrypts_openmetadatas_own_fernet_values,
    openbao_stopping_mid_run_updates_no_row_it_could_not_write,
);
