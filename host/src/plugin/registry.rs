//! Which plugins may load, the loaded plugins, and routing.
//!
//! Plugins come from the host binary itself (the ones built from `plugins/`)
//! and from a directory of `*.wasm` files. Every one goes through the same
//! load checks ([`Sandbox::load`]: size, imports, WIT version, `describe`).
//! On top of that, a directory plugin must be *granted* ([`PluginPolicy`]):
//!
//! ```yaml
//! plugins:
//!   directory: /etc/om-secrets/plugins
//!   builtin: true                 # or false, or [database, dashboard]
//!   allow:
//!     - file: acme-db.wasm        # the file in `directory`
//!       sha256: 3f1c…             # required: the digest `om-secrets plugins check` prints
//!       name: acme-db             # optional: the name it must declare
//!       serviceType: database     # optional: the service type it must declare
//!       connectorTypes: [AcmeDb]  # optional: the only connector types it may claim
//!   allowUnpinned: false          # development only: see below
//! ```
//!
//! - A file no entry names (by `file`, or by `sha256` for an entry without
//!   `file`) is refused at start-up; so is a file whose digest is not the
//!   pinned one. The digest is checked before the bytes are parsed.
//! - A plugin that declares another name or service type than its grant, or a
//!   connector type its grant does not list, is refused.
//! - Each (service type, connector type) routes to exactly one plugin: a
//!   plugin claiming a pair another plugin serves (a built-in one included) is
//!   refused at start-up, as is a second plugin with the same name. Service
//!   types are case-insensitive (ids are lower-cased: `Database` and
//!   `database` write the same ids), for routing and for claims; connector
//!   types route exactly as OpenMetadata spells them (`Mysql`), but a claim on
//!   one that differs from a served one only by case (`MYSQL`) is refused too.
//!   Names are unique case-insensitively.
//! - A directory plugin may not declare a service type that is another kind
//!   of entity in the host's id space (`RESERVED_SERVICE_TYPES`: `bot`,
//!   `workflow`, in any case): its ids would be those entities' ids.
//!   (`pipeline` is also OpenMetadata's pipeline service type, so it stays a
//!   service type; ingestion pipelines' ids are told apart from pipeline
//!   services' by the owner recorded with each secret.)
//! - `allowUnpinned: true` (development) lets unlisted files load and makes
//!   `sha256` optional; it logs a warning at every start and for every
//!   unpinned plugin. A `sha256` that is given is still enforced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use om_secrets_sandbox::cache::ComponentCache;
use om_secrets_sandbox::check::CheckedField;
use om_secrets_sandbox::sandbox::{LoadedPlugin, PluginInfo, Sandbox, Trust};
use om_secrets_sandbox::{PluginFailure, Refusal, read_component};

use crate::{Error, Result};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
}

/// The plugins built into this binary: (name, component bytes).
pub fn builtin() -> &'static [(&'static str, &'static [u8])] {
    builtin::BUILTIN
}

/// Service types that are other kinds of entities in the host's id space
/// (`/…/<kind>/<name>/…`): bot users and test-connection workflows. Only a
/// built-in plugin may declare one (the `bot` plugin); compared
/// case-insensitively. `pipeline` is not here: it is also OpenMetadata's
/// pipeline service type.
pub(crate) const RESERVED_SERVICE_TYPES: &[&str] = &["bot", "workflow"];

/// The entity kind a third-party plugin's service type would take over, if
/// any ([`RESERVED_SERVICE_TYPES`], case-insensitively).
pub(crate) fn reserved_kind(service_type: &str) -> Option<&'static str> {
    RESERVED_SERVICE_TYPES
        .iter()
        .find(|k| k.eq_ignore_ascii_case(service_type))
        .copied()
}

/// Which built-in plugins load.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BuiltinSelection {
    /// All of them (the default).
    #[default]
    All,
    /// None.
    None,
    /// These, by name (`database`, `dashboard`, …).
    Only(Vec<String>),
}

