//! `in-memory`: secrets in process memory, for tests and demos. Counts its
//! writes and deletes so tests can tell that an operation wrote nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::{KmsError, SecretStore, SecretValue, absent_if_null};

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
        "in-memory"
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
}
