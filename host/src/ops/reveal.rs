//! Revealing: stored form → plain values, for privileged callers.
//!
//! Each secret field is Fernet-decrypted; a `secret:<id>` reference is then
//! read from the store — unless references are kept (the form OpenMetadata's
//! server hands to its ingestion side, which resolves them with its own
//! credentials). Either way a reference into the deployment's id namespace
//! must lie in the entity's own scope, checked on the store's canonical form
//! of the id, and a resolved reference reads exactly that canonical id. A
//! reference to a secret that is not there is an error naming the field and
//! the id.

use serde_json::Value;

use super::value::{Held, Opened};
use super::{SecretsManager, Subject, set};
use crate::plugin::check::Treatment;
use crate::secret_id::REFERENCE_PREFIX;
use crate::{Error, Result};

impl SecretsManager {
    /// Reveal every secret field of `doc`.
    pub async fn reveal(
        &self,
        subject: &Subject,
        doc: &Value,
        keep_references: bool,
    ) -> Result<Value> {
        let fields = self.locate(subject, doc)?;
        let mut out = doc.clone();
        for f in fields.iter().filter(|f| f.treatment == Treatment::Secret) {
            let p = f.pointer.as_str();
            let id = match Held::of(doc.pointer(p)) {
                Held::Token(token) => match Held::open(token, &self.fernet, p)? {
                    Opened::Reference(id) => id,
                    Opened::Cleared => {
                        set(&mut out, p, Value::String(String::new()));
                        continue;
                    }
                    Opened::Plain(plain) => {
                        set(&mut out, p, Value::String(plain.to_string()));
                        continue;
                    }
                },
                Held::Reference(id) => id.to_string(),
                _ => continue,
            };
            let canonical = self.owned_reference(subject, p, &id).await?;
            if keep_references {
                set(
                    &mut out,
                    p,
                    Value::String(format!("{REFERENCE_PREFIX}{id}")),
                );
                continue;
            }
            let store = self.backend.store().ok_or_else(|| {
                Error::Config(format!(
                    "field `{p}` holds a `secret:` reference, but secretsManager `db` has no store to resolve it"
                ))
            })?;
            let value = store
                .get(&canonical)
                .await?
                .ok_or_else(|| Error::MissingSecret {
                    pointer: p.to_string(),
                    id: canonical.clone(),
                    store: store.name().into(),
                })?;
            set(&mut out, p, Value::String(value.to_string()));
        }
        Ok(out)
    }
}