impl BuiltinSelection {
    fn includes(&self, name: &str) -> bool {
        match self {
            BuiltinSelection::All => true,
            BuiltinSelection::None => false,
            BuiltinSelection::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// One entry of `plugins.allow`: a plugin that may load, and what it may do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    /// The file name in the plugin directory.
    pub file: Option<String>,
    /// The name the plugin must declare.
    pub name: Option<String>,
    /// The sha256 of the file, lower-case hex.
    pub sha256: Option<String>,
    /// The service type the plugin must declare.
    pub service_type: Option<String>,
    /// The only connector types the plugin may claim.
    pub connector_types: Option<Vec<String>>,
}

impl Grant {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = &self.file {
            parts.push(format!("file {f}"));
        }
        if let Some(n) = &self.name {
            parts.push(format!("name {n}"));
        }
        if let Some(d) = &self.sha256 {
            parts.push(format!("sha256 {d}"));
        }
        parts.join(", ")
    }
}

/// Where plugins come from and which may load (`plugins:` in the config).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginPolicy {
    /// Which built-in plugins load.
    pub builtin: BuiltinSelection,
    /// A directory of `*.wasm` plugins.
    pub directory: Option<PathBuf>,
    /// The plugins of the directory that may load.
    pub allow: Vec<Grant>,
    /// Development only: load unlisted plugins, and make `sha256` optional.
    pub allow_unpinned: bool,
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl PluginPolicy {
    /// Whether the built-in plugin `name` is selected.
    pub fn builtin_includes(&self, name: &str) -> bool {
        self.builtin.includes(name)
    }

    /// Configuration errors in the policy itself (before anything loads).
    pub fn validate(&self) -> Result<()> {
        let cfg = |m: String| Err(Error::Config(m));
        if let BuiltinSelection::Only(names) = &self.builtin {
            for n in names {
                if !builtin().iter().any(|(b, _)| b == n) {
                    let known: Vec<&str> = builtin().iter().map(|(b, _)| *b).collect();
                    return cfg(format!(
                        "plugins.builtin: no built-in plugin `{n}`; known: {}",
                        known.join(", ")
                    ));
                }
            }
        }
        if !self.allow.is_empty() && self.directory.is_none() {
            return cfg("plugins.allow lists plugins, but plugins.directory is not set".into());
        }
        for (i, g) in self.allow.iter().enumerate() {
            let at = format!("plugins.allow[{i}]");
            if g.file.is_none() && g.sha256.is_none() && g.name.is_none() {
                return cfg(format!("{at}: needs `file`, `sha256` or `name`"));
            }
            match &g.sha256 {
                Some(d) if !is_sha256(d) => {
                    return cfg(format!("{at}: sha256 must be 64 hex digits"));
                }
                None if !self.allow_unpinned => {
                    return cfg(format!(
                        "{at}: sha256 is required (run `om-secrets plugins check FILE` to get it); \
                         plugins.allowUnpinned: true relaxes this for development only"
                    ));
                }
                _ => {}
            }
            if let Some(f) = &g.file
                && (f.is_empty() || f.contains(['/', '\\']) || !f.ends_with(".wasm"))
            {
                return cfg(format!(
                    "{at}: file must be the name of a `.wasm` file in plugins.directory"
                ));
            }
            if g.connector_types.as_ref().is_some_and(Vec::is_empty) {
                return cfg(format!(
                    "{at}: connectorTypes is empty; leave it out to allow what the plugin declares"
                ));
            }
            if let Some(f) = &g.file
                && self.allow[..i].iter().any(|o| o.file.as_ref() == Some(f))
            {
                return cfg(format!("{at}: file {f} is listed twice"));
            }
        }
        Ok(())
    }
}

/// A set of loaded plugins.
#[derive(Default)]
pub struct Plugins {
    plugins: Vec<Arc<LoadedPlugin>>,
    /// (service type, lower-cased; connector type, as declared) → plugin.
    routes: BTreeMap<(String, String), usize>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.plugins.iter().map(|p| &p.info.name))
            .finish()
    }
}

/// The loud warning of `allowUnpinned`.
const UNPINNED_WARNING: &str = "plugins.allowUnpinned is set: plugin pinning is RELAXED, unlisted plugins load without a sha256 check. \
     Development only: never run a production deployment like this";

impl Plugins {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Load the plugins a policy allows: the selected built-in ones, then
    /// every `*.wasm` of the directory (in name order), each checked against
    /// its grant. Any refusal fails the whole load: start-up stops.
    pub fn load(
        sandbox: &Sandbox,
        cache: Option<&ComponentCache>,
        policy: &PluginPolicy,
    ) -> Result<Self> {
        policy.validate()?;
        if policy.allow_unpinned {
            tracing::warn!("{UNPINNED_WARNING}");
        }
        let mut set = Plugins::new();
        for (name, bytes) in builtin() {
            if policy.builtin.includes(name) {
                set.add_bytes(sandbox, cache, bytes, &format!("builtin:{name}"))?;
            }
        }
        if let Some(dir) = &policy.directory {
            set.load_directory(sandbox, cache, policy, dir)?;
        }
        Ok(set)
    }

