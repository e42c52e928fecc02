//! Configuration: a YAML file mirroring OpenMetadata's
//! `secretsManagerConfiguration`, plus `fernetKey` and `clusterName`, with
//! every key overridable by OpenMetadata's environment variables.
//!
//! ```yaml
//! secretsManager: managed-local     # SECRET_MANAGER
//! prefix: ""                        # SECRET_MANAGER_PREFIX
//! tags: ["team:data"]               # SECRET_MANAGER_TAGS ("k:v,k2:v2" or "[k:v, k2:v2]")
//! parameters: {}                    # provider parameters, see PARAMETER_ENV
//! fernetKey: "..."                  # FERNET_KEY (comma-separated for rotation)
//! clusterName: openmetadata         # OPENMETADATA_CLUSTER_NAME
//! home: .om-secrets                 # OM_SECRETS_HOME: data directory
//!                                   # OM_SECRETS_CACHE: compiled plugins (default <home>/cache)
//! plugins:                          # see om_secrets::plugin::registry
//!   directory: plugins              # OM_SECRETS_PLUGINS
//!   builtin: true                   # or false, or [database, dashboard, …]
//!   allow:                          # the directory's plugins that may load
//!     - { file: acme.wasm, sha256: "<64 hex>", connectorTypes: [AcmeDb] }
//!   allowUnpinned: false            # development only: unlisted plugins load, loudly
//! limits: { memoryMiB: 64, timeMs: 1000, maxInputBytes: 4194304, maxOutputBytes: 8388608, maxFields: 10000 }
//! migrateOnStart: postgres://om:pw@db:5432/openmetadata_db   # OM_SECRETS_MIGRATE_ON_START
//!   # or { url: "postgres://…", requireClean: true }; managed modes only
//! ```
//!
//! `parameters` by provider (each overridable by its environment variable; a
//! variable of another provider is ignored, a name the provider does not take
//! is an error naming it when the store is opened):
//!
//! | parameter | variable | providers | meaning |
//! |---|---|---|---|
//! | `region` | `OM_SM_REGION` | aws, aws-ssm | AWS region (else the SDK's default chain) |
//! | `accessKeyId` | `OM_SM_ACCESS_KEY_ID` | aws, aws-ssm | static credentials (else the default chain) |
//! | `secretAccessKey` | `OM_SM_ACCESS_KEY` | aws, aws-ssm | |
//! | `endpointUrl` | `OM_SM_ENDPOINT_URL` | aws, aws-ssm | a non-AWS endpoint (moto, LocalStack, a VPC endpoint) |
//! | `address` | `VAULT_ADDR` | vault | e.g. `https://vault:8200` (required) |
//! | `token` | `VAULT_TOKEN` | vault | token auth |
//! | `roleId`, `secretId` | `OM_SM_VAULT_ROLE_ID`, `OM_SM_VAULT_SECRET_ID` | vault | AppRole auth (instead of a token), re-login on expiry |
//! | `approleMount` | — | vault | AppRole auth mount (default `approle`) |
//! | `namespace` | `VAULT_NAMESPACE` | vault | Vault Enterprise / OpenBao namespace |
//! | `mount` | `OM_SM_VAULT_MOUNT` | vault | KV mount (default `secret`) |
//! | `kvVersion` | `OM_SM_VAULT_KV_VERSION` | vault | `2` (default) or `1` |
//! | `cacheTtlSeconds` | `OM_SM_CACHE_TTL_SECONDS` | remote stores | read cache TTL, hits and misses (default 300; 0: off) |
//! | `writesPerSecond` | `OM_SM_WRITES_PER_SECOND` | remote stores | write rate limit (default 10; 0: unlimited) |
//! | `retryMaxSeconds` | `OM_SM_RETRY_MAX_SECONDS` | remote stores | total time for retrying transient failures (default 30; 0: no retry) |
//! | `timeoutSeconds` | `OM_SM_TIMEOUT_SECONDS` | remote stores | timeout of each call to the store (default 10) |
//!
//! Seconds may be fractional (`0.5`).
//!
//! Unknown keys are errors. With no file and no variables the embedded default
//! runs: `managed-local` under `./.om-secrets`, with a generated Fernet key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::plugin::{BuiltinSelection, Grant, Limits, PluginPolicy};
use crate::{Error, Result};

