//! The `server:` block of the configuration file (beside the operations'
//! keys, in the same YAML file), checked when the server starts. Unknown keys
//! are errors.
//!
//! ```yaml
//! server:
//!   listen: 127.0.0.1:8590            # OM_SECRETS_LISTEN, or `serve --listen`
//!   tls: { certFile: cert.pem, keyFile: key.pem }   # PEM; absent: plain HTTP
//!   apiKeys:                          # name -> sha256 (hex) of the key
//!     openmetadata: 5e8848…
//!   jwt:                              # OpenMetadata's JWTs (RS256 only)
//!     jwksFile: jwks.json             # or jwksUrl: http://openmetadata:8585/api/v1/system/config/jwks
//!     issuer: open-metadata.org
//!     clockSkewSeconds: 30            # default 30, at most 300
//!   roles:                            # deny by default
//!     - role: privileged              # viewer | editor | ingestion | privileged
//!       principals: ["apiKey:openmetadata"]
//!     - role: ingestion
//!       principals: ["anyBot", "subject:ingestion-bot", "claim:roles=Ingestion"]
//!       subjects: [services, pipelines]   # optional: services, bots, pipelines, workflows
//!       serviceTypes: [database]           # optional: services of these types only
//!       names: ["prod-*"]                  # optional: entity name globs (`*`, `?`)
//!   limits:
//!     maxBodyBytes: 4194304           # default: the sandbox's limits.maxInputBytes
//!     maxConcurrent: 64               # requests running at once; more wait (up to the timeout)
//!     ratePerSecond: 50               # per principal; 0: unlimited
//!     burst: 100
//!     requestTimeoutSeconds: 30       # then 503 (a write already started still completes)
//!   audit: { file: audit.jsonl }      # absent: JSON lines on stderr
//!   metricsAuth: false                # true: /metrics needs a bearer token too
//! ```
//!
//! With no `apiKeys` and no `jwt`, the server creates an admin API key in
//! `<home>/admin-api.key` (0600) and grants it `privileged` on everything.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ServeError;
use super::roles::{Grant, Principal, Role, SubjectClass};

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8590";

/// The `server:` block as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawServer {
    listen: Option<String>,
    tls: Option<RawTls>,
    api_keys: Option<BTreeMap<String, String>>,
    jwt: Option<RawJwt>,
    roles: Option<Vec<RawGrant>>,
    limits: Option<RawLimits>,
    audit: Option<RawAudit>,
    metrics_auth: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawJwt {
    jwks_file: Option<PathBuf>,
    jwks_url: Option<String>,
    issuer: String,
    clock_skew_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawGrant {
    role: String,
    principals: Vec<String>,
    subjects: Option<Vec<String>>,
    service_types: Option<Vec<String>>,
    names: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawLimits {
    max_body_bytes: Option<usize>,
    max_concurrent: Option<usize>,
    rate_per_second: Option<f64>,
    burst: Option<u32>,
    request_timeout_seconds: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAudit {
    file: Option<PathBuf>,
}

/// TLS certificate chain and key (PEM files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain.
    pub cert_file: PathBuf,
    /// The private key.
    pub key_file: PathBuf,
}

/// Where the JWKS comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// A JWKS document on disk.
    File(PathBuf),
    /// OpenMetadata's JWKS endpoint, fetched at start-up.
    Url(String),
}

/// JWT verification settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtConfig {
    /// The keys.
    pub jwks: JwksSource,
    /// The required `iss`.
    pub issuer: String,
    /// Allowed clock difference for `exp`/`nbf`.
    pub clock_skew: Duration,
}

/// Request limits.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitsConfig {
    /// Largest request body; `None`: the sandbox's input limit.
    pub max_body_bytes: Option<usize>,
    /// Requests running at once.
    pub max_concurrent: usize,
    /// Requests per second per principal (0: unlimited).
    pub rate_per_second: f64,
    /// Requests a principal may make at once above the rate.
    pub burst: u32,
    /// Time a request may take before it is answered 503.
    pub request_timeout: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: None,
            max_concurrent: 64,
            rate_per_second: 50.0,
            burst: 100,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The server's configuration, checked.
