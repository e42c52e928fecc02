//! Key management stores behind one trait.
//!
//! A store maps secret ids (`/openmetadata/database/x/authtype/password`) to
//! values. The operations only ever call [`SecretStore`]; each backend lives in
//! its own module:
//!
//! - [`memory`]: process memory (`in-memory`, tests);
//! - [`local`]: the embedded default (`managed-local`/`local`): a crash-safe
//!   file on local disk, encrypted at rest;
//! - [`vault`]: HashiCorp Vault / OpenBao KV v2 or v1 (`managed-vault`/`vault`);
//! - [`aws`]: AWS Secrets Manager (`managed-aws`/`aws`);
//! - [`ssm`]: AWS SSM Parameter Store (`managed-aws-ssm`/`aws-ssm`);
//! - [`resilient`]: what the remote ones are wrapped in: read cache, write
//!   rate limit, retries of transient failures, per-call timeout.
//!
//! Semantics every backend keeps: `put` creates or updates (idempotent);
//! `delete` is immediate (no recovery window, so a same-named entity can be
//! re-created) and reports whether something was there; a stored `"null"`
//! (written by old OpenMetadata versions) reads as absent; errors name the
//! secret id, never its value. Beyond that, every store says which id a
//! `secret:` reference really names ([`SecretStore::canonical`]: the
//! ownership check runs on that, and that is what is read), checks ids
//! against its own naming rules before any write ([`SecretStore::validate`]),
//! lists an entity's ids ([`SecretStore::list`]) and applies a batch
//! ([`SecretStore::apply`]; the local store in one durable write).

#[cfg(feature = "remote-kms")]
pub mod aws;
pub mod local;
pub mod memory;
pub mod resilient;
#[cfg(feature = "remote-kms")]
pub mod ssm;
#[cfg(feature = "remote-kms")]
pub mod vault;

use async_trait::async_trait;
use zeroize::Zeroizing;

/// A secret value held in memory: wiped when dropped.
pub type SecretValue = Zeroizing<String>;

/// What kind of failure a store reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsErrorKind {
    /// Credentials refused.
    Auth,
    /// Worth retrying: throttling, 5xx, connection reset, timeout.
    Transient,
    /// The store's own data is unreadable (wrong key, corrupt file).
    Corrupt,
    /// Anything else.
    Other,
}

/// A store failure. Names the id (when one is involved) and never the value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{store} store{}: {message}", id.as_ref().map(|i| format!(", secret `{i}`")).unwrap_or_default())]
pub struct KmsError {
    /// Which store.
    pub store: String,
    /// The secret id, if the failure is about one.
    pub id: Option<String>,
    /// The kind of failure.
    pub kind: KmsErrorKind,
    /// What happened.
    pub message: String,
}

impl KmsError {
    /// A new error.
    pub fn new(
        store: &str,
        id: Option<&str>,
        kind: KmsErrorKind,
        message: impl Into<String>,
    ) -> Self {
        KmsError {
            store: store.into(),
            id: id.map(Into::into),
            kind,
            message: message.into(),
        }
    }
}