/// Provider parameters and the environment variables that override them.
pub(crate) const PARAMETER_ENV: &[(&str, &str)] = &[
    ("region", "OM_SM_REGION"),
    ("accessKeyId", "OM_SM_ACCESS_KEY_ID"),
    ("secretAccessKey", "OM_SM_ACCESS_KEY"),
    ("endpointUrl", "OM_SM_ENDPOINT_URL"),
    ("address", "VAULT_ADDR"),
    ("token", "VAULT_TOKEN"),
    ("namespace", "VAULT_NAMESPACE"),
    ("mount", "OM_SM_VAULT_MOUNT"),
    ("kvVersion", "OM_SM_VAULT_KV_VERSION"),
    ("roleId", "OM_SM_VAULT_ROLE_ID"),
    ("secretId", "OM_SM_VAULT_SECRET_ID"),
    ("cacheTtlSeconds", "OM_SM_CACHE_TTL_SECONDS"),
    ("writesPerSecond", "OM_SM_WRITES_PER_SECOND"),
    ("retryMaxSeconds", "OM_SM_RETRY_MAX_SECONDS"),
    ("timeoutSeconds", "OM_SM_TIMEOUT_SECONDS"),
];

/// Parameters every remote store (AWS, SSM, Vault) takes: the read cache, the
/// write rate limit, retries and the per-call timeout (see [`crate::kms::resilient`]).
const RESILIENCE_PARAMETERS: &[&str] = &[
    "cacheTtlSeconds",
    "writesPerSecond",
    "retryMaxSeconds",
    "timeoutSeconds",
];

/// The parameter names a provider takes (empty: it takes none). Another
/// provider's environment variables are ignored; a name in the file that the
/// provider does not take is an error when the store is opened.
pub(crate) fn provider_parameters(provider: Provider) -> Vec<&'static str> {
    let own: &[&str] = match provider {
        Provider::Db | Provider::InMemory | Provider::Local => return Vec::new(),
        Provider::Aws | Provider::AwsSsm => {
            &["region", "accessKeyId", "secretAccessKey", "endpointUrl"]
        }
        Provider::Vault => &[
            "address",
            "token",
            "namespace",
            "mount",
            "kvVersion",
            "roleId",
            "secretId",
            "approleMount",
        ],
    };
    own.iter().chain(RESILIENCE_PARAMETERS).copied().collect()
}

/// The file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileConfig {
    /// Provider name.
    pub secrets_manager: Option<String>,
    /// Secret id prefix.
    pub prefix: Option<String>,
    /// `key:value` tags for stored secrets.
    pub tags: Option<Vec<String>>,
    /// Provider parameters.
    pub parameters: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    /// Fernet key list.
    pub fernet_key: Option<String>,
    /// Cluster name in secret ids.
    pub cluster_name: Option<String>,
    /// Data directory.
    pub home: Option<PathBuf>,
    /// Where plugins come from.
    pub plugins: Option<PluginsConfig>,
    /// Sandbox limits.
    pub limits: Option<LimitsConfig>,
    /// Run `om-secrets migrate` on this database before serving (the
    /// service and the JVM binding; managed modes only): a URL, or
    /// `{url, requireClean}`.
    pub migrate_on_start: Option<MigrateOnStartConfig>,
    /// `om-secrets serve`'s own block (listen address, TLS, API keys, JWT,
    /// roles, limits, audit), parsed and checked by the server module; the
    /// operations ignore it.
    pub server: Option<serde_yaml_ng::Value>,
}

