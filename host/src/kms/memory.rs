//! `in-memory`: secrets in process memory, for tests and demos. Counts its
//! writes and deletes so tests can tell that an operation wrote nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::{KmsError, SecretStore, SecretValue, absent_if_null};

const NAME: &str = "in-memory";

/// A store in process memory.
#[derive(Default)]
pub struct MemoryStore {
    map: Mutex<BTreeMap<String, SecretValue>>,
    writes: AtomicUsize,
    deletes: AtomicUsize,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The ids held, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.map.lock().unwrap().keys().cloned().collect()
    }

    /// How many `put` calls were made.
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// How many `delete` calls were made.
    pub fn deletes(&self) -> usize {
        self.deletes.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl SecretStore for MemoryStore {
    fn name(&self) -> &str {
        NAME
    }

    async fn get(&self, id: &str) -> Result<Option<SecretValue>, KmsError> {
        Ok(absent_if_null(self.map.lock().unwrap().get(id).cloned()))
    }

    async fn put(&self, id: &str, value: &str) -> Result<(), KmsError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.map
            .lock()
            .unwrap()
            .insert(id.to_string(), Zeroizing::new(value.to_string()));
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<bool, KmsError> {
        self.deletes.fetch_add(1, Ordering::SeqCst);
        Ok(self.map.lock().unwrap().remove(id).is_some())
    }

    fn validate(&self, id: &str) -> Result<(), KmsError> {
        super::check_well_formed(NAME, id)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, KmsError> {
        super::check_prefix(NAME, prefix)?;
        Ok(super::under_prefix(self.map.lock().unwrap().keys(), prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_by_prefix_and_refuses_malformed_ids() {
        let m = MemoryStore::new();
        for id in ["/o/db/svc/a", "/o/db/svc/b/c", "/o/db/svc-2/a"] {
            m.put(id, "v").await.unwrap();
        }
        assert_eq!(
            m.list("/o/db/svc/").await.unwrap(),
            ["/o/db/svc/a", "/o/db/svc/b/c"]
        );
        assert!(m.list("/o/db/svc").await.is_err());
        assert!(m.validate("/o/db/svc/a").is_ok());
        for bad in ["o/db/svc/a", "/o/db//a", "/o/db/svc/", "/o/../a"] {
            let e = m.canonical(bad).await.unwrap_err();
            assert_eq!(e.id.as_deref(), Some(bad));
        }
        assert_eq!(m.canonical("/o/db/svc/a").await.unwrap(), "/o/db/svc/a");
    }
}
