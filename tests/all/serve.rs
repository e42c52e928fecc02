//! `om-secrets serve`: the real binary started as a child process on a free
//! port, driven over real HTTP (a raw HTTP/1.1 client: what is asserted is
//! exactly what goes over the wire). Every route, every (role × operation)
//! cell both ways, the error paths (bad JSON, oversized bodies, unknown
//! routes, missing/wrong keys, expired/forged/alg-none/HS256 JWTs) with the
//! store unchanged after each refusal, the rate limit, graceful shutdown,
//! readiness held by a start-up task, two instances on one real OpenBao
//! (and the cache TTL that bounds their staleness), OpenBao stopped
//! mid-run (503, then a retry after restart completes), the audit trail,
//! and no secret value in any log line, audit line, metric or error body.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::kms_common::{Kind, Kms, Server, assert_not_in, unique};
use crate::serve_util::{
    Resp, Spawned, exit_within, http, parse_response, request_head, sha256_hex, spawn_serve,
    wait_listening,
};
use crate::util::Om;

// ---------------------------------------------------------------------------
// HTTP

impl Resp {
    /// The JSON body of a 200.
    fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "expected 200: {}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// A problem of this status: RFC 9457 shape and content type.
    fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "expected {status}: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        let p: Value = serde_json::from_str(&self.body).unwrap();
        assert_eq!(p["status"], status, "{p}");
        assert!(
            p["type"]
                .as_str()
                .unwrap()
                .starts_with("https://om-secrets.invalid/problems/"),
            "{p}"
        );
        assert!(p["title"].is_string() && p["detail"].is_string(), "{p}");
        p
    }
}

// ---------------------------------------------------------------------------
// the server as a child process

/// `om-secrets serve` on a free port, in its own data directory.
struct Serve {
    om: Om,
    child: Child,
    addr: String,
    out: PathBuf,
    err: PathBuf,
    /// Every error answer's body, searched for secrets at the end.
    bodies: std::sync::Mutex<Vec<String>>,
    /// Serving HTTPS (readiness is then the caller's to wait for).
    tls: bool,
}

