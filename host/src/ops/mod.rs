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

mod forget;
mod mask;
mod merge;
mod reveal;
mod seal;
mod subject;

pub use subject::{Subject, check_bot};

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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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

/// Everything the operations need: mode, keys, store, ids and plugins.
pub struct SecretsManager {
    mode: Mode,
    fernet: FernetKeys,
    store: Option<Arc<dyn SecretStore>>,
    ids: IdBuilder,
    plugins: Arc<Plugins>,
}

impl std::fmt::Debug for SecretsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManager")
            .field("mode", &self.mode)
            .field("store", &self.store.as_ref().map(|s| s.name()))
            .field("ids", &self.ids)
            .field("plugins", &self.plugins)
            .finish()
    }
}

/// The Fernet keys: configured, or generated once and kept in
/// `<home>/fernet.key` (mode 0600).
pub fn fernet_keys(settings: &Settings) -> Result<FernetKeys> {
    if let Some(k) = &settings.fernet_key {
        return Ok(FernetKeys::parse(k)?);
    }
    let home = &settings.home;
    crate::kms::local::create_private_dir(home).map_err(|e| Error::io(home, e))?;
    let path = home.join("fernet.key");
    let key = crate::kms::local::create_private_file(&path, &FernetKeys::generate_key())
        .map_err(|e| Error::io(&path, e))?;
    FernetKeys::parse(key.trim()).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

impl SecretsManager {
    /// Assemble a manager from parts (tests, embedders).
    pub fn new(
        mode: Mode,
        fernet: FernetKeys,
        store: Option<Arc<dyn SecretStore>>,
        ids: IdBuilder,
        plugins: Arc<Plugins>,
    ) -> Result<Self> {
        if mode != Mode::Db && store.is_none() {
            return Err(Error::Config(
                "managed and non-managed modes need a secret store".into(),
            ));
        }
        Ok(SecretsManager {
            mode,
            fernet,
            store,
            ids,
            plugins,
        })
    }

    /// Build everything from settings: keys, store, sandbox and plugins.
    pub async fn from_settings(settings: &Settings) -> Result<Self> {
        let fernet = fernet_keys(settings)?;
        let store = crate::kms::open(settings).await?;
        let plugins = load_plugins(settings)?;
        let ids = IdBuilder::new(&settings.prefix, &settings.cluster_name);
        let mode = if settings.provider == Provider::Db {
            Mode::Db
        } else {
            settings.mode
        };
        Self::new(mode, fernet, store, ids, Arc::new(plugins))
    }

    /// The loaded plugins.
    pub fn plugins(&self) -> &Plugins {
        &self.plugins
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The store, if the mode has one.
    pub fn store(&self) -> Option<&Arc<dyn SecretStore>> {
        self.store.as_ref()
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
        let checked = self
            .plugins
            .discover_by(&subject.service_type, &subject.type_key, config)
            .map_err(|e| match e {
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
        Ok(checked
            .into_iter()
            .map(|c| {
                let mut segments = subject.id_segments.clone();
                segments.extend(c.segments);
                let secret_id = match &subject.name {
                    Some(name) => self.ids.id(&subject.kind, name, &segments),
                    None => segments.join("/"),
                };
                Field {
                    pointer: format!("{at}{}", c.pointer),
                    secret_id,
                    treatment: c.treatment,
                }
            })
            .collect())
    }

    /// In managed mode the deployment's id namespace belongs to om-secrets:
    /// a `secret:` reference into it must stay within the entity's own ids,
    /// so no config (sent by a user, or a token copied between rows of the
    /// database) can make a privileged reveal read another entity's secret.
    /// References outside the namespace are the user's own secrets.
    fn check_reference(&self, subject: &Subject, pointer: &str, id: &str) -> Result<()> {
        if self.mode != Mode::Managed || !self.ids.owns(id) {
            return Ok(());
        }
        let Some(name) = &subject.name else {
            return Err(Error::input(
                pointer,
                "references a managed secret: the entity's name (--name) is needed to check it",
            ));
        };
        let root = format!("{}/", self.ids.entity(&subject.kind, name));
        if id.starts_with(&root) {
            Ok(())
        } else {
            Err(Error::input(
                pointer,
                format!("references `{id}`, a secret of another entity"),
            ))
        }
    }

    fn need_name(&self, subject: &Subject) -> Result<()> {
        if subject.name.is_none() {
            return Err(Error::Input {
                pointer: None,
                message: "this operation needs the entity's name (--name)".into(),
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

/// A string at a pointer, or `None` for null/missing.
fn string_at<'a>(doc: &'a Value, pointer: &str) -> Option<&'a str> {
    doc.pointer(pointer).and_then(Value::as_str)
}

fn set(doc: &mut Value, pointer: &str, v: Value) {
    if let Some(slot) = doc.pointer_mut(pointer) {
        *slot = v;
    }
}
