//! `om-secrets serve` attacked by callers who hold little or nothing: no
//! credential, a principal without any role, a viewer, a grant limited to
//! some entities. Each test is an attack that once worked (it fails on the
//! server before its fix) and now holds. The server is the real binary on a
//! free port, driven over raw HTTP/1.1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::kms_common::unique;
use crate::serve_util::{Resp, Spawned, sha256_hex, spawn_serve, try_http, wait_listening};
use crate::util::Om;

/// `om-secrets serve` on a free port with a `server:` block.
struct Srv {
    om: Om,
    child: Child,
    addr: String,
    err: PathBuf,
}

impl Srv {
    fn start(server_yaml: &str) -> Srv {
        let om = Om::new();
        let config = format!("server:\n{server_yaml}");
        let Spawned { child, err, .. } = spawn_serve(&om, Some(&config), "attack");
        let mut s = Srv {
            om,
            child,
            addr: String::new(),
            err,
        };
        let t0 = Instant::now();
        s.addr = wait_listening(&mut s.child, &s.err, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}"));
        while s.get("/readyz").status != 200 {
            assert!(
                t0.elapsed() < Duration::from_secs(180),
                "never ready: {}",
                s.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Resp {
        self.raw("GET", path, &[], b"")
    }

    fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        try_http(
            &self.addr,
            method,
            path,
            headers,
            body,
            Duration::from_secs(120),
        )
        .unwrap_or_else(|| panic!("no answer to {method} {path}"))
    }

    fn post(&self, path: &str, key: &str, body: &[u8]) -> Resp {
        let auth = format!("Bearer {key}");
        self.raw(
            "POST",
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `apiKeys` lines for these names (key = `key-<name>`).
fn api_keys(names: &[&str]) -> String {
    let mut y = String::from("  apiKeys:\n");
    for n in names {
        y.push_str(&format!("    {n}: {}\n", sha256_hex(&format!("key-{n}"))));
    }
    y
}

/// The label sets of one metric family in a `/metrics` text.
fn series<'a>(metrics: &'a str, family: &str) -> Vec<&'a str> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .collect()
}

/// Anyone, without credentials, could add a time series to `/metrics` per
/// request: the `method` label took whatever method token the request had
/// (HTTP allows any), so random methods grew the registry and the scrape
/// without bound. Methods outside the ones routes use are now one label.
#[test]
fn random_http_methods_do_not_grow_the_metrics() {
    let s = Srv::start(&api_keys(&["admin"]));
    for i in 0..50 {
        let m = format!("X{}{i}", unique("M").replace('x', "Q"));
        let r = s.raw(&m, &format!("/nowhere-{i}"), &[], b"");
        assert_eq!(r.status, 404, "{m}: {r:?}");
        let r = s.raw(&m, "/v1/bots/b/seal", &[], b"");
        assert_eq!(r.status, 405, "{m}: {r:?}");
    }
    let m = s.get("/metrics").body;
    let lines = series(&m, "om_secrets_http_requests_total");
    assert!(
        lines.iter().all(|l| !l.contains("method=\"X")),
        "a request's method became a label:\n{m}"
    );
    assert!(lines.len() <= 4, "{lines:#?}");
    let other: u64 = lines
        .iter()
        .filter(|l| l.contains("method=\"other\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(other, 100, "{m}");
}
/// A batch body of `n` small MySQL configs, one entity each (`<prefix>-<i>`).
fn big_batch(prefix: &str, n: usize) -> Vec<u8> {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            json!({"name": format!("{prefix}-{i}"), "document":
                {"type": "Mysql", "username": "u", "authType": {"password": "p"}, "hostPort": "h:1"}})
        })
        .collect();
    json!({ "items": items }).to_string().into_bytes()
}

/// How many requests can keep every worker thread of the server busy.
fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

/// Send `n` copies of one request at once; each answer with the time it took.
fn at_once(s: &Srv, n: usize, path: &str, key: &str, body: &[u8]) -> Vec<(Resp, Duration)> {
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..n)
            .map(|_| {
                sc.spawn(move || {
                    let t0 = Instant::now();
                    let r = s.post(path, key, body);
                    (r, t0.elapsed())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// `GET /healthz` while `attack` runs: how long it took (or `None`).
fn healthz_during(s: &Srv, attack: impl FnOnce() + Send) -> Option<Duration> {
    std::thread::scope(|sc| {
        let h = sc.spawn(attack);
        std::thread::sleep(Duration::from_millis(1500));
        let t0 = Instant::now();
        let r = try_http(
            &s.addr,
            "GET",
            "/healthz",
            &[],
            b"",
            Duration::from_secs(60),
        );
        let took = t0.elapsed();
        h.join().unwrap();
        r.filter(|r| r.status == 200).map(|_| took)
    })
}

/// A principal without any role (any OpenMetadata user, once JWTs are
/// configured) sent big batches it may not run: the server computed, for
/// the audit of the refusal, every document's secret ids by calling a
/// plugin per document on the async runtime's own threads — as many such
/// requests as cores stopped the whole server (even `/healthz`) for tens of
/// seconds, beyond the request timeout, and wrote an audit line per
/// document. Now a refusal is decided before the body is read where the
/// route names the entity, never runs a plugin, and answers at once.
#[test]
fn refused_callers_cost_no_plugin_call_nor_a_body_read() {
    let s = Srv::start(&format!(
        "{}  roles:\n    - {{role: editor, principals: [\"apiKey:teams\"], subjects: [services], serviceTypes: [database], names: [\"team-*\"]}}\n  limits: {{maxBodyBytes: 4194304, ratePerSecond: 10000, burst: 10000, requestTimeoutSeconds: 60}}\n  audit: {{file: audit.jsonl}}\n",
        api_keys(&["nobody", "teams"])
    ));
    let n = workers();
    let big = big_batch("prod", 36_000);
    assert!(big.len() < 4_194_304, "{}", big.len());
    for key in ["key-nobody", "key-teams"] {
        let mut answers = Vec::new();
        let took = healthz_during(&s, || {
            answers = at_once(&s, n, "/v1/batch/services/database/seal", key, &big);
        });
        for (r, t) in &answers {
            assert_eq!(r.status, 403, "{key}: {r:?}");
            assert!(*t < Duration::from_secs(10), "{key}: a refusal took {t:?}");
        }
        let took = took.unwrap_or_else(|| panic!("{key}: /healthz never answered"));
        assert!(
            took < Duration::from_secs(5),
            "{key}: /healthz took {took:?} while refused batches ran"
        );
    }
    // A single route names its entity: the refusal comes before the body,
    // which a caller without the role never gets to send (here it never
    // finishes sending it).
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t0 = Instant::now();
    c.write_all(
        b"POST /v1/services/database/prod-1/seal HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key-teams\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"document\": ",
    )
    .unwrap();
    let mut head = [0u8; 12];
    let got = c.read_exact(&mut head);
    assert!(got.is_ok(), "no answer before the body: {got:?}");
    assert_eq!(&head, b"HTTP/1.1 403", "{}", String::from_utf8_lossy(&head));
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    drop(c);
    assert_eq!(s.om.store_bytes(), None, "a refused call wrote");
    // One audit line per refused request (not per document of a body the
    // caller may not send), naming no secret id.
    let audit = std::fs::read_to_string(s.om.home.path().join("audit.jsonl")).unwrap();
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .all(|l| l["outcome"] == "refused" && l["secretIds"] == json!([])),
        "{audit}"
    );
    let nobody = lines
        .iter()
        .filter(|l| l["principal"] == "apiKey:nobody")
        .count();
    assert_eq!(nobody, n, "{audit}");
}
/// A viewer's batch of tens of thousands of documents kept running after
/// its request timed out (503), holding its concurrency permit: with
/// `maxConcurrent` such requests, every other caller got 503 for as long as
/// the abandoned work took. Now a batch stops starting documents once its
/// request is gone (documents already started finish, writes included).
#[test]
fn a_batch_whose_request_timed_out_stops_and_frees_its_permit() {
    let s = Srv::start(&format!(
        "{}  roles:\n    - {{role: viewer, principals: [\"apiKey:viewer\"]}}\n  limits: {{maxBodyBytes: 4194304, maxConcurrent: 1, ratePerSecond: 10000, burst: 10000, requestTimeoutSeconds: 3}}\n",
        api_keys(&["viewer"])
    ));
    let big = big_batch("svc", 36_000);
    let t0 = Instant::now();
    let r = s.post("/v1/batch/services/database/mask", "key-viewer", &big);
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.body.contains("/timeout"), "{}", r.body);
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    // The next request gets the one permit within its own timeout.
    let doc = json!({"document": {"type": "Mysql", "username": "u",
        "authType": {"password": "never-shown"}, "hostPort": "h:1"}});
    let r = s.post(
        "/v1/services/database/svc/mask",
        "key-viewer",
        doc.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["document"]["authType"]["password"], "*********");
}

/// An envelope member the route does not take was named in the problem: the
/// detail showed it only when it is a short identifier ("a member"
/// otherwise), but the `pointer` repeated it whole, whatever it held — a
/// client that sent a credential as a member name (a config flattened into
/// the envelope, `{"password=…": …}`) got it back in an error body, which
/// clients log. The pointer now names such a member only as the
/// detail does; an identifier is still pointed at.
#[test]
fn an_unknown_envelope_member_is_never_echoed_unless_an_identifier() {
    let s = Srv::start(&format!(
        "{}  roles:\n    - {{role: privileged, principals: [\"apiKey:admin\"]}}\n",
        api_keys(&["admin"])
    ));
    let secret = "pw=s3cr3t-in-a-member-name";
    let doc = json!({"type": "Mysql", "authType": {"password": "x"}});
    for (path, body, pointer) in [
        (
            "/v1/services/database/m/seal",
            json!({"document": doc, secret: 1}),
            "",
        ),
        ("/v1/batch/services/database/seal", json!({secret: []}), ""),
        (
            "/v1/services/database/m/mask",
            json!({"document": doc, "stored": {}}),
            "/stored",
        ),
    ] {
        let r = s.post(path, "key-admin", body.to_string().as_bytes());
        assert_eq!(r.status, 400, "{r:?}");
        assert!(!r.body.contains("s3cr3t"), "{path}: {}", r.body);
        let p: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(p["pointer"], pointer, "{path}: {p}");
    }
    // A batch item's envelope: its own error, no echo either.
    let r = s.post(
        "/v1/batch/services/database/mask",
        "key-admin",
        json!({"items": [{"name": "m", "document": doc, secret: true}]})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(!r.body.contains("s3cr3t"), "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["results"][0]["error"]["pointer"], "", "{v}");
}

/// Whether the server closes a connection on which only `sent` was written,
/// within `wait`.
fn closed_within(addr: &str, sent: &[u8], wait: Duration) -> bool {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(wait)).unwrap();
    c.write_all(sent).unwrap();
    let mut buf = Vec::new();
    // EOF (or a reset) before the read timeout: the server closed it.
    match c.read_to_end(&mut buf) {
        Ok(_) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Without credentials, anyone could hold connections open for ever by
/// never finishing a request head (or by sending nothing): the server kept
/// every one (a task and a file descriptor each, with no limit), so a few
/// thousand idle sockets used up its descriptors and no one else could
/// connect. A request head now has to arrive within the request timeout,
/// and an idle connection is closed after it.
#[test]
fn connections_that_never_send_a_whole_request_head_are_closed() {
    let s = Srv::start(&format!(
        "{}  limits: {{requestTimeoutSeconds: 2}}\n",
        api_keys(&["admin"])
    ));
    let wait = Duration::from_secs(15);
    assert!(
        closed_within(&s.addr, b"", wait),
        "an idle connection stayed open"
    );
    assert!(
        closed_within(
            &s.addr,
            b"POST /v1/services/database/x/seal HTTP/1.1\r\nHost: x\r\nAuthoriz",
            wait
        ),
        "a half-sent head kept its connection"
    );
    // A whole request on a kept-alive connection is answered, then the
    // idle connection is closed the same way.
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(wait)).unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("ok"), "{text}");
    // And the server still answers.
    assert_eq!(s.get("/healthz").status, 200);
}
