//! The operations, and [`SecretsManager`] which holds what they need.
//!
//! Every operation starts the same way: find the connection config inside the
//! document ([`Subject`]), ask the plugin where its secrets are, check the
//! answer, and turn each field into a [`Field`] with its full secret id. Then:
//!
//! - [`seal`](SecretsManager::seal): plain → stored form, per the mode;
//! - [`reveal`](SecretsManager::reveal): stored → plain (privileged callers);
//! - [`mask`](SecretsManager::mask): anything → the viewer's form;
//! - [`merge`](SecretsManager::merge): an update with masked values + the stored
//!   config → a config ready to seal, with nothing lost;
//! - [`forget`](SecretsManager::forget): delete the entity's secrets.
//!
//! Operations plan before they act: every field is checked (tokens decrypt,
//! references exist, no mask is about to be stored) before the first write to
//! a store, so bad input leaves stored data unchanged.

mod batch;
mod forget;
mod mask;
mod merge;
mod reveal;
mod seal;
mod subject;
mod value;

pub use batch::{
    BatchItem, CONCURRENCY, Envelope, EnvelopeError, EnvelopeName, Failure, Operation, Outcome,
    SubjectKind, envelope_members,
};
pub use mask::mask_fields;
pub(crate) use subject::check_bot;
pub use subject::{Entity, Subject};

use std::sync::Arc;

use serde_json::Value;

use crate::config::{Mode, Provider, Settings};
use crate::fernet::FernetKeys;
use crate::kms::SecretStore;
use crate::plugin::cache::ComponentCache;
use crate::plugin::check::Treatment;
use crate::plugin::{Plugins, Sandbox};
use crate::secret_id::IdBuilder;
use crate::{Error, Result};

/// A secret field of a document, located and named.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    /// RFC 6901 pointer in the document.
    pub pointer: String,
    /// The full secret id, or — when the subject has no name — the id below
    /// the entity root (`authtype/password`).
    pub secret_id: String,
    /// What the host does with it.
    pub treatment: Treatment,
}

/// Where secret values go: the mode and its store in one value, so that no
/// operation can hold a mode without the store it needs.
#[derive(Clone)]
pub enum Backend {
    /// `db`: every secret Fernet-encrypted in place; no store.
    Db,
    /// `managed-*`: values written to the store under their ids, the field
    /// holding `fernet(secret:<id>)`. The id space `/<prefix>/<cluster>/…`
    /// belongs to om-secrets.
    Managed(Arc<dyn SecretStore>),
    /// `aws`, `vault`…: users' `secret:<id>` references (which must exist)
    /// pass through encrypted; other values are Fernet-encrypted in place.
    NonManaged(Arc<dyn SecretStore>),
}

impl Backend {
    /// The backend a mode and an optional store make (a store is required
    /// except in `db` mode, where it is ignored).
    pub fn new(mode: Mode, store: Option<Arc<dyn SecretStore>>) -> Result<Self> {
        match (mode, store) {
            (Mode::Db, _) => Ok(Backend::Db),
            (Mode::Managed, Some(s)) => Ok(Backend::Managed(s)),
            (Mode::NonManaged, Some(s)) => Ok(Backend::NonManaged(s)),
            (_, None) => Err(Error::Config(
                "managed and non-managed modes need a secret store".into(),
            )),
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        match self {
            Backend::Db => Mode::Db,
            Backend::Managed(_) => Mode::Managed,
            Backend::NonManaged(_) => Mode::NonManaged,
        }
    }

    /// The store, if the mode has one.
    pub fn store(&self) -> Option<&Arc<dyn SecretStore>> {
        match self {
            Backend::Db => None,
            Backend::Managed(s) | Backend::NonManaged(s) => Some(s),
        }
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Db => write!(f, "Db"),
            Backend::Managed(s) => write!(f, "Managed({})", s.name()),
            Backend::NonManaged(s) => write!(f, "NonManaged({})", s.name()),
        }
    }
}

