//! `--batch`: JSON lines in, one JSON line out per input line, in order, for
//! every document operation; one bad line never stops the others, and the
//! exit status says whether any failed.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use om_secrets::kms::SecretStore;
use serde_json::{Value, json};

use crate::util::{Om, Run, repo, strings};

const KEY: &str = "jJ/9sz0g0OHxsfxOoSfdFdmk3ysNmPRnH3TUAbz3IHA=";
const MASK: &str = "*********";

/// An installation with a known Fernet key (so sealed values can be opened).
fn keyed() -> Om {
    Om::new().with("FERNET_KEY", KEY)
}

fn jsonl(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Run a batch: (exit status, one parsed answer per stdout line, stderr).
/// Stdin is written from a thread of its own: the command answers while it
/// reads, so a large input written all before reading would fill both pipes.
fn batch(om: &Om, args: &[&str], input: &str) -> (i32, Vec<Value>, String) {
    let mut a = args.to_vec();
    a.push("--batch");
    let mut child = om
        .command(&a)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let Run {
        code,
        stdout,
        stderr,
    } = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    let answers = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (code, answers, stderr)
}

/// A batch that must succeed on every line.
fn batch_ok(om: &Om, args: &[&str], lines: &[Value]) -> Vec<Value> {
    let (code, answers, stderr) = batch(om, args, &jsonl(lines));
    assert_eq!(code, 0, "batch failed: {stderr}\n{answers:?}");
    assert_eq!(answers.len(), lines.len(), "one answer per line");
    answers
}

/// The `document` of every answer.
fn documents(answers: &[Value]) -> Vec<Value> {
    answers
        .iter()
        .map(|a| {
            assert_eq!(a.as_object().unwrap().len(), 1, "{a}");
            a.get("document")
                .unwrap_or_else(|| panic!("not a document: {a}"))
                .clone()
        })
        .collect()
}

/// `doc` with every `fernet:` token replaced by what it holds, so that two
/// sealings of one document (random IVs) compare equal.
fn opened(doc: &Value) -> Value {
    let keys = om_secrets::fernet::FernetKeys::parse(KEY).unwrap();
    match doc {
        Value::String(s) if s.starts_with("fernet:") => {
            Value::String(format!("sealed({})", &*keys.decrypt(s).unwrap()))
        }
        Value::Array(a) => Value::Array(a.iter().map(opened).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), opened(v))).collect()),
        v => v.clone(),
    }
}

fn mysql(password: &str) -> Value {
    json!({"type": "Mysql", "username": "u", "authType": {"password": password}, "hostPort": "h:3306"})
}

/// A few documents of one kind (database): bare configs of several
/// connectors and a whole service entity.
fn database_docs() -> Vec<(String, Value)> {
    vec![
        ("mysql-a".into(), mysql("pw-mysql-a")),
        (
            "pg-b".into(),
            json!({"type": "Postgres", "username": "u", "authType": {"password": "pw-pg-b"}, "hostPort": "h:5432", "database": "d"}),
        ),
        (
            "Snow.Flake".into(),
            json!({"type": "Snowflake", "username": "u", "password": "pw-snow", "account": "acct", "warehouse": "wh", "privateKey": "pk-snow"}),
        ),
        (
            "entity-c".into(),
            json!({"name": "entity-c", "serviceType": "Mysql", "connection": {"config": mysql("pw-entity-c")}, "owners": [{"name": "team"}]}),
        ),
        (
            "no-secrets".into(),
            json!({"type": "Mysql", "username": "u", "hostPort": "h:3306", "authType": {"password": null}}),
        ),
    ]
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "secret `{s}` found in: {text}");
    }
}

