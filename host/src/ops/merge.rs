//! Merging an update that still holds masks.
//!
//! A user edits a service in a UI that only ever saw `*********`. The update
//! comes back with the mask wherever the user did not type a new secret.
//! Each discovered field of the update that holds the mask takes the stored
//! (still sealed) value at the same place; changed values stay as sent. The
//! result seals without losing anything. A mask with nothing stored behind it
//! is an error: storing the mask itself would lose the secret.

use serde_json::Value;

use super::{SecretsManager, Subject, set, string_at};
use crate::{Error, MASK, Result};

impl SecretsManager {
    /// Merge `incoming` (possibly masked) with `stored` (sealed).
    pub fn merge(&self, subject: &Subject, stored: &Value, incoming: &Value) -> Result<Value> {
        let fields = self.locate(subject, incoming)?;
        let mut out = incoming.clone();
        for f in &fields {
            if string_at(incoming, &f.pointer) != Some(MASK) {
                continue;
            }
            match string_at(stored, &f.pointer) {
                Some(s) if s != MASK => set(&mut out, &f.pointer, Value::String(s.to_string())),
                _ => {
                    return Err(Error::input(
                        f.pointer.clone(),
                        "holds the mask `*********` but the stored config has no value there: send the real value",
                    ));
                }
            }
        }
        Ok(out)
    }
}