/// A key management store.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// A short name for messages (`local`, `vault`, `aws`…).
    fn name(&self) -> &str;

    /// The value under `id`, or `None` if there is none.
    async fn get(&self, id: &str) -> Result<Option<SecretValue>, KmsError>;

    /// Create or update `id`.
    async fn put(&self, id: &str, value: &str) -> Result<(), KmsError>;

    /// Delete `id` at once. `Ok(true)` if it existed.
    async fn delete(&self, id: &str) -> Result<bool, KmsError>;

    /// The id a `secret:<reference>` really names in this store, in the form
    /// `put` writes ids (`/openmetadata/…`). Two references that this store
    /// resolves to the same secret (Vault's path with or without a leading
    /// `/`, an AWS ARN and the secret's name, an SSM ARN or `name:version`
    /// selector and the parameter's name…) have the same canonical form, so
    /// an ownership check on it cannot be side-stepped by spelling. A
    /// reference the store would not resolve as one exact id (`..`, empty
    /// segments, query strings…) is an error naming it.
    async fn canonical(&self, reference: &str) -> Result<String, KmsError> {
        self.validate(reference)?;
        Ok(reference.to_string())
    }

    /// Whether `put` would accept `id` (the store's own naming rules: length,
    /// characters, depth). Seal validates every id before its first write.
    fn validate(&self, _id: &str) -> Result<(), KmsError> {
        Ok(())
    }

    /// Reads answered from a read cache and reads that went to the store,
    /// `(hits, misses)`, if this store (or a wrapper of it) caches reads:
    /// for metrics.
    fn cache_counts(&self) -> Option<(u64, u64)> {
        None
    }

    /// Every id below `prefix` (which ends in `/`), canonical, sorted: what
    /// `forget` deletes beyond the ids a document names.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, KmsError> {
        Err(KmsError::new(
            self.name(),
            Some(prefix),
            KmsErrorKind::Other,
            "this store cannot list its ids",
        ))
    }

    /// Apply many changes as one operation: stores that can make it one
    /// durable write (the local file) do; others apply them in order and stop
    /// at the first failure, returning it with how many changes were applied.
    async fn apply(&self, changes: &[Change]) -> Result<(), (usize, KmsError)> {
        for (i, c) in changes.iter().enumerate() {
            let r = match c {
                Change::Put(id, value) => self.put(id, value).await,
                Change::Delete(id) => self.delete(id).await.map(|_| ()),
            };
            r.map_err(|e| (i, e))?;
        }
        Ok(())
    }
}

/// One change to a store, for [`SecretStore::apply`].
#[derive(Clone)]
pub enum Change {
    /// Create or update an id.
    Put(String, SecretValue),
    /// Delete an id (absent is fine).
    Delete(String),
}

impl Change {
    /// The id the change is about.
    pub fn id(&self) -> &str {
        match self {
            Change::Put(id, _) | Change::Delete(id) => id,
        }
    }
}

impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Put(id, _) => write!(f, "Put({id}, <secret>)"),
            Change::Delete(id) => write!(f, "Delete({id})"),
        }
    }
}

/// Whether `id` is a well-formed secret id: `/`-rooted, `/`-separated
/// segments that are neither empty nor `.`/`..`, printable ASCII without
/// spaces. What every store accepts at least; stores add their own rules.
pub fn well_formed(id: &str) -> bool {
    id.strip_prefix('/').is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
            && rest.bytes().all(|b| b.is_ascii_graphic())
    })
}

/// [`well_formed`] as a store's `validate`: an error naming `id`.
pub fn check_well_formed(store: &str, id: &str) -> Result<(), KmsError> {
    if well_formed(id) {
        Ok(())
    } else {
        Err(KmsError::new(
            store,
            Some(id),
            KmsErrorKind::Other,
            "is not a well-formed secret id (`/`-rooted segments, none empty, `.` or `..`; printable ASCII, no spaces)",
        ))
    }
}

/// A `list` prefix must be a well-formed id root ending in `/` (so that
/// listing `…/svc/` never reaches `…/svc-2/`).
pub(crate) fn check_prefix(store: &str, prefix: &str) -> Result<(), KmsError> {
    match prefix.strip_suffix('/') {
        Some(root) if well_formed(root) => Ok(()),
        _ => Err(KmsError::new(
            store,
            Some(prefix),
            KmsErrorKind::Other,
            "is not a prefix to list (a well-formed id root ending in `/`)",
        )),
    }
}