impl Serve {
    /// Start with a `server:` block (YAML, indented under `server:`) or none.
    fn start(om: Om, server_yaml: Option<&str>) -> Serve {
        Self::try_start(om, server_yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_start(om: Om, server_yaml: Option<&str>) -> Result<Serve, String> {
        Self::try_start_file(om, server_yaml.map(|y| format!("server:\n{y}")))
    }

    /// Start with a whole configuration file (or none).
    fn try_start_file(om: Om, file: Option<String>) -> Result<Serve, String> {
        let server_yaml = file.as_deref();
        let Spawned { child, out, err } = spawn_serve(&om, server_yaml, "serve");
        let mut s = Serve {
            om,
            child,
            addr: String::new(),
            out,
            err,
            bodies: Default::default(),
            tls: server_yaml.is_some_and(|y| y.contains("tls:")),
        };
        let t0 = Instant::now();
        s.addr = wait_listening(&mut s.child, &s.err, Duration::from_secs(60))?;
        if s.tls {
            return Ok(s);
        }
        while s.get("/readyz").status != 200 {
            if let Ok(Some(status)) = s.child.try_wait() {
                return Err(format!("serve exited ({status}): {}", s.logs()));
            }
            assert!(
                t0.elapsed() < Duration::from_secs(180),
                "never ready: {}",
                s.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(s)
    }

    /// Error bodies are kept (a reveal's answer holds values by design).
    fn keep(&self, r: Resp) -> Resp {
        if r.status != 200 {
            self.bodies.lock().unwrap().push(r.body.clone());
        }
        r
    }

    fn get(&self, path: &str) -> Resp {
        self.keep(http(&self.addr, "GET", path, &[], b""))
    }

    /// A JSON request with a bearer token (or none).
    fn call(&self, method: &str, path: &str, token: Option<&str>, body: &Value) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut h = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            h.push(("Authorization", a));
        }
        self.keep(http(
            &self.addr,
            method,
            path,
            &h,
            body.to_string().as_bytes(),
        ))
    }

    fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.call("POST", path, Some(token), body)
    }

    /// stdout and stderr so far.
    fn logs(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// SIGTERM, and the exit status within 30 s.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &self.pid()])
            .status()
            .unwrap();
        assert!(ok.success());
        exit_within(&mut self.child, Duration::from_secs(30)).expect("no exit after SIGTERM")
    }

    /// Nothing of `values` in the logs or any error answer so far.
    fn assert_no_secrets(&self, values: &[&str]) {
        assert_not_in(&self.logs(), values, "the server's output");
        for b in self.bodies.lock().unwrap().iter() {
            assert_not_in(b, values, "an answer");
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// JWTs

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// An RSA key that signs RS256 JWTs.
struct Signer {
    key: aws_lc_rs::rsa::KeyPair,
    kid: String,
}

impl Signer {
    fn new(kid: &str) -> Signer {
        Signer {
            key: aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap(),
            kid: kid.into(),
        }
    }

    fn jwk(&self) -> Value {
        let p = self.key.public_key();
        json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": b64(p.modulus().big_endian_without_leading_zero()),
            "e": b64(p.exponent().big_endian_without_leading_zero()),
        })
    }

    /// `claims` signed, with this key's kid.
    fn sign(&self, claims: &Value) -> String {
        let head = b64(json!({"alg": "RS256", "typ": "JWT", "kid": self.kid})
            .to_string()
            .as_bytes());
        let input = format!("{head}.{}", b64(claims.to_string().as_bytes()));
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", b64(&sig))
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// OpenMetadata's claims.
fn claims(sub: &str, is_bot: bool, exp: u64, extra: Value) -> Value {
    let mut c = json!({
        "iss": "open-metadata.org", "sub": sub, "isBot": is_bot,
        "tokenType": if is_bot { "BOT" } else { "PERSONAL_ACCESS" },
        "iat": now() - 10, "exp": exp,
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

// ---------------------------------------------------------------------------
// documents

/// A MySQL connection with one secret.
fn mysql(pw: &str) -> Value {
    json!({"type": "Mysql", "username": "om", "authType": {"password": pw}, "hostPort": "db:3306"})
}

fn pw_id(name: &str) -> String {
    format!("/openmetadata/database/{name}/authtype/password")
}

/// One document of each subject kind: (route base, batch base, name, document,
/// pointer of its secret, the secret).
fn subjects(tag: &str) -> Vec<(String, String, String, Value, &'static str, String)> {
    let pw = format!("svc-pw-{tag}");
    let jwt = format!("bot-jwt-{tag}");
    let dbt = format!("dbt-token-{tag}");
    let wf = format!("wf-pw-{tag}");
    vec![
        (
            format!("/v1/services/database/svc-{tag}"),
            "/v1/batch/services/database".into(),
            format!("svc-{tag}"),
            mysql(&pw),
            "/authType/password",
            pw,
        ),
        (
            format!("/v1/bots/bot-{tag}"),
            "/v1/batch/bots".into(),
            format!("bot-{tag}"),
            json!({"name": format!("bot-{tag}"), "isBot": true,
                   "authenticationMechanism": {"authType": "JWT", "config": {"JWTToken": jwt, "JWTTokenExpiry": "Unlimited"}}}),
            "/authenticationMechanism/config/JWTToken",
            jwt,
        ),
        (
            format!("/v1/pipelines/pl-{tag}"),
            "/v1/batch/pipelines".into(),
            format!("pl-{tag}"),
            json!({"name": format!("pl-{tag}"), "pipelineType": "dbt", "sourceConfig": {"config": {
                "type": "DBT", "dbtConfigSource": {"dbtConfigType": "cloud", "dbtCloudAuthToken": dbt,
                "dbtCloudAccountId": "123", "dbtCloudUrl": "https://cloud.getdbt.com"}}}}),
            "/sourceConfig/config/dbtConfigSource/dbtCloudAuthToken",
            dbt,
        ),
        (
            format!("/v1/workflows/wf-{tag}"),
            "/v1/batch/workflows".into(),
            format!("wf-{tag}"),
            json!({"name": format!("wf-{tag}"), "workflowType": "TEST_CONNECTION", "request": {
                "serviceType": "Database", "connectionType": "Mysql", "serviceName": "mysql-prod",
                "connection": {"config": mysql(&wf)}}}),
            "/request/connection/config/authType/password",
            wf,
        ),
    ]
}

fn at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

// ---------------------------------------------------------------------------
// the main server: keys for every role, JWTs, an audit file

const ROLES: [&str; 5] = ["viewer", "editor", "ingestion", "privileged", "nobody"];

struct Main {
    srv: Serve,
    keys: std::collections::HashMap<&'static str, String>,
    signer: Signer,
    audit: PathBuf,
}

fn main_server(tag: &str) -> Main {
    let om = Om::new();
    let dir = om.home.path().to_path_buf();
    let signer = Signer::new("om-key-1");
    std::fs::write(
        dir.join("jwks.json"),
        json!({"keys": [signer.jwk()]}).to_string(),
    )
    .unwrap();
    let mut keys = std::collections::HashMap::new();
    let mut api_keys = String::new();
    for r in ROLES.iter().chain(&["teams"]) {
        let k = format!("key-{r}-{tag}");
        api_keys.push_str(&format!("    {r}: {}\n", sha256_hex(&k)));
        keys.insert(*r, k);
    }
    let audit = dir.join("audit.jsonl");
    let yaml = format!(
        "  apiKeys:\n{api_keys}\
         \x20 jwt: {{jwksFile: {jwks}, issuer: open-metadata.org, clockSkewSeconds: 5}}\n\
         \x20 roles:\n\
         \x20   - {{role: viewer, principals: [\"apiKey:viewer\", \"claim:roles=DataSteward\"]}}\n\
         \x20   - {{role: editor, principals: [\"apiKey:editor\"]}}\n\
         \x20   - {{role: ingestion, principals: [\"apiKey:ingestion\", anyBot]}}\n\
         \x20   - {{role: privileged, principals: [\"apiKey:privileged\", \"subject:admin\"]}}\n\
         \x20   - {{role: editor, principals: [\"apiKey:teams\"], subjects: [services], serviceTypes: [database], names: [\"team-*\"]}}\n\
         \x20 limits: {{maxBodyBytes: 65536, ratePerSecond: 10000, burst: 10000}}\n\
         \x20 audit: {{file: {audit}}}\n",
        jwks = dir.join("jwks.json").display(),
        audit = audit.display(),
    );
    Main {
        srv: Serve::start(om, Some(&yaml)),
        keys,
        signer,
        audit,
    }
}

fn audit_lines(path: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l}: {e}")))
        .collect()
}

/// The route table the contract names (method, path).
fn contract_routes() -> BTreeSet<(String, String)> {
    let mut v = BTreeSet::new();
    for p in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        v.insert(("get".to_string(), p.to_string()));
    }
    for (base, batch) in [
        (
            "/v1/services/{serviceType}/{name}",
            "/v1/batch/services/{serviceType}",
        ),
        ("/v1/bots/{name}", "/v1/batch/bots"),
        ("/v1/pipelines/{name}", "/v1/batch/pipelines"),
        ("/v1/workflows/{name}", "/v1/batch/workflows"),
    ] {
        for op in ["seal", "reveal", "mask", "merge", "fields"] {
            v.insert(("post".into(), format!("{base}/{op}")));
        }
        v.insert(("delete".into(), format!("{base}/secrets")));
        for op in ["seal", "reveal", "mask", "merge", "fields", "forget"] {
            v.insert(("post".into(), format!("{batch}/{op}")));
        }
    }
    v
}

#[test]
fn every_route_serves_every_subject_and_openapi_lists_exactly_the_routes() {
    let m = main_server("routes");
    let s = &m.srv;
    let admin = m.keys["privileged"].as_str();
    assert_eq!(s.get("/healthz").body, "ok");
    let mut secrets = Vec::new();
    for (base, batch, name, doc, pointer, secret) in subjects("r") {
        secrets.push(secret.clone());
        // Single-document routes.
        let stored = s
            .post(&format!("{base}/seal"), admin, &json!({"document": doc}))
            .ok()["document"]
            .clone();
        assert!(at(&stored, pointer).starts_with("fernet:"), "{stored}");
        let revealed = s.post(
            &format!("{base}/reveal"),
            admin,
            &json!({"document": stored}),
        );
        assert_eq!(revealed.ok()["document"], doc);
        let kept = s
            .post(
                &format!("{base}/reveal?keepReferences=true"),
                admin,
                &json!({"document": stored}),
            )
            .ok();
        assert!(
            at(&kept["document"], pointer).starts_with("secret:/openmetadata/"),
            "{kept}"
        );
        let masked = s
            .post(&format!("{base}/mask"), admin, &json!({"document": stored}))
            .ok()["document"]
            .clone();
        assert_eq!(at(&masked, pointer), "*********");
        let merged = s
            .post(
                &format!("{base}/merge"),
                admin,
                &json!({"document": masked, "stored": stored}),
            )
            .ok();
        assert_eq!(at(&merged["document"], pointer), at(&stored, pointer));
        let fields = s
            .post(&format!("{base}/fields"), admin, &json!({"document": doc}))
            .ok();
        assert_eq!(fields["fields"][0]["pointer"], pointer, "{fields}");
        let id = fields["fields"][0]["secretId"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(id.contains(&name), "{id}");
        assert!(s.om.store_ids().contains(&id));
        let deleted = s.call(
            "DELETE",
            &format!("{base}/secrets"),
            Some(admin),
            &json!({"document": stored}),
        );
        assert_eq!(deleted.ok()["deleted"], json!([id]));
        assert!(!s.om.store_ids().contains(&id));
        // The batch routes, same entity.
        let item = |extra: Value| {
            let mut i = json!({"name": name, "document": doc});
            for (k, v) in extra.as_object().unwrap() {
                i[k] = v.clone();
            }
            json!({"items": [i]})
        };
        let r = s
            .post(&format!("{batch}/seal"), admin, &item(json!({})))
            .ok();
        let stored = r["results"][0]["document"].clone();
        assert!(at(&stored, pointer).starts_with("fernet:"), "{r}");
        let body = json!({"items": [{"name": name, "document": stored}]});
        let r = s.post(&format!("{batch}/reveal"), admin, &body).ok();
        assert_eq!(r["results"][0]["document"], doc);
        let r = s
            .post(&format!("{batch}/reveal?keepReferences=true"), admin, &body)
            .ok();
        assert!(at(&r["results"][0]["document"], pointer).starts_with("secret:"));
        let r = s.post(&format!("{batch}/mask"), admin, &body).ok();
        let masked = r["results"][0]["document"].clone();
        assert_eq!(at(&masked, pointer), "*********");
        let r = s
            .post(
                &format!("{batch}/merge"),
                admin,
                &json!({"items": [{"name": name, "document": masked, "stored": stored}]}),
            )
            .ok();
        assert_eq!(
            at(&r["results"][0]["document"], pointer),
            at(&stored, pointer)
        );
        let r = s
            .post(&format!("{batch}/fields"), admin, &item(json!({})))
            .ok();
        assert_eq!(r["results"][0]["fields"][0]["secretId"], id.as_str());
        let r = s.post(&format!("{batch}/forget"), admin, &body).ok();
        assert_eq!(r["results"][0]["deleted"], json!([id]));
    }
    // The OpenAPI document lists exactly the contract's routes...
    let doc = s.get("/openapi.json").ok();
    assert_eq!(doc["openapi"], "3.1.0");
    let listed: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "delete", "put", "patch"].contains(&k.as_str()))
                .map(|k| (k.clone(), p.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(listed, contract_routes());
    // ... and each one is a route of the running server (401 without a
    // token, not 404), while a path next to them is not.
    for (method, path) in &listed {
        let p = path
            .replace("{serviceType}", "database")
            .replace("{name}", "x");
        let r = s.call(&method.to_uppercase(), &p, None, &json!({}));
        if p.starts_with("/v1/") {
            r.problem(401);
        } else {
            assert_eq!(r.status, 200, "{p}: {}", r.body);
        }
    }
    s.call("POST", "/v1/services/database/x/sael", None, &json!({}))
        .problem(404);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    s.assert_no_secrets(&secrets);
    assert_not_in(&s.get("/metrics").body, &secrets, "the metrics");
}

/// The operations of the role table, and the least role each needs
/// (0 viewer … 3 privileged).
const OPS: [(&str, usize); 7] = [
    ("mask", 0),
    ("fields", 0),
    ("seal", 1),
    ("merge", 1),
    ("forget", 1),
    ("reveal-kept", 2),
    ("reveal", 3),
];

#[test]
fn every_role_and_operation_cell_both_ways_with_audit_lines() {
    let m = main_server("roles");
    let s = &m.srv;
    let admin = m.keys["privileged"].clone();
    let mut secrets = Vec::new();
    for (rank, role) in ROLES.iter().enumerate() {
        for (op, need) in OPS {
            let allowed = *role != "nobody" && rank >= need;
            let name = format!("m-{role}-{op}");
            let base = format!("/v1/services/database/{name}");
            let pw = format!("pw-{}", unique(role));
            secrets.push(pw.clone());
            let doc = mysql(&pw);
            let key = m.keys[role].as_str();
            // Everything but `seal` works on a stored form the admin sealed.
            let stored = if op == "seal" {
                Value::Null
            } else {
                s.post(&format!("{base}/seal"), &admin, &json!({"document": doc}))
                    .ok()["document"]
                    .clone()
            };
            let before = s.om.store_bytes();
            let r = match op {
                "mask" => s.post(&format!("{base}/mask"), key, &json!({"document": stored})),
                "fields" => s.post(&format!("{base}/fields"), key, &json!({"document": doc})),
                "seal" => s.post(&format!("{base}/seal"), key, &json!({"document": doc})),
                "merge" => {
                    let mut update = mysql("*********");
                    update["hostPort"] = json!("db2:3306");
                    s.post(
                        &format!("{base}/merge"),
                        key,
                        &json!({"document": update, "stored": stored}),
                    )
                }
                "forget" => s.call(
                    "DELETE",
                    &format!("{base}/secrets"),
                    Some(key),
                    &json!({"document": stored}),
                ),
                "reveal-kept" => s.post(
                    &format!("{base}/reveal?keepReferences=true"),
                    key,
                    &json!({"document": stored}),
                ),
                "reveal" => s.post(&format!("{base}/reveal"), key, &json!({"document": stored})),
                _ => unreachable!(),
            };
            let cell = format!("{role} × {op}");
            if !allowed {
                let p = r.problem(403);
                assert!(
                    p["type"].as_str().unwrap().ends_with("/forbidden"),
                    "{cell}: {p}"
                );
                assert_eq!(
                    s.om.store_bytes(),
                    before,
                    "{cell}: a refused call changed the store"
                );
                continue;
            }
            let out = r.ok();
            let secret_at = |v: &Value| at(&v["document"], "/authType/password").to_string();
            match op {
                "mask" => assert_eq!(secret_at(&out), "*********", "{cell}"),
                "fields" => assert_eq!(out["fields"][0]["secretId"], pw_id(&name), "{cell}"),
                "seal" => {
                    assert!(secret_at(&out).starts_with("fernet:"), "{cell}");
                    assert!(s.om.store_ids().contains(&pw_id(&name)), "{cell}");
                }
                "merge" => {
                    assert_eq!(secret_at(&out), at(&stored, "/authType/password"), "{cell}");
                    assert_eq!(out["document"]["hostPort"], "db2:3306");
                }
                "forget" => {
                    assert_eq!(out["deleted"], json!([pw_id(&name)]), "{cell}");
                    assert!(!s.om.store_ids().contains(&pw_id(&name)), "{cell}");
                }
                "reveal-kept" => {
                    assert_eq!(
                        secret_at(&out),
                        format!("secret:{}", pw_id(&name)),
                        "{cell}"
                    )
                }
                "reveal" => assert_eq!(secret_at(&out), pw, "{cell}"),
                _ => unreachable!(),
            }
        }
    }
    // One audit line per audited call (and the admin's seals), with the
    // right principal, entity, ids and outcome.
    let lines = audit_lines(&m.audit);
    for (rank, role) in ROLES.iter().enumerate() {
        for (op, need) in OPS {
            if matches!(op, "mask" | "fields") {
                continue;
            }
            let name = format!("m-{role}-{op}");
            let allowed = *role != "nobody" && rank >= need;
            let verb = op.trim_end_matches("-kept");
            let found: Vec<&Value> = lines
                .iter()
                .filter(|l| {
                    l["name"] == name.as_str()
                        && l["principal"] == format!("apiKey:{role}")
                        && l["op"] == verb
                })
                .collect();
            assert_eq!(found.len(), 1, "{role} × {op}: {found:?}");
            let l = found[0];
            assert_eq!(l["op"], verb, "{l}");
            assert_eq!(l["subject"], "service");
            let ts = l["ts"].as_str().unwrap();
            assert!(
                ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
                "{ts}"
            );
            assert_eq!(l["serviceType"], "database");
            assert_eq!(
                l["outcome"],
                if allowed { "allowed" } else { "refused" },
                "{l}"
            );
            assert_eq!(l["status"], if allowed { 200 } else { 403 }, "{l}");
            // A refusal is decided before the body is read: no ids.
            let ids = if allowed {
                json!([pw_id(&name)])
            } else {
                json!([])
            };
            assert_eq!(l["secretIds"], ids, "{l}");
            if verb == "reveal" {
                assert_eq!(l["keepReferences"], op == "reveal-kept", "{l}");
            }
        }
    }
    // Viewers' operations are not audited.
    assert!(
        !lines
            .iter()
            .any(|l| l["op"] == "mask" || l["op"] == "fields")
    );
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let audit = std::fs::read_to_string(&m.audit).unwrap();
    assert_not_in(&audit, &secrets, "the audit file");
    assert_not_in(&s.get("/metrics").body, &secrets, "the metrics");
    s.assert_no_secrets(&secrets);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&m.audit).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn jwts_bad_credentials_and_bad_bodies_are_refused_and_leave_the_store_unchanged() {
    let m = main_server("errors");
    let s = &m.srv;
    let admin = m.keys["privileged"].as_str();
    let pw = format!("jwt-pw-{}", unique("j"));
    let doc = mysql(&pw);
    let stored = s
        .post(
            "/v1/services/database/jwt-svc/seal",
            admin,
            &json!({"document": doc}),
        )
        .ok()["document"]
        .clone();
    let reveal = json!({"document": stored});
    let before = s.om.store_bytes().unwrap();
    let seal_body = json!({"document": mysql("new-value-never-stored")});
    let unchanged = |what: &str| assert_eq!(s.om.store_bytes().unwrap(), before, "{what}");

    // Valid JWTs: roles from isBot, sub and a claim.
    let in_hour = now() + 3600;
    let bot = m
        .signer
        .sign(&claims("ingestion-bot", true, in_hour, json!({})));
    let r = s.post(
        "/v1/services/database/jwt-svc/reveal?keepReferences=true",
        &bot,
        &reveal,
    );
    assert_eq!(
        at(&r.ok()["document"], "/authType/password"),
        format!("secret:{}", pw_id("jwt-svc"))
    );
    s.post("/v1/services/database/jwt-svc/reveal", &bot, &reveal)
        .problem(403);
    let admin_jwt = m.signer.sign(&claims("admin", false, in_hour, json!({})));
    let r = s.post("/v1/services/database/jwt-svc/reveal", &admin_jwt, &reveal);
    assert_eq!(at(&r.ok()["document"], "/authType/password"), pw);
    let steward = m.signer.sign(&claims(
        "alice",
        false,
        in_hour,
        json!({"roles": ["DataSteward"]}),
    ));
    s.post("/v1/services/database/jwt-svc/mask", &steward, &reveal)
        .ok();
    s.post("/v1/services/database/jwt-svc/seal", &steward, &seal_body)
        .problem(403);
    let human = m.signer.sign(&claims("bob", false, in_hour, json!({})));
    s.post("/v1/services/database/jwt-svc/mask", &human, &reveal)
        .problem(403);
    unchanged("refused JWT calls");

    // Tokens that must not authenticate: each a 401 with WWW-Authenticate.
    let other = Signer::new("om-key-1");
    let admin_claims = claims("admin", false, in_hour, json!({}));
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(admin_claims.to_string().as_bytes())
    );
    let hs256 = {
        // The classic confusion: HMAC keyed with the public key's bytes.
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"HS256","typ":"JWT","kid":"om-key-1"}"#),
            b64(admin_claims.to_string().as_bytes())
        );
        let n = m.signer.jwk()["n"].as_str().unwrap().to_string();
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, n.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", b64(tag.as_ref()))
    };
    let tampered = {
        let t = m.signer.sign(&claims("bob", false, in_hour, json!({})));
        let parts: Vec<&str> = t.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            b64(admin_claims.to_string().as_bytes()),
            parts[2]
        )
    };
    let bad_tokens = [
        (
            "expired",
            m.signer
                .sign(&claims("admin", false, now() - 600, json!({}))),
        ),
        ("forged (another key, same kid)", other.sign(&admin_claims)),
        ("alg none", unsigned),
        ("HS256", hs256),
        ("payload swapped", tampered),
        (
            "wrong issuer",
            m.signer.sign(&claims(
                "admin",
                false,
                in_hour,
                json!({"iss": "evil.example"}),
            )),
        ),
        ("unknown API key", "key-privileged-nope".to_string()),
        ("garbage", "a.b.c".to_string()),
    ];
    for (what, token) in &bad_tokens {
        for (path, body) in [
            ("/v1/services/database/jwt-svc/seal", &seal_body),
            ("/v1/services/database/jwt-svc/reveal", &reveal),
        ] {
            let r = s.post(path, token, body);
            r.problem(401);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
        }
        unchanged(what);
    }
    // No Authorization header, and another scheme.
    let r = s.call(
        "POST",
        "/v1/services/database/jwt-svc/seal",
        None,
        &seal_body,
    );
    r.problem(401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = s.keep(http(
        &s.addr,
        "POST",
        "/v1/services/database/jwt-svc/seal",
        &[
            ("Authorization", &format!("Basic {admin}")),
            ("Content-Type", "application/json"),
        ],
        seal_body.to_string().as_bytes(),
    ));
    r.problem(401);
    unchanged("missing credentials");

    // Bodies: bad JSON (holding a value: never echoed), not an object,
    // envelope errors, not JSON, too large.
    let raw = |body: &[u8], ct: &str| {
        s.keep(http(
            &s.addr,
            "POST",
            "/v1/services/database/jwt-svc/seal",
            &[
                ("Authorization", &format!("Bearer {admin}")),
                ("Content-Type", ct),
            ],
            body,
        ))
    };
    let p = raw(
        br#"{"document": {"type": "Mysql", "authType": {"password": "truncated-secret-77"#,
        "application/json",
    )
    .problem(400);
    assert!(
        p["detail"].as_str().unwrap().contains("not valid JSON"),
        "{p}"
    );
    raw(b"[1, 2]", "application/json").problem(400);
    let p = raw(br#"{"documnet": {}}"#, "application/json").problem(400);
    assert_eq!(p["pointer"], "/documnet", "{p}");
    let p = raw(br#"{"document": "a-string-secret-88"}"#, "application/json").problem(400);
    assert_eq!(p["pointer"], "/document", "{p}");
    let p = raw(seal_body.to_string().as_bytes(), "text/plain").problem(415);
    assert!(p["detail"].as_str().unwrap().contains("application/json"));
    let mut big = mysql("big-secret-99");
    big["padding"] = json!("x".repeat(70_000));
    let p = raw(
        json!({"document": big}).to_string().as_bytes(),
        "application/json",
    )
    .problem(413);
    assert!(p["detail"].as_str().unwrap().contains("65536"), "{p}");
    let p = s
        .post(
            "/v1/services/database/jwt-svc/merge",
            admin,
            &json!({"document": mysql("*********")}),
        )
        .problem(400);
    assert_eq!(p["pointer"], "/stored");
    // Input the library refuses: 422 with the pointer.
    let p = s
        .post(
            "/v1/services/database/jwt-svc/seal",
            admin,
            &json!({"document": {"type": "NoSuchDb", "password": "lib-refused-secret-55"}}),
        )
        .problem(422);
    assert!(
        p["type"].as_str().unwrap().ends_with("/invalid-input"),
        "{p}"
    );
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("unknown connector type"),
        "{p}"
    );
    assert_eq!(p["pointer"], "/type", "{p}");
    // A mask is never stored: sealing one is refused, naming the field.
    let p = s
        .post(
            "/v1/services/database/jwt-svc/seal",
            admin,
            &json!({"document": mysql("*********")}),
        )
        .problem(422);
    assert_eq!(p["pointer"], "/authType/password", "{p}");
    unchanged("bad bodies");
    // Unknown route, wrong method.
    s.get("/v1/nothing").problem(404);
    s.call(
        "GET",
        "/v1/services/database/jwt-svc/seal",
        Some(admin),
        &json!({}),
    )
    .problem(405);

    // A batch: one result per item, in order; bad items do not stop others.
    let r = s
        .post(
            "/v1/batch/services/database/seal",
            admin,
            &json!({"items": [
                {"name": "b-one", "document": mysql("batch-secret-1")},
                {"name": "b-two", "document": 3},
                {"name": "b-three", "document": {"type": "NoSuchDb"}},
                {"name": "b-four", "document": mysql("batch-secret-4")},
            ]}),
        )
        .ok();
    let res = r["results"].as_array().unwrap();
    assert_eq!(res.len(), 4, "{r}");
    assert!(at(&res[0]["document"], "/authType/password").starts_with("fernet:"));
    assert_eq!(res[1]["error"]["pointer"], "/document", "{r}");
    assert!(
        res[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown connector type"),
        "{r}"
    );
    assert_eq!(res[2]["error"]["pointer"], "/type", "{r}");
    assert!(at(&res[3]["document"], "/authType/password").starts_with("fernet:"));
    let ids = s.om.store_ids();
    assert!(ids.contains(&pw_id("b-one")) && ids.contains(&pw_id("b-four")));
    assert!(
        !ids.iter()
            .any(|i| i.contains("b-two") || i.contains("b-three"))
    );
    // A grant limited by name glob and service type: all items or nothing.
    let teams = m.keys["teams"].as_str();
    let before = s.om.store_bytes().unwrap();
    s.post(
        "/v1/batch/services/database/seal",
        teams,
        &json!({"items": [
            {"name": "team-a", "document": mysql("team-secret-a")},
            {"name": "finance", "document": mysql("team-secret-f")},
        ]}),
    )
    .problem(403);
    s.post(
        "/v1/batch/services/dashboard/seal",
        teams,
        &json!({"items": [{"name": "team-a", "document": {"type": "Looker", "clientSecret": "team-secret-l"}}]}),
    )
    .problem(403);
    assert_eq!(
        s.om.store_bytes().unwrap(),
        before,
        "a refused batch changed the store"
    );
    let r = s
        .post(
            "/v1/batch/services/database/seal",
            teams,
            &json!({"items": [
                {"name": "team-a", "document": mysql("team-secret-a")},
                {"name": "team-b", "document": mysql("team-secret-b")},
            ]}),
        )
        .ok();
    assert!(r["results"][1]["document"].is_object(), "{r}");

    // Metrics: requests by route template, auth failures by reason.
    let metrics = s.get("/metrics").body;
    assert!(metrics.contains(
        "om_secrets_http_requests_total{route=\"/v1/services/{serviceType}/{name}/seal\",method=\"POST\",status=\"401\"}"
    ), "{metrics}");
    assert!(metrics.contains("om_secrets_auth_failures_total{reason=\"bad_jwt\"}"));
    assert!(metrics.contains("om_secrets_http_request_duration_seconds_bucket{route=\"/v1/batch/services/{serviceType}/seal\",le=\"+Inf\"}"));
    assert!(metrics.contains("om_secrets_kms_calls_total{store=\"local\",call=\"apply\"}"));
    let secrets = [
        pw.as_str(),
        "new-value-never-stored",
        "truncated-secret-77",
        "a-string-secret-88",
        "big-secret-99",
        "lib-refused-secret-55",
        "batch-secret-1",
        "batch-secret-4",
        "team-secret-a",
        "team-secret-b",
        "team-secret-f",
        "team-secret-l",
    ];
    assert_not_in(&metrics, &secrets, "the metrics");
    assert_not_in(
        &std::fs::read_to_string(&m.audit).unwrap(),
        &secrets,
        "the audit file",
    );
    s.assert_no_secrets(&secrets);
}

#[test]
fn first_run_makes_a_private_admin_key_and_says_where_only() {
    let s = Serve::start(Om::new(), None);
    let path = s.om.path("admin-api.key");
    let key = std::fs::read_to_string(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let logs = s.logs();
    assert!(logs.contains(&path.display().to_string()), "{logs}");
    assert!(logs.contains("listening on http://127.0.0.1:"), "{logs}");
    assert!(!logs.contains(key.trim()), "the key itself was printed");
    let r = s.post(
        "/v1/services/database/first/seal",
        key.trim(),
        &json!({"document": mysql("first-run-secret")}),
    );
    let stored = r.ok()["document"].clone();
    let r = s.post(
        "/v1/services/database/first/reveal",
        key.trim(),
        &json!({"document": stored}),
    );
    assert_eq!(
        at(&r.ok()["document"], "/authType/password"),
        "first-run-secret"
    );
    // With nothing configured, the audit goes to stderr as JSON lines.
    let audit: Vec<Value> = s
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["op"].is_string())
        .collect();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[1]["principal"], "apiKey:admin");
    assert_eq!(audit[1]["secretIds"], json!([pw_id("first")]));
    // A restart keeps the key and says nothing about it.
    let s2 = Serve::start(s.stop_into_om(), None);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), key);
    assert!(
        !s2.logs().contains("created an admin API key"),
        "{}",
        s2.logs()
    );
    s2.assert_no_secrets(&["first-run-secret"]);
}

impl Serve {
    /// SIGTERM, wait, and hand back the installation (data directory kept).
    fn stop_into_om(mut self) -> Om {
        assert!(self.terminate().success());
        std::mem::replace(
            &mut self.om,
            Om {
                home: tempfile::tempdir().unwrap(),
                vars: Vec::new(),
            },
        )
    }
}

#[test]
fn rate_limit_answers_429_with_retry_after_and_sigterm_finishes_requests_in_flight() {
    let om = Om::new();
    let (a, b) = ("rate-key-a-0123456789", "rate-key-b-0123456789");
    let yaml = format!(
        "  apiKeys: {{a: {}, b: {}}}\n  roles: [{{role: privileged, principals: [\"apiKey:a\", \"apiKey:b\"]}}]\n  limits: {{ratePerSecond: 0.05, burst: 2, requestTimeoutSeconds: 5}}\n",
        sha256_hex(a),
        sha256_hex(b)
    );
    let mut s = Serve::start(om, Some(&yaml));
    let body = json!({"document": mysql("rate-secret")});
    let path = "/v1/services/database/rate/mask";
    s.post(path, a, &body).ok();
    s.post(path, a, &body).ok();
    let r = s.post(path, a, &body);
    let p = r.problem(429);
    let after: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&after), "Retry-After {after}");
    assert!(p["detail"].as_str().unwrap().contains("rate limit"));
    // Another principal has its own budget.
    s.post(path, b, &body).ok();
    assert!(
        s.get("/metrics")
            .body
            .contains("om_secrets_rate_limited_total 1")
    );

