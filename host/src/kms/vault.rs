//! `managed-vault` / `vault`: HashiCorp Vault or OpenBao, KV secrets engine.
//!
//! ## Where a secret lives
//!
//! The id without its leading `/` is the path under the KV mount, and the
//! secret is a one-key map `{"value": "<secret>"}`:
//!
//! | id | KV v2 (default) | KV v1 (`kvVersion: 1`) |
//! |---|---|---|
//! | `/openmetadata/database/x/authtype/password` | `GET <mount>/data/openmetadata/database/x/authtype/password` → `data.data.value` | `GET <mount>/openmetadata/database/x/authtype/password` → `data.value` |
//!
//! (`vault kv get -mount=secret -field=value openmetadata/database/x/authtype/password`.)
//! The mount is `secret` unless `mount` says otherwise. An id whose path has
//! an empty, `.` or `..` segment or characters outside printable ASCII (other
//! than `/`, `?`, `#`, `%`) is refused, so a `secret:` reference cannot reach
//! outside the mount. A reference's canonical id (what ownership checks run
//! on) is its path with one leading `/`: `secret:a/b` and `secret:/a/b` name
//! the same secret, every other spelling is refused.
//!
//! ## Semantics
//!
//! - `put` writes a new version (KV v2) or replaces the value (KV v1); with
//!   KV v2 the configured tags go into the secret's `custom_metadata`
//!   (KV v1 has no metadata: tags are not stored).
//! - `delete` is permanent: KV v2 deletes the metadata and every version, KV
//!   v1 the key. A soft-deleted or destroyed latest version reads as absent.
//! - An empty value or `"null"` deletes; a stored `"null"` reads as absent.
//!
//! ## Authentication
//!
//! A `token`, or AppRole (`roleId` + `secretId`, on the `approleMount` auth
//! mount, default `approle`): om-secrets logs in on first use, logs in again
//! shortly before the token's lease runs out, and once more if Vault answers
//! 403 (a token revoked or expired early). `namespace` sets
//! `X-Vault-Namespace`. TLS settings come from Vault's usual variables
//! (`VAULT_CACERT`, `VAULT_CAPATH`, `VAULT_SKIP_VERIFY`,
//! `VAULT_CLIENT_CERT`/`VAULT_CLIENT_KEY`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use zeroize::Zeroizing;

use super::{KmsError, KmsErrorKind, SecretStore, SecretValue, absent_if_null};
use crate::config::Settings;
use crate::{Error, Result};

const NAME: &str = "vault";

/// The key of the one-key map holding a secret.
pub(crate) const VALUE_KEY: &str = "value";

/// The Vault path (under the mount) of a secret id; `None` if the id cannot
/// be a path.
pub(crate) fn path_of(id: &str) -> Option<&str> {
    let path = id.strip_prefix('/').unwrap_or(id);
    let ok = !path.is_empty()
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && path
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '%' | '\\'));
    ok.then_some(path)
}

enum Auth {
    Token,
    AppRole {
        mount: String,
        role_id: String,
        secret_id: Zeroizing<String>,
    },
}

#[derive(Default)]
struct Session {
    client: Option<Arc<VaultClient>>,
    /// When to log in again (before the lease ends).
    renew_at: Option<Instant>,
}

/// A Vault / OpenBao KV store.
pub struct VaultStore {
    address: String,
    namespace: Option<String>,
    timeout: Duration,
    mount: String,
    kv_version: u8,
    auth: Auth,
    /// The token client (token auth) or the tokenless client AppRole logs in with.
    base: Arc<VaultClient>,
    session: tokio::sync::Mutex<Session>,
    tags: HashMap<String, String>,
    logins: AtomicU64,
}

fn config_err(settings: &Settings, msg: impl std::fmt::Display) -> Error {
    Error::Config(format!(
        "secretsManager `{}`: {msg}",
        settings.secrets_manager
    ))
}

fn status_kind(code: u16) -> KmsErrorKind {
    match code {
        401 | 403 => KmsErrorKind::Auth,
        412 | 429 | 500..=599 => KmsErrorKind::Transient,
        _ => KmsErrorKind::Other,
    }
}

