//! `om-secrets --server URL …` and the typed client (`om_secrets::client`)
//! against the real `om-secrets serve`, started as a child process on a free
//! loopback port beside an in-process CLI on the same data directory: the
//! same stored forms, masks, reveals, field lists and batch lines either
//! way; errors exit 1 with the library's message; the client parses the
//! service's problems into typed errors.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use om_secrets::client::{Client, ClientError, Target};
use om_secrets::{Failure, Operation, Outcome, SubjectKind};
use serde_json::{Value, json};

use crate::util::{Om, Run, assert_absent, feed};

/// A password no output may hold.
const SECRET: &str = "pw-Cl13nt-s3cret";

/// `om-secrets serve` on a free loopback port, on `om`'s data directory,
/// with no `server:` block: the admin API key it creates is the token.
/// Stopped (SIGTERM, waited for) when dropped.
struct Served {
    child: Child,
    url: String,
    key: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn serve(om: &Om) -> Served {
    serve_with(om, &[])
}

/// [`serve`] with options before the command (`--config FILE`).
fn serve_with(om: &Om, pre: &[&str]) -> Served {
    let mut all = pre.to_vec();
    all.extend(["serve", "--listen", "127.0.0.1:0"]);
    let mut child = om
        .command(&all)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn om-secrets serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Drained for the server's whole life (it must never block on stderr).
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("om-secrets serve: listening on ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(180))
        .expect("om-secrets serve did not say where it listens");
    let key = std::fs::read_to_string(om.path("admin-api.key"))
        .expect("the admin API key")
        .trim()
        .to_string();
    let served = Served { child, url, key };
    let client = served.client();
    rt().block_on(async {
        let started = Instant::now();
        while let Err(e) = client.ready().await {
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "not ready: {e}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    served
}

impl Served {
    fn client(&self) -> Client {
        Client::new(&self.url).unwrap().with_token(self.key.clone())
    }

    /// The CLI through the server, the token in `OM_SECRETS_TOKEN`.
    fn run(&self, om: &Om, args: &[&str], stdin: &str) -> Run {
        let mut all = vec!["--server", &self.url];
        all.extend(args);
        let mut c = om.command(&all);
        c.env("OM_SECRETS_TOKEN", &self.key);
        run(c, stdin)
    }

    fn json(&self, om: &Om, args: &[&str], doc: &Value) -> Value {
        self.run(om, args, &doc.to_string()).json()
    }
}

fn run(c: Command, stdin: &str) -> Run {
    let out = feed(c, stdin);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn mysql() -> Value {
    json!({
        "type": "Mysql",
        "scheme": "mysql+pymysql",
        "username": "openmetadata_user",
        "authType": {"password": SECRET},
        "hostPort": "mysql:3306"
    })
}

const ORDERS: &[&str] = &["--service-type", "database", "--name", "orders"];

fn with(cmd: &str, target: &[&str]) -> Vec<String> {
    std::iter::once(cmd)
        .chain(target.iter().copied())
        .map(String::from)
        .collect()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn client_cli_through_the_server_gives_what_in_process_gives() {
    let om = Om::new();
    let s = serve(&om);
    let doc = mysql();

    // fields and mask: deterministic, identical.
    let fields = om.json(&args(&with("fields", ORDERS)), &doc);
    assert_eq!(s.json(&om, &args(&with("fields", ORDERS)), &doc), fields);
    let ids: Vec<&str> = fields
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["secretId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["/openmetadata/database/orders/authtype/password"]);
    let masked = om.json(&args(&with("mask", ORDERS)), &doc);
    assert_eq!(s.json(&om, &args(&with("mask", ORDERS)), &doc), masked);
    assert_eq!(masked["authType"]["password"], "*********");

    // seal through the server: the same stored form as in-process (a
    // reference, Fernet-sealed), the value in the store under the same id.
    assert!(om.store_ids().is_empty());
    let stored = s.json(&om, &args(&with("seal", ORDERS)), &doc);
    assert_absent(&stored, SECRET);
    assert_eq!(om.store_ids(), ids);
    let local = om.json(
        &args(&with(
            "seal",
            &["--service-type", "database", "--name", "orders-local"],
        )),
        &doc,
    );
    let (r, l) = (
        stored["authType"]["password"].as_str().unwrap(),
        local["authType"]["password"].as_str().unwrap(),
    );
    assert!(
        r.starts_with("fernet:") && l.starts_with("fernet:"),
        "{r} {l}"
    );
    assert_eq!(stored["hostPort"], local["hostPort"]);

    // reveal: either way, the original; with references kept, the same form.
    assert_eq!(om.json(&args(&with("reveal", ORDERS)), &stored), doc);
    assert_eq!(s.json(&om, &args(&with("reveal", ORDERS)), &stored), doc);
    let mut keep = with("reveal", ORDERS);
    keep.push("--keep-references".into());
    let kept = om.json(&args(&keep), &stored);
    assert_eq!(
        kept["authType"]["password"],
        "secret:/openmetadata/database/orders/authtype/password"
    );
    assert_eq!(s.json(&om, &args(&keep), &stored), kept);
    // The stored form's mask, either way.
    assert_eq!(s.json(&om, &args(&with("mask", ORDERS)), &stored), masked);

    // merge: an update still holding the mask keeps the stored secret.
    let mut update = masked.clone();
    update["hostPort"] = json!("mysql-2:3306");
    let stored_file = om.home.path().join("stored.json");
    std::fs::write(&stored_file, stored.to_string()).unwrap();
    let mut merge = with("merge", ORDERS);
    merge.extend(["--stored".into(), stored_file.display().to_string()]);
    let merged_local = om.json(&args(&merge), &update);
    let merged = s.json(&om, &args(&merge), &update);
    assert_eq!(merged, merged_local);
    let mut expected = doc.clone();
    expected["hostPort"] = json!("mysql-2:3306");
    assert_eq!(om.json(&args(&with("reveal", ORDERS)), &merged), expected);

    // seal --previous through the server, then forget: the ids deleted are
    // the fields' ids, and the store holds only the local copy's.
    let mut update_seal = with("seal", ORDERS);
    update_seal.extend(["--previous".into(), stored_file.display().to_string()]);
    let resealed = s.json(&om, &args(&update_seal), &expected);
    assert_eq!(
        s.json(&om, &args(&with("reveal", ORDERS)), &resealed),
        expected
    );
    let deleted = s.json(&om, &args(&with("forget", ORDERS)), &resealed);
    assert_eq!(deleted, json!({ "deleted": ids }));
    assert_eq!(
        om.store_ids(),
        ["/openmetadata/database/orders-local/authtype/password"]
    );

    // A bot: a different route, the same answers.
    let bot = json!({
        "name": "ingestion-bot", "isBot": true,
        "authenticationMechanism": {"authType": "JWT", "config": {"JWTToken": SECRET}}
    });
    let b = ["--bot", "ingestion-bot"];
    let sealed_bot = s.json(&om, &args(&with("seal", &b)), &bot);
    assert_absent(&sealed_bot, SECRET);
    assert_eq!(om.json(&args(&with("reveal", &b)), &sealed_bot), bot);
    assert_eq!(
        s.json(&om, &args(&with("mask", &b)), &sealed_bot),
        om.json(&args(&with("mask", &b)), &bot)
    );
}

#[test]
fn client_batch_lines_through_the_server_match_in_process() {
    let om = Om::new();
    let s = serve(&om);
    let mut other = mysql();
    other["authType"]["password"] = json!("other-pw-value");
    let lines = [
        json!({"name": "a", "document": mysql()}).to_string(),
        "{not json".to_string(),
        json!({"name": "b", "document": {"type": "NoSuchDb", "password": SECRET}}).to_string(),
        json!({"name": "c", "document": other}).to_string(),
    ]
    .join("\n")
        + "\n";
    let batch = ["--service-type", "database", "--batch"];
    for op in ["mask", "fields"] {
        let local = om.run(&args(&with(op, &batch)), &lines);
        let remote = s.run(&om, &args(&with(op, &batch)), &lines);
        assert_eq!(local.code, 1, "{}", local.stderr);
        assert_eq!(remote.code, 1, "{}", remote.stderr);
        assert_eq!(remote.stdout, local.stdout, "{op}");
        assert!(
            remote.stderr.contains("2 of 4 lines failed"),
            "{}",
            remote.stderr
        );
        assert!(!remote.stdout.contains(SECRET) && !remote.stderr.contains(SECRET));
        let out: Vec<Value> = remote
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(out.len(), 4);
        assert!(
            out[1]["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("line 2: not valid JSON")
        );
        assert!(
            out[2]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("NoSuchDb")
        );
        // The unknown type is pointed at, either way.
        assert_eq!(out[2]["error"]["pointer"], "/type");
    }

    // merge with `"stored": null` (nothing stored yet): the same answers in
    // process and through the server. A plain update passes as it is; one
    // holding the mask is refused at the masked field, since nothing stored
    // can restore it; a line without `stored` is refused.
    let mut masked = mysql();
    masked["authType"]["password"] = json!("*********");
    let merge_lines = [
        json!({"name": "a", "document": mysql(), "stored": null}).to_string(),
        json!({"name": "b", "document": masked, "stored": null}).to_string(),
        json!({"name": "c", "document": mysql()}).to_string(),
    ]
    .join("\n")
        + "\n";
    let local = om.run(&args(&with("merge", &batch)), &merge_lines);
    let remote = s.run(&om, &args(&with("merge", &batch)), &merge_lines);
    assert_eq!((local.code, remote.code), (1, 1), "{}", local.stderr);
    assert_eq!(remote.stdout, local.stdout);
    let out: Vec<Value> = local
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(out[0]["document"], mysql());
    assert_eq!(out[1]["error"]["pointer"], "/authType/password");
    assert!(
        out[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stored")
    );

    // Sealed through the server, revealed in-process: the originals.
    let good = [
        json!({"name": "a", "document": mysql()}),
        json!({"name": "c", "document": other}),
    ];
    let text: String = good.iter().map(|l| l.to_string() + "\n").collect();
    let sealed = s.run(&om, &args(&with("seal", &batch)), &text);
    assert_eq!(sealed.code, 0, "{}", sealed.stderr);
    let reveal: String = sealed
        .stdout
        .lines()
        .zip(["a", "c"])
        .map(|(l, name)| {
            let v: Value = serde_json::from_str(l).unwrap();
            json!({"name": name, "document": v["document"]}).to_string() + "\n"
        })
        .collect();
    let revealed = om.run(&args(&with("reveal", &batch)), &reveal);
    assert_eq!(revealed.code, 0, "{}", revealed.stderr);
    let docs: Vec<Value> = revealed
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["document"].clone())
        .collect();
    assert_eq!(docs, [mysql(), other]);
    let mut ids = om.store_ids();
    ids.sort();
    assert_eq!(
        ids,
        [
            "/openmetadata/database/a/authtype/password",
            "/openmetadata/database/c/authtype/password"
        ]
    );
}

#[test]
fn client_errors_exit_1_with_the_library_message_and_no_secret() {
    let om = Om::new();
    let s = serve(&om);
    let bad = json!({"type": "NoSuchDb", "password": SECRET}).to_string();

    // A document the library refuses: the same message, plus the status.
    let local = om.run(&args(&with("seal", ORDERS)), &bad);
    let local_msg = local
        .err()
        .trim()
        .strip_prefix("om-secrets: error: ")
        .unwrap()
        .to_string();
    assert!(
        local_msg.contains("unknown connector type `NoSuchDb`"),
        "{local_msg}"
    );
    let remote = s.run(&om, &args(&with("seal", ORDERS)), &bad);
    let remote_msg = remote.err();
    assert!(
        remote_msg.contains(&local_msg),
        "{remote_msg} vs {local_msg}"
    );
    assert!(remote_msg.contains("(HTTP 422)"), "{remote_msg}");
    assert!(!remote_msg.contains(SECRET));
    assert!(om.store_ids().is_empty(), "nothing was written");

    // No token, a wrong token (file): 401.
    let doc = mysql().to_string();
    let mut c = om.command(&[
        "--server",
        &s.url,
        "mask",
        "--service-type",
        "database",
        "--name",
        "x",
    ]);
    c.env_remove("OM_SECRETS_TOKEN");
    let e = run(c, &doc);
    assert!(e.err().contains("(HTTP 401)"), "{}", e.stderr);
    let token_file = om.home.path().join("token");
    std::fs::write(&token_file, "oms_not-the-key\n").unwrap();
    // `mask` through the server with the token file only (no variable).
    let with_token_file = || {
        let mut c = om.command(&[
            "--server",
            &s.url,
            "--token-file",
            token_file.to_str().unwrap(),
            "mask",
            "--service-type",
            "database",
            "--name",
            "x",
        ]);
        c.env_remove("OM_SECRETS_TOKEN");
        c
    };
    let e = run(with_token_file(), &doc);
    assert!(e.err().contains("(HTTP 401)"), "{}", e.stderr);
    assert!(!e.stderr.contains("oms_not-the-key"));
    // The right key from a file works.
    std::fs::write(&token_file, format!("{}\n", s.key)).unwrap();
    assert_eq!(
        run(with_token_file(), &doc).json()["authType"]["password"],
        "*********"
    );

    // A missing token file names it.
    let e = om.run(
        &[
            "--server",
            &s.url,
            "--token-file",
            "/nonexistent/tok",
            "mask",
            "--bot",
            "b",
        ],
        &doc,
    );
    assert!(e.err().contains("/nonexistent/tok"), "{}", e.stderr);

    // Nothing listening: exit 1 naming the URL.
    let e = om.run(
        &["--server", "http://127.0.0.1:1", "mask", "--bot", "b"],
        &doc,
    );
    assert!(e.err().contains("127.0.0.1:1"), "{}", e.stderr);
    // A URL that is none: said so, and not repeated (without `scheme://`
    // nothing in it can be told apart from a credential).
    let e = om.run(&["--server", "localhost:8590", "mask", "--bot", "b"], &doc);
    assert!(
        e.err()
            .contains("server URL `<the URL given>`: not http:// or https://"),
        "{}",
        e.stderr
    );
    let e = om.run(
        &[
            "--server",
            "admin:hunter2@localhost:8590",
            "mask",
            "--bot",
            "b",
        ],
        &doc,
    );
    assert!(e.err().contains("not http:// or https://"), "{}", e.stderr);
    assert!(!e.stderr.contains("hunter2"), "{}", e.stderr);

    // What --server does not do.
    let e = s.run(&om, &["fernet", "keygen"], "");
    assert!(e.err().contains("document commands only"), "{}", e.stderr);
    let e = s.run(&om, &["mask", "--service-type", "database"], &doc);
    assert!(e.err().contains("needs --name"), "{}", e.stderr);
    // --token-file needs --server: a usage error.
    om.run(&["--token-file", "x", "mask", "--bot", "b"], &doc)
        .usage_err();
}

#[test]
fn client_parses_problems_into_typed_errors() {
    let om = Om::new();
    let s = serve(&om);
    let rt = rt();
    let client = s.client();
    let orders = Target::service("database", "orders");

    // 401 without a valid token.
    let anonymous = Client::new(&s.url).unwrap().with_token("oms_wrong");
    let e = rt.block_on(anonymous.mask(&orders, &mysql())).unwrap_err();
    let p = e.problem().expect("a problem");
    assert_eq!((p.status, p.kind()), (401, "unauthorized"));
    assert!(p.r#type.starts_with("https://om-secrets.invalid/problems/"));

    // 422 naming the field: a token that does not open.
    let bad = json!({"type": "Mysql", "username": "u", "hostPort": "h:1",
                     "authType": {"password": "fernet:gAAAAAnot-a-token"}});
    let e = rt
        .block_on(client.reveal(&orders, &bad, false))
        .unwrap_err();
    let ClientError::Problem(p) = &e else {
        panic!("not a problem: {e}")
    };
    assert_eq!(p.status, 422, "{p:?}");
    assert_eq!(p.pointer.as_deref(), Some("/authType/password"), "{p:?}");
    assert!(p.detail.as_deref().unwrap().contains("/authType/password"));

    // An unknown connector type: 422, no secret in the problem.
    let e = rt
        .block_on(client.seal(&orders, &json!({"type": "NoSuchDb", "password": SECRET})))
        .unwrap_err();
    assert_eq!(e.status(), Some(422));
    assert!(!format!("{e:?}").contains(SECRET));

    // Typed answers: fields, seal/reveal round trip, forget.
    let fields = rt.block_on(client.fields(&orders, &mysql())).unwrap();
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].pointer, "/authType/password");
    let stored = rt.block_on(client.seal(&orders, &mysql())).unwrap();
    assert_eq!(
        rt.block_on(client.reveal(&orders, &stored, false)).unwrap(),
        mysql()
    );
    assert_eq!(
        rt.block_on(client.forget(&orders, &stored)).unwrap(),
        [fields[0].secret_id.clone()]
    );

    // A batch: one result per item, errors per item with their pointer.
    let kind = SubjectKind::Service("database".into());
    let sealed_a = rt
        .block_on(client.seal(&Target::service("database", "a"), &mysql()))
        .unwrap();
    let items = [
        om_secrets::BatchItem::named("a", sealed_a),
        om_secrets::BatchItem::named("b", bad.clone()),
    ];
    let results = rt
        .block_on(client.batch(
            Operation::Reveal {
                keep_references: false,
            },
            &kind,
            &items,
        ))
        .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0], Ok(Outcome::Document(mysql())));
    let Err(Failure { pointer, .. }) = &results[1] else {
        panic!("{:?}", results[1])
    };
    assert_eq!(pointer.as_deref(), Some("/authType/password"));
    // A batch refused as a whole: an error, not per-item results.
    let e = rt
        .block_on(anonymous.batch(Operation::Mask, &kind, &items))
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
}

#[test]
fn client_batch_too_large_for_the_body_limit_is_sent_in_halves() {
    let om = Om::new();
    let config = om.home.path().join("om-secrets.yaml");
    std::fs::write(&config, "server:\n  limits:\n    maxBodyBytes: 3000\n").unwrap();
    let s = serve_with(&om, &["--config", config.to_str().unwrap()]);
    let rt = rt();
    let client = s.client();
    let kind = SubjectKind::Service("database".into());
    // Each item alone fits, five together do not; the fourth alone does not.
    let mut items: Vec<_> = (0..5)
        .map(|i| om_secrets::BatchItem::named(format!("n{i}"), mysql()))
        .collect();
    items[3].document["description"] = json!("x".repeat(4000));
    let results = rt
        .block_on(client.batch(Operation::Mask, &kind, &items))
        .unwrap();
    assert_eq!(results.len(), 5);
    for (i, r) in results.iter().enumerate() {
        if i == 3 {
            let f = r.as_ref().unwrap_err();
            assert!(f.message.contains("(HTTP 413)"), "{}", f.message);
        } else {
            let Ok(Outcome::Document(d)) = r else {
                panic!("item {i}: {r:?}")
            };
            assert_eq!(d["authType"]["password"], "*********");
        }
    }
    // Through the CLI: the same, one line per input line, exit status 1.
    let lines: String = items
        .iter()
        .map(|it| json!({"name": it.name, "document": it.document}).to_string() + "\n")
        .collect();
    let out = s.run(
        &om,
        &["mask", "--batch", "--service-type", "database"],
        &lines,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("1 of 5 lines failed"), "{}", out.stderr);
    let answers: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 5);
    assert!(answers[3]["error"].is_object());
    assert_eq!(answers[4]["document"]["authType"]["password"], "*********");
}

#[test]
fn client_pipelines_and_workflows_through_the_server_match_in_process() {
    let om = Om::new();
    let s = serve(&om);
    let pipeline = json!({
        "name": "dbt-ingest",
        "pipelineType": "dbt",
        "sourceConfig": {"config": {
            "type": "DBT",
            "dbtConfigSource": {
                "dbtConfigType": "cloud",
                "dbtCloudAuthToken": SECRET,
                "dbtCloudAccountId": "123",
                "dbtCloudUrl": "https://cloud.getdbt.com"
            }
        }}
    });
    let wf = json!({
        "name": "test-connection",
        "workflowType": "TEST_CONNECTION",
        "request": {
            "serviceType": "Database",
            "connectionType": "Mysql",
            "serviceName": "mysql-prod",
            "connection": {"config": mysql()}
        }
    });
    for (opt, name, doc) in [
        ("--pipeline", "dbt-ingest", &pipeline),
        ("--workflow", "test-connection", &wf),
    ] {
        let t = [opt, name];
        let fields = om.json(&args(&with("fields", &t)), doc);
        assert_eq!(s.json(&om, &args(&with("fields", &t)), doc), fields);
        assert_eq!(fields.as_array().unwrap().len(), 1, "{fields}");
        assert_eq!(
            s.json(&om, &args(&with("mask", &t)), doc),
            om.json(&args(&with("mask", &t)), doc)
        );
        let stored = s.json(&om, &args(&with("seal", &t)), doc);
        assert_absent(&stored, SECRET);
        assert_eq!(om.store_ids(), [fields[0]["secretId"].as_str().unwrap()]);
        assert_eq!(om.json(&args(&with("reveal", &t)), &stored), *doc);
        assert_eq!(s.json(&om, &args(&with("reveal", &t)), &stored), *doc);
        let deleted = s.json(&om, &args(&with("forget", &t)), &stored);
        assert_eq!(deleted["deleted"], json!([fields[0]["secretId"]]));
        assert!(om.store_ids().is_empty());
    }
    // A workflow that names no service type: the same message either way.
    let bare = json!({"request": {"connection": {"config": {}}}}).to_string();
    let local = om.run(&["seal", "--workflow", "w"], &bare);
    let remote = s.run(&om, &["seal", "--workflow", "w"], &bare);
    assert!(
        local.err().contains("/request/serviceType"),
        "{}",
        local.stderr
    );
    assert!(
        remote.err().contains("/request/serviceType"),
        "{}",
        remote.stderr
    );
}