    // A client that never finishes its request head: it does not hold the
    // process up past the request timeout (and a grace) after SIGTERM.
    let mut stuck = TcpStream::connect(&s.addr).unwrap();
    stuck
        .write_all(b"POST /v1/services/database/x/mask HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // SIGTERM while a request is half sent: it is answered, then the
    // process exits 0.
    let seal = json!({"document": mysql("inflight-secret")}).to_string();
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "POST /v1/services/database/inflight/seal HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {b}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        seal.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&seal.as_bytes()[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::process::Command::new("kill")
        .args(["-TERM", &s.pid()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    conn.write_all(&seal.as_bytes()[10..]).unwrap();
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw);
    let r = parse_response(&raw);
    let out = r.ok();
    assert!(at(&out["document"], "/authType/password").starts_with("fernet:"));
    assert!(s.om.store_ids().contains(&pw_id("inflight")));
    let t0 = Instant::now();
    let status = s.terminate();
    assert!(status.success(), "{status}: {}", s.logs());
    assert!(t0.elapsed() < Duration::from_secs(25), "{:?}", t0.elapsed());
    // (The half-sent head is cut off by the server's deadline on request
    // heads, the request timeout: serve_attacks::connections_that_never_…)
    drop(stuck);
    s.assert_no_secrets(&["rate-secret", "inflight-secret"]);
}

#[test]
fn readiness_waits_for_start_up_tasks_and_a_failed_one_stops_the_server() {
    use om_secrets::config::{FileConfig, Settings};
    use om_secrets::server::{ServeError, Server, ServerConfig, run_with};
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_string_lossy().into_owned();
    let cache = crate::util::shared_cache().to_string_lossy().into_owned();
    let settings = Settings::resolve(FileConfig::default(), |k| match k {
        "OM_SECRETS_HOME" => Some(home_path.clone()),
        "OM_SECRETS_CACHE" => Some(cache.clone()),
        _ => None,
    })
    .unwrap();
    let config = ServerConfig {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(Server::bind(settings.clone(), config.clone()))
        .unwrap();
    let addr = server.local_addr().to_string();
    let hold = server.readiness().hold("database migration");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = rt.spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let key = std::fs::read_to_string(home.path().join("admin-api.key")).unwrap();
    let auth = format!("Bearer {}", key.trim());
    let mask = |addr: &str| {
        http(
            addr,
            "POST",
            "/v1/services/database/x/mask",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            json!({"document": mysql("ready-secret")})
                .to_string()
                .as_bytes(),
        )
    };
    // Up, not ready: the hold is named, the API answers 503 too.
    assert_eq!(http(&addr, "GET", "/healthz", &[], b"").status, 200);
    let t0 = Instant::now();
    loop {
        let r = http(&addr, "GET", "/readyz", &[], b"");
        let p = r.problem(503);
        assert!(p["detail"].as_str().unwrap().contains("waiting for"), "{p}");
        if p["detail"].as_str().unwrap() == "starting: waiting for database migration" {
            break; // plugins loaded, store probed: only our hold is left
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "{p}");
        std::thread::sleep(Duration::from_millis(50));
    }
    mask(&addr).problem(503);
    drop(hold);
    assert_eq!(http(&addr, "GET", "/readyz", &[], b"").status, 200);
    mask(&addr).ok();
    stop.send(()).unwrap();
    rt.block_on(serving).unwrap().unwrap();

    // A start-up task that fails stops the server with its error.
    let e = rt
        .block_on(run_with(settings, config.clone(), async {
            Err::<(), Box<dyn std::error::Error + Send + Sync>>(
                "migration failed: table locked".into(),
            )
        }))
        .unwrap_err();
    assert!(
        matches!(&e, ServeError::Startup(m) if m.contains("table locked")),
        "{e}"
    );
    let settings = Settings::resolve(FileConfig::default(), |k| match k {
        "OM_SECRETS_HOME" => Some(home_path.clone()),
        "OM_SECRETS_CACHE" => Some(cache.clone()),
        _ => None,
    })
    .unwrap();
    let e = rt
        .block_on(run_with(settings, config, async {
            if std::hint::black_box(true) {
                panic!("migration bug");
            }
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }))
        .unwrap_err();
    assert!(
        matches!(&e, ServeError::Startup(m) if m.contains("panicked")),
        "{e}"
    );
}

// ---------------------------------------------------------------------------
// OpenBao

fn vault_server(kms: &Kms, extra: &[(&str, &str)], yaml: &str) -> Serve {
    let mut om = kms.om(true);
    for (k, v) in extra {
        om = om.with(k, v);
    }
    Serve::start(om, Some(yaml))
}

const ADMIN_YAML_KEY: &str = "vault-admin-key-0123456789";

fn admin_yaml(extra: &str) -> String {
    format!(
        "  apiKeys: {{admin: {}}}\n  roles: [{{role: privileged, principals: [\"apiKey:admin\"]}}]\n{extra}",
        sha256_hex(ADMIN_YAML_KEY)
    )
}

#[test]
fn two_instances_on_one_openbao_and_the_cache_ttl_bounds_staleness() {
    let kms = Kms::new(Kind::Vault);
    let ttl = 2.0;
    let env = [("OM_SM_CACHE_TTL_SECONDS", "2")];
    let a = vault_server(&kms, &env, &admin_yaml(""));
    let b = vault_server(&kms, &env, &admin_yaml(""));
    let k = ADMIN_YAML_KEY;
    let base = "/v1/services/database/shared-svc";
    let v1 = format!("v1-{}", unique("s"));
    let stored = a
        .post(&format!("{base}/seal"), k, &json!({"document": mysql(&v1)}))
        .ok()["document"]
        .clone();
    // Sealed through one, revealed through the other.
    let r = b.post(&format!("{base}/reveal"), k, &json!({"document": stored}));
    assert_eq!(at(&r.ok()["document"], "/authType/password"), v1);
    let cached_at = Instant::now();
    assert_eq!(
        kms.read(&[kms.id("openmetadata/database/shared-svc/authtype/password")]),
        [Some(v1.clone())]
    );
    // A new value through A: B may answer from its cache for at most the TTL.
    let v2 = format!("v2-{}", unique("s"));
    let stored2 = a
        .post(
            &format!("{base}/seal"),
            k,
            &json!({"document": mysql(&v2), "previous": stored}),
        )
        .ok()["document"]
        .clone();
    let r = b.post(&format!("{base}/reveal"), k, &json!({"document": stored2}));
    let seen = at(&r.ok()["document"], "/authType/password").to_string();
    if cached_at.elapsed().as_secs_f64() < ttl * 0.9 {
        assert_eq!(seen, v1, "B's cache answers within the TTL");
    }
    std::thread::sleep(Duration::from_secs_f64(ttl + 0.2).saturating_sub(cached_at.elapsed()));
    let r = b.post(&format!("{base}/reveal"), k, &json!({"document": stored2}));
    assert_eq!(
        at(&r.ok()["document"], "/authType/password"),
        v2,
        "stale past the TTL"
    );
    // Metrics count the store's calls.
    let metrics = b.get("/metrics").body;
    assert!(
        metrics.contains("om_secrets_kms_calls_total{store=\"vault\",call=\"get\"}"),
        "{metrics}"
    );
    // And the read cache's hits and misses: B read the password three
    // times, from the store the first time and after the TTL.
    let count = |family: &str| -> u64 {
        let prefix = format!("{family}{{store=\"vault\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {family}: {metrics}"))
            .parse()
            .unwrap()
    };
    let (hits, misses) = (
        count("om_secrets_kms_cache_hits_total"),
        count("om_secrets_kms_cache_misses_total"),
    );
    assert!(misses >= 2, "misses {misses}: {metrics}");
    assert!(
        hits + misses >= 3,
        "hits {hits}, misses {misses}: {metrics}"
    );
    for s in [&a, &b] {
        s.assert_no_secrets(&[&v1, &v2]);
        assert_not_in(&s.get("/metrics").body, &[&v1, &v2], "the metrics");
    }
}

#[test]
fn openbao_stopped_gives_503_never_a_hang_and_the_retry_after_restart_completes() {
    let kms = Kms::dedicated(Kind::Vault);
    let env = [
        ("OM_SM_RETRY_MAX_SECONDS", "1"),
        ("OM_SM_TIMEOUT_SECONDS", "2"),
    ];
    let s = vault_server(
        &kms,
        &env,
        &admin_yaml("  limits: {requestTimeoutSeconds: 20}\n"),
    );
    let k = ADMIN_YAML_KEY;
    let before = format!("before-{}", unique("b"));
    s.post(
        "/v1/services/database/bao-a/seal",
        k,
        &json!({"document": mysql(&before)}),
    )
    .ok();
    // A second instance that would retry for 30 s: its request timeout
    // (2 s) answers first.
    let slow = vault_server(
        &kms,
        &[("OM_SM_RETRY_MAX_SECONDS", "30")],
        &admin_yaml("  limits: {requestTimeoutSeconds: 2}\n"),
    );
    let held = kms.server.stop_and_hold();
    let t0 = Instant::now();
    let p = slow
        .post(
            "/v1/services/database/bao-c/seal",
            k,
            &json!({"document": mysql("slow-secret-31")}),
        )
        .problem(503);
    assert!(p["type"].as_str().unwrap().ends_with("/timeout"), "{p}");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "{took:?}"
    );
    assert!(
        slow.get("/metrics")
            .body
            .contains("om_secrets_request_timeouts_total 1")
    );
    slow.assert_no_secrets(&["slow-secret-31"]);
    let during = format!("during-{}", unique("d"));
    let t0 = Instant::now();
    let r = s.post(
        "/v1/services/database/bao-b/seal",
        k,
        &json!({"document": mysql(&during)}),
    );
    let p = r.problem(503);
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert!(
        p["type"].as_str().unwrap().ends_with("/kms-unavailable"),
        "{p}"
    );
    assert!(p["detail"].as_str().unwrap().contains("reach"), "{p}");
    // A new OpenBao on another port, and a new server pointed at it: the
    // retry completes.
    let server = Arc::new(Server::start("vault"));
    drop(held);
    let mut again = Kms::on(Kind::Vault, server);
    again.prefix = kms.prefix.clone();
    let s2 = vault_server(&again, &env, &admin_yaml(""));
    let stored = s2
        .post(
            "/v1/services/database/bao-b/seal",
            k,
            &json!({"document": mysql(&during)}),
        )
        .ok()["document"]
        .clone();
    assert_eq!(
        again.list(),
        [again.id("openmetadata/database/bao-b/authtype/password")]
    );
    let r = s2.post(
        "/v1/services/database/bao-b/reveal",
        k,
        &json!({"document": stored}),
    );
    assert_eq!(at(&r.ok()["document"], "/authType/password"), during);
    for srv in [&s, &s2] {
        srv.assert_no_secrets(&[&before, &during]);
    }
    let metrics = s.get("/metrics").body;
    assert!(
        metrics.contains("om_secrets_kms_errors_total{store=\"vault\",kind=\"transient\"}"),
        "{metrics}"
    );
}

// ---------------------------------------------------------------------------
// TLS

/// One request over TLS (rustls, trusting only the fixtures' test CA).
fn https(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    use rustls_pki_types::pem::PemObject;
    let cert = crate::util::repo().join("tests/fixtures/serve/ca-cert.pem");
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(&cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    let req = request_head("localhost", method, path, headers, body.len());
    tls.write_all(req.as_bytes()).unwrap();
    tls.write_all(body).unwrap();
    let mut raw = Vec::new();
    // A peer that closes without close_notify is an error after the data.
    let _ = tls.read_to_end(&mut raw);
    parse_response(&raw)
}

#[test]
fn tls_serves_https_with_the_configured_certificate_only() {
    let fixtures = crate::util::repo().join("tests/fixtures/serve");
    let yaml = format!(
        "{}  tls: {{certFile: {}, keyFile: {}}}\n",
        admin_yaml(""),
        fixtures.join("tls-cert.pem").display(),
        fixtures.join("tls-key.pem").display()
    );
    let s = Serve::start(Om::new(), Some(&yaml));
    assert!(
        s.logs().contains("listening on https://127.0.0.1:"),
        "{}",
        s.logs()
    );
    let t0 = Instant::now();
    while https(&s.addr, "GET", "/readyz", &[], b"").status != 200 {
        assert!(t0.elapsed() < Duration::from_secs(120), "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let auth = format!("Bearer {ADMIN_YAML_KEY}");
    let h = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let doc = json!({"document": mysql("tls-secret-42")}).to_string();
    let stored = https(
        &s.addr,
        "POST",
        "/v1/services/database/tls/seal",
        &h,
        doc.as_bytes(),
    )
    .ok();
    let r = https(
        &s.addr,
        "POST",
        "/v1/services/database/tls/reveal",
        &h,
        stored.to_string().as_bytes(),
    );
    assert_eq!(
        at(&r.ok()["document"], "/authType/password"),
        "tls-secret-42"
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(&s.addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw);
    assert!(
        !raw.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    s.assert_no_secrets(&["tls-secret-42"]);
}

#[test]
fn jwks_from_openmetadata_url_is_fetched_at_start() {
    // A one-route JWKS endpoint (what OpenMetadata serves at
    // /api/v1/system/config/jwks), answering every GET.
    let signer = Signer::new("om-url-key");
    let jwks = json!({"keys": [signer.jwk()]}).to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/api/v1/system/config/jwks",
        listener.local_addr().unwrap()
    );
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{jwks}",
                    jwks.len()
                )
                .as_bytes(),
            );
        }
    });
    let yaml = format!(
        "  jwt: {{jwksUrl: \"{url}\", issuer: open-metadata.org}}\n  roles: [{{role: viewer, principals: [\"subject:alice\"]}}]\n"
    );
    let s = Serve::start(Om::new(), Some(&yaml));
    let alice = signer.sign(&claims("alice", false, now() + 600, json!({})));
    let r = s.post(
        "/v1/services/database/u/mask",
        &alice,
        &json!({"document": mysql("url-secret")}),
    );
    assert_eq!(at(&r.ok()["document"], "/authType/password"), "*********");
    let mallory = Signer::new("om-url-key").sign(&claims("alice", false, now() + 600, json!({})));
    s.post(
        "/v1/services/database/u/mask",
        &mallory,
        &json!({"document": mysql("url-secret")}),
    )
    .problem(401);
    // JWTs configured: no admin key is made.
    assert!(!s.om.path("admin-api.key").exists());
    s.assert_no_secrets(&["url-secret"]);
}

