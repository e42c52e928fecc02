//! Forgetting: delete an entity's secrets from the store when the entity is
//! hard-deleted (a soft delete keeps them, so a restore works).
//!
//! Only secrets om-secrets owns are deleted: in managed mode, the id of every
//! secret field, and any reference below the entity's own id root. A user's
//! reference to a secret of their own (`secret:/team/db-password`) is never
//! deleted, and non-managed stores are never written.

use serde_json::Value;

use super::{SecretsManager, Subject};
use crate::Result;
use crate::config::Mode;
use crate::fernet::is_tokenized;
use crate::plugin::check::Treatment;
use crate::secret_id::reference;

impl SecretsManager {
    /// Delete the entity's secrets; returns the ids that existed.
    pub async fn forget(&self, subject: &Subject, stored: &Value) -> Result<Vec<String>> {
        self.need_name(subject)?;
        let fields = self.locate(subject, stored)?;
        let (Mode::Managed, Some(store)) = (self.mode, &self.store) else {
            return Ok(Vec::new());
        };
        let root = format!(
            "{}/",
            self.ids
                .entity(&subject.kind, subject.name.as_deref().unwrap_or_default())
        );
        let mut ids = Vec::new();
        for f in fields.iter().filter(|f| f.treatment == Treatment::Secret) {
            ids.push(f.secret_id.clone());
            if let Some(Value::String(v)) = stored.pointer(&f.pointer)
                && is_tokenized(v)
            {
                let plain = self.fernet.decrypt(v).map_err(|e| e.at(&f.pointer))?;
                if let Some(id) = reference(&plain)
                    && id.starts_with(&root)
                    && !ids.iter().any(|x| x == id)
                {
                    ids.push(id.to_string());
                }
            }
        }
        let mut deleted = Vec::new();
        for id in ids {
            if store.delete(&id).await? {
                deleted.push(id);
            }
        }
        Ok(deleted)
    }
}