/// Everything the operations need: backend, keys, ids and plugins.
pub struct SecretsManager {
    backend: Backend,
    fernet: FernetKeys,
    ids: IdBuilder,
    plugins: Arc<Plugins>,
}

impl std::fmt::Debug for SecretsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManager")
            .field("backend", &self.backend)
            .field("ids", &self.ids)
            .field("plugins", &self.plugins)
            .finish()
    }
}

/// The ids one entity owns: everything below its root, except sub-roots that
/// OpenMetadata's id layout gives another entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// `/<prefix>/<cluster>/<kind>/<name>/` (plus the entity's own sub-root).
    pub root: String,
    /// Prefixes below `root` that belong to another entity.
    pub excluded: Vec<String>,
}

impl Scope {
    /// Whether the entity owns `id`.
    pub fn contains(&self, id: &str) -> bool {
        id.starts_with(&self.root) && !self.excluded.iter().any(|e| id.starts_with(e))
    }
}

/// The Fernet keys: configured, or generated once and kept in
/// `<home>/fernet.key` (mode 0600).
pub fn fernet_keys(settings: &Settings) -> Result<FernetKeys> {
    if let Some(k) = &settings.fernet_key {
        return Ok(FernetKeys::parse(k)?);
    }
    let home = &settings.home;
    crate::files::create_private_dir(home).map_err(|e| Error::io(home, e))?;
    let path = home.join("fernet.key");
    let raw = crate::files::create_private_file(&path, FernetKeys::generate_key().as_bytes())
        .map_err(|e| Error::io(&path, e))?;
    std::str::from_utf8(&raw)
        .ok()
        .and_then(|k| FernetKeys::parse(k.trim()).ok())
        .ok_or_else(|| {
            Error::Config(crate::files::damaged_key_message(
                &path,
                &raw,
                "every value sealed with it",
            ))
        })
}

impl SecretsManager {
    /// Assemble a manager from parts (tests, embedders).
    pub fn new(
        backend: Backend,
        fernet: FernetKeys,
        ids: IdBuilder,
        plugins: Arc<Plugins>,
    ) -> Self {
        SecretsManager {
            backend,
            fernet,
            ids,
            plugins,
        }
    }

    /// Build everything from settings: keys, store, sandbox and plugins.
    pub async fn from_settings(settings: &Settings) -> Result<Self> {
        let fernet = fernet_keys(settings)?;
        let backend = if settings.provider == Provider::Db {
            Backend::Db
        } else {
            Backend::new(settings.mode, crate::kms::open(settings).await?)?
        };
        let plugins = load_plugins(settings)?;
        let ids = IdBuilder::new(&settings.prefix, &settings.cluster_name);
        Ok(Self::new(backend, fernet, ids, Arc::new(plugins)))
    }

    /// The loaded plugins.
    pub fn plugins(&self) -> &Plugins {
        &self.plugins
    }