// ---------------------------------------------------------------------------
// the sandbox behind the server

#[test]
fn plugin_failures_are_500_problems_counted_by_reason_and_never_leak_values() {
    let om = Om::new();
    let dir = om.home.path().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = dir.join("hostile.wasm");
    std::fs::copy(crate::plugins_fixtures::fixture("hostile"), &wasm).unwrap();
    let file = format!(
        "plugins:\n  directory: {}\n  allow:\n    - {{file: hostile.wasm, sha256: {}}}\nlimits: {{timeMs: 300}}\nserver:\n{}",
        dir.display(),
        crate::plugins_fixtures::sha256_of(&wasm),
        admin_yaml("")
    );
    let s = Serve::try_start_file(om, Some(file)).unwrap();
    let k = ADMIN_YAML_KEY;
    let call = |t: &str| {
        s.post(
            "/v1/services/hostile/h/mask",
            k,
            &json!({"document": {"type": t, "password": "sandbox-secret-12"}}),
        )
    };
    for (t, reason) in [
        ("Loop", "timeout"),
        ("Panic", "panic"),
        ("Recurse", "stack"),
        ("Alloc", "memory"),
        ("PointerSyntax", "invalid_answer"),
    ] {
        let p = call(t).problem(500);
        assert!(
            p["type"].as_str().unwrap().ends_with("/plugin-failure"),
            "{t}: {p}"
        );
        assert!(
            p["detail"].as_str().unwrap().contains("plugin `hostile`"),
            "{p}"
        );
        let metrics = s.get("/metrics").body;
        assert!(
            metrics.contains(&format!(
                "om_secrets_sandbox_failures_total{{reason=\"{reason}\"}} 1"
            )),
            "{t}: {metrics}"
        );
    }
    // The server still answers: every call has a fresh instance.
    assert_eq!(at(&call("Good").ok()["document"], "/password"), "*********");
    s.assert_no_secrets(&["sandbox-secret-12"]);
}
