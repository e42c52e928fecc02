//! Shared by the KMS tests: real servers (OpenBao, moto) started through
//! `tests/servers/servers.sh` and stopped when the last user drops them, a
//! direct client for each store (raw HTTP for Vault, boto3 for AWS — the
//! calls OpenMetadata's Python makes), a fault-injecting HTTP shim, and the
//! scenarios every provider runs.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use om_secrets::config::{FileConfig, Settings};
use serde_json::{Value, json};

use crate::util::{Om, Run, assert_absent, servers};

/// OpenMetadata's sample Fernet key.
pub const FERNET_KEY: &str = "jJ/9sz0g0OHxsfxOoSfdFdmk3ysNmPRnH3TUAbz3IHA=";
/// Tags every test configures (`SECRET_MANAGER_TAGS`).
pub const TAGS: &str = "team:data,env:test";
/// The AWS secret key given to moto: distinctive, so that logs can be searched for it.
pub const AWS_SECRET_KEY: &str = "om-test-aws-secret-key-7f3a9";
pub const AWS_KEY_ID: &str = "testing";
pub const REGION: &str = "us-east-1";

// ---------------------------------------------------------------------------
// servers

/// A server started by servers.sh; stopped on drop.
pub struct Server {
    pub kind: &'static str,
    pub pid: u32,
    pub addr: String,
    pub port: u16,
    /// Vault's root token.
    pub token: String,
    stopped: AtomicBool,
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

impl Server {
    /// Start a new `vault` or `moto` server on a free port.
    pub fn start(kind: &'static str) -> Server {
        Self::launch(kind, &["start", kind])
    }

    fn launch(kind: &'static str, args: &[&str]) -> Server {
        let out = servers(args);
        let line = out.lines().last().expect("servers.sh start prints a line");
        Server {
            kind,
            pid: field(line, "PID").unwrap().parse().unwrap(),
            addr: field(line, "ADDR").unwrap().to_string(),
            port: field(line, "PORT").unwrap().parse().unwrap(),
            token: field(line, "TOKEN").unwrap_or_default().to_string(),
            stopped: AtomicBool::new(false),
        }
    }

    /// Stop it now (idempotent).
    pub fn stop(&self) {
        if !self.stopped.swap(true, Ordering::SeqCst) {
            servers(&["stop", &self.pid.to_string()]);
        }
    }
    /// Stop it, and keep its port bound (not listening) until the result is
    /// dropped: connections to it are refused, and no other test's server
    /// can start on it meanwhile (servers.sh picks only ports it can bind
    /// without `SO_REUSEADDR`). Ours sets it: the stopped server's
    /// connections may still be in TIME_WAIT on that port.
    pub fn stop_and_hold(&self) -> tokio::net::TcpSocket {
        self.stop();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        socket
            .bind(addr)
            .unwrap_or_else(|e| panic!("hold port {}: {e}", self.port));
        socket
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.stopped.load(Ordering::SeqCst) {
            // Never panic in drop: a failed stop is caught by the watchdog.
            let _ = std::process::Command::new("bash")
                .arg(crate::util::repo().join("tests/servers/servers.sh"))
                .args(["stop", &self.pid.to_string()])
                .stdin(std::process::Stdio::null())
                .output();
        }
    }
}

static SHARED: Mutex<Vec<(&'static str, Weak<Server>)>> = Mutex::new(Vec::new());

/// A server of this kind shared by the tests running now; the last one to
/// drop its handle stops it.
pub fn shared(kind: &'static str) -> Arc<Server> {
    let mut all = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = all
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, w)| w.upgrade())
    {
        return s;
    }
    let s = Arc::new(Server::start(kind));
    all.retain(|(k, _)| *k != kind);
    all.push((kind, Arc::downgrade(&s)));
    s
}

/// A fresh name, unique in this process and across processes.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{tag}{}x{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        nanos % 100_000
    )
}

/// Run a future to completion on a fresh runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

// ---------------------------------------------------------------------------
// raw HTTP (a curl of our own: the Vault API, the shim)

/// One HTTP/1.1 request with `Connection: close`: (status, body).
pub fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let (head, body) = split_head(&raw).expect("an HTTP response");
    let head = String::from_utf8_lossy(head).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body =
        if header(&head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            dechunk(body)
        } else {
            body.to_vec()
        };
    (status, String::from_utf8(body).unwrap())
}

fn split_head(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((&raw[..i], &raw[i + 4..]))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..i])
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .trim();
        let size = usize::from_str_radix(size, 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[i + 2 + size + 2..];
    }
    out
}

// ---------------------------------------------------------------------------
// the fault shim

/// What the shim does with one request.
#[derive(Clone, Debug)]
pub enum Action {
    /// Pass it to the real server.
    Forward,
    /// Answer with this raw HTTP response.
    Respond(String),
    /// Close the connection without answering (a server that went away).
    Drop,
}

