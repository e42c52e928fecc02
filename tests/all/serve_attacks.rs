//! `om-secrets serve` attacked by callers who hold little or nothing: no
//! credential, a principal without any role, a viewer, a grant limited to
//! some entities. Each test is an attack that once worked (it fails on the
//! server before its fix) and now holds. The server is the real binary on a
//! free port, driven over raw HTTP/1.1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::Digest;

use crate::kms_common::unique;
use crate::util::Om;

/// One response.
#[derive(Debug)]
struct Resp {
    status: u16,
    body: String,
}

/// One request on its own connection; `None` if the server did not answer
/// within `wait`.
fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    wait: Duration,
) -> Option<Resp> {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(wait)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    if s.read_to_end(&mut raw).is_err() || raw.is_empty() {
        return None;
    }
    let i = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..i]).to_string();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = raw[i + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
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
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn sha256_hex(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

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
        let dir = om.home.path().to_path_buf();
        let config = dir.join("config.yaml");
        std::fs::write(&config, format!("server:\n{server_yaml}")).unwrap();
        let err = dir.join(format!("{}.stderr", unique("attack")));
        let child = om
            .command(&[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--config",
                &config.to_string_lossy(),
            ])
            .env("OM_SECRETS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let mut s = Srv {
            om,
            child,
            addr: String::new(),
            err,
        };
        let t0 = Instant::now();
        loop {
            let text = std::fs::read_to_string(&s.err).unwrap_or_default();
            if let Some(a) = text
                .lines()
                .find_map(|l| l.split("listening on http://").nth(1))
            {
                s.addr = a.trim().to_string();
                break;
            }
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("serve exited ({st}): {text}");
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "no listen: {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
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