#[derive(Clone, Debug, Default)]
pub struct ServerConfig {
    /// Listen address (`None`: [`DEFAULT_LISTEN`]).
    pub listen: Option<SocketAddr>,
    /// TLS, if any.
    pub tls: Option<TlsConfig>,
    /// API key name -> sha256 of the key (32 bytes).
    pub api_keys: BTreeMap<String, [u8; 32]>,
    /// JWT verification, if any.
    pub jwt: Option<JwtConfig>,
    /// Role grants.
    pub grants: Vec<Grant>,
    /// Limits.
    pub limits: LimitsConfig,
    /// Audit file (`None`: the log).
    pub audit_file: Option<PathBuf>,
    /// Whether `/metrics` needs a bearer token.
    pub metrics_auth: bool,
}

fn bad(msg: impl Into<String>) -> ServeError {
    ServeError::Config(msg.into())
}

impl ServerConfig {
    /// The `server:` block of a configuration file (none: the defaults), plus
    /// `OM_SECRETS_LISTEN`. Errors name the file and the key.
    pub fn load(path: Option<&Path>) -> Result<Self, ServeError> {
        let mut config = match path {
            None => ServerConfig::default(),
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| bad(format!("{}: {e}", p.display())))?;
                let file: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
                    .map_err(|e| bad(format!("{}: {e}", p.display())))?;
                match file.get("server") {
                    None | Some(serde_yaml_ng::Value::Null) => ServerConfig::default(),
                    Some(v) => Self::from_yaml(v.clone())
                        .map_err(|e| bad(format!("{}: {e}", p.display())))?,
                }
            }
        };
        if let Ok(l) = std::env::var("OM_SECRETS_LISTEN")
            && !l.trim().is_empty()
        {
            config.listen = Some(parse_listen(&l, "OM_SECRETS_LISTEN")?);
        }
        Ok(config)
    }

    /// Parse and check a `server:` block.
    pub fn from_yaml(v: serde_yaml_ng::Value) -> Result<Self, ServeError> {
        let raw: RawServer =
            serde_yaml_ng::from_value(v).map_err(|e| bad(format!("server: {e}")))?;
        let listen = raw
            .listen
            .as_deref()
            .map(|l| parse_listen(l, "server.listen"))
            .transpose()?;
        let mut api_keys = BTreeMap::new();
        for (name, hash) in raw.api_keys.unwrap_or_default() {
            let bytes = hex::decode(hash.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "server.apiKeys.{name}: must be the sha256 of the key, 64 hex digits (`printf %s KEY | sha256sum`)"
                    ))
                })?;
            if name.is_empty() {
                return Err(bad("server.apiKeys: a key needs a name"));
            }
            api_keys.insert(name, bytes);
        }
        let jwt = raw
            .jwt
            .map(|j| {
                let jwks = match (j.jwks_file, j.jwks_url) {
                    (Some(f), None) => JwksSource::File(f),
                    (None, Some(u)) => JwksSource::Url(u),
                    _ => {
                        return Err(bad("server.jwt: give exactly one of jwksFile and jwksUrl"));
                    }
                };
                let skew = j.clock_skew_seconds.unwrap_or(30);
                if skew > 300 {
                    return Err(bad("server.jwt.clockSkewSeconds: at most 300"));
                }
                if j.issuer.trim().is_empty() {
                    return Err(bad("server.jwt.issuer: must not be empty"));
                }
                Ok(JwtConfig {
                    jwks,
                    issuer: j.issuer,
                    clock_skew: Duration::from_secs(skew),
                })
            })
            .transpose()?;
        let mut grants = Vec::new();
        for (i, g) in raw.roles.unwrap_or_default().into_iter().enumerate() {
            let at = format!("server.roles[{i}]");
            let role = Role::parse(&g.role).ok_or_else(|| {
                bad(format!(
                    "{at}.role: `{}` is no role; roles: viewer, editor, ingestion, privileged",
                    g.role
                ))
            })?;
            if g.principals.is_empty() {
                return Err(bad(format!("{at}.principals: name at least one")));
            }
            let principals = g
                .principals
                .iter()
                .map(|p| {
                    Principal::parse(p).ok_or_else(|| {
                        bad(format!(
                            "{at}.principals: `{p}` is none of apiKey:NAME, subject:SUB, anyBot, claim:NAME=VALUE"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let subjects = g
                .subjects
                .map(|s| {
                    s.iter()
                        .map(|x| {
                            SubjectClass::parse(x).ok_or_else(|| {
                                bad(format!(
                                    "{at}.subjects: `{x}` is none of services, bots, pipelines, workflows"
                                ))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?;
            grants.push(Grant {
                role,
                principals,
                subjects,
                service_types: g.service_types,
                names: g.names,
            });
        }
        let l = raw.limits.unwrap_or_default();
        let d = LimitsConfig::default();
        let timeout = l
            .request_timeout_seconds
            .unwrap_or(d.request_timeout.as_secs_f64());
        if !(timeout > 0.0 && timeout <= 3600.0) {
            return Err(bad(
                "server.limits.requestTimeoutSeconds: above 0, at most 3600",
            ));
        }
        let rate = l.rate_per_second.unwrap_or(d.rate_per_second);
        if !(rate >= 0.0 && rate.is_finite()) {
            return Err(bad("server.limits.ratePerSecond: 0 (unlimited) or more"));
        }
        let limits = LimitsConfig {
            max_body_bytes: l.max_body_bytes,
            max_concurrent: l.max_concurrent.unwrap_or(d.max_concurrent),
            rate_per_second: rate,
            burst: l.burst.unwrap_or(d.burst).max(1),
            request_timeout: Duration::from_secs_f64(timeout),
        };
        if limits.max_concurrent == 0 || limits.max_body_bytes == Some(0) {
            return Err(bad(
                "server.limits: maxConcurrent and maxBodyBytes must be above 0",
            ));
        }
        Ok(ServerConfig {
            listen,
            tls: raw.tls.map(|t| TlsConfig {
                cert_file: t.cert_file,
                key_file: t.key_file,
            }),
            api_keys,
            jwt,
            grants,
            limits,
            audit_file: raw.audit.and_then(|a| a.file),
            metrics_auth: raw.metrics_auth.unwrap_or(false),
        })
    }

    /// The address to listen on.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("static address"))
    }

    /// Whether no credential is configured (the admin key is then made).
    pub fn unconfigured(&self) -> bool {
        self.api_keys.is_empty() && self.jwt.is_none()
    }
}

fn parse_listen(s: &str, what: &str) -> Result<SocketAddr, ServeError> {
    s.trim().parse().map_err(|_| {
        bad(format!(
            "{what}: `{}` is not an address and port (e.g. 127.0.0.1:8590)",
            s.trim()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> Result<ServerConfig, ServeError> {
        ServerConfig::from_yaml(serde_yaml_ng::from_str(y).unwrap())
    }

    #[test]
    fn defaults_and_errors_name_the_key() {
        let c = parse("{}").unwrap();
        assert!(c.unconfigured());
        assert_eq!(c.listen_addr().to_string(), DEFAULT_LISTEN);
        assert_eq!(c.limits, LimitsConfig::default());
        for (y, want) in [
            ("listn: x", "listn"),
            ("listen: nope", "server.listen"),
            ("apiKeys: {a: xyz}", "server.apiKeys.a"),
            (
                "roles: [{role: boss, principals: [anyBot]}]",
                "roles[0].role",
            ),
            (
                "roles: [{role: viewer, principals: [who]}]",
                "roles[0].principals",
            ),
            ("jwt: {issuer: x}", "jwksFile"),
            (
                "limits: {requestTimeoutSeconds: 0}",
                "requestTimeoutSeconds",
            ),
        ] {
            let e = parse(y).unwrap_err().to_string();
            assert!(e.contains(want), "{y}: {e}");
        }
    }
}
