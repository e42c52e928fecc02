//! Sealing: a plain config → its stored form.
//!
//! Per secret field, by value:
//!
//! | value | `db` | managed | non-managed |
//! |---|---|---|---|
//! | plain | `fernet:` it | write to the store, `fernet(secret:<id>)` | `fernet:` it |
//! | `secret:<id>` (a user's reference) | `fernet:` it | must exist, and not be another entity's managed secret; `fernet:` it | must exist; `fernet:` it |
//! | `fernet:` of a reference | unchanged | unchanged | unchanged |
//! | `fernet:` of a plain value | unchanged | moved into the store (migration) | unchanged |
//! | null, `""` | unchanged | its secret deleted; unchanged | unchanged |
//! | `"null"` (old OpenMetadata) | null | its secret deleted; null | null |
//! | `*********` | error: merge first | error | error |
//!
//! Sealing a sealed config therefore changes nothing and writes nothing.
//! Every check runs before the first write.

use serde_json::Value;
use zeroize::Zeroizing;

use super::{SecretsManager, Subject, set};
use crate::config::Mode;
use crate::fernet::is_tokenized;
use crate::plugin::check::Treatment;
use crate::secret_id::{REFERENCE_PREFIX, reference};
use crate::{Error, MASK, Result};

impl SecretsManager {
    /// Seal every secret field of `doc` (see the module docs).
    pub async fn seal(&self, subject: &Subject, doc: &Value) -> Result<Value> {
        self.need_name(subject)?;
        let fields = self.locate(subject, doc)?;
        let managed = self.mode == Mode::Managed;
        let mut out = doc.clone();
        let mut puts: Vec<(String, Zeroizing<String>)> = Vec::new();
        let mut deletes: Vec<String> = Vec::new();
        let mut references: Vec<(String, String)> = Vec::new();

        for f in fields.iter().filter(|f| f.treatment == Treatment::Secret) {
            let value = match doc.pointer(&f.pointer) {
                // OpenMetadata wrote the string "null" for cleared secrets:
                // it is never stored, and means the same as null.
                Some(Value::String(s)) if s == "null" => {
                    if managed {
                        deletes.push(f.secret_id.clone());
                    }
                    set(&mut out, &f.pointer, Value::Null);
                    continue;
                }
                Some(Value::String(s)) if !s.is_empty() => s.as_str(),
                _ => {
                    if managed {
                        deletes.push(f.secret_id.clone());
                    }
                    continue;
                }
            };
            if value == MASK {
                return Err(Error::input(
                    f.pointer.clone(),
                    "holds the mask `*********`, not a secret: merge the update with the stored config before sealing",
                ));
            }
            if is_tokenized(value) {
                let plain = self.fernet.decrypt(value).map_err(|e| e.at(&f.pointer))?;
                if let Some(id) = reference(&plain) {
                    self.check_reference(subject, &f.pointer, id)?;
                }
                if managed && reference(&plain).is_none() && !plain.is_empty() {
                    // A value sealed in `db` mode: move it into the store.
                    let stored = self
                        .fernet
                        .encrypt(&format!("{REFERENCE_PREFIX}{}", f.secret_id));
                    puts.push((f.secret_id.clone(), plain));
                    set(&mut out, &f.pointer, Value::String(stored));
                }
                continue;
            }
            if let Some(id) = reference(value) {
                if id.is_empty() {
                    return Err(Error::input(
                        f.pointer.clone(),
                        "`secret:` reference without an id",
                    ));
                }
                self.check_reference(subject, &f.pointer, id)?;
                if self.store.is_some() {
                    references.push((f.pointer.clone(), id.to_string()));
                }
                set(
                    &mut out,
                    &f.pointer,
                    Value::String(self.fernet.encrypt(value)),
                );
                continue;
            }
            let stored = if managed {
                puts.push((f.secret_id.clone(), Zeroizing::new(value.to_string())));
                self.fernet
                    .encrypt(&format!("{REFERENCE_PREFIX}{}", f.secret_id))
            } else {
                self.fernet.encrypt(value)
            };
            set(&mut out, &f.pointer, Value::String(stored));
        }

        // Checks that need the store, still before any write.
        if let Some(store) = &self.store {
            for (pointer, id) in &references {
                if store.get(id).await?.is_none() {
                    return Err(Error::MissingSecret {
                        pointer: pointer.clone(),
                        id: id.clone(),
                        store: store.name().into(),
                    });
                }
            }
            // Always written, never compared with a (possibly cached) read:
            // put is an idempotent upsert, and stores that can tell skip
            // unchanged values themselves (the local store does).
            for (id, value) in &puts {
                store.put(id, value).await?;
            }
            for id in &deletes {
                store.delete(id).await?;
            }
        }
        Ok(out)
    }
}