    fn load_directory(
        &mut self,
        sandbox: &Sandbox,
        cache: Option<&ComponentCache>,
        policy: &PluginPolicy,
        dir: &Path,
    ) -> Result<()> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        files.sort();
        let mut used = vec![false; policy.allow.len()];
        for path in files {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let source = path.display().to_string();
            let refuse = |r: Refusal| Error::Plugin {
                plugin: source.clone(),
                reason: PluginFailure::Refused(r),
            };
            let bytes = read_component(&path)?;
            let sha256 = hex::encode(Sha256::digest(&bytes));

            // The pin is checked before the bytes are parsed or compiled.
            let allow = &policy.allow;
            let mut grant = match allow
                .iter()
                .position(|g| g.file.as_deref() == Some(file.as_str()))
            {
                Some(i) => {
                    if let Some(expected) = &allow[i].sha256
                        && *expected != sha256
                    {
                        return Err(refuse(Refusal::DigestMismatch {
                            expected: expected.clone(),
                            actual: sha256,
                        }));
                    }
                    Some(i)
                }
                None => allow
                    .iter()
                    .position(|g| g.file.is_none() && g.sha256.as_deref() == Some(sha256.as_str())),
            };
            let pinned = grant.is_some_and(|i| allow[i].sha256.is_some());
            if grant.is_none() && !policy.allow_unpinned {
                return Err(refuse(Refusal::NotListed { file, sha256 }));
            }
            if !pinned {
                tracing::warn!(
                    "loading UNPINNED plugin {source} (sha256 {sha256}) because plugins.allowUnpinned is set; \
                     pin it with `- {{file: {file}, sha256: {sha256}}}`"
                );
            }

            let mut plugin =
                sandbox
                    .load(&bytes, &source, cache)
                    .map_err(|reason| Error::Plugin {
                        plugin: source.clone(),
                        reason,
                    })?;
            plugin.info.trust = if pinned {
                Trust::Pinned
            } else {
                Trust::Unpinned
            };
            // Development: an entry with only a name applies to the plugin
            // that declares it.
            grant = grant.or_else(|| {
                allow.iter().position(|g| {
                    g.file.is_none()
                        && g.sha256.is_none()
                        && g.name.as_deref() == Some(plugin.info.name.as_str())
                })
            });
            if let Some(i) = grant {
                used[i] = true;
                apply_grant(&allow[i], &plugin.info).map_err(refuse)?;
            }
            self.add(plugin)?;
        }
        for (i, g) in policy.allow.iter().enumerate() {
            if !used[i] {
                tracing::warn!(
                    "plugins.allow[{i}] ({}) matches no plugin in {}",
                    g.describe(),
                    dir.display()
                );
            }
        }
        Ok(())
    }

    /// Load one component and route its connector types to it.
    pub fn add_bytes(
        &mut self,
        sandbox: &Sandbox,
        cache: Option<&ComponentCache>,
        bytes: &[u8],
        source: &str,
    ) -> Result<&PluginInfo> {
        let plugin = sandbox
            .load(bytes, source, cache)
            .map_err(|reason| Error::Plugin {
                plugin: source.to_string(),
                reason,
            })?;
        self.add(plugin)
    }

    /// Route a loaded plugin's connector types to it. A connector type (of
    /// the same service type) or a name already taken, compared
    /// case-insensitively, refuses the plugin; so does a reserved service
    /// type declared by a plugin that is not built in.
    pub fn add(&mut self, plugin: LoadedPlugin) -> Result<&PluginInfo> {
        let idx = self.plugins.len();
        let info = &plugin.info;
        let refuse = |r: Refusal| Error::Plugin {
            plugin: info.source.clone(),
            reason: PluginFailure::Refused(r),
        };
        if info.trust != Trust::Builtin
            && let Some(kind) = reserved_kind(&info.service_type)
        {
            return Err(refuse(Refusal::ReservedServiceType {
                service_type: info.service_type.clone(),
                kind: kind.to_string(),
            }));
        }
        if let Some(other) = self
            .plugins
            .iter()
            .find(|p| p.info.name.eq_ignore_ascii_case(&info.name))
        {
            return Err(refuse(Refusal::BadDescription(format!(
                "the name `{}` is already taken by the plugin from {}",
                info.name, other.info.source
            ))));
        }
        let st = &info.service_type;
        for ct in &info.connector_types {
            if let Some(owner) = self.claimant(st, ct) {
                return Err(refuse(Refusal::Claimed {
                    service_type: st.clone(),
                    connector_type: ct.clone(),
                    owner: owner.info.name.clone(),
                    owner_source: owner.info.source.clone(),
                }));
            }
        }
        let key = st.to_ascii_lowercase();
        for ct in &info.connector_types {
            self.routes.insert((key.clone(), ct.clone()), idx);
        }
        tracing::debug!(plugin = %info.name, source = %info.source, "plugin loaded");
        self.plugins.push(Arc::new(plugin));
        Ok(&self.plugins[idx].info)
    }

    /// The plugin that already serves a (service type, connector type) a new
    /// plugin would claim: both compared case-insensitively.
    pub(crate) fn claimant(
        &self,
        service_type: &str,
        connector_type: &str,
    ) -> Option<&LoadedPlugin> {
        let key = service_type.to_ascii_lowercase();
        self.routes
            .range((key.clone(), String::new())..)
            .take_while(|((s, _), _)| *s == key)
            .find(|((_, c), _)| c.eq_ignore_ascii_case(connector_type))
            .map(|(_, &i)| &*self.plugins[i])
    }

    /// What is loaded.
    pub fn infos(&self) -> impl Iterator<Item = &PluginInfo> {
        self.plugins.iter().map(|p| &p.info)
    }

    /// The loaded plugin with this name.
    pub fn get(&self, name: &str) -> Option<&LoadedPlugin> {
        self.plugins
            .iter()
            .find(|p| p.info.name == name)
            .map(|p| &**p)
    }

    /// The connector types known for a service type (case-insensitive),
    /// sorted.
    pub fn connector_types(&self, service_type: &str) -> Vec<String> {
        let key = service_type.to_ascii_lowercase();
        self.routes
            .keys()
            .filter(|(s, _)| *s == key)
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// The service types served (lower-cased), sorted.
    pub fn service_types(&self) -> Vec<String> {
        let mut v: Vec<String> = self.routes.keys().map(|(s, _)| s.clone()).collect();
        v.dedup();
        v
    }

    /// The plugin for a (service type, connector type). The service type is
    /// case-insensitive (`Database` is `database`); the connector type is
    /// matched exactly, as OpenMetadata spells it.
    pub fn route(&self, service_type: &str, connector_type: &str) -> Result<&LoadedPlugin> {
        let key = service_type.to_ascii_lowercase();
        match self.routes.get(&(key.clone(), connector_type.to_string())) {
            Some(&i) => Ok(&self.plugins[i]),
            None if !self.service_types().contains(&key) => Err(Error::Input {
                pointer: None,
                message: format!(
                    "unknown service type `{service_type}`; known: {}",
                    self.service_types().join(", ")
                ),
            }),
            None => Err(Error::UnknownConnectorType {
                service_type: service_type.into(),
                connector_type: connector_type.into(),
                known: self.connector_types(service_type),
            }),
        }
    }

    /// Discover the secret fields of one connection config: its `type` routes
    /// it to a plugin, whose answer is checked.
    pub fn discover(&self, service_type: &str, config: &Value) -> Result<Vec<CheckedField>> {
        self.discover_by(service_type, "type", config)
    }

    /// Like [`Plugins::discover`], routed by the config's `type_key` property
    /// (`type` for connections, `authType` for a bot's credentials,
    /// `dbtConfigType` for a dbt source). Error pointers are relative to the
    /// config.
    pub fn discover_by(
        &self,
        service_type: &str,
        type_key: &str,
        config: &Value,
    ) -> Result<Vec<CheckedField>> {
        let Value::Object(map) = config else {
            return Err(Error::input(
                "",
                "a connection config must be a JSON object",
            ));
        };
        let at = format!("/{type_key}");
        let connector_type = match map.get(type_key) {
            Some(Value::String(t)) => t,
            Some(_) => return Err(Error::input(at, format!("`{type_key}` must be a string"))),
            None => {
                return Err(Error::input(
                    at,
                    format!(
                        "the config has no `{type_key}` naming its connector type (e.g. \"Mysql\")"
                    ),
                ));
            }
        };
        let plugin = self.route(service_type, connector_type)?;
        Ok(plugin.discover_by(type_key, connector_type, config)?)
    }
}

