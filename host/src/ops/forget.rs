//! Forgetting: delete an entity's secrets from the store when the entity is
//! hard-deleted (a soft delete keeps them, so a restore works).
//!
//! Only secrets om-secrets owns are deleted, and all of them: in managed
//! mode, the id of every secret field, every reference of the stored form
//! into the entity's own [`Scope`](super::Scope), and every id the store
//! lists below that scope's root (secrets an earlier update orphaned). Ids
//! of another entity — a sibling name (`svc` / `svc-2`), an ingestion
//! pipeline sharing a pipeline service's root, a reference copied from
//! another row — are never deleted; nor is a user's reference to a secret of
//! their own (`secret:/team/db-password`), and non-managed stores are never
//! written.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Backend, SecretsManager, Subject};
use crate::Result;
use crate::kms::Change;
use crate::plugin::check::Treatment;

impl SecretsManager {
    /// Delete the entity's secrets; returns the ids that existed, sorted.
    pub async fn forget(&self, subject: &Subject, stored: &Value) -> Result<Vec<String>> {
        self.need_name(subject)?;
        let fields = self.locate(subject, stored)?;
        let Backend::Managed(store) = &self.backend else {
            return Ok(Vec::new());
        };
        let scope = self.scope(subject);
        let candidates: BTreeSet<String> = fields
            .into_iter()
            .filter(|f| f.treatment == Treatment::Secret)
            .map(|f| f.secret_id)
            .chain(self.own_references(subject, stored).await?)
            .collect();
        // What exists: every id the store lists in the scope (a listing may
        // lag behind a write on AWS, so named ids are also asked for).
        let mut existing: BTreeSet<String> = store
            .list(&scope.root)
            .await?
            .into_iter()
            .filter(|id| scope.contains(id))
            .collect();
        let unlisted: Vec<String> = candidates.difference(&existing).cloned().collect();
        for id in unlisted {
            if store.get(&id).await?.is_some() {
                existing.insert(id);
            }
        }
        // One batch: a single durable write on the local store.
        let changes: Vec<Change> = existing.iter().cloned().map(Change::Delete).collect();
        store.apply(&changes).await.map_err(|(_, e)| e)?;
        let deleted: Vec<String> = existing.into_iter().collect();
        Ok(deleted)
    }
}