/// Every operation through `--batch` gives, line by line and in order,
/// exactly what the single-document command gives.
#[test]
fn every_operation_equals_the_single_document_commands() {
    let docs = database_docs();
    let secrets = ["pw-mysql-a", "pw-pg-b", "pw-snow", "pk-snow", "pw-entity-c"];
    let single = keyed();
    let batched = keyed();
    let svc = ["--service-type", "database"];
    let with = |op: &str, name: Option<&str>| {
        let mut a = vec![op.to_string(), svc[0].into(), svc[1].into()];
        if let Some(n) = name {
            a.extend(["--name".to_string(), n.to_string()]);
        }
        a
    };
    let one = |om: &Om, args: Vec<String>, doc: &Value| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        om.json(&a, doc)
    };
    let lines = |docs: &[(String, Value)]| -> Vec<Value> {
        docs.iter()
            .map(|(n, d)| json!({"name": n, "document": d}))
            .collect()
    };

    // seal
    let sealed_single: Vec<Value> = docs
        .iter()
        .map(|(n, d)| one(&single, with("seal", Some(n)), d))
        .collect();
    let (code, answers, stderr) = batch(
        &batched,
        &["seal", "--service-type", "database"],
        &jsonl(&lines(&docs)),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_no_secret(&stderr, &secrets);
    let sealed = documents(&answers);
    assert_eq!(sealed.len(), docs.len());
    for (s, b) in sealed_single.iter().zip(&sealed) {
        assert_eq!(opened(s), opened(b));
        for x in strings(b) {
            assert_no_secret(x, &secrets);
        }
    }
    let ids = batched.store_ids();
    assert_eq!(ids, single.store_ids());
    assert!(
        ids.contains(&"/openmetadata/database/mysql-a/authtype/password".to_string()),
        "{ids:?}"
    );
    assert!(
        ids.contains(&"/openmetadata/database/entity-c/authtype/password".to_string()),
        "{ids:?}"
    );
    assert!(
        ids.iter()
            .any(|i| i.starts_with("/openmetadata/database/snow_flake.")
                && i.ends_with("/privatekey")),
        "{ids:?}"
    );
    let stored: Vec<(String, Value)> = docs
        .iter()
        .map(|(n, _)| n.clone())
        .zip(sealed.iter().cloned())
        .collect();

    // reveal, resolved and keeping references
    for keep in [false, true] {
        let mut args = vec!["reveal", "--service-type", "database"];
        if keep {
            args.push("--keep-references");
        }
        let revealed = documents(&batch_ok(&batched, &args, &lines(&stored)));
        for ((n, s), r) in stored.iter().zip(&revealed) {
            let mut a = with("reveal", Some(n));
            if keep {
                a.push("--keep-references".into());
            }
            assert_eq!(
                &one(&batched, a, s),
                r,
                "reveal {n} (keep references: {keep})"
            );
        }
        if !keep {
            let originals: Vec<Value> = docs.iter().map(|(_, d)| d.clone()).collect();
            assert_eq!(revealed, originals, "reveal(seal(x)) == x");
        }
    }

    // mask (no name needed: lines without one)
    let unnamed: Vec<Value> = stored.iter().map(|(_, d)| json!({"document": d})).collect();
    let masked = documents(&batch_ok(
        &batched,
        &["mask", "--service-type", "database"],
        &unnamed,
    ));
    for ((_, s), m) in stored.iter().zip(&masked) {
        assert_eq!(&single.json(&["mask", "--service-type", "database"], s), m);
    }
    assert_eq!(masked[0]["authType"]["password"], MASK);
    assert_eq!(
        masked[3]["connection"]["config"]["authType"]["password"],
        MASK
    );

    // fields, with and without names
    let fields = batch_ok(
        &batched,
        &["fields", "--service-type", "database"],
        &lines(&docs),
    );
    for ((n, d), f) in docs.iter().zip(&fields) {
        assert_eq!(
            f,
            &json!({"fields": one(&single, with("fields", Some(n)), d)})
        );
    }
    assert_eq!(
        fields[0]["fields"][0],
        json!({"pointer": "/authType/password", "secretId": "/openmetadata/database/mysql-a/authtype/password", "treatment": "secret"})
    );
    let fields = batch_ok(
        &batched,
        &["fields", "--service-type", "database"],
        &unnamed,
    );
    assert_eq!(fields[0]["fields"][0]["secretId"], "authtype/password");

    // merge: the masked view with a changed plain field, merged with stored
    let merge_lines: Vec<Value> = masked
        .iter()
        .zip(&stored)
        .map(|(m, (n, s))| {
            let mut update = m.clone();
            update["description"] = json!("changed");
            json!({"name": n, "document": update, "stored": s})
        })
        .collect();
    let merged = documents(&batch_ok(
        &batched,
        &["merge", "--service-type", "database"],
        &merge_lines,
    ));
    for ((l, (_, s)), m) in merge_lines.iter().zip(&stored).zip(&merged) {
        let file = batched.home.path().join("stored.json");
        std::fs::write(&file, s.to_string()).unwrap();
        let m1 = batched.json(
            &[
                "merge",
                "--service-type",
                "database",
                "--stored",
                file.to_str().unwrap(),
            ],
            &l["document"],
        );
        assert_eq!(&m1, m);
        let mut expected = s.clone();
        expected["description"] = json!("changed");
        assert_eq!(m, &expected, "merge puts every stored value back");
    }

    // forget
    let deleted = batch_ok(
        &batched,
        &["forget", "--service-type", "database"],
        &lines(&stored),
    );
    for ((n, s), d) in stored.iter().zip(&deleted) {
        assert_eq!(d, &one(&single, with("forget", Some(n)), s), "forget {n}");
    }
    assert_eq!(
        deleted[0],
        json!({"deleted": ["/openmetadata/database/mysql-a/authtype/password"]})
    );
    assert_eq!(deleted[4], json!({"deleted": []}));
    assert!(batched.store_ids().is_empty());
    assert!(single.store_ids().is_empty());
}