/// The HTTP status of a failed call, if the server answered.
fn status(e: &ClientError) -> Option<u16> {
    match e {
        ClientError::APIError { code, .. } => Some(*code),
        ClientError::RestClientError {
            source: rustify::errors::ClientError::ServerResponseError { code, .. },
        } => Some(*code),
        _ => None,
    }
}

fn build_client(
    address: &str,
    namespace: Option<&str>,
    timeout: Duration,
    token: &str,
) -> Result<VaultClient, KmsError> {
    let mut b = VaultClientSettingsBuilder::default();
    b.address(address).token(token).timeout(Some(timeout));
    if let Some(ns) = namespace {
        b.set_namespace(ns.to_string());
    }
    let settings = b.build().map_err(|e| {
        KmsError::new(
            NAME,
            None,
            KmsErrorKind::Other,
            format!("client settings: {e}"),
        )
    })?;
    VaultClient::new(settings).map_err(|e| {
        KmsError::new(
            NAME,
            None,
            KmsErrorKind::Other,
            format!("cannot build the HTTP client: {e}"),
        )
    })
}

impl VaultStore {
    /// A client for the settings' address, mount and credentials. Does not
    /// contact Vault (AppRole logs in on first use).
    pub fn connect(settings: &Settings, timeout: Duration) -> Result<Self> {
        let p = &settings.parameters;
        let get = |k: &str| p.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let address = settings.parameter("address")?.trim().to_string();
        // The address is shown in errors (`cannot reach Vault at …`): it must
        // hold no credentials, and a malformed one is not repeated (it may).
        let parsed = url::Url::parse(&address)
            .map_err(|e| config_err(settings, format!("parameters.address is not a URL: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(config_err(
                settings,
                "parameters.address holds credentials (`user:password@`): give them as parameters.token, or roleId and secretId",
            ));
        }
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(config_err(
                settings,
                format!(
                    "parameters.address `{}` is not an http(s) URL",
                    crate::redact::url(&address).unwrap_or_else(|| "…".to_string())
                ),
            ));
        }
        let mount = get("mount")
            .unwrap_or("secret")
            .trim_matches('/')
            .to_string();
        if mount.is_empty() || path_of(&mount).is_none() {
            return Err(config_err(
                settings,
                format!("parameters.mount `{mount}` is not a valid mount path"),
            ));
        }
        let kv_version = match get("kvVersion").unwrap_or("2") {
            "1" => 1,
            "2" => 2,
            v => {
                return Err(config_err(
                    settings,
                    format!("parameters.kvVersion must be 1 or 2, not `{v}`"),
                ));
            }
        };
        let namespace = get("namespace").map(|n| n.trim_matches('/').to_string());
        let auth = match (get("token"), get("roleId"), get("secretId")) {
            (_, Some(role), Some(secret)) => Auth::AppRole {
                mount: get("approleMount")
                    .unwrap_or("approle")
                    .trim_matches('/')
                    .to_string(),
                role_id: role.to_string(),
                secret_id: Zeroizing::new(secret.to_string()),
            },
            (_, Some(_), None) | (_, None, Some(_)) => {
                return Err(config_err(
                    settings,
                    "AppRole needs both parameters.roleId (OM_SM_VAULT_ROLE_ID) and parameters.secretId (OM_SM_VAULT_SECRET_ID)",
                ));
            }
            (Some(_), None, None) => Auth::Token,
            (None, None, None) => {
                return Err(config_err(
                    settings,
                    "needs parameters.token (VAULT_TOKEN), or parameters.roleId and parameters.secretId (OM_SM_VAULT_ROLE_ID, OM_SM_VAULT_SECRET_ID) for AppRole",
                ));
            }
        };
        let token = match auth {
            Auth::Token => get("token").unwrap_or_default(),
            Auth::AppRole { .. } => "",
        };
        // Both travel as HTTP headers; a character a header cannot carry made
        // the client panic on every call. Refused here, by name only.
        for (key, value) in [
            ("token", token),
            ("namespace", namespace.as_deref().unwrap_or("")),
        ] {
            if value.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
                return Err(config_err(
                    settings,
                    format!(
                        "parameters.{key} holds a character an HTTP header cannot carry (only printable ASCII without spaces)"
                    ),
                ));
            }
        }
        let base = build_client(&address, namespace.as_deref(), timeout, token)
            .map_err(|e| config_err(settings, e.message))?;
        Ok(VaultStore {
            address,
            namespace,
            timeout,
            mount,
            kv_version,
            auth,
            base: Arc::new(base),
            session: tokio::sync::Mutex::new(Session::default()),
            tags: settings.tags.iter().cloned().collect(),
            logins: AtomicU64::new(0),
        })
    }

    /// The KV mount.
    pub fn mount(&self) -> &str {
        &self.mount
    }

    /// The KV version (1 or 2).
    pub fn kv_version(&self) -> u8 {
        self.kv_version
    }

    /// How many AppRole logins were made.
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    fn error(&self, id: Option<&str>, what: &str, e: &ClientError) -> KmsError {
        let (kind, message) = match e {
            ClientError::APIError { code, errors } => {
                let kind = status_kind(*code);
                let hint = if kind == KmsErrorKind::Auth {
                    match self.auth {
                        Auth::Token => " (check the Vault token and its policy)",
                        Auth::AppRole { .. } => {
                            " (check the AppRole credentials and the role's policy)"
                        }
                    }
                } else {
                    ""
                };
                let detail = if errors.is_empty() {
                    String::new()
                } else {
                    format!(": {}", errors.join("; "))
                };
                (kind, format!("{what}: HTTP {code}{detail}{hint}"))
            }
            ClientError::RestClientError { source } => {
                use rustify::errors::ClientError as R;
                match source {
                    R::ServerResponseError { code, .. } => {
                        (status_kind(*code), format!("{what}: HTTP {code}"))
                    }
                    R::RequestError { source, .. } => (
                        KmsErrorKind::Transient,
                        format!("{what}: cannot reach Vault at {}: {source:#}", self.address),
                    ),
                    R::ResponseError { source } => (
                        KmsErrorKind::Transient,
                        format!(
                            "{what}: no usable answer from Vault at {}: {source:#}",
                            self.address
                        ),
                    ),
                    other => (KmsErrorKind::Other, format!("{what}: {other}")),
                }
            }
            other => (KmsErrorKind::Other, format!("{what}: {other}")),
        };
        KmsError::new(NAME, id, kind, super::aws::scrub(&message, None))
    }

    /// The client to call with: the token client, or a logged-in AppRole one.
    async fn client(&self) -> Result<Arc<VaultClient>, KmsError> {
        let Auth::AppRole {
            mount,
            role_id,
            secret_id,
        } = &self.auth
        else {
            return Ok(self.base.clone());
        };
        let mut s = self.session.lock().await;
        if let Some(c) = &s.client
            && s.renew_at.is_none_or(|t| Instant::now() < t)
        {
            return Ok(c.clone());
        }
        let auth = vaultrs::auth::approle::login(&*self.base, mount, role_id, secret_id)
            .await
            .map_err(|e| {
                // A bad role or secret id is a 400 or 403 to Vault; to us,
                // refused credentials.
                match (status(&e), &e) {
                    (Some(code @ (400 | 401 | 403)), ClientError::APIError { errors, .. }) => KmsError::new(
                        NAME,
                        None,
                        KmsErrorKind::Auth,
                        format!(
                            "AppRole login on `{mount}`: HTTP {code}: {} (check the AppRole role id and secret id)",
                            errors.join("; ")
                        ),
                    ),
                    (Some(code @ (400 | 401 | 403)), _) => KmsError::new(
                        NAME,
                        None,
                        KmsErrorKind::Auth,
                        format!("AppRole login on `{mount}`: HTTP {code} (check the AppRole role id and secret id)"),
                    ),
                    _ => self.error(None, "AppRole login", &e),
                }
            })?;
        self.logins.fetch_add(1, Ordering::Relaxed);
        let token = Zeroizing::new(auth.client_token);
        let client = Arc::new(build_client(
            &self.address,
            self.namespace.as_deref(),
            self.timeout,
            &token,
        )?);
        s.renew_at = (auth.lease_duration > 0)
            .then(|| Instant::now() + Duration::from_secs(auth.lease_duration).mul_f64(0.8));
        tracing::debug!(
            lease_seconds = auth.lease_duration,
            "logged in to Vault with AppRole"
        );
        s.client = Some(client.clone());
        Ok(client)
    }

    /// Forget the AppRole session, so that the next call logs in again.
    async fn expire_session(&self) {
        *self.session.lock().await = Session::default();
    }

    fn path<'a>(&self, id: &'a str) -> Result<&'a str, KmsError> {
        path_of(id).ok_or_else(|| {
            KmsError::new(
                NAME,
                Some(id),
                KmsErrorKind::Other,
                "is not a valid Vault path (empty, `.` or `..` segment, or a reserved character)",
            )
        })
    }
}

