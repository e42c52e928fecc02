//! Masking: what an unprivileged caller sees.
//!
//! Every discovered field (secret or sensitive) holding a string becomes
//! `*********`; null stays null. Then, as a second line of defence, any string
//! anywhere in the document that starts with `fernet:` or `secret:` is masked
//! too: a masked view never carries a token or a reference, even if a plugin
//! missed a field.

use serde_json::Value;

use super::{SecretsManager, Subject, set};
use crate::fernet::PREFIX;
use crate::secret_id::REFERENCE_PREFIX;
use crate::{MASK, Result};

impl SecretsManager {
    /// The masked view of `doc` (plain or stored).
    pub fn mask(&self, subject: &Subject, doc: &Value) -> Result<Value> {
        let fields = self.locate(subject, doc)?;
        let mut out = doc.clone();
        for f in &fields {
            if let Some(Value::String(_)) = doc.pointer(&f.pointer) {
                set(&mut out, &f.pointer, Value::String(MASK.into()));
            }
        }
        scrub(&mut out);
        Ok(out)
    }
}

fn scrub(v: &mut Value) {
    match v {
        Value::String(s) if s.starts_with(PREFIX) || s.starts_with(REFERENCE_PREFIX) => {
            *s = MASK.into()
        }
        Value::Array(a) => a.iter_mut().for_each(scrub),
        Value::Object(m) => m.values_mut().for_each(scrub),
        _ => {}
    }
}