/// A loaded plugin against its grant: declared name, service type and
/// connector types.
fn apply_grant(grant: &Grant, info: &PluginInfo) -> std::result::Result<(), Refusal> {
    if let Some(name) = &grant.name
        && *name != info.name
    {
        return Err(Refusal::IdentityMismatch {
            what: "name",
            expected: name.clone(),
            actual: info.name.clone(),
        });
    }
    if let Some(st) = &grant.service_type
        && !st.eq_ignore_ascii_case(&info.service_type)
    {
        return Err(Refusal::IdentityMismatch {
            what: "service type",
            expected: st.clone(),
            actual: info.service_type.clone(),
        });
    }
    if let Some(granted) = &grant.connector_types
        && let Some(ct) = info.connector_types.iter().find(|ct| !granted.contains(ct))
    {
        return Err(Refusal::NotGranted {
            connector_type: ct.clone(),
            granted: granted.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: Vec<Grant>) -> PluginPolicy {
        PluginPolicy {
            directory: Some("/p".into()),
            allow,
            ..Default::default()
        }
    }

    #[test]
    fn policy_errors_are_configuration_errors() {
        let d = "a".repeat(64);
        let g = |file: Option<&str>, sha: Option<&str>| Grant {
            file: file.map(String::from),
            sha256: sha.map(String::from),
            ..Default::default()
        };
        assert!(policy(vec![g(Some("a.wasm"), Some(&d))]).validate().is_ok());
        let cases = [
            (policy(vec![g(Some("a.wasm"), None)]), "sha256 is required"),
            (
                policy(vec![g(Some("a.wasm"), Some("abc"))]),
                "64 hex digits",
            ),
            (
                policy(vec![g(Some("../a.wasm"), Some(&d))]),
                "name of a `.wasm` file",
            ),
            (policy(vec![g(None, None)]), "needs `file`"),
            (
                policy(vec![
                    g(Some("a.wasm"), Some(&d)),
                    g(Some("a.wasm"), Some(&d)),
                ]),
                "listed twice",
            ),
            (
                PluginPolicy {
                    allow: vec![g(Some("a.wasm"), Some(&d))],
                    ..Default::default()
                },
                "plugins.directory",
            ),
            (
                PluginPolicy {
                    builtin: BuiltinSelection::Only(vec!["nope".into()]),
                    ..Default::default()
                },
                "no built-in plugin `nope`",
            ),
        ];
        for (p, want) in cases {
            let e = p.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{e} should contain {want}");
        }
        let mut p = policy(vec![g(Some("a.wasm"), None)]);
        p.allow_unpinned = true;
        assert!(p.validate().is_ok());
    }

    #[test]
    fn grants_restrict_identity_and_connector_types() {
        let info = PluginInfo {
            name: "acme".into(),
            version: "1".into(),
            service_type: "database".into(),
            connector_types: vec!["A".into(), "B".into()],
            sha256: String::new(),
            wit_version: "0.1.0".into(),
            source: "x".into(),
            trust: Trust::Pinned,
        };
        assert!(apply_grant(&Grant::default(), &info).is_ok());
        let g = Grant {
            connector_types: Some(vec!["A".into()]),
            ..Default::default()
        };
        assert_eq!(
            apply_grant(&g, &info).unwrap_err().to_string(),
            "claims connector type `B`, which plugins.allow does not grant it (granted: A)"
        );
        // The service type is compared as routing compares it: any case.
        let g = Grant {
            service_type: Some("Database".into()),
            ..Default::default()
        };
        assert!(apply_grant(&g, &info).is_ok());
        let g = Grant {
            service_type: Some("dashboard".into()),
            ..Default::default()
        };
        assert!(apply_grant(&g, &info).is_err());
        assert_eq!(reserved_kind("BoT"), Some("bot"));
        assert_eq!(reserved_kind("Workflow"), Some("workflow"));
        assert_eq!(reserved_kind("pipeline"), None);
        let g = Grant {
            name: Some("other".into()),
            ..Default::default()
        };
        assert_eq!(
            apply_grant(&g, &info).unwrap_err().to_string(),
            "declares name `acme`, but plugins.allow grants `other`"
        );
    }
}