/// An HTTP response with a JSON body.
pub fn response(status: u16, reason: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// AWS's JSON-protocol error.
pub fn aws_error(status: u16, code: &str) -> Action {
    let reason = if status == 400 {
        "Bad Request"
    } else {
        "Service Unavailable"
    };
    Action::Respond(response(
        status,
        reason,
        "application/x-amz-json-1.1",
        &json!({"__type": code, "message": "injected by the test shim"}).to_string(),
    ))
}

struct ShimState {
    upstream: String,
    plan: Mutex<VecDeque<Action>>,
    otherwise: Mutex<Action>,
    requests: AtomicUsize,
    injected: AtomicUsize,
    forwarded: AtomicUsize,
    /// The HTTP status of every forwarded request's answer, in order.
    statuses: Mutex<Vec<u16>>,
    stop: AtomicBool,
}

/// A proxy on 127.0.0.1 in front of a real server that follows a plan of
/// actions, one per request, then `otherwise`. One request per connection.
pub struct Shim {
    pub addr: String,
    state: Arc<ShimState>,
    port: u16,
}

impl Shim {
    pub fn new(upstream: &str) -> Shim {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ShimState {
            upstream: upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            plan: Mutex::new(VecDeque::new()),
            otherwise: Mutex::new(Action::Forward),
            requests: AtomicUsize::new(0),
            injected: AtomicUsize::new(0),
            forwarded: AtomicUsize::new(0),
            statuses: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || serve(&st, conn));
            }
        });
        Shim {
            addr: format!("http://127.0.0.1:{port}"),
            state,
            port,
        }
    }

    /// Do `a` for the next `n` requests (after what is already planned).
    pub fn then(&self, n: usize, a: Action) -> &Self {
        self.state
            .plan
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(a, n));
        self
    }

    /// What to do once the plan is done.
    pub fn otherwise(&self, a: Action) -> &Self {
        *self.state.otherwise.lock().unwrap() = a;
        self
    }

    /// The status of each answer the real server gave, in order (0: none).
    pub fn statuses(&self) -> Vec<u16> {
        self.state.statuses.lock().unwrap().clone()
    }

    /// Requests seen, answered by the shim itself (injected or dropped), forwarded.
    pub fn counts(&self) -> (usize, usize, usize) {
        let s = &self.state;
        (
            s.requests.load(Ordering::SeqCst),
            s.injected.load(Ordering::SeqCst),
            s.forwarded.load(Ordering::SeqCst),
        )
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn read_request(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some((head, body)) = split_head(&buf) {
            let h = String::from_utf8_lossy(head);
            let len: usize = header(&h, "content-length")
                .map(|v| v.parse().unwrap())
                .unwrap_or(0);
            if body.len() >= len {
                return Some(buf);
            }
        }
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `raw` with `Connection: close` in place of any connection header.
fn closing(raw: &[u8]) -> Vec<u8> {
    let Some((head, body)) = split_head(raw) else {
        return raw.to_vec();
    };
    let head = String::from_utf8_lossy(head);
    let mut out = String::new();
    for (i, l) in head.split("\r\n").enumerate() {
        let name = l
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if i > 0 && (name == "connection" || name == "keep-alive") {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut v = out.into_bytes();
    v.extend_from_slice(body);
    v
}

fn serve(st: &ShimState, mut conn: TcpStream) {
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let Some(req) = read_request(&mut conn) else {
        return;
    };
    st.requests.fetch_add(1, Ordering::SeqCst);
    let action = st
        .plan
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| st.otherwise.lock().unwrap().clone());
    match action {
        Action::Drop => {
            st.injected.fetch_add(1, Ordering::SeqCst);
            let _ = conn.shutdown(Shutdown::Both);
        }
        Action::Respond(r) => {
            st.injected.fetch_add(1, Ordering::SeqCst);
            let _ = conn.write_all(r.as_bytes());
        }
        Action::Forward => {
            st.forwarded.fetch_add(1, Ordering::SeqCst);
            let Ok(mut up) = TcpStream::connect(&st.upstream) else {
                return;
            };
            up.set_read_timeout(Some(Duration::from_secs(30))).ok();
            if up.write_all(&closing(&req)).is_err() {
                return;
            }
            let mut resp = Vec::new();
            let _ = up.read_to_end(&mut resp);
            let status = split_head(&resp)
                .and_then(|(head, _)| {
                    String::from_utf8_lossy(head)
                        .split_whitespace()
                        .nth(1)?
                        .parse()
                        .ok()
                })
                .unwrap_or(0);
            st.statuses.lock().unwrap().push(status);
            let _ = conn.write_all(&closing(&resp));
        }
    }
}

// ---------------------------------------------------------------------------
// the stores

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Vault,
    Aws,
    Ssm,
}

impl Kind {
    pub fn server_kind(self) -> &'static str {
        if self == Kind::Vault { "vault" } else { "moto" }
    }

    pub fn provider(self, managed: bool) -> String {
        let base = match self {
            Kind::Vault => "vault",
            Kind::Aws => "aws",
            Kind::Ssm => "aws-ssm",
        };
        if managed {
            format!("managed-{base}")
        } else {
            base.to_string()
        }
    }
}

/// One provider on one server, with a prefix of its own (so tests sharing a
/// server never see each other's secrets).
pub struct Kms {
    pub kind: Kind,
    pub server: Arc<Server>,
    pub prefix: String,
    /// Where om-secrets sends its requests (the server, or a shim in front).
    pub endpoint: String,
    /// Vault: mount, KV version, namespace, token.
    pub mount: String,
    pub kv: u8,
    pub namespace: Option<String>,
    pub token: String,
    /// Extra variables for om-secrets.
    pub vars: Vec<(String, String)>,
    boto3: Mutex<Option<Boto3>>,
}

/// A boto3 helper process (`kms_aws_client.py`), started once per store.
struct Boto3 {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Boto3 {
    fn start(endpoint: &str) -> Boto3 {
        servers(&["install"]);
        let env = servers(&["env"]);
        let py = field(&env, "PYTHON").expect("servers.sh env prints PYTHON=");
        let mut child = std::process::Command::new(py)
            .args(["-u", "-c", include_str!("kms_aws_client.py")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut b = Boto3 { child, out };
        let hello = json!({"endpoint": endpoint, "region": REGION, "key_id": AWS_KEY_ID, "secret_key": AWS_SECRET_KEY});
        writeln!(b.child.stdin.as_mut().unwrap(), "{hello}").unwrap();
        b
    }

    fn call(&mut self, ops: &Value) -> Vec<Value> {
        use std::io::BufRead;
        writeln!(self.child.stdin.as_mut().unwrap(), "{ops}").unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("boto3 helper ({e}): {line:?}"))
    }
}

impl Drop for Boto3 {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Kms {
    /// On the shared server of its kind.
    pub fn new(kind: Kind) -> Kms {
        Self::on(kind, shared(kind.server_kind()))
    }

    /// On a server of its own (tests that stop it).
    pub fn dedicated(kind: Kind) -> Kms {
        Self::on(kind, Arc::new(Server::start(kind.server_kind())))
    }

    pub fn on(kind: Kind, server: Arc<Server>) -> Kms {
        Kms {
            kind,
            endpoint: server.addr.clone(),
            token: server.token.clone(),
            server,
            prefix: unique("p"),
            mount: "secret".into(),
            kv: 2,
            namespace: None,
            vars: Vec::new(),
            boto3: Mutex::new(None),
        }
    }

    pub fn with(mut self, k: &str, v: &str) -> Self {
        self.vars.push((k.into(), v.into()));
        self
    }

    /// Every variable om-secrets gets for this store.
    pub fn env(&self, managed: bool) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = vec![
            ("SECRET_MANAGER".into(), self.kind.provider(managed)),
            ("SECRET_MANAGER_PREFIX".into(), self.prefix.clone()),
            ("SECRET_MANAGER_TAGS".into(), TAGS.into()),
            ("FERNET_KEY".into(), FERNET_KEY.into()),
        ];
        match self.kind {
            Kind::Vault => {
                v.push(("VAULT_ADDR".into(), self.endpoint.clone()));
                v.push(("VAULT_TOKEN".into(), self.token.clone()));
                v.push(("OM_SM_VAULT_MOUNT".into(), self.mount.clone()));
                v.push(("OM_SM_VAULT_KV_VERSION".into(), self.kv.to_string()));
                if let Some(ns) = &self.namespace {
                    v.push(("VAULT_NAMESPACE".into(), ns.clone()));
                }
            }
            Kind::Aws | Kind::Ssm => {
                v.push(("OM_SM_ENDPOINT_URL".into(), self.endpoint.clone()));
                v.push(("OM_SM_REGION".into(), REGION.into()));
                v.push(("OM_SM_ACCESS_KEY_ID".into(), AWS_KEY_ID.into()));
                v.push(("OM_SM_ACCESS_KEY".into(), AWS_SECRET_KEY.into()));
            }
        }
        for (k, val) in &self.vars {
            v.retain(|(x, _)| x != k);
            v.push((k.clone(), val.clone()));
        }
        v.retain(|(_, val)| !val.is_empty());
        v
    }

    /// The CLI configured for this store.
    pub fn om(&self, managed: bool) -> Om {
        let mut om = Om::new();
        for (k, v) in self.env(managed) {
            om = om.with(&k, &v);
        }
        om
    }

    /// The library's settings for this store.
    pub fn settings(&self, managed: bool) -> Settings {
        let env: HashMap<String, String> = self.env(managed).into_iter().collect();
        Settings::resolve(FileConfig::default(), |k| env.get(k).cloned()).unwrap()
    }

    /// A secret id under this store's prefix.
    pub fn id(&self, rest: &str) -> String {
        format!("/{}/{}", self.prefix, rest.trim_start_matches('/'))
    }

    // --- direct access, bypassing om-secrets ---

    fn vault(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut headers = vec![("X-Vault-Token", self.server.token.as_str())];
        if let Some(ns) = &self.namespace {
            headers.push(("X-Vault-Namespace", ns.as_str()));
        }
        let body = body.map(Value::to_string);
        let (status, text) = http(
            method,
            &format!("{}/v1/{path}", self.server.addr),
            &headers,
            body.as_deref(),
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A Vault API call as root (in this store's namespace); panics unless 2xx.
    pub fn vault_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.vault(method, path, body.as_ref());
        assert!(
            (200..300).contains(&status),
            "{method} {path}: HTTP {status}: {v}"
        );
        v
    }

    fn vault_data_path(&self, id: &str) -> String {
        let p = id.trim_start_matches('/');
        if self.kv == 2 {
            format!("{}/data/{p}", self.mount)
        } else {
            format!("{}/{p}", self.mount)
        }
    }

    fn aws(&self, ops: Vec<Value>) -> Vec<Value> {
        let mut helper = self.boto3.lock().unwrap();
        let h = helper.get_or_insert_with(|| Boto3::start(&self.server.addr));
        h.call(&Value::Array(ops))
    }

    fn aws_one(&self, op: Value) -> Value {
        self.aws(vec![op]).remove(0)
    }

    /// The stored values of `ids`, read as OpenMetadata's ingestion side reads
    /// them (Vault: the `value` key; AWS: `SecretString`; SSM: the decrypted
    /// parameter). `None`: not there.
    pub fn read(&self, ids: &[String]) -> Vec<Option<String>> {
        match self.kind {
            Kind::Vault => ids
                .iter()
                .map(|id| {
                    let (status, v) = self.vault("GET", &self.vault_data_path(id), None);
                    match status {
                        404 => None,
                        200 => {
                            let data = if self.kv == 2 {
                                &v["data"]["data"]
                            } else {
                                &v["data"]
                            };
                            Some(
                                data["value"]
                                    .as_str()
                                    .unwrap_or_else(|| panic!("{id}: {v}"))
                                    .to_string(),
                            )
                        }
                        s => panic!("read {id}: HTTP {s}: {v}"),
                    }
                })
                .collect(),
            Kind::Aws | Kind::Ssm => {
                let op = if self.kind == Kind::Aws {
                    "get_secret"
                } else {
                    "get_parameter"
                };
                self.aws(ids.iter().map(|id| json!({"op": op, "id": id})).collect())
                    .into_iter()
                    .zip(ids)
                    .map(|(r, id)| match (&r["ok"], r["error"].as_str()) {
                        (Value::String(s), _) => Some(s.clone()),
                        (Value::Object(p), _) => Some(p["value"].as_str().unwrap().to_string()),
                        (_, Some("ResourceNotFoundException" | "ParameterNotFound")) => None,
                        _ => panic!("read {id}: {r}"),
                    })
                    .collect()
            }
        }
    }

    /// Write a value directly (a user's own secret, or an old "null").
    pub fn put_raw(&self, id: &str, value: &str) {
        match self.kind {
            Kind::Vault => {
                let body = if self.kv == 2 {
                    json!({"data": {"value": value}})
                } else {
                    json!({"value": value})
                };
                self.vault_ok("POST", &self.vault_data_path(id), Some(body));
            }
            Kind::Aws | Kind::Ssm => {
                let op = if self.kind == Kind::Aws {
                    "put_secret"
                } else {
                    "put_parameter"
                };
                let r = self.aws_one(json!({"op": op, "id": id, "value": value}));
                assert!(r.get("ok").is_some(), "{r}");
            }
        }
    }

    /// Every id under this store's prefix, sorted.
    pub fn list(&self) -> Vec<String> {
        let mut out = match self.kind {
            Kind::Vault => {
                let mut out = Vec::new();
                let mut todo = vec![self.prefix.clone()];
                while let Some(dir) = todo.pop() {
                    let list = if self.kv == 2 {
                        format!("{}/metadata/{dir}", self.mount)
                    } else {
                        format!("{}/{dir}", self.mount)
                    };
                    let (status, v) = self.vault("LIST", &list, None);
                    if status == 404 {
                        continue;
                    }
                    assert_eq!(status, 200, "LIST {list}: {v}");
                    for k in v["data"]["keys"].as_array().unwrap() {
                        let k = k.as_str().unwrap();
                        match k.strip_suffix('/') {
                            Some(sub) => todo.push(format!("{dir}/{sub}")),
                            None => out.push(format!("/{dir}/{k}")),
                        }
                    }
                }
                out
            }
            Kind::Aws | Kind::Ssm => {
                let op = if self.kind == Kind::Aws {
                    "list_secrets"
                } else {
                    "list_parameters"
                };
                let r = self.aws_one(json!({"op": op, "prefix": format!("/{}/", self.prefix)}));
                r["ok"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{r}"))
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect()
            }
        };
        out.sort();
        out
    }

    /// The tags (AWS, SSM) or custom metadata (Vault KV v2) of `id`.
    pub fn tags(&self, id: &str) -> BTreeMap<String, String> {
        let v = match self.kind {
            Kind::Vault => {
                let v = self.vault_ok(
                    "GET",
                    &format!("{}/metadata/{}", self.mount, id.trim_start_matches('/')),
                    None,
                );
                v["data"]["custom_metadata"].clone()
            }
            Kind::Aws => {
                self.aws_one(json!({"op": "describe_secret", "id": id}))["ok"]["tags"].clone()
            }
            Kind::Ssm => self.aws_one(json!({"op": "parameter_tags", "id": id}))["ok"].clone(),
        };
        serde_json::from_value(if v.is_null() { json!({}) } else { v }).unwrap()
    }

    /// Extra facts: AWS description, SSM type.
    pub fn describe(&self, id: &str) -> Value {
        match self.kind {
            Kind::Vault => self.vault_ok(
                "GET",
                &format!("{}/metadata/{}", self.mount, id.trim_start_matches('/')),
                None,
            ),
            Kind::Aws => self.aws_one(json!({"op": "describe_secret", "id": id})),
            Kind::Ssm => self.aws_one(json!({"op": "get_parameter", "id": id})),
        }
    }
}

// ---------------------------------------------------------------------------
// documents

/// A MySQL connection with three secret fields whose values are unique to
/// the test (so a log search means something).
pub struct Doc {
    pub name: String,
    pub doc: Value,
    /// (pointer, value, id below the service root)
    pub secrets: Vec<(&'static str, String, &'static str)>,
}

impl Doc {
    pub fn mysql(tag: &str) -> Doc {
        let u = unique(tag);
        let pw = format!("Pw-{u}-5ecret");
        let ca = format!("-----CA-{u}-----");
        let key = format!("api-key-{u}");
        Doc {
            name: format!("svc-{tag}"),
            doc: json!({
                "type": "Mysql",
                "username": "om",
                "authType": {"password": pw},
                "hostPort": "db:3306",
                "sslConfig": {"caCertificate": ca},
                "connectionOptions": {"ssl_mode": "REQUIRED", "api_key": key}
            }),
            secrets: vec![
                ("/authType/password", pw, "authtype/password"),
                (
                    "/connectionOptions/api_key",
                    key,
                    "connectionoptions/api_key",
                ),
                ("/sslConfig/caCertificate", ca, "sslconfig/cacertificate"),
            ],
        }
    }

    pub fn args<'a>(&'a self, op: &'a str) -> Vec<&'a str> {
        vec![op, "--service-type", "database", "--name", &self.name]
    }

    /// The full ids of its secrets, sorted.
    pub fn ids(&self, kms: &Kms) -> Vec<String> {
        let mut v: Vec<String> = self
            .secrets
            .iter()
            .map(|(_, _, rest)| kms.id(&format!("openmetadata/database/{}/{rest}", self.name)))
            .collect();
        v.sort();
        v
    }

    pub fn values(&self) -> Vec<&str> {
        self.secrets.iter().map(|(_, v, _)| v.as_str()).collect()
    }
}

pub fn decrypt(v: &Value, pointer: &str) -> String {
    crate::util::unseal(FERNET_KEY, v, pointer)
}

/// Nothing of `values` in `text`.
pub fn assert_not_in(text: &str, values: &[&str], what: &str) {
    for v in values {
        assert!(
            !text.contains(v),
            "a secret value appears in {what}:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------
// scenarios every provider runs

/// Managed mode: seal → the store holds exactly the ids with the values, the
/// stored JSON only `fernet:` at secret fields, tags set; reveal → original;
/// forget → gone; re-create after forget works.
pub fn managed_roundtrip(kms: &Kms) {
    let om = kms.om(true);
    let d = Doc::mysql("round");
    let stored = om.json(&d.args("seal"), &d.doc);
    let ids = d.ids(kms);
    for (pointer, value, rest) in &d.secrets {
        assert_absent(&stored, value);
        let id = kms.id(&format!("openmetadata/database/{}/{rest}", d.name));
        assert_eq!(decrypt(&stored, pointer), format!("secret:{id}"));
    }
    assert_eq!(stored["username"], "om");
    assert_eq!(kms.list(), ids, "the store holds exactly the expected ids");
    let by_id: BTreeMap<String, String> = d
        .secrets
        .iter()
        .map(|(_, v, rest)| {
            (
                kms.id(&format!("openmetadata/database/{}/{rest}", d.name)),
                v.clone(),
            )
        })
        .collect();
    let read = kms.read(&ids);
    for (id, got) in ids.iter().zip(&read) {
        assert_eq!(got.as_deref(), Some(by_id[id].as_str()), "{id}");
    }
    let want_tags: BTreeMap<String, String> = [("env", "test"), ("team", "data")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // (KV v1 has no metadata to carry them.)
    if !(kms.kind == Kind::Vault && kms.kv == 1) {
        for id in &ids {
            assert_eq!(kms.tags(id), want_tags, "tags of {id}");
        }
    }
    match kms.kind {
        Kind::Ssm => assert_eq!(kms.describe(&ids[0])["ok"]["type"], "SecureString"),
        Kind::Aws => assert_eq!(
            kms.describe(&ids[0])["ok"]["description"],
            "This secret was created by OpenMetadata"
        ),
        Kind::Vault => {}
    }

    // Sealing the sealed form writes nothing and changes nothing.
    assert_eq!(om.json(&d.args("seal"), &stored), stored);
    assert_eq!(om.json(&d.args("reveal"), &stored), d.doc);

    // A changed value is updated in place.
    let mut changed = d.doc.clone();
    let new_pw = format!("{}-v2", d.secrets[0].1);
    changed["authType"]["password"] = json!(new_pw);
    let stored2 = om.json(&d.args("seal"), &changed);
    for (pointer, _, _) in &d.secrets {
        assert_eq!(
            decrypt(&stored2, pointer),
            decrypt(&stored, pointer),
            "the references do not change"
        );
    }
    assert_eq!(
        kms.read(&[kms.id(&format!(
            "openmetadata/database/{}/authtype/password",
            d.name
        ))])[0]
            .as_deref(),
        Some(new_pw.as_str())
    );
    assert_eq!(om.json(&d.args("reveal"), &stored2), changed);

    let forgot = om.json(&d.args("forget"), &stored);
    let mut deleted: Vec<String> = forgot["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    deleted.sort();
    assert_eq!(deleted, ids);
    assert!(
        kms.list().is_empty(),
        "forget leaves nothing: {:?}",
        kms.list()
    );
    assert!(kms.read(&ids).iter().all(Option::is_none));
    let e = om.run(&d.args("reveal"), &stored.to_string());
    assert!(e.err().contains(&ids[0]), "{}", e.stderr);

    // Re-created under the same name at once (no recovery window in the way).
    let again = om.json(&d.args("seal"), &d.doc);
    assert_eq!(
        decrypt(&again, "/authType/password"),
        decrypt(&stored, "/authType/password")
    );
    assert_eq!(kms.list(), ids);
    assert_eq!(om.json(&d.args("reveal"), &again), d.doc);
    om.json(&d.args("forget"), &again);
    assert!(kms.list().is_empty());
}

/// Non-managed mode: references must exist at seal time, pass through, and
/// reveal resolves them; plain values are Fernet-encrypted in place and
/// nothing is written to the store.
pub fn nonmanaged_references(kms: &Kms) {
    let om = kms.om(false);
    let d = Doc::mysql("nonm");
    let user_id = kms.id("team/db-password");
    let user_value = format!("user-owned-{}", unique("v"));
    let mut doc = d.doc.clone();
    doc["authType"]["password"] = json!(format!("secret:{user_id}"));

    let run = om.run(&d.args("seal"), &doc.to_string());
    let err = run.err();
    assert!(
        err.contains("/authType/password") && err.contains(&user_id),
        "{err}"
    );
    assert!(kms.list().is_empty(), "a failed seal writes nothing");

    kms.put_raw(&user_id, &user_value);
    let stored = om.json(&d.args("seal"), &doc);
    assert_eq!(
        decrypt(&stored, "/authType/password"),
        format!("secret:{user_id}")
    );
    for (pointer, value, _) in &d.secrets[1..] {
        assert_absent(&stored, value);
        assert_eq!(
            decrypt(&stored, pointer),
            *value,
            "non-managed: plain values are Fernet-encrypted in place"
        );
    }
    assert_eq!(
        kms.list(),
        vec![user_id.clone()],
        "non-managed mode never writes the store"
    );

    let revealed = om.json(&d.args("reveal"), &stored);
    assert_eq!(revealed["authType"]["password"], json!(user_value));
    assert_eq!(revealed["connectionOptions"], d.doc["connectionOptions"]);
    let kept = om.json(
        &[
            "reveal",
            "--service-type",
            "database",
            "--name",
            &d.name,
            "--keep-references",
        ],
        &stored,
    );
    assert_eq!(
        kept["authType"]["password"],
        json!(format!("secret:{user_id}"))
    );

    let forgot = om.json(&d.args("forget"), &stored);
    assert_eq!(forgot["deleted"], json!([]));
    assert_eq!(
        kms.read(std::slice::from_ref(&user_id))[0].as_deref(),
        Some(user_value.as_str())
    );
}

/// Empty and null values delete; "null" is never written; a stored "null"
/// reads as absent.
pub fn null_and_empty(kms: &Kms) {
    let om = kms.om(true);
    let d = Doc::mysql("null");
    let stored = om.json(&d.args("seal"), &d.doc);
    let ids = d.ids(kms);
    let pw_id = kms.id(&format!(
        "openmetadata/database/{}/authtype/password",
        d.name
    ));
    let key_id = kms.id(&format!(
        "openmetadata/database/{}/connectionoptions/api_key",
        d.name
    ));

    // Cleared fields delete their secrets.
    let mut cleared = stored.clone();
    cleared["authType"]["password"] = json!("");
    cleared["connectionOptions"]["api_key"] = Value::Null;
    let stored2 = om.json(&d.args("seal"), &cleared);
    assert_eq!(stored2["authType"]["password"], "");
    let left: Vec<String> = ids
        .iter()
        .filter(|i| **i != pw_id && **i != key_id)
        .cloned()
        .collect();
    assert_eq!(kms.list(), left);

    // The library never writes "null": it deletes.
    let settings = kms.settings(true);
    block_on(async {
        let store = om_secrets::kms::open(&settings).await.unwrap().unwrap();
        store.put(&pw_id, "v").await.unwrap();
        store.put(&pw_id, "null").await.unwrap();
        assert!(store.get(&pw_id).await.unwrap().is_none());
        store.put(&pw_id, "").await.unwrap();
    });
    assert_eq!(
        kms.read(std::slice::from_ref(&pw_id))[0],
        None,
        "\"null\" is never stored"
    );

    // A "null" left by an older version reads as absent.
    kms.put_raw(&pw_id, "null");
    let e = om.run(&d.args("reveal"), &stored.to_string());
    let err = e.err();
    assert!(
        err.contains("/authType/password")
            && err.contains(&pw_id)
            && err.contains("does not exist"),
        "{err}"
    );
    block_on(async {
        let store = om_secrets::kms::open(&settings).await.unwrap().unwrap();
        assert!(store.get(&pw_id).await.unwrap().is_none());
        // and as a missing reference in non-managed mode
    });
    let mut doc = d.doc.clone();
    doc["authType"]["password"] = json!(format!("secret:{pw_id}"));
    let run = kms.om(false).run(&d.args("seal"), &doc.to_string());
    assert!(run.err().contains(&pw_id), "{}", run.stderr);
}

/// No secret value (nor the store's credentials) in the logs, at any level.
pub fn logs_hold_no_secrets(kms: &Kms) {
    let om = kms.om(true).with("OM_SECRETS_LOG", "trace");
    let d = Doc::mysql("logs");
    let check = |r: &Run, step: &str| {
        assert_eq!(r.code, 0, "{step}: {}", r.stderr);
        assert!(
            r.stderr.lines().count() > 5,
            "{step}: trace logging is on: {}",
            r.stderr
        );
        let mut secrets = d.values();
        if kms.kind == Kind::Vault {
            secrets.push(&kms.token);
        } else {
            secrets.push(AWS_SECRET_KEY);
        }
        assert_not_in(&r.stderr, &secrets, &format!("the {step} log"));
    };
    let sealed = om.run(&d.args("seal"), &d.doc.to_string());
    check(&sealed, "seal");
    let revealed = om.run(&d.args("reveal"), &sealed.stdout);
    check(&revealed, "reveal");
    assert_eq!(revealed.json(), d.doc);
    check(&om.run(&d.args("forget"), &sealed.stdout), "forget");
    // Failures too: a reveal of forgotten secrets.
    let failed = om.run(&d.args("reveal"), &sealed.stdout);
    assert_not_in(failed.err(), &d.values(), "the failed reveal's log");
}

/// A parameter the provider does not take is an error naming it; another
/// provider's environment variables are ignored.
pub fn unknown_parameters(kms: &Kms) {
    let om = kms.om(true);
    let cfg = om.home.path().join("om.yaml");
    std::fs::write(
        &cfg,
        "parameters: {writesPerSecond: 5, bogusKey: 1, adress: x}\n",
    )
    .unwrap();
    let d = Doc::mysql("params");
    let run = om.run(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "seal",
            "--service-type",
            "database",
            "--name",
            &d.name,
        ],
        &d.doc.to_string(),
    );
    let err = run.err();
    let refused = err.split("; it takes").next().unwrap();
    assert!(
        refused.contains("bogusKey")
            && refused.contains("adress")
            && !refused.contains("writesPerSecond"),
        "{err}"
    );
    // Another provider's variables set in the environment are not an error.
    let other = if kms.kind == Kind::Vault {
        ("OM_SM_REGION", "eu-west-1")
    } else {
        ("VAULT_ADDR", "http://127.0.0.1:1")
    };
    let om = kms.om(true).with(other.0, other.1);
    let stored = om.json(&d.args("seal"), &d.doc);
    om.json(&d.args("forget"), &stored);
}

// ---------------------------------------------------------------------------
// the store itself: canonical, validate, list, apply (as om-secrets opens
// it: wrapped in `Resilient`, so its forwarding is tested too)

/// What a store must say about the references and ids of one test.
pub struct Contract {
    /// Other spellings of the victim's id: the server reads each as the
    /// victim's secret, and `canonical` must give the victim's id.
    pub aliases: Vec<String>,
    /// Spellings `canonical` must refuse, naming them.
    pub refused: Vec<String>,
    /// Ids `validate` accepts and the server stores.
    pub valid: Vec<String>,
    /// Ids `validate` refuses, and whether the server refuses them too when
    /// written directly (where it enforces the rule at all).
    pub invalid: Vec<(String, bool)>,
}

impl Kms {
    /// Create `id` directly, bypassing om-secrets: whether the server took it.
    pub fn try_create_raw(&self, id: &str, value: &str) -> bool {
        match self.kind {
            Kind::Vault => {
                let body = if self.kv == 2 {
                    json!({"data": {"value": value}})
                } else {
                    json!({"value": value})
                };
                let (status, _) = self.vault("POST", &self.vault_data_path(id), Some(&body));
                (200..300).contains(&status)
            }
            Kind::Aws | Kind::Ssm => {
                let op = if self.kind == Kind::Aws {
                    "create_secret"
                } else {
                    "put_parameter"
                };
                let r = self.aws_one(json!({"op": op, "id": id, "value": value}));
                r.get("ok").is_some()
            }
        }
    }

    /// A boto3 call of the helper, answering `{"ok": …}` or `{"error": code}`.
    pub fn boto3(&self, op: Value) -> Value {
        self.aws_one(op)
    }
}

/// A victim's secret written directly (its value), to check aliases on.
pub fn write_victim(kms: &Kms, id: &str) -> String {
    let value = format!("victim-{}", unique("v"));
    kms.put_raw(id, &value);
    value
}

/// Check `c` against the store, the victim's `value` written under `victim`.
pub fn check_contract(kms: &Kms, victim: &str, value: &str, c: &Contract) {
    use om_secrets::kms::KmsErrorKind;
    let settings = kms.settings(true);
    block_on(async {
        let store = om_secrets::kms::open(&settings).await.unwrap().unwrap();
        assert_eq!(store.canonical(victim).await.unwrap(), victim);
        for a in &c.aliases {
            assert_eq!(
                store.get(a).await.unwrap().as_deref().map(String::as_str),
                Some(value),
                "the server reads `{a}` as the victim's secret"
            );
            assert_eq!(store.canonical(a).await.unwrap(), victim, "{a}");
        }
        for r in &c.refused {
            let e = store
                .canonical(r)
                .await
                .expect_err(&format!("`{r}` is refused"));
            assert_eq!(
                (e.id.as_deref(), e.kind),
                (Some(r.as_str()), KmsErrorKind::Other),
                "{r}: {e}"
            );
            assert!(!e.to_string().contains(value));
        }
        for id in &c.valid {
            store.validate(id).unwrap_or_else(|e| panic!("{id}: {e}"));
            store.put(id, "accepted").await.unwrap();
        }
        for (id, _) in &c.invalid {
            let e = store.validate(id).expect_err(&format!("`{id}` is invalid"));
            assert_eq!(e.id.as_deref(), Some(id.as_str()), "{e}");
        }
    });
    for (id, got) in c.valid.iter().zip(kms.read(&c.valid)) {
        assert_eq!(got.as_deref(), Some("accepted"), "{id} is stored");
    }
    for (id, server_refuses) in &c.invalid {
        if *server_refuses {
            assert!(
                !kms.try_create_raw(id, "x"),
                "the server refuses `{id}` too"
            );
        }
    }
}

/// `apply` writes a batch, `list` finds exactly the ids below an entity's
/// root (not a sibling `svc-2`'s), canonical and sorted; `many` more ids
/// make the store's listing take more than one page.
pub fn check_list_and_apply(kms: &Kms, many: usize) {
    use om_secrets::kms::{Change, SecretValue};
    let root = kms.id("openmetadata/database/svc/");
    let mut ids: Vec<String> = ["authtype/password", "sslconfig/cacertificate"]
        .iter()
        .map(|r| format!("{root}{r}"))
        .chain((0..many).map(|i| format!("{root}connectionoptions/k{i:03}")))
        .collect();
    ids.sort();
    let sibling = kms.id("openmetadata/database/svc-2/authtype/password");
    let put = |id: &str, v: &str| Change::Put(id.to_string(), SecretValue::new(v.to_string()));
    let mut settings = kms.settings(true);
    // Many ids: not at OpenMetadata's 10 writes a second.
    settings
        .parameters
        .insert("writesPerSecond".into(), "0".into());
    block_on(async {
        let store = om_secrets::kms::open(&settings).await.unwrap().unwrap();
        assert_eq!(store.list(&root).await.unwrap(), Vec::<String>::new());
        let mut changes: Vec<Change> = ids.iter().map(|id| put(id, &format!("v:{id}"))).collect();
        changes.push(put(&sibling, "sibling"));
        store.apply(&changes).await.unwrap();
        assert_eq!(store.list(&root).await.unwrap(), ids);
        store
            .apply(&[
                put(&ids[0], "changed"),
                Change::Delete(ids[1].clone()),
                Change::Delete(format!("{root}nothing/here")),
            ])
            .await
            .unwrap();
        let mut left = ids.clone();
        left.remove(1);
        assert_eq!(store.list(&root).await.unwrap(), left);
        assert_eq!(
            store
                .get(&ids[0])
                .await
                .unwrap()
                .as_deref()
                .map(String::as_str),
            Some("changed")
        );
        assert!(
            store
                .list(&kms.id("openmetadata/database/none/"))
                .await
                .unwrap()
                .is_empty()
        );
        let e = store
            .list(&kms.id("openmetadata/database/svc"))
            .await
            .expect_err("a prefix ends in /");
        assert_eq!(
            e.id.as_deref(),
            Some(kms.id("openmetadata/database/svc").as_str())
        );
    });
    let read = kms.read(&[ids[0].clone(), ids[1].clone(), ids[2].clone(), sibling]);
    assert_eq!(read[0].as_deref(), Some("changed"));
    assert_eq!(read[1], None);
    assert_eq!(read[2], Some(format!("v:{}", ids[2])));
    assert_eq!(read[3].as_deref(), Some("sibling"));
}
