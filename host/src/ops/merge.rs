//! Merging an update that still holds masks.
//!
//! A user edits an entity in a UI that only ever saw `*********`. The update
//! comes back with the mask wherever the user did not type a new secret —
//! in a discovered field, or anywhere else `mask` hid a token or reference.
//! Every mask in the update takes the stored (still sealed) value from the
//! *same place* of the stored form; changed values stay as sent. The result
//! seals without losing anything.
//!
//! "The same place" follows the update's path through the stored form:
//! object members by key, and array elements by identity — the element's
//! `name` (else `id`) — never by position, so removing or reordering
//! elements never gives one element another's secret. A mask inside an
//! array whose elements carry no identity cannot be placed, and a mask with
//! nothing stored behind it would store the mask itself: both are errors
//! naming the pointer (send the real value).

use serde_json::Value;

use super::value::masks;
use super::{SecretsManager, Subject, set};
use crate::plugin::check::{escape_token, tokens};
use crate::{Error, MASK, Result};

/// Keys that identify an array element, in order of preference.
const IDENTITY_KEYS: &[&str] = &["name", "id"];

impl SecretsManager {
    /// Merge `incoming` (possibly masked) with `stored` (sealed).
    pub fn merge(&self, subject: &Subject, stored: &Value, incoming: &Value) -> Result<Value> {
        // The update must be a document of this subject (routing, plugin).
        self.locate(subject, incoming)?;
        let mut found = Vec::new();
        masks(incoming, &mut String::new(), &mut found);
        let mut out = incoming.clone();
        for p in found {
            let from = counterpart(incoming, stored, &p)?;
            match from.as_deref().and_then(|q| stored.pointer(q)) {
                Some(Value::String(s)) if s != MASK && !s.is_empty() => {
                    set(&mut out, &p, Value::String(s.clone()))
                }
                // A value masked whole (an Application's private config).
                Some(
                    v @ (Value::Object(_) | Value::Array(_) | Value::Number(_) | Value::Bool(_)),
                ) if subject.masked_whole.contains(&p) => set(&mut out, &p, v.clone()),
                _ => {
                    return Err(Error::input(
                        p,
                        "holds the mask `*********` but the stored config has no value there: send the real value",
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// An array element's identity: its `name` or `id` (a string or number).
fn identity(v: &Value) -> Option<(&'static str, &Value)> {
    let m = v.as_object()?;
    IDENTITY_KEYS.iter().find_map(|k| {
        m.get(*k)
            .filter(|x| (x.is_string() && x.as_str() != Some(MASK)) || x.is_number())
            .map(|x| (*k, x))
    })
}

/// The pointer in `stored` of the place `pointer` names in `incoming`
/// (`None`: the stored form has no such place).
fn counterpart(incoming: &Value, stored: &Value, pointer: &str) -> Result<Option<String>> {
    let mut inc = incoming;
    let mut st = Some(stored);
    let mut walked = String::new();
    let mut out = String::new();
    let keys = tokens(pointer).expect("masks() makes RFC 6901 pointers");
    for key in keys {
        match inc {
            Value::Object(m) => {
                inc = &m[&key];
                st = st.and_then(|s| s.get(&key));
                out.push('/');
                out.push_str(&escape_token(&key));
            }
            Value::Array(a) => {
                let i: usize = key.parse().expect("a pointer from masks() indexes arrays");
                let elem = &a[i];
                let Some((k, want)) = identity(elem) else {
                    return Err(Error::input(
                        pointer,
                        format!(
                            "holds the mask `*********` inside an element of the array `{walked}` that has no `name` or `id` to match it with its stored element: send the real value"
                        ),
                    ));
                };
                if a.iter().filter(|e| e.get(k) == Some(want)).count() > 1 {
                    return Err(Error::input(
                        pointer,
                        format!(
                            "holds the mask `*********` in an element of `{walked}` whose `{k}` is not unique: send the real value"
                        ),
                    ));
                }
                let found = st.and_then(Value::as_array).and_then(|sa| {
                    let mut hits = sa
                        .iter()
                        .enumerate()
                        .filter(|(_, e)| identity(e).is_some_and(|(k2, v)| k2 == k && v == want));
                    match (hits.next(), hits.next()) {
                        (Some(hit), None) => Some(hit),
                        _ => None,
                    }
                });
                inc = elem;
                match found {
                    Some((j, e)) => {
                        st = Some(e);
                        out.push('/');
                        out.push_str(&j.to_string());
                    }
                    None => st = None,
                }
            }
            _ => return Ok(None),
        }
        walked.push('/');
        walked.push_str(&escape_token(&key));
    }
    Ok(st.map(|_| out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn array_elements_are_matched_by_identity_not_position() {
        let stored = json!({"servers": [{"name": "A", "key": "ka"}, {"name": "B", "key": "kb"}]});
        // A removed, B sent masked: B's own key, from index 1.
        let incoming = json!({"servers": [{"name": "B", "key": MASK}]});
        assert_eq!(
            counterpart(&incoming, &stored, "/servers/0/key").unwrap(),
            Some("/servers/1/key".into())
        );
        // Reordered.
        let incoming = json!({"servers": [{"name": "B", "key": MASK}, {"name": "A", "key": MASK}]});
        assert_eq!(
            counterpart(&incoming, &stored, "/servers/1/key").unwrap(),
            Some("/servers/0/key".into())
        );
        // A new element has nothing stored.
        let incoming = json!({"servers": [{"name": "C", "key": MASK}]});
        assert_eq!(
            counterpart(&incoming, &stored, "/servers/0/key").unwrap(),
            None
        );
    }

    #[test]
    fn elements_without_identity_fail_closed() {
        let stored = json!({"tokens": [{"t": "x"}, {"t": "y"}]});
        let incoming = json!({"tokens": [{"t": MASK}]});
        let e = counterpart(&incoming, &stored, "/tokens/0/t").unwrap_err();
        assert!(
            matches!(e, Error::Input { pointer: Some(ref p), .. } if p == "/tokens/0/t"),
            "{e}"
        );
        let incoming = json!({"tokens": [MASK]});
        assert!(counterpart(&incoming, &json!({"tokens": ["x"]}), "/tokens/0").is_err());
        // Duplicate identities cannot be told apart either.
        let incoming = json!({"s": [{"name": "A", "k": MASK}, {"name": "A", "k": "new"}]});
        assert!(
            counterpart(
                &incoming,
                &json!({"s": [{"name": "A", "k": "x"}]}),
                "/s/0/k"
            )
            .is_err()
        );
    }

    #[test]
    fn keys_with_slashes_and_tildes_map_through() {
        let stored = json!({"a/b": {"~c": "v"}});
        let incoming = json!({"a/b": {"~c": MASK}});
        assert_eq!(
            counterpart(&incoming, &stored, "/a~1b/~0c").unwrap(),
            Some("/a~1b/~0c".into())
        );
    }
}