/// Bad lines in the middle get their error line; every other line is
/// answered as if alone; exit status 1; no secret anywhere in the errors.
#[test]
fn a_bad_line_never_stops_the_others() {
    let om = keyed();
    let input = [
        json!({"name": "good-1", "document": mysql("pw-good-1")}).to_string(),
        r#"{"name": "bad-json", "document": {"password": "pw-in-bad-json""#.to_string(),
        json!({"name": "unknown", "document": {"type": "NoSuchDb", "password": "pw-unknown"}}).to_string(),
        json!({"name": "masked", "document": mysql(MASK)}).to_string(),
        json!({"name": "thief", "document": mysql("secret:/openmetadata/database/good-1/authtype/password")}).to_string(),
        json!({"document": mysql("pw-no-name")}).to_string(),
        json!({"name": "bad-key", "document": mysql("pw-bad-key"), "stored": {}}).to_string(),
        json!(["pw-not-an-object"]).to_string(),
        String::new(),
        json!({"name": 7, "document": mysql("pw-number-name")}).to_string(),
        json!({"name": "not-an-object", "document": "pw-string-document"}).to_string(),
        json!({"name": "good-2", "document": mysql("pw-good-2")}).to_string(),
    ]
    .join("\n");
    let (code, answers, stderr) = batch(&om, &["seal", "--service-type", "database"], &input);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(answers.len(), 12, "one answer per line: {answers:?}");
    let error = |i: usize| -> (&Value, &str) {
        let e = &answers[i]["error"];
        assert!(
            e.is_object(),
            "line {}: expected an error: {}",
            i + 1,
            answers[i]
        );
        (&e["pointer"], e["message"].as_str().unwrap())
    };
    assert!(
        answers[0]["document"]["authType"]["password"]
            .as_str()
            .unwrap()
            .starts_with("fernet:")
    );
    assert!(
        answers[11]["document"]["authType"]["password"]
            .as_str()
            .unwrap()
            .starts_with("fernet:")
    );
    let (p, m) = error(1);
    assert_eq!(p, &Value::Null);
    assert!(m.starts_with("line 2: not valid JSON"), "{m}");
    let (p, m) = error(2);
    // The unknown type is pointed at (as `om-secrets serve` points at it).
    assert_eq!(p, "/type");
    assert!(m.contains("NoSuchDb"), "{m}");
    let (p, _) = error(3);
    assert_eq!(p, "/authType/password");
    let (p, m) = error(4);
    assert_eq!(p, "/authType/password");
    assert!(
        m.contains("/openmetadata/database/good-1/authtype/password"),
        "{m}"
    );
    let (p, m) = error(5);
    assert_eq!(p, &Value::Null);
    assert!(m.contains("`name`"), "{m}");
    let (_, m) = error(6);
    assert!(m.starts_with("line 7: unknown key `stored`"), "{m}");
    let (_, m) = error(7);
    assert!(m.starts_with("line 8: not a JSON object"), "{m}");
    let (_, m) = error(8);
    assert!(m.starts_with("line 9: empty"), "{m}");
    let (_, m) = error(9);
    assert!(m.starts_with("line 10: `name` must be a string"), "{m}");
    let (p, _) = error(10);
    assert_eq!(p, "");
    assert!(stderr.contains("10 of 12 lines failed"), "{stderr}");

    // Only the good lines wrote, and the reference was not followed.
    assert_eq!(
        om.store_ids(),
        [
            "/openmetadata/database/good-1/authtype/password",
            "/openmetadata/database/good-2/authtype/password"
        ]
    );
    let out = serde_json::to_string(&answers).unwrap();
    let secrets = [
        "pw-good-1",
        "pw-good-2",
        "pw-in-bad-json",
        "pw-unknown",
        "pw-no-name",
        "pw-bad-key",
        "pw-not-an-object",
        "pw-number-name",
        "pw-string-document",
    ];
    assert_no_secret(&out, &secrets);
    assert_no_secret(&stderr, &secrets);

    // Every line good: exit 0, nothing on stderr.
    let (code, answers, stderr) = batch(
        &om,
        &["reveal", "--service-type", "database"],
        &jsonl(&[
            json!({"name": "good-1", "document": answers[0]["document"]}),
            json!({"name": "good-2", "document": answers[11]["document"]}),
        ]),
    );
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        documents(&answers),
        [mysql("pw-good-1"), mysql("pw-good-2")]
    );

    // A token no key opens (another deployment's) names its field.
    let foreign =
        om_secrets::fernet::FernetKeys::parse(&om_secrets::fernet::FernetKeys::generate_key())
            .unwrap()
            .encrypt("pw-foreign");
    let (code, answers, stderr) = batch(
        &om,
        &["reveal", "--service-type", "database"],
        &jsonl(&[json!({"name": "f", "document": mysql(&foreign)})]),
    );
    assert_eq!(code, 1);
    assert_eq!(answers[0]["error"]["pointer"], "/authType/password");
    assert_no_secret(&format!("{answers:?}{stderr}"), &["pw-foreign"]);

    // Not UTF-8: its line number, never its bytes.
    let mut bytes = b"{\"name\": \"x\", \"document\": {\"password\": \"pw-\xff\xfe\"}}\n".to_vec();
    bytes.extend(
        format!(
            "{}\n",
            json!({"name": "good-3", "document": mysql("pw-good-3")})
        )
        .as_bytes(),
    );
    let mut child = om
        .command(&["seal", "--service-type", "database", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let answers: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        answers[0],
        json!({"error": {"pointer": null, "message": "line 1: not valid UTF-8"}})
    );
    assert!(answers[1]["document"].is_object());
}