/// `migrateOnStart:` as written: a database URL, or an object.
#[derive(Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "migrateOnStart: a database URL, or {url: <database URL>, requireClean: true|false}"
)]
pub enum MigrateOnStartConfig {
    /// `migrateOnStart: postgres://…` (`requireClean` defaults to true).
    Url(String),
    /// `migrateOnStart: {url: …, requireClean: false}`.
    Object(MigrateOnStartObject),
}

/// `migrateOnStart:` as an object.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MigrateOnStartObject {
    /// The database URL (may be left to `OM_SECRETS_MIGRATE_ON_START`).
    pub url: Option<String>,
    /// Refuse to serve when the report lists skipped rows or orphans
    /// (default true).
    pub require_clean: Option<bool>,
}

// The URL holds the database password: never shown.
impl std::fmt::Debug for MigrateOnStartConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateOnStartConfig::Url(_) => f.write_str("MigrateOnStartConfig(<url>)"),
            MigrateOnStartConfig::Object(o) => f
                .debug_struct("MigrateOnStartConfig")
                .field("url", &o.url.as_ref().map(|_| "<url>"))
                .field("require_clean", &o.require_clean)
                .finish(),
        }
    }
}

/// The migration to run at start-up (see [`crate::migrate`]'s "At start-up").
#[derive(Clone, PartialEq, Eq)]
pub struct MigrateOnStart {
    /// The database URL (holds its password: never logged; `Debug` hides it).
    pub url: Zeroizing<String>,
    /// Refuse to serve when the report is not clean (skipped rows, orphans).
    pub require_clean: bool,
}

impl std::fmt::Debug for MigrateOnStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrateOnStart")
            .field("url", &"<set>")
            .field("require_clean", &self.require_clean)
            .finish()
    }
}

/// The schemes `migrateOnStart` takes.
const MIGRATE_SCHEMES: &[&str] = &["postgres", "postgresql", "mysql", "mariadb"];

/// `migrateOnStart` resolved against `OM_SECRETS_MIGRATE_ON_START` and
/// checked against the mode. Errors name the key, never the URL.
fn resolve_migrate_on_start(
    file: Option<MigrateOnStartConfig>,
    env_url: Option<String>,
    secrets_manager: &str,
    mode: Mode,
) -> Result<Option<MigrateOnStart>> {
    let (file_url, require_clean) = match file {
        None => (None, None),
        Some(MigrateOnStartConfig::Url(u)) => (Some(u), None),
        Some(MigrateOnStartConfig::Object(o)) => (o.url, Some(o.require_clean.unwrap_or(true))),
    };
    let url = match env_url.or(file_url) {
        Some(u) if !u.trim().is_empty() => Zeroizing::new(u.trim().to_string()),
        Some(_) | None if require_clean.is_some() => {
            return Err(Error::Config(
                "migrateOnStart.url (or OM_SECRETS_MIGRATE_ON_START) is required".into(),
            ));
        }
        _ => return Ok(None),
    };
    let scheme = url.split_once("://").map(|(s, _)| s);
    if !scheme.is_some_and(|s| MIGRATE_SCHEMES.contains(&s)) {
        return Err(Error::Config(
            "migrateOnStart (or OM_SECRETS_MIGRATE_ON_START): not a database URL; it must start with postgres://, postgresql://, mysql:// or mariadb://".into(),
        ));
    }
    if mode != Mode::Managed {
        return Err(Error::Config(format!(
            "migrateOnStart (or OM_SECRETS_MIGRATE_ON_START) moves the database's secrets into a store: it needs a managed secretsManager (managed-local, managed-vault, managed-aws, managed-aws-ssm, in-memory); this one is `{secrets_manager}`"
        )));
    }
    Ok(Some(MigrateOnStart {
        url,
        require_clean: require_clean.unwrap_or(true),
    }))
}

/// `plugins:` section (see [`crate::plugin::registry`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PluginsConfig {
    /// A directory of `*.wasm` plugins to load besides the built-in ones.
    pub directory: Option<PathBuf>,
    /// Which built-in plugins load: `true` (default), `false`, or a list of
    /// names.
    pub builtin: Option<BuiltinConfig>,
    /// The plugins of the directory that may load, each pinned by sha256.
    pub allow: Option<Vec<GrantConfig>>,
    /// Development only: load unlisted plugins and make `sha256` optional
    /// (logged as a warning at every start).
    pub allow_unpinned: Option<bool>,
}