/// Run `$call` (an async expression using the client `$c`) for secret `$id`, logging in again
/// once if an AppRole token was refused.
macro_rules! with_client {
    ($self:ident, $id:ident, $c:ident => $call:expr) => {{
        let mut relogged = false;
        loop {
            // A failed login is about this secret too.
            let $c = $self.client().await.map_err(|mut e| {
                e.id.get_or_insert_with(|| $id.to_string());
                e
            })?;
            match $call.await {
                Err(e)
                    if !relogged
                        && matches!($self.auth, Auth::AppRole { .. })
                        && status(&e) == Some(403) =>
                {
                    tracing::debug!("Vault refused the AppRole token; logging in again");
                    relogged = true;
                    $self.expire_session().await;
                }
                r => break r,
            }
        }
    }};
}

/// A 404 that means "no secret here": Vault answers `{"errors": []}` for a
/// missing path, and a KV v2 read of a deleted or destroyed version answers
/// 404 with the version's metadata. A 404 with an error message (a mount that
/// does not exist: "no handler for route") is an error, not an absent secret.
fn not_found(e: &ClientError) -> bool {
    match e {
        ClientError::APIError { code: 404, errors } => errors.is_empty(),
        other => status(other) == Some(404),
    }
}

/// The secret in a KV map.
fn value_of(id: &str, data: &Value) -> Result<Option<SecretValue>, KmsError> {
    match data.get(VALUE_KEY) {
        Some(Value::String(s)) => Ok(absent_if_null(Some(SecretValue::new(s.clone())))),
        Some(Value::Null) => Ok(None),
        Some(_) => Err(KmsError::new(
            NAME,
            Some(id),
            KmsErrorKind::Other,
            "`value` is not a string",
        )),
        None => Err(KmsError::new(
            NAME,
            Some(id),
            KmsErrorKind::Other,
            "has no `value` key (om-secrets and OpenMetadata keep a secret as {\"value\": \"...\"})",
        )),
    }
}