/// `--bot`, `--pipeline` and `--workflow` take no name with `--batch`: each
/// line names its entity, and its ids are that entity's, as a single command
/// with that name gives them.
#[test]
fn names_per_line_create_the_right_ids() {
    let om = keyed();
    let bot = |token: &str| json!({"name": "ignored", "isBot": true, "authenticationMechanism": {"authType": "JWT", "config": {"JWTToken": token, "JWTTokenExpiry": "Unlimited"}}});
    let bots = batch_ok(
        &om,
        &["seal", "--bot"],
        &[
            json!({"name": "ingestion-bot", "document": bot("eyJ.token-1")}),
            json!({"name": "Profiler Bot", "document": bot("eyJ.token-2")}),
        ],
    );
    let dbt = |token: &str| json!({"sourceConfig": {"config": {"type": "DBT", "dbtConfigSource": {"dbtConfigType": "cloud", "dbtCloudAuthToken": token, "dbtCloudAccountId": "1", "dbtCloudUrl": "https://cloud.getdbt.com"}}}});
    let pipelines = batch_ok(
        &om,
        &["seal", "--pipeline"],
        &[json!({"name": "dbt-1", "document": dbt("dbt-token-1")})],
    );
    let wf =
        json!({"request": {"serviceType": "Database", "connection": {"config": mysql("pw-wf")}}});
    let workflows = batch_ok(
        &om,
        &["seal", "--workflow"],
        &[json!({"name": "test-conn", "document": wf})],
    );
    let ids = om.store_ids();

    // The same through single commands, in another installation.
    let single = keyed();
    single.json(&["seal", "--bot", "ingestion-bot"], &bot("eyJ.token-1"));
    single.json(&["seal", "--bot", "Profiler Bot"], &bot("eyJ.token-2"));
    single.json(&["seal", "--pipeline", "dbt-1"], &dbt("dbt-token-1"));
    single.json(&["seal", "--workflow", "test-conn"], &wf);
    assert_eq!(ids, single.store_ids());
    for id in [
        "/openmetadata/bot/ingestion-bot/config/jwttoken",
        "/openmetadata/pipeline/dbt-1/sourceconfig/config/dbtconfigsource/dbtcloudauthtoken",
        "/openmetadata/workflow/test-conn/request/connection/config/authtype/password",
    ] {
        assert!(ids.contains(&id.to_string()), "{id} not in {ids:?}");
    }
    assert!(
        ids.iter()
            .any(|i| i.starts_with("/openmetadata/bot/profiler_bot.")
                && i.ends_with("/config/jwttoken")),
        "{ids:?}"
    );
    assert_eq!(ids.len(), 4, "{ids:?}");

    // Each reveals back under its own name (and not under another's).
    let revealed = documents(&batch_ok(
        &om,
        &["reveal", "--bot"],
        &[
            json!({"name": "ingestion-bot", "document": bots[0]["document"]}),
            json!({"name": "Profiler Bot", "document": bots[1]["document"]}),
        ],
    ));
    assert_eq!(revealed, [bot("eyJ.token-1"), bot("eyJ.token-2")]);
    let (code, answers, _) = batch(
        &om,
        &["reveal", "--bot"],
        &jsonl(&[json!({"name": "ingestion-bot", "document": bots[1]["document"]})]),
    );
    assert_eq!(code, 1);
    assert_eq!(
        answers[0]["error"]["pointer"],
        "/authenticationMechanism/config/JWTToken"
    );
    assert_eq!(
        documents(&batch_ok(
            &om,
            &["reveal", "--pipeline"],
            &[json!({"name": "dbt-1", "document": pipelines[0]["document"]})]
        )),
        [dbt("dbt-token-1")]
    );
    assert_eq!(
        documents(&batch_ok(
            &om,
            &["reveal", "--workflow"],
            &[json!({"name": "test-conn", "document": workflows[0]["document"]})]
        ))[0],
        wf
    );

    // A human user among bots is its line's error.
    let (code, answers, _) = batch(
        &om,
        &["mask", "--bot"],
        &jsonl(&[
            json!({"document": {"isBot": false, "name": "alice"}}),
            json!({"document": bots[0]["document"]}),
        ]),
    );
    assert_eq!(code, 1);
    assert_eq!(answers[0]["error"]["pointer"], "/isBot");
    assert_eq!(
        answers[1]["document"]["authenticationMechanism"]["config"]["JWTToken"],
        MASK
    );

    // Two lines of one entity run in order: the second seal wins, and its
    // `previous` deletes what the first stored and it no longer has.
    let om = keyed();
    let with_ssl = json!({"type": "Mysql", "username": "u", "authType": {"password": "pw-1"}, "sslConfig": {"sslKey": "key-1"}});
    let first = batch_ok(
        &om,
        &["seal", "--service-type", "database"],
        &[json!({"name": "svc", "document": with_ssl})],
    );
    let answers = batch_ok(
        &om,
        &["seal", "--service-type", "database"],
        &[
            json!({"name": "svc", "document": mysql("pw-2"), "previous": first[0]["document"]}),
            json!({"name": "svc", "document": mysql("pw-3")}),
        ],
    );
    assert_eq!(
        om.store_ids(),
        ["/openmetadata/database/svc/authtype/password"]
    );
    let revealed = documents(&batch_ok(
        &om,
        &["reveal", "--service-type", "database"],
        &[json!({"name": "svc", "document": answers[0]["document"]})],
    ));
    assert_eq!(revealed, [mysql("pw-3")]);

    // The name comes from the lines, never also from the command line.
    let r = om.run(
        &[
            "seal",
            "--service-type",
            "database",
            "--name",
            "x",
            "--batch",
        ],
        "",
    );
    assert!(r.usage_err().contains("--name"), "{}", r.stderr);
    let r = om.run(&["seal", "--bot", "x", "--batch"], "");
    assert!(r.err().contains("without a NAME"), "{}", r.stderr);
    let r = om.run(&["seal", "--bot"], &bot("t").to_string());
    assert!(r.err().contains("NAME"), "{}", r.stderr);
    let r = om.run(
        &[
            "merge",
            "--service-type",
            "database",
            "--batch",
            "--stored",
            "f",
        ],
        "",
    );
    assert!(r.usage_err().contains("--stored"), "{}", r.stderr);
}

