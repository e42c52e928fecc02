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
//! plugins: { directory: plugins, builtin: true }   # OM_SECRETS_PLUGINS
//! limits: { memoryMiB: 64, timeMs: 1000, maxInputBytes: 4194304, maxFields: 10000 }
//! ```
//!
//! Unknown keys are errors. With no file and no variables the embedded default
//! runs: `managed-local` under `./.om-secrets`, with a generated Fernet key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::plugin::Limits;
use crate::{Error, Result};

/// Provider parameters and the environment variables that override them.
pub const PARAMETER_ENV: &[(&str, &str)] = &[
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
];

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
}

/// `plugins:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PluginsConfig {
    /// A directory of `*.wasm` plugins to load besides the built-in ones.
    pub directory: Option<PathBuf>,
    /// Whether to load the built-in plugins (default true).
    pub builtin: Option<bool>,
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
    /// Most fields a plugin may report.
    pub max_fields: Option<usize>,
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
pub fn parse_provider(name: &str) -> Result<(Provider, Mode)> {
    let managed = name.starts_with("managed-");
    let base = name.strip_prefix("managed-").unwrap_or(name);
    let mode = if managed { Mode::Managed } else { Mode::NonManaged };
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
    /// Extra plugin directory.
    pub plugin_dir: Option<PathBuf>,
    /// Load built-in plugins.
    pub builtin_plugins: bool,
    /// Sandbox limits.
    pub limits: Limits,
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
            .finish_non_exhaustive()
    }
}

/// Parse `key:value` tag entries (`k:v,k2:v2` or `[k:v, k2:v2]`).
pub fn parse_tags(entries: &[String]) -> Result<Vec<(String, String)>> {
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
    let s = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(s);
    s.split(',').map(|x| x.trim().trim_matches(['"', '\'']).to_string()).collect()
}

fn scalar(key: &str, v: serde_yaml_ng::Value) -> Result<String> {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::String(s) => Ok(s),
        Y::Number(n) => Ok(n.to_string()),
        Y::Bool(b) => Ok(b.to_string()),
        _ => Err(Error::Config(format!("parameters.{key} must be a string, number or boolean"))),
    }
}

impl FileConfig {
    /// Read and parse a YAML file. Errors name the file (and the line).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_yaml_ng::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
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
        let prefix = env("SECRET_MANAGER_PREFIX").or(file.prefix).unwrap_or_default();
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
        for (param, var) in PARAMETER_ENV {
            if let Some(v) = env(var) {
                parameters.insert(param.to_string(), v);
            }
        }
        let fernet_key = env("FERNET_KEY").or(file.fernet_key).map(Zeroizing::new);
        let cluster_name = env("OPENMETADATA_CLUSTER_NAME")
            .or(file.cluster_name)
            .unwrap_or_else(|| "openmetadata".into());
        let home = env("OM_SECRETS_HOME").map(PathBuf::from).or(file.home).unwrap_or_else(|| ".om-secrets".into());
        let plugins = file.plugins.unwrap_or_default();
        let plugin_dir = env("OM_SECRETS_PLUGINS").map(PathBuf::from).or(plugins.directory);
        let l = file.limits.unwrap_or_default();
        let d = Limits::default();
        let limits = Limits {
            memory_bytes: l.memory_mib.map(|m| m << 20).unwrap_or(d.memory_bytes),
            time: l.time_ms.map(Duration::from_millis).unwrap_or(d.time),
            max_input_bytes: l.max_input_bytes.unwrap_or(d.max_input_bytes),
            max_fields: l.max_fields.unwrap_or(d.max_fields),
        };
        if limits.memory_bytes < (1 << 20) || limits.time.is_zero() {
            return Err(Error::Config("limits: memoryMiB must be at least 1 and timeMs above 0".into()));
        }
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
            plugin_dir,
            builtin_plugins: plugins.builtin.unwrap_or(true),
            limits,
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
        self.parameters.get(name).map(String::as_str).ok_or_else(|| {
            let var = PARAMETER_ENV.iter().find(|(p, _)| *p == name).map(|(_, v)| format!(" (or {v})")).unwrap_or_default();
            Error::Config(format!("secretsManager `{}` needs parameters.{name}{var}", self.secrets_manager))
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
        assert!(s.fernet_key.is_none() && s.builtin_plugins);
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
        assert_eq!(s.tags, vec![("team".into(), "data".into()), ("env".into(), "prod".into())]);
        assert_eq!(s.parameters["region"], "us-east-1");
        assert_eq!(s.parameters["kvVersion"], "1");
        assert_eq!(s.cluster_name, "c");
        assert_eq!(s.fernet_key.as_deref().map(String::as_str), Some("k"));
    }

    #[test]
    fn modes() {
        assert_eq!(parse_provider("aws").unwrap(), (Provider::Aws, Mode::NonManaged));
        assert_eq!(parse_provider("managed-vault").unwrap(), (Provider::Vault, Mode::Managed));
        assert_eq!(parse_provider("in-memory").unwrap(), (Provider::InMemory, Mode::Managed));
        assert!(parse_provider("managed-db").is_err());
        assert!(parse_provider("gcp").unwrap_err().to_string().contains("does not support"));
    }

    #[test]
    fn unknown_keys_and_bad_tags_are_errors() {
        let e = serde_yaml_ng::from_str::<FileConfig>("secretManager: db\n").unwrap_err().to_string();
        assert!(e.contains("secretManager"), "{e}");
        let e = serde_yaml_ng::from_str::<FileConfig>("plugins: {dir: x}\n").unwrap_err().to_string();
        assert!(e.contains("dir"), "{e}");
        let file: FileConfig = serde_yaml_ng::from_str("tags: [nocolon]\n").unwrap();
        assert!(Settings::resolve(file, no_env).unwrap_err().to_string().contains("nocolon"));
    }
}