    /// The backend (mode and store).
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.backend.mode()
    }

    /// The store, if the mode has one.
    pub fn store(&self) -> Option<&Arc<dyn SecretStore>> {
        self.backend.store()
    }

    /// The Fernet keys.
    pub fn fernet(&self) -> &FernetKeys {
        &self.fernet
    }

    /// The secret fields of a document, located and named.
    pub fn fields(&self, subject: &Subject, doc: &Value) -> Result<Vec<Field>> {
        self.locate(subject, doc)
    }

    fn locate(&self, subject: &Subject, doc: &Value) -> Result<Vec<Field>> {
        if !doc.is_object() {
            return Err(Error::input("", "the input must be a JSON object"));
        }
        let at = &subject.config_pointer;
        let config = match doc.pointer(at) {
            Some(Value::Null) | None if subject.optional => return Ok(Vec::new()),
            Some(c) => c,
            None => {
                return Err(Error::input(
                    at.clone(),
                    "the document has no connection config here",
                ));
            }
        };
        let found = match subject.default_type(config) {
            Some(t) => self
                .plugins
                .route(&subject.service_type, t)
                .and_then(|p| Ok(p.discover_by(&subject.type_key, t, config)?)),
            None => self
                .plugins
                .discover_by(&subject.service_type, &subject.type_key, config),
        };
        let checked = found.map_err(|e| match e {
            // Pointers from the plugin are relative to the config.
            Error::Input {
                pointer: Some(p),
                message,
            } => Error::Input {
                pointer: Some(format!("{at}{p}")),
                message,
            },
            other => other,
        })?;
        let scope = subject.name.as_ref().map(|_| self.scope(subject));
        let mut fields: Vec<Field> = Vec::with_capacity(checked.len());
        let mut by_id: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(checked.len());
        for c in checked {
            let pointer = format!("{at}{}", c.pointer);
            let mut segments = subject.id_segments.clone();
            segments.extend(c.segments);
            let secret_id = match &subject.name {
                Some(name) => self.ids.id(&subject.kind, name, &segments),
                None => segments.join("/"),
            };
            if let Some(scope) = &scope
                && !scope.contains(&secret_id)
            {
                return Err(Error::input(
                    pointer,
                    format!(
                        "would be stored as `{secret_id}`, an id that belongs to another entity"
                    ),
                ));
            }
            // Two fields whose keys sanitise alike (`Pass`/`pass`, `a.b`/`a_b`)
            // would share one secret and lose one value.
            if let Some(&other) = by_id.get(&secret_id) {
                return Err(Error::input(
                    pointer,
                    format!(
                        "would share the secret id `{secret_id}` with `{}`: rename one of the keys",
                        fields[other].pointer
                    ),
                ));
            }
            by_id.insert(secret_id.clone(), fields.len());
            fields.push(Field {
                pointer,
                secret_id,
                treatment: c.treatment,
            });
        }
        Ok(fields)
    }

    /// The ids a named subject owns (see [`Scope`]).
    pub fn scope(&self, subject: &Subject) -> Scope {
        let name = subject.name.as_deref().unwrap_or_default();
        let entity_root = self.ids.entity(&subject.kind, name);
        let shares_ingestion_root = subject.kind == "pipeline";
        match subject.entity {
            Entity::IngestionPipeline => Scope {
                root: format!("{entity_root}/{}/", subject::INGESTION_SUBROOT),
                excluded: Vec::new(),
            },
            Entity::Service if shares_ingestion_root => Scope {
                root: format!("{entity_root}/"),
                excluded: vec![format!("{entity_root}/{}/", subject::INGESTION_SUBROOT)],
            },
            _ => Scope {
                root: format!("{entity_root}/"),
                excluded: Vec::new(),
            },
        }
    }

    /// Check a `secret:<id>` reference held at `pointer`, and return the id
    /// to read: in om-secrets' namespace, the store's canonical form of it
    /// (see [`SecretStore::canonical`]), so that no alias, encoding or ARN
    /// can name another id than the one checked; outside it, the reference as
    /// the user wrote it (an SSM `name:3` selector, another account's ARN).
    ///
    /// The deployment's id namespace (`/<prefix>/<cluster>/…`) holds
    /// per-entity ids in every mode (managed mode writes there; a `local` or
    /// `db` deployment may share the store, or hand references to an
    /// ingestion side that reads it): a reference into it must stay within
    /// the entity's own [`Scope`], whether it is resolved here or kept for
    /// the ingestion side — so no config (sent by a user, or a token copied
    /// between rows of the database) can make a privileged reveal read
    /// another entity's secret. References outside the namespace are the
    /// user's own.
    async fn owned_reference(&self, subject: &Subject, pointer: &str, id: &str) -> Result<String> {
        if id.is_empty() {
            return Err(Error::input(pointer, "`secret:` reference without an id"));
        }
        let canonical = match self.backend.store() {
            // The error names the field, not the reference: a value that
            // merely starts with `secret:` (a password) is no id to repeat.
            Some(store) => store.canonical(id).await.map_err(|e| {
                Error::input(
                    pointer,
                    format!(
                        "holds a reference the {} store refuses: {}",
                        e.store, e.message
                    ),
                )
            })?,
            None => id.to_string(),
        };
        if !self.ids.owns(&canonical) {
            // Without a store (db mode) nothing says what an ARN or a
            // selector resolves to: one that names the namespace is refused.
            if self.backend.store().is_none() && self.ids.mentions(id) {
                return Err(Error::input(
                    pointer,
                    "references the deployment's namespace in a form that cannot be checked without a store: write the id itself (`/…`)",
                ));
            }
            return Ok(id.to_string());
        }
        if subject.name.is_none() {
            return Err(Error::input(
                pointer,
                "references a managed secret: the entity's name (`--name`, or the line's `name` with `--batch`) is needed to check it",
            ));
        }
        let scope = self.scope(subject);
        if scope.contains(&canonical) {
            return Ok(canonical);
        }
        let name = subject.name.as_deref().unwrap_or_default();
        let legacy = format!("{}/", self.ids.legacy_entity(&subject.kind, name));
        let message = if !crate::secret_id::is_plain_name(name) && canonical.starts_with(&legacy) {
            // OpenMetadata's id for this name, which other names share: it
            // may be this entity's secret, or a namesake's.
            format!(
                "references `{canonical}`, OpenMetadata's id for this entity's name, which names that sanitise alike share; om-secrets keeps this entity's secrets below `{}`: send the value again (or migrate it there)",
                scope.root
            )
        } else {
            format!(
                "references `{canonical}`, a secret of another entity (this entity's ids are below `{}`)",
                scope.root
            )
        };
        Err(Error::input(pointer, message))
    }

    fn need_name(&self, subject: &Subject) -> Result<()> {
        if subject.name.as_deref().is_none_or(str::is_empty) {
            return Err(Error::Input {
                pointer: None,
                message: "this operation needs the entity's name (`--name`, or the line's `name` with `--batch`)".into(),
            });
        }
        Ok(())
    }
}

