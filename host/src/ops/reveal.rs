//! Revealing: stored form → plain values, for privileged callers.
//!
//! Each secret field is Fernet-decrypted; a `secret:<id>` reference is then
//! read from the store — unless references are kept (the form OpenMetadata's
//! server hands to its ingestion side, which resolves them with its own
//! credentials). A reference to a secret that is not there is an error naming
//! the field and the id.

use serde_json::Value;

use super::{SecretsManager, Subject, set};
use crate::fernet::is_tokenized;
use crate::plugin::check::Treatment;
use crate::secret_id::reference;
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
            let Some(Value::String(value)) = doc.pointer(&f.pointer) else {
                continue;
            };
            let plain = if is_tokenized(value) {
                self.fernet.decrypt(value).map_err(|e| e.at(&f.pointer))?
            } else {
                zeroize::Zeroizing::new(value.clone())
            };
            let resolved = match reference(&plain) {
                Some(id) if !keep_references => {
                    self.check_reference(subject, &f.pointer, id)?;
                    let store = self.store.as_ref().ok_or_else(|| {
                        Error::Config(format!(
                            "field `{}` holds a `secret:` reference, but secretsManager `db` has no store to resolve it",
                            f.pointer
                        ))
                    })?;
                    let value = store.get(id).await?.ok_or_else(|| Error::MissingSecret {
                        pointer: f.pointer.clone(),
                        id: id.to_string(),
                        store: store.name().into(),
                    })?;
                    value.to_string()
                }
                _ => plain.to_string(),
            };
            set(&mut out, &f.pointer, Value::String(resolved));
        }
        Ok(out)
    }
}