/// `plugins.builtin`: all, none, or some built-in plugins.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum BuiltinConfig {
    /// `true` / `false`.
    All(bool),
    /// Names of built-in plugins.
    Only(Vec<String>),
}

/// One `plugins.allow` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GrantConfig {
    /// File name in `plugins.directory`.
    pub file: Option<String>,
    /// The name the plugin must declare.
    pub name: Option<String>,
    /// sha256 of the file (hex).
    pub sha256: Option<String>,
    /// The service type the plugin must declare.
    pub service_type: Option<String>,
    /// The only connector types the plugin may claim.
    pub connector_types: Option<Vec<String>>,
}

impl PluginsConfig {
    /// The policy these settings describe (the directory may come from
    /// `OM_SECRETS_PLUGINS` instead), checked.
    pub fn resolve(self, directory: Option<PathBuf>) -> Result<PluginPolicy> {
        let policy = PluginPolicy {
            builtin: match self.builtin {
                None | Some(BuiltinConfig::All(true)) => BuiltinSelection::All,
                Some(BuiltinConfig::All(false)) => BuiltinSelection::None,
                Some(BuiltinConfig::Only(names)) => BuiltinSelection::Only(names),
            },
            directory: directory.or(self.directory),
            allow: self
                .allow
                .unwrap_or_default()
                .into_iter()
                .map(|g| Grant {
                    file: g.file,
                    name: g.name,
                    sha256: g.sha256.map(|d| d.trim().to_ascii_lowercase()),
                    service_type: g.service_type,
                    connector_types: g.connector_types,
                })
                .collect(),
            allow_unpinned: self.allow_unpinned.unwrap_or(false),
        };
        policy.validate()?;
        Ok(policy)
    }
}

/// `limits:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LimitsConfig {
    /// Memory cap per plugin call, MiB.
    #[serde(rename = "memoryMiB")]
    pub memory_mib: Option<usize>,
    /// Time limit per plugin call, ms.
    pub time_ms: Option<u64>,
    /// Largest config given to a plugin, bytes.
    pub max_input_bytes: Option<usize>,
    /// Most bytes copied out of a plugin at once (its answer, a log line).
    pub max_output_bytes: Option<usize>,
    /// Most fields a plugin may report.
    pub max_fields: Option<usize>,
}

impl LimitsConfig {
    /// The limits, defaults filled in, checked.
    pub fn resolve(self) -> Result<Limits> {
        let d = Limits::default();
        let limits = Limits {
            memory_bytes: match self.memory_mib {
                Some(m) => m
                    .checked_mul(1 << 20)
                    .ok_or_else(|| Error::Config("limits.memoryMiB is too large".into()))?,
                None => d.memory_bytes,
            },
            time: self.time_ms.map(Duration::from_millis).unwrap_or(d.time),
            max_input_bytes: self.max_input_bytes.unwrap_or(d.max_input_bytes),
            max_output_bytes: self.max_output_bytes.unwrap_or(d.max_output_bytes),
            max_fields: self.max_fields.unwrap_or(d.max_fields),
        };
        if limits.memory_bytes < (1 << 20) || limits.memory_bytes > (4 << 30) {
            return Err(Error::Config(
                "limits.memoryMiB must be between 1 and 4096".into(),
            ));
        }
        if limits.time.is_zero() {
            return Err(Error::Config("limits.timeMs must be above 0".into()));
        }
        if limits.max_output_bytes < 1024 || limits.max_fields == 0 || limits.max_input_bytes == 0 {
            return Err(Error::Config(
                "limits: maxOutputBytes must be at least 1024, maxFields and maxInputBytes above 0"
                    .into(),
            ));
        }
        Ok(limits)
    }
}