#[async_trait]
impl SecretStore for VaultStore {
    fn name(&self) -> &str {
        NAME
    }

    async fn get(&self, id: &str) -> Result<Option<SecretValue>, KmsError> {
        let path = self.path(id)?;
        let mount = self.mount.as_str();
        let r = if self.kv_version == 2 {
            with_client!(self, id, c => vaultrs::kv2::read::<Value>(&*c, mount, path))
        } else {
            with_client!(self, id, c => vaultrs::kv1::get::<Value>(&*c, mount, path))
        };
        match r {
            Ok(data) => value_of(id, &data),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(self.error(Some(id), "read", &e)),
        }
    }

    async fn put(&self, id: &str, value: &str) -> Result<(), KmsError> {
        if value.is_empty() || value == "null" {
            self.delete(id).await?;
            return Ok(());
        }
        let path = self.path(id)?;
        let mount = self.mount.as_str();
        if self.kv_version == 2 {
            let data = HashMap::from([(VALUE_KEY, value)]);
            with_client!(self, id, c => vaultrs::kv2::set(&*c, mount, path, &data))
                .map_err(|e| self.error(Some(id), "write", &e))?;
            if !self.tags.is_empty() {
                with_client!(self, id, c => {
                    let mut meta = vaultrs::api::kv2::requests::SetSecretMetadataRequest::builder();
                    meta.custom_metadata(self.tags.clone());
                    async move { vaultrs::kv2::set_metadata(&*c, mount, path, Some(&mut meta)).await }
                })
                .map_err(|e| self.error(Some(id), "write custom_metadata", &e))?;
            }
        } else {
            let data = HashMap::from([(VALUE_KEY, value)]);
            with_client!(self, id, c => vaultrs::kv1::set(&*c, mount, path, &data))
                .map_err(|e| self.error(Some(id), "write", &e))?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<bool, KmsError> {
        let path = self.path(id)?;
        let mount = self.mount.as_str();
        let exists = if self.kv_version == 2 {
            with_client!(self, id, c => vaultrs::kv2::read_metadata(&*c, mount, path)).map(|_| ())
        } else {
            with_client!(self, id, c => vaultrs::kv1::get_raw(&*c, mount, path)).map(|_| ())
        };
        match exists {
            Ok(()) => {}
            Err(e) if not_found(&e) => return Ok(false),
            Err(e) => return Err(self.error(Some(id), "delete", &e)),
        }
        let r = if self.kv_version == 2 {
            with_client!(self, id, c => vaultrs::kv2::delete_metadata(&*c, mount, path))
        } else {
            with_client!(self, id, c => vaultrs::kv1::delete(&*c, mount, path))
        };
        r.map_err(|e| self.error(Some(id), "delete", &e))?;
        Ok(true)
    }

    /// The path under the mount, with one leading `/`: `a/b` and `/a/b` are
    /// the same secret to Vault. Every other spelling Vault (or the URL
    /// vaultrs builds) would map onto another path (`//`, `.`, `..`, a
    /// trailing `/`, `%`-escapes, `?`, `#`, `\`, spaces, non-ASCII) is
    /// refused, naming the reference.
    async fn canonical(&self, reference: &str) -> Result<String, KmsError> {
        Ok(format!("/{}", self.path(reference)?))
    }

    /// A path Vault can hold: see `path_of`; and, for a write, the id form
    /// (leading `/`).
    fn validate(&self, id: &str) -> Result<(), KmsError> {
        self.path(id)?;
        super::check_well_formed(NAME, id)
    }

    /// Recursive LIST (KV v2: of the metadata, so every secret with a
    /// version counts), depth first; a missing path lists nothing.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, KmsError> {
        super::check_prefix(NAME, prefix)?;
        let mount = self.mount.as_str();
        let mut out = Vec::new();
        let mut todo = vec![prefix.trim_start_matches('/').to_string()];
        while let Some(dir) = todo.pop() {
            let path = dir.trim_end_matches('/');
            let r = if self.kv_version == 2 {
                with_client!(self, prefix, c => vaultrs::kv2::list(&*c, mount, path))
            } else {
                with_client!(self, prefix, c => vaultrs::kv1::list(&*c, mount, path))
                    .map(|r| r.data.keys)
            };
            let keys = match r {
                Ok(keys) => keys,
                Err(e) if not_found(&e) => continue,
                Err(e) => return Err(self.error(Some(prefix), "list", &e)),
            };
            for k in keys {
                let full = format!("{dir}{k}");
                if path_of(full.trim_end_matches('/')).is_none() {
                    tracing::warn!(
                        prefix,
                        "skipping a Vault key that is not a valid id below the prefix"
                    );
                } else if k.ends_with('/') {
                    todo.push(full);
                } else {
                    out.push(format!("/{full}"));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_mapping() {
        assert_eq!(
            path_of("/openmetadata/database/x/authtype/password"),
            Some("openmetadata/database/x/authtype/password")
        );
        assert_eq!(path_of("team/db"), Some("team/db"));
        for bad in [
            "/",
            "",
            "/a//b",
            "/a/../sys",
            "/./a",
            "/a b",
            "/a?b",
            "/a%2e",
        ] {
            assert_eq!(path_of(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn references_canonicalise_or_are_refused() {
        let settings = Settings::resolve(crate::config::FileConfig::default(), |k| match k {
            "SECRET_MANAGER" => Some("managed-vault".into()),
            "VAULT_ADDR" => Some("http://127.0.0.1:1".into()),
            "VAULT_TOKEN" => Some("t".into()),
            _ => None,
        })
        .unwrap();
        let s = VaultStore::connect(&settings, Duration::from_secs(1)).unwrap();
        let victim = "/openmetadata/database/victim/authtype/password";
        for alias in [victim, "openmetadata/database/victim/authtype/password"] {
            assert_eq!(s.canonical(alias).await.unwrap(), victim, "{alias}");
        }
        for bad in [
            "//openmetadata/database/victim/authtype/password",
            "/openmetadata//database/victim/authtype/password",
            "/openmetadata/./database/victim/authtype/password",
            "/openmetadata/x/../database/victim/authtype/password",
            "/openmetadata/database/victim/authtype/password/",
            "/openmetadata/database/victim/authtype/p%61ssword",
            "/openmetadata/database/victim/authtype/password?version=1",
            "/openmetadata/database/victim/authtype/password#x",
            "/openmetadata/database/victim/authtype/password ",
            " /openmetadata/database/victim/authtype/password",
            "/openmetadata/database/victim/authtype/pass\\word",
            "/openmetadata/database/victim/authtype/pässword",
        ] {
            let e = s.canonical(bad).await.unwrap_err();
            assert_eq!(e.id.as_deref(), Some(bad));
        }
        assert!(s.validate(victim).is_ok());
        assert!(
            s.validate("/openmetadata/database/x/connectionoptions/")
                .is_err()
        );
        assert!(s.validate("openmetadata/database/x/a").is_err());
    }

    #[test]
    fn settings_are_checked() {
        let settings = |vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .chain([("SECRET_MANAGER".into(), "managed-vault".into())])
                .collect();
            Settings::resolve(crate::config::FileConfig::default(), |k| {
                vars.get(k).cloned()
            })
            .unwrap()
        };
        let t = Duration::from_secs(1);
        let e = VaultStore::connect(&settings(&[("VAULT_TOKEN", "t")]), t)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("parameters.address") && e.contains("VAULT_ADDR"),
            "{e}"
        );
        let e = VaultStore::connect(
            &settings(&[("VAULT_ADDR", "not a url"), ("VAULT_TOKEN", "t")]),
            t,
        )
        .err()
        .unwrap()
        .to_string();
        // A malformed address may hold credentials: named, not repeated.
        assert!(e.contains("parameters.address is not a URL"), "{e}");
        assert!(!e.contains("not a url"), "{e}");
        let e = VaultStore::connect(
            &settings(&[
                ("VAULT_ADDR", "http://admin:Hunter2-pw@127.0.0.1:1"),
                ("VAULT_TOKEN", "t"),
            ]),
            t,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("parameters.address holds credentials"), "{e}");
        assert!(!e.contains("Hunter2"), "{e}");
        // A token or namespace no header can carry (the client panicked on
        // every call) is refused by name, never shown.
        for (var, value) in [
            ("VAULT_TOKEN", "s.tok\nen-Hunter2"),
            ("VAULT_TOKEN", "s.tok en-Hunter2"),
            ("VAULT_TOKEN", "s.tökén-Hunter2"),
        ] {
            let e = VaultStore::connect(
                &settings(&[("VAULT_ADDR", "http://127.0.0.1:1"), (var, value)]),
                t,
            )
            .err()
            .unwrap()
            .to_string();
            assert!(e.contains("parameters.token holds a character"), "{e}");
            assert!(!e.contains("Hunter2"), "{e}");
        }
        let e = VaultStore::connect(&settings(&[("VAULT_ADDR", "http://127.0.0.1:1")]), t)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("VAULT_TOKEN"), "{e}");
        let e = VaultStore::connect(
            &settings(&[
                ("VAULT_ADDR", "http://127.0.0.1:1"),
                ("OM_SM_VAULT_ROLE_ID", "r"),
            ]),
            t,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("secretId"), "{e}");
        let e = VaultStore::connect(
            &settings(&[
                ("VAULT_ADDR", "http://127.0.0.1:1"),
                ("VAULT_TOKEN", "t"),
                ("OM_SM_VAULT_KV_VERSION", "3"),
            ]),
            t,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("kvVersion"), "{e}");
        let s = VaultStore::connect(
            &settings(&[
                ("VAULT_ADDR", "http://127.0.0.1:1"),
                ("VAULT_TOKEN", "t"),
                ("OM_SM_VAULT_MOUNT", "/kv/"),
            ]),
            t,
        )
        .unwrap();
        assert_eq!((s.mount(), s.kv_version()), ("kv", 2));
    }
}
