//! What the tests that drive `om-secrets serve` share (`serve`,
//! `serve_attacks`, `migrate_on_start`): raw HTTP/1.1 requests and their
//! parsed answers, and the server started as a child process on a free port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::kms_common::unique;
use crate::util::Om;

// ---------------------------------------------------------------------------
// HTTP

/// One response.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Resp {
    /// The first header of this name (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response's head and body (a chunked body joined); `None` without a
/// whole head, a status or well-formed chunk sizes.
pub(crate) fn try_parse_response(raw: &[u8]) -> Option<Resp> {
    let i = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..i]).to_string();
    let mut body = raw[i + 4..].to_vec();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut b = &body[..];
        while let Some(j) = b.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(std::str::from_utf8(&b[..j]).ok()?.trim(), 16).ok()?;
            if size == 0 {
                break;
            }
            out.extend_from_slice(&b[j + 2..j + 2 + size]);
            b = &b[j + 2 + size + 2..];
        }
        body = out;
    }
    Some(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// [`try_parse_response`], panicking on what is no HTTP response.
pub(crate) fn parse_response(raw: &[u8]) -> Resp {
    try_parse_response(raw)
        .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(raw)))
}

/// The head of a `Connection: close` HTTP/1.1 request with a body of `len`
/// bytes.
pub(crate) fn request_head(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    len: usize,
) -> String {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {len}\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req
}

/// Sends one request on its own connection and reads until the server
/// closes (or `wait` passes without data): the bytes read, and whether the
/// read ended without an error.
fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    wait: Duration,
) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(wait)).unwrap();
    let req = request_head(addr, method, path, headers, body.len());
    s.write_all(req.as_bytes()).unwrap();
    // The server may answer (413) before reading all of a large body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let ok = s.read_to_end(&mut raw).is_ok();
    (raw, ok)
}

/// One request on its own connection; `None` if the server did not answer
/// within `wait` (or not in HTTP).
pub(crate) fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    wait: Duration,
) -> Option<Resp> {
    let (raw, ok) = exchange(addr, method, path, headers, body, wait);
    if !ok || raw.is_empty() {
        return None;
    }
    try_parse_response(&raw)
}

/// One request on its own connection, its answer read for up to `wait`.
pub(crate) fn http_within(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    wait: Duration,
) -> Resp {
    let (raw, _) = exchange(addr, method, path, headers, body, wait);
    parse_response(&raw)
}

/// One request on its own connection (answer read for up to 120 s).
pub(crate) fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    http_within(addr, method, path, headers, body, Duration::from_secs(120))
}

/// Lower-case hex SHA-256 of a key: how `server.apiKeys` holds it (the
/// library's own helper; its unit test pins it to SHA-256).
pub(crate) use om_secrets::server::auth::api_key::hash_hex as sha256_hex;

// ---------------------------------------------------------------------------
// the server as a child process

/// A started `om-secrets serve` and the files its output goes to.
pub(crate) struct Spawned {
    pub(crate) child: Child,
    pub(crate) out: PathBuf,
    pub(crate) err: PathBuf,
}

/// `om-secrets serve --listen 127.0.0.1:0` in `om`'s home, with `config`
/// (a whole configuration file's text) if any; stdout and stderr go to
/// files named after `tag`, logging at `info`.
pub(crate) fn spawn_serve(om: &Om, config: Option<&str>, tag: &str) -> Spawned {
    let dir = om.home.path().to_path_buf();
    let mut args = vec!["serve".to_string(), "--listen".into(), "127.0.0.1:0".into()];
    if let Some(c) = config {
        let path = dir.join("config.yaml");
        std::fs::write(&path, c).unwrap();
        args.push("--config".into());
        args.push(path.to_string_lossy().into_owned());
    }
    let n = unique(tag);
    let out = dir.join(format!("{n}.stdout"));
    let err = dir.join(format!("{n}.stderr"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = om
        .command(&args)
        .env("OM_SECRETS_LOG", "info")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    Spawned { child, out, err }
}

/// Waits until the server's stderr (`err`) says `listening on
/// <scheme>://<addr>`: the address; an error with the output if it exits
/// first or does not listen within `limit`.
pub(crate) fn wait_listening(
    child: &mut Child,
    err: &Path,
    limit: Duration,
) -> Result<String, String> {
    let listening = || {
        let text = std::fs::read_to_string(err).unwrap_or_default();
        let addr = text
            .lines()
            .find_map(|l| l.split("listening on ").nth(1))
            .and_then(|u| u.split("://").nth(1))
            .map(|a| a.trim().to_string());
        (addr, text)
    };
    let t0 = Instant::now();
    loop {
        if let (Some(a), _) = listening() {
            return Ok(a);
        }
        if let Ok(Some(status)) = child.try_wait() {
            // The line may have been written just before the exit.
            return match listening() {
                (Some(a), _) => Ok(a),
                (None, text) => Err(format!("serve exited ({status}): {text}")),
            };
        }
        if t0.elapsed() > limit {
            return Err(format!("serve did not listen: {}", listening().1));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The exit status of `child` within `limit`; `None` if it still runs.
pub(crate) fn exit_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if t0.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