/// Which store, and whether om-secrets writes to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// `db`: Fernet in place, no store.
    Db,
    /// `in-memory` (always managed).
    InMemory,
    /// `managed-local` / `local`: the embedded file store.
    Local,
    /// `managed-aws` / `aws`: AWS Secrets Manager.
    Aws,
    /// `managed-aws-ssm` / `aws-ssm`: AWS SSM Parameter Store.
    AwsSsm,
    /// `managed-vault` / `vault`: HashiCorp Vault / OpenBao KV.
    Vault,
}

/// How secret values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every secret field Fernet-encrypted in place.
    Db,
    /// Written to the store, replaced by `fernet(secret:<id>)`.
    Managed,
    /// `secret:<id>` references pass through (encrypted); other values are
    /// Fernet-encrypted in place.
    NonManaged,
}

/// Parse a `secretsManager` value.
pub(crate) fn parse_provider(name: &str) -> Result<(Provider, Mode)> {
    let managed = name.starts_with("managed-");
    let base = name.strip_prefix("managed-").unwrap_or(name);
    let mode = if managed {
        Mode::Managed
    } else {
        Mode::NonManaged
    };
    Ok(match (base, managed) {
        ("db", false) => (Provider::Db, Mode::Db),
        ("in-memory", false) => (Provider::InMemory, Mode::Managed),
        ("local", _) => (Provider::Local, mode),
        ("aws", _) => (Provider::Aws, mode),
        ("aws-ssm", _) => (Provider::AwsSsm, mode),
        ("vault", _) => (Provider::Vault, mode),
        ("azure-kv" | "gcp" | "kubernetes", _) => {
            return Err(Error::Config(format!(
                "secretsManager `{name}` is an OpenMetadata provider that om-secrets does not support"
            )));
        }
        _ => {
            return Err(Error::Config(format!(
                "unknown secretsManager `{name}`; known: db, in-memory, managed-local, local, managed-aws, aws, managed-aws-ssm, aws-ssm, managed-vault, vault"
            )));
        }
    })
}

/// Everything resolved: file, then environment, then defaults.
#[derive(Clone)]
pub struct Settings {
    /// The `secretsManager` value as given.
    pub secrets_manager: String,
    /// The store.
    pub provider: Provider,
    /// The mode.
    pub mode: Mode,
    /// Secret id prefix (may be empty).
    pub prefix: String,
    /// Tags for stored secrets.
    pub tags: Vec<(String, String)>,
    /// Provider parameters.
    pub parameters: BTreeMap<String, String>,
    /// Fernet key list, if configured.
    pub fernet_key: Option<Zeroizing<String>>,
    /// Cluster name.
    pub cluster_name: String,
    /// Data directory.
    pub home: PathBuf,
    /// Compiled-component cache (`OM_SECRETS_CACHE`, default `<home>/cache`).
    pub cache_dir: PathBuf,
    /// Which plugins load, from where, pinned how.
    pub plugins: PluginPolicy,
    /// Sandbox limits.
    pub limits: Limits,
    /// The migration to run before serving (`migrateOnStart`), if any:
    /// `om-secrets serve` and the JVM binding run it; a library embedder
    /// calls `om_secrets::migrate::on_start::run` itself (feature `migrate`).
    pub migrate_on_start: Option<MigrateOnStart>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("secrets_manager", &self.secrets_manager)
            .field("prefix", &self.prefix)
            .field("cluster_name", &self.cluster_name)
            .field("home", &self.home)
            .field("parameters", &self.parameters.keys().collect::<Vec<_>>())
            .field("fernet_key", &self.fernet_key.as_ref().map(|_| "<set>"))
            .field("migrate_on_start", &self.migrate_on_start)
            .finish_non_exhaustive()
    }
}

