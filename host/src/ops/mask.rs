//! Masking: what an unprivileged caller sees.
//!
//! Every discovered field (secret or sensitive) holding a value — a string,
//! number or even an object — becomes `*********`; null stays null. Objects
//! OpenMetadata never shows (the server connection of pipelines and
//! workflows, with the ingestion bot's JWT) are removed. Then, as a second
//! line of defence, any string anywhere in the document that starts with
//! `fernet:` or `secret:` is masked too: a masked view never carries a token
//! or a reference, even if a plugin missed a field.

use serde_json::Value;

use super::{Field, SecretsManager, Subject, set};
use crate::fernet::PREFIX;
use crate::secret_id::REFERENCE_PREFIX;
use crate::{MASK, Result};

impl SecretsManager {
    /// The masked view of `doc` (plain or stored).
    pub fn mask(&self, subject: &Subject, doc: &Value) -> Result<Value> {
        let fields = self.locate(subject, doc)?;
        Ok(mask_fields(subject, doc, &fields))
    }
}

/// The masked view of `doc` given its discovered fields: what
/// [`SecretsManager::mask`] does after discovery (public so that a native
/// policy, as in the benchmarks, is masked by exactly the same code).
pub fn mask_fields(subject: &Subject, doc: &Value, fields: &[Field]) -> Value {
    let mut out = doc.clone();
    for f in fields {
        if doc.pointer(&f.pointer).is_some_and(|v| !v.is_null()) {
            set(&mut out, &f.pointer, Value::String(MASK.into()));
        }
    }
    for p in &subject.masked_whole {
        if let Some(slot) = out.pointer_mut(p).filter(|v| !v.is_null()) {
            *slot = Value::String(MASK.into());
        }
    }
    subject.drop_unstored(&mut out);
    scrub(&mut out);
    out
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