/// Load the sandbox and the plugins the settings allow (built-in ones, and the
/// directory's granted and pinned ones). Any plugin refused at load stops
/// start-up: see [`crate::plugin::registry`].
pub fn load_plugins(settings: &Settings) -> Result<Plugins> {
    let sandbox = Sandbox::new(settings.limits.clone()).map_err(|reason| Error::Plugin {
        plugin: "(engine)".into(),
        reason,
    })?;
    let cache = ComponentCache::new(settings.cache_dir.join("components"));
    Plugins::load(&sandbox, Some(&cache), &settings.plugins)
}

fn set(doc: &mut Value, pointer: &str, v: Value) {
    if let Some(slot) = doc.pointer_mut(pointer) {
        *slot = v;
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    #[test]
    fn a_fernet_key_left_empty_or_damaged_says_what_to_do() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        let settings =
            crate::config::Settings::resolve(crate::config::FileConfig::default(), |k| {
                (k == "OM_SECRETS_HOME").then(|| home.to_string_lossy().into_owned())
            })
            .unwrap();
        fs::create_dir(&home).unwrap();
        let key = home.join("fernet.key");
        fs::write(&key, "").unwrap();
        let e = super::fernet_keys(&settings).unwrap_err().to_string();
        assert!(
            e.contains("fernet.key") && e.contains("empty") && e.contains("delete it"),
            "{e}"
        );
        fs::write(&key, "c2hvcnQ").unwrap();
        let e = super::fernet_keys(&settings).unwrap_err().to_string();
        assert!(e.contains("fernet.key") && e.contains("backup"), "{e}");
        fs::remove_file(&key).unwrap();
        super::fernet_keys(&settings).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!((mode(&home), mode(&key)), (0o700, 0o600));
        }
    }
}