/// Parse `key:value` tag entries (`k:v,k2:v2` or `[k:v, k2:v2]`).
pub(crate) fn parse_tags(entries: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for e in entries {
        let e = e.trim();
        if e.is_empty() {
            continue;
        }
        let (k, v) = e
            .split_once(':')
            .ok_or_else(|| Error::Config(format!("tag `{e}` is not `key:value`")))?;
        if k.trim().is_empty() {
            return Err(Error::Config(format!("tag `{e}` has an empty key")));
        }
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

fn tags_from_env(s: &str) -> Vec<String> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    s.split(',')
        .map(|x| x.trim().trim_matches(['"', '\'']).to_string())
        .collect()
}

fn scalar(key: &str, v: serde_yaml_ng::Value) -> Result<String> {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::String(s) => Ok(s),
        Y::Number(n) => Ok(n.to_string()),
        Y::Bool(b) => Ok(b.to_string()),
        _ => Err(Error::Config(format!(
            "parameters.{key} must be a string, number or boolean"
        ))),
    }
}

impl FileConfig {
    /// Read and parse a YAML file. Errors name the file (and the line).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_yaml_ng::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }
}

impl Settings {
    /// Resolve a file config (or none) against an environment.
    pub fn resolve(file: FileConfig, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let secrets_manager = env("SECRET_MANAGER")
            .or(file.secrets_manager)
            .unwrap_or_else(|| "managed-local".into());
        let (provider, mode) = parse_provider(secrets_manager.trim())?;
        let prefix = env("SECRET_MANAGER_PREFIX")
            .or(file.prefix)
            .unwrap_or_default();
        let tag_entries = match env("SECRET_MANAGER_TAGS") {
            Some(s) => tags_from_env(&s),
            None => file.tags.unwrap_or_default(),
        };
        let tags = parse_tags(&tag_entries)?;
        let mut parameters = BTreeMap::new();
        for (k, v) in file.parameters.unwrap_or_default() {
            let v = scalar(&k, v)?;
            parameters.insert(k, v);
        }
        let applicable = provider_parameters(provider);
        for (param, var) in PARAMETER_ENV {
            // Another provider's variables (VAULT_ADDR while using AWS) are not ours.
            if !applicable.contains(param) {
                continue;
            }
            if let Some(v) = env(var) {
                parameters.insert(param.to_string(), v);
            }
        }
        let fernet_key = env("FERNET_KEY").or(file.fernet_key).map(Zeroizing::new);
        let cluster_name = env("OPENMETADATA_CLUSTER_NAME")
            .or(file.cluster_name)
            .unwrap_or_else(|| "openmetadata".into());
        let home = env("OM_SECRETS_HOME")
            .map(PathBuf::from)
            .or(file.home)
            .unwrap_or_else(|| ".om-secrets".into());
        let cache_dir = env("OM_SECRETS_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("cache"));
        let plugins = file
            .plugins
            .unwrap_or_default()
            .resolve(env("OM_SECRETS_PLUGINS").map(PathBuf::from))?;
        let limits = file.limits.unwrap_or_default().resolve()?;
        let migrate_on_start = resolve_migrate_on_start(
            file.migrate_on_start,
            env("OM_SECRETS_MIGRATE_ON_START"),
            &secrets_manager,
            mode,
        )?;
        Ok(Settings {
            secrets_manager,
            provider,
            mode,
            prefix,
            tags,
            parameters,
            fernet_key,
            cluster_name,
            home,
            cache_dir,
            plugins,
            limits,
            migrate_on_start,
        })
    }

    /// Resolve from an optional file and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let file = match path {
            Some(p) => FileConfig::read(p)?,
            None => FileConfig::default(),
        };
        Self::resolve(file, |k| std::env::var(k).ok())
    }

    /// A parameter, or a config error naming it and its variable.
    pub fn parameter(&self, name: &str) -> Result<&str> {
        self.parameters
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| {
                let var = PARAMETER_ENV
                    .iter()
                    .find(|(p, _)| *p == name)
                    .map(|(_, v)| format!(" (or {v})"))
                    .unwrap_or_default();
                Error::Config(format!(
                    "secretsManager `{}` needs parameters.{name}{var}",
                    self.secrets_manager
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_are_the_embedded_store() {
        let s = Settings::resolve(FileConfig::default(), no_env).unwrap();
        assert_eq!((s.provider, s.mode), (Provider::Local, Mode::Managed));
        assert_eq!(s.cluster_name, "openmetadata");
        assert_eq!(s.home, PathBuf::from(".om-secrets"));
        assert!(s.fernet_key.is_none() && s.plugins == PluginPolicy::default());
    }

    #[test]
    fn environment_overrides_the_file() {
        let file: FileConfig = serde_yaml_ng::from_str(
            "secretsManager: db\nprefix: p\ntags: [\"a:b\"]\nparameters: {region: eu-west-1, kvVersion: 1}\nclusterName: c\nfernetKey: k\n",
        )
        .unwrap();
        let env = |k: &str| match k {
            "SECRET_MANAGER" => Some("managed-aws".to_string()),
            "SECRET_MANAGER_TAGS" => Some("[team:data, env:prod]".to_string()),
            "OM_SM_REGION" => Some("us-east-1".to_string()),
            "OPENMETADATA_CLUSTER_NAME" => Some("".to_string()),
            _ => None,
        };
        let s = Settings::resolve(file, env).unwrap();
        assert_eq!((s.provider, s.mode), (Provider::Aws, Mode::Managed));
        assert_eq!(s.prefix, "p");
        assert_eq!(
            s.tags,
            vec![
                ("team".into(), "data".into()),
                ("env".into(), "prod".into())
            ]
        );
        assert_eq!(s.parameters["region"], "us-east-1");
        assert_eq!(s.parameters["kvVersion"], "1");
        assert_eq!(s.cluster_name, "c");
        assert_eq!(s.fernet_key.as_deref().map(String::as_str), Some("k"));
    }

    #[test]
    fn modes() {
        assert_eq!(
            parse_provider("aws").unwrap(),
            (Provider::Aws, Mode::NonManaged)
        );
        assert_eq!(
            parse_provider("managed-vault").unwrap(),
            (Provider::Vault, Mode::Managed)
        );
        assert_eq!(
            parse_provider("in-memory").unwrap(),
            (Provider::InMemory, Mode::Managed)
        );
        assert!(parse_provider("managed-db").is_err());
        assert!(
            parse_provider("gcp")
                .unwrap_err()
                .to_string()
                .contains("does not support")
        );
    }

    #[test]
    fn unknown_keys_and_bad_tags_are_errors() {
        let e = serde_yaml_ng::from_str::<FileConfig>("secretManager: db\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("secretManager"), "{e}");
        let e = serde_yaml_ng::from_str::<FileConfig>("plugins: {dir: x}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("dir"), "{e}");
        let e =
            serde_yaml_ng::from_str::<FileConfig>("plugins: {allow: [{file: a.wasm, sha: x}]}\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("sha"), "{e}");
        let file: FileConfig = serde_yaml_ng::from_str("tags: [nocolon]\n").unwrap();
        assert!(
            Settings::resolve(file, no_env)
                .unwrap_err()
                .to_string()
                .contains("nocolon")
        );
    }
    #[test]
    fn plugin_grants_and_limits() {
        let d = "AB".repeat(32);
        let file: FileConfig = serde_yaml_ng::from_str(&format!(
            "plugins:\n  directory: /p\n  builtin: [database]\n  allow:\n    - {{file: a.wasm, sha256: {d}, connectorTypes: [A]}}\n\
             limits: {{maxOutputBytes: 4096, timeMs: 50}}\n"
        ))
        .unwrap();
        let s = Settings::resolve(file, no_env).unwrap();
        assert_eq!(
            s.plugins.builtin,
            BuiltinSelection::Only(vec!["database".into()])
        );
        assert_eq!(
            s.plugins.allow[0].sha256.as_deref(),
            Some(d.to_lowercase().as_str())
        );
        assert_eq!(
            s.plugins.allow[0].connector_types,
            Some(vec!["A".to_string()])
        );
        assert!(!s.plugins.allow_unpinned);
        assert_eq!(
            (s.limits.max_output_bytes, s.limits.time),
            (4096, Duration::from_millis(50))
        );
        let env = |k: &str| (k == "OM_SECRETS_PLUGINS").then(|| "/q".to_string());
        let file: FileConfig =
            serde_yaml_ng::from_str("plugins: {directory: /p, builtin: false}\n").unwrap();
        let s = Settings::resolve(file, env).unwrap();
        assert_eq!(
            (s.plugins.directory, s.plugins.builtin),
            (Some(PathBuf::from("/q")), BuiltinSelection::None)
        );
        for (yaml, want) in [
            (
                "plugins: {directory: /p, allow: [{file: a.wasm}]}\n",
                "sha256 is required",
            ),
            ("limits: {maxOutputBytes: 10}\n", "maxOutputBytes"),
            ("limits: {memoryMiB: 0}\n", "memoryMiB"),
        ] {
            let file: FileConfig = serde_yaml_ng::from_str(yaml).unwrap();
            let e = Settings::resolve(file, no_env).unwrap_err().to_string();
            assert!(e.contains(want), "{e} should contain {want}");
        }
        let file: FileConfig = serde_yaml_ng::from_str(
            "plugins: {directory: /p, allow: [{file: a.wasm}], allowUnpinned: true}\n",
        )
        .unwrap();
        assert!(
            Settings::resolve(file, no_env)
                .unwrap()
                .plugins
                .allow_unpinned
        );
    }

    #[test]
    fn migrate_on_start_is_a_url_or_an_object_and_never_shown() {
        let url = "postgres://om:hunter2@db:5432/openmetadata_db";
        let file: FileConfig =
            serde_yaml_ng::from_str(&format!("migrateOnStart: {url}\n")).unwrap();
        assert!(!format!("{file:?}").contains("hunter2"));
        let s = Settings::resolve(file, no_env).unwrap();
        let m = s.migrate_on_start.clone().unwrap();
        assert_eq!((m.url.as_str(), m.require_clean), (url, true));
        assert!(!format!("{s:?}").contains("hunter2"), "{s:?}");
        // The object form; the variable overrides the file's URL.
        let file: FileConfig = serde_yaml_ng::from_str(
            "migrateOnStart: {url: 'mysql://a:b@h/d', requireClean: false}\n",
        )
        .unwrap();
        let env = |k: &str| (k == "OM_SECRETS_MIGRATE_ON_START").then(|| url.to_string());
        let m = Settings::resolve(file, env)
            .unwrap()
            .migrate_on_start
            .unwrap();
        assert_eq!((m.url.as_str(), m.require_clean), (url, false));
        // The variable alone.
        let s = Settings::resolve(FileConfig::default(), env).unwrap();
        assert!(s.migrate_on_start.unwrap().require_clean);
        assert!(
            Settings::resolve(FileConfig::default(), no_env)
                .unwrap()
                .migrate_on_start
                .is_none()
        );
        // Errors name the key, never the value.
        for (yaml, env_url, want) in [
            (
                "secretsManager: db\n",
                Some(url),
                "needs a managed secretsManager",
            ),
            ("secretsManager: aws\n", Some(url), "this one is `aws`"),
            (
                "{}\n",
                Some("http://om:hunter2@h/db"),
                "must start with postgres://",
            ),
            (
                "migrateOnStart: {requireClean: true}\n",
                None,
                "migrateOnStart.url",
            ),
        ] {
            let file: FileConfig = serde_yaml_ng::from_str(yaml).unwrap();
            let env = |k: &str| {
                (k == "OM_SECRETS_MIGRATE_ON_START")
                    .then(|| env_url.map(str::to_string))
                    .flatten()
            };
            let e = Settings::resolve(file, env).unwrap_err().to_string();
            assert!(e.contains("migrateOnStart") && e.contains(want), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let e =
            serde_yaml_ng::from_str::<FileConfig>("migrateOnStart: {url: x, requireClen: true}\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("migrateOnStart"), "{e}");
    }
}