/// The ids of `ids` below `prefix`, sorted and without repeats.
pub(crate) fn under_prefix<'a>(
    ids: impl IntoIterator<Item = &'a String>,
    prefix: &str,
) -> Vec<String> {
    let mut v: Vec<String> = ids
        .into_iter()
        .filter(|id| id.starts_with(prefix) && id.len() > prefix.len())
        .cloned()
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Log filter directives an application should add to its own (the CLI
/// does): vaultrs and rustify log every non-2xx answer, expected 404s
/// included, as an ERROR event of their own, and report nothing the store's
/// [`KmsError`] does not. (The AWS SDK at `trace` logs request metadata and
/// response bodies, redacting sensitive outputs; it is left as configured.)
pub const LOG_DIRECTIVES: &[&str] = &["vaultrs=off", "rustify=off"];

/// Old OpenMetadata versions stored the string `"null"` for cleared secrets.
pub(crate) fn absent_if_null(v: Option<SecretValue>) -> Option<SecretValue> {
    v.filter(|s| s.as_str() != "null")
}

/// Open the store the settings name (`None` for `db`).
pub async fn open(
    settings: &crate::config::Settings,
) -> crate::Result<Option<std::sync::Arc<dyn SecretStore>>> {
    use crate::config::Provider;
    use std::sync::Arc;
    Ok(match settings.provider {
        Provider::Db => None,
        Provider::InMemory => Some(Arc::new(memory::MemoryStore::new())),
        Provider::Local => Some(Arc::new(local::LocalStore::open(&settings.home)?)),
        Provider::Aws | Provider::AwsSsm | Provider::Vault => Some(open_remote(settings).await?),
    })
}

/// A remote store (AWS Secrets Manager, SSM, Vault), wrapped in
/// [`resilient::Resilient`]. Parameters the provider does not take are an
/// error naming them. Does not contact the store.
pub async fn open_remote(
    settings: &crate::config::Settings,
) -> crate::Result<std::sync::Arc<dyn SecretStore>> {
    use crate::config::provider_parameters;
    #[cfg(feature = "remote-kms")]
    use {crate::config::Provider, std::sync::Arc};
    let known = provider_parameters(settings.provider);
    let unknown: Vec<&str> = settings
        .parameters
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(crate::Error::Config(format!(
            "secretsManager `{}` does not take parameters.{}; it takes: {}",
            settings.secrets_manager,
            unknown.join(", parameters."),
            known.join(", ")
        )));
    }
    let policy = resilient::Policy::from_settings(settings)?;
    #[cfg(not(feature = "remote-kms"))]
    {
        let _ = policy;
        Err(crate::Error::Config(format!(
            "secretsManager `{}` needs a build with the `remote-kms` feature",
            settings.secrets_manager
        )))
    }
    #[cfg(feature = "remote-kms")]
    let inner: Arc<dyn SecretStore> = match settings.provider {
        Provider::Aws => Arc::new(aws::AwsSecretsStore::connect(settings, policy.timeout).await?),
        Provider::AwsSsm => Arc::new(ssm::SsmStore::connect(settings, policy.timeout).await?),
        Provider::Vault => Arc::new(vault::VaultStore::connect(settings, policy.timeout)?),
        other => {
            return Err(crate::Error::Config(format!(
                "{other:?} is not a remote store"
            )));
        }
    };
    #[cfg(feature = "remote-kms")]
    Ok(Arc::new(resilient::Resilient::new(inner, policy)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_ids() {
        for ok in [
            "/openmetadata/database/x/authtype/password",
            "/a",
            "/team/db-password_2",
        ] {
            assert!(well_formed(ok), "{ok}");
        }
        for bad in [
            "", "/", "a/b", "/a/", "/a//b", "/a/./b", "/a/../b", "/a b", "/a\tb", "/é", " /a",
        ] {
            assert!(!well_formed(bad), "{bad:?}");
        }
        assert!(check_prefix("x", "/a/svc/").is_ok());
        for bad in ["/a/svc", "/", "a/", "/a//"] {
            assert!(check_prefix("x", bad).is_err(), "{bad}");
        }
        let ids: Vec<String> = ["/a/svc/p", "/a/svc-2/p", "/a/svc/x/y", "/a/sv"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(under_prefix(&ids, "/a/svc/"), ["/a/svc/p", "/a/svc/x/y"]);
    }
}