/// Merge lines carry their stored form; a line without one is its error.
#[test]
fn merge_lines_carry_their_stored_form() {
    let om = keyed();
    let docs = [("m-1", mysql("pw-m-1")), ("m-2", mysql("pw-m-2"))];
    let lines: Vec<Value> = docs
        .iter()
        .map(|(n, d)| json!({"name": n, "document": d}))
        .collect();
    let stored = documents(&batch_ok(
        &om,
        &["seal", "--service-type", "database"],
        &lines,
    ));
    // The UI sends back the masked view: one user changed the password,
    // the other a plain field.
    let mut u1 = mysql(MASK);
    u1["hostPort"] = json!("other:3306");
    let u2 = mysql("pw-m-2-new");
    let (code, answers, stderr) = batch(
        &om,
        &["merge", "--service-type", "database"],
        &jsonl(&[
            json!({"name": "m-1", "document": u1, "stored": stored[0]}),
            json!({"name": "m-2", "document": u2, "stored": stored[1]}),
            json!({"name": "m-3", "document": mysql(MASK)}),
            json!({"name": "m-4", "document": mysql(MASK), "stored": mysql("")}),
        ]),
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(answers.len(), 4);
    assert_eq!(
        answers[0]["document"]["authType"]["password"],
        stored[0]["authType"]["password"]
    );
    assert_eq!(answers[0]["document"]["hostPort"], "other:3306");
    assert_eq!(answers[1]["document"], u2);
    assert!(
        answers[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`stored`")
    );
    assert_eq!(answers[3]["error"]["pointer"], "/authType/password");

    // The merged documents seal and reveal to what the users meant.
    let merged = documents(&answers[..2]);
    let resealed = documents(&batch_ok(
        &om,
        &["seal", "--service-type", "database"],
        &[
            json!({"name": "m-1", "document": merged[0], "previous": stored[0]}),
            json!({"name": "m-2", "document": merged[1], "previous": stored[1]}),
        ],
    ));
    let revealed = documents(&batch_ok(
        &om,
        &["reveal", "--service-type", "database"],
        &[
            json!({"name": "m-1", "document": resealed[0]}),
            json!({"name": "m-2", "document": resealed[1]}),
        ],
    ));
    let mut expected = mysql("pw-m-1");
    expected["hostPort"] = json!("other:3306");
    assert_eq!(revealed, [expected, mysql("pw-m-2-new")]);
}

/// 1,000 real connector configs (every database variant of OpenMetadata
/// 2.0.7, cycled, each line its own entity and distinct secret values) seal
/// in one batch and reveal back to their input.
#[test]
fn a_thousand_real_configs_seal_and_reveal_back() {
    let text = std::fs::read_to_string(repo().join("tools/om-connectors-2.0.7.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let mut variants = Vec::new();
    for (ctype, c) in manifest["serviceTypes"]["database"].as_object().unwrap() {
        for (i, v) in c["variants"].as_array().unwrap().iter().enumerate() {
            variants.push((ctype.to_lowercase(), i, v));
        }
    }
    assert!(variants.len() > 100, "{}", variants.len());
    let mut lines = Vec::new();
    let mut secret_count = 0;
    for k in 0..1000 {
        let (ctype, i, v) = &variants[k % variants.len()];
        let mut config = v["config"].clone();
        let pointers: std::collections::BTreeSet<String> =
            ["secrets", "heuristic", "unguarded", "beyond"]
                .iter()
                .flat_map(|key| v[key].as_array().cloned().unwrap_or_default())
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
        for (j, p) in pointers.iter().enumerate() {
            let slot = config.pointer_mut(p).unwrap();
            assert!(slot.is_string(), "{ctype} #{i}: {p}");
            *slot = json!(format!("s3cr3t-{k}-{j}"));
            secret_count += 1;
        }
        lines.push(json!({"name": format!("{ctype}-{i}-{k}"), "document": config}));
    }
    let om = keyed();
    let started = std::time::Instant::now();
    let (code, answers, stderr) =
        batch(&om, &["seal", "--service-type", "database"], &jsonl(&lines));
    let took = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(answers.len(), 1000);
    assert_no_secret(&stderr, &["s3cr3t-"]);
    let sealed = documents(&answers);
    for s in &sealed {
        assert!(strings(s).iter().all(|x| !x.contains("s3cr3t-")), "{s}");
    }
    assert_eq!(om.store_ids().len(), secret_count);

    let reveal: Vec<Value> = lines
        .iter()
        .zip(&sealed)
        .map(|(l, s)| json!({"name": l["name"], "document": s}))
        .collect();
    let (code, answers, stderr) = batch(
        &om,
        &["reveal", "--service-type", "database"],
        &jsonl(&reveal),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_no_secret(&stderr, &["s3cr3t-"]);
    let revealed = documents(&answers);
    for (l, r) in lines.iter().zip(&revealed) {
        assert_eq!(&l["document"], r, "{}", l["name"]);
    }
    println!("batch: 1,000 seals in {took:?}, {secret_count} secrets");
}

/// Each line is answered as soon as it is read: a caller may send one line,
/// wait for its answer, then send the next.
#[test]
fn lines_are_answered_as_they_come() {
    let om = keyed();
    let mut child = om
        .command(&["mask", "--service-type", "database", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    for k in 0..3 {
        writeln!(stdin, "{}", json!({"document": mysql(&format!("pw-{k}"))})).unwrap();
        stdin.flush().unwrap();
        let answer = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("an answer before the next line is sent");
        let v: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(v["document"]["authType"]["password"], MASK);
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert!(rx.recv().is_err(), "nothing more after the last answer");
}

/// A line longer than the input limit allows is skipped to its end and
/// reported by number; the next line is read as usual.
#[test]
fn an_overlong_line_is_its_error_and_the_next_is_read() {
    let om = keyed();
    let config = om.home.path().join("om.yaml");
    std::fs::write(&config, "limits: { maxInputBytes: 1024 }\n").unwrap();
    let long = json!({"name": "long", "document": mysql(&"pw-long-".repeat(20_000))});
    let input = jsonl(&[
        long,
        json!({"name": "short", "document": mysql("pw-short")}),
    ]);
    let (code, answers, stderr) = batch(
        &om,
        &[
            "seal",
            "--service-type",
            "database",
            "--config",
            config.to_str().unwrap(),
        ],
        &input,
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(answers.len(), 2);
    let limit = 2 * 1024 + 64 * 1024;
    assert_eq!(
        answers[0],
        json!({"error": {"pointer": null, "message": format!("line 1: longer than {limit} bytes")}})
    );
    assert!(answers[1]["document"].is_object(), "{}", answers[1]);
    assert_no_secret(&stderr, &["pw-long-", "pw-short"]);
}

/// A store whose writes take turns with other tasks (so documents in flight
/// interleave), that counts how many documents write at once, and that fails
/// every write of an `sslkey` below an entity named `fail-…`.
struct Interleaving {
    inner: om_secrets::kms::memory::MemoryStore,
    in_flight: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl om_secrets::kms::SecretStore for Interleaving {
    fn name(&self) -> &str {
        "interleaving"
    }
    async fn get(
        &self,
        id: &str,
    ) -> Result<Option<om_secrets::kms::SecretValue>, om_secrets::kms::KmsError> {
        tokio::task::yield_now().await;
        self.inner.get(id).await
    }
    async fn put(&self, id: &str, value: &str) -> Result<(), om_secrets::kms::KmsError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        self.in_flight.fetch_sub(1, SeqCst);
        if id.contains("/fail-") && id.ends_with("/sslkey") {
            return Err(om_secrets::kms::KmsError::new(
                "interleaving",
                Some(id),
                om_secrets::kms::KmsErrorKind::Other,
                "refused",
            ));
        }
        self.inner.put(id, value).await
    }
    async fn delete(&self, id: &str) -> Result<bool, om_secrets::kms::KmsError> {
        tokio::task::yield_now().await;
        self.inner.delete(id).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, om_secrets::kms::KmsError> {
        self.inner.list(prefix).await
    }
}

/// Through the library: documents in flight at once never mix their
/// changes. A document whose store write fails half-way leaves nothing (its
/// applied writes undone) while the others around it succeed, and two
/// documents of one entity take effect in input order.
#[test]
fn documents_in_flight_never_mix_their_changes() {
    use om_secrets::ops::{Backend, BatchItem, SubjectKind};
    let (_home, plugins) = crate::util::builtin_plugins();
    let store = std::sync::Arc::new(Interleaving {
        inner: om_secrets::kms::memory::MemoryStore::new(),
        in_flight: Default::default(),
        most: Default::default(),
    });
    let sm = om_secrets::SecretsManager::new(
        Backend::Managed(store.clone()),
        om_secrets::fernet::FernetKeys::parse(KEY).unwrap(),
        om_secrets::secret_id::IdBuilder::new("", "openmetadata"),
        plugins,
    );
    let with_ssl = |pw: &str| json!({"type": "Mysql", "username": "u", "authType": {"password": pw}, "sslConfig": {"sslKey": format!("key-{pw}")}});
    let mut items = Vec::new();
    for k in 0..24 {
        let name = if k % 5 == 2 {
            format!("fail-{k}")
        } else {
            format!("ok-{k}")
        };
        items.push(BatchItem::named(name, with_ssl(&format!("pw-{k}"))));
    }
    items.push(BatchItem::named("same", with_ssl("first")));
    items.push(BatchItem::named("same", with_ssl("second")));
    let kind = SubjectKind::Service("database".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let results = rt.block_on(sm.seal_batch(&kind, &items));
    assert_eq!(results.len(), items.len());
    let mut expected = Vec::new();
    for (item, r) in items.iter().zip(&results) {
        let name = item.name.as_deref().unwrap();
        if name.starts_with("fail-") {
            let e = r.as_ref().unwrap_err();
            assert!(e.to_string().contains("refused"), "{e}");
        } else {
            assert!(r.is_ok(), "{name}: {:?}", r.as_ref().err());
            expected.push(format!("/openmetadata/database/{name}/authtype/password"));
            expected.push(format!("/openmetadata/database/{name}/sslconfig/sslkey"));
        }
    }
    expected.sort();
    expected.dedup();
    let ids = rt.block_on(store.inner.list("/openmetadata/")).unwrap();
    assert_eq!(
        ids, expected,
        "failed documents left nothing, the others all"
    );
    assert!(
        store.most.load(std::sync::atomic::Ordering::SeqCst) > 1,
        "documents were in flight at once"
    );
    // Each document reveals its own values; `same` holds the later line's.
    let reveal: Vec<BatchItem> = items
        .iter()
        .zip(&results)
        .filter_map(|(i, r)| {
            let d = r.as_ref().ok()?.clone();
            Some(BatchItem::named(i.name.clone().unwrap(), d))
        })
        .collect();
    let revealed = rt.block_on(sm.reveal_batch(&kind, &reveal, false));
    for (i, r) in reveal.iter().zip(revealed) {
        let r = r.unwrap();
        let name = i.name.as_deref().unwrap();
        if name == "same" {
            assert_eq!(r, with_ssl("second"));
        } else {
            let k = name.trim_start_matches("ok-");
            assert_eq!(r, with_ssl(&format!("pw-{k}")), "{name}");
        }
    }
}
