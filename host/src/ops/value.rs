//! What a secret field holds, classified once for every operation.
//!
//! [`Held`] is what the document carries at a field's pointer; a
//! `fernet:` token is then [`opened`](Held::open) into what it hides. The
//! operations are each one `match` over this (and the [`super::Backend`]),
//! so the README's mode table and the code have one shape.

use serde_json::Value;
use zeroize::Zeroizing;

use crate::fernet::{FernetKeys, is_tokenized};
use crate::secret_id::reference;
use crate::{MASK, Result};

/// What a secret field holds.
#[derive(Debug)]
pub(crate) enum Held<'a> {
    /// Missing, or JSON null.
    Absent,
    /// `""`, or the string `"null"` that old OpenMetadata versions wrote for a
    /// cleared secret (`null_string`: it must become JSON null).
    Cleared {
        /// The value was the string `"null"`.
        null_string: bool,
    },
    /// The viewer's mask `*********`: never a secret.
    Mask,
    /// A `secret:<id>` reference (the id may be empty: an error where used).
    Reference(&'a str),
    /// A `fernet:` token.
    Token(&'a str),
    /// A plain value (a number or boolean counts as its JSON text).
    Plain(Zeroizing<String>),
    /// An object or array where a secret string belongs.
    Structured,
}

/// What a `fernet:` token hides.
#[derive(Debug)]
pub(crate) enum Opened {
    /// An encrypted reference: the id.
    Reference(String),
    /// An encrypted empty value.
    Cleared,
    /// An encrypted plain value (sealed in `db` or non-managed mode).
    Plain(Zeroizing<String>),
}

impl<'a> Held<'a> {
    /// Classify the value at a field's pointer.
    pub(crate) fn of(value: Option<&'a Value>) -> Held<'a> {
        match value {
            None | Some(Value::Null) => Held::Absent,
            Some(Value::String(s)) => match s.as_str() {
                "" => Held::Cleared { null_string: false },
                "null" => Held::Cleared { null_string: true },
                MASK => Held::Mask,
                s if is_tokenized(s) => Held::Token(s),
                s => match reference(s) {
                    Some(id) => Held::Reference(id),
                    None => Held::Plain(Zeroizing::new(s.to_string())),
                },
            },
            Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                Held::Plain(Zeroizing::new(v.to_string()))
            }
            Some(Value::Array(_) | Value::Object(_)) => Held::Structured,
        }
    }

    /// Decrypt a token (the pointer names the field in errors).
    pub(crate) fn open(token: &str, keys: &FernetKeys, pointer: &str) -> Result<Opened> {
        let plain = keys.decrypt(token).map_err(|e| e.at(pointer))?;
        Ok(match reference(&plain) {
            Some(id) => Opened::Reference(id.to_string()),
            None if plain.is_empty() => Opened::Cleared,
            None => Opened::Plain(plain),
        })
    }
}

/// Every pointer in `v` (below `at`) whose string is the mask.
pub(crate) fn masks(v: &Value, at: &mut String, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s == MASK => out.push(at.clone()),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let len = at.len();
                at.push('/');
                at.push_str(&i.to_string());
                masks(x, at, out);
                at.truncate(len);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let len = at.len();
                at.push('/');
                at.push_str(&crate::plugin::check::escape_token(k));
                masks(x, at, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_each_form_once() {
        assert!(matches!(Held::of(None), Held::Absent));
        assert!(matches!(Held::of(Some(&json!(null))), Held::Absent));
        assert!(matches!(
            Held::of(Some(&json!(""))),
            Held::Cleared { null_string: false }
        ));
        assert!(matches!(
            Held::of(Some(&json!("null"))),
            Held::Cleared { null_string: true }
        ));
        assert!(matches!(Held::of(Some(&json!(MASK))), Held::Mask));
        assert!(matches!(
            Held::of(Some(&json!("secret:/a/b"))),
            Held::Reference("/a/b")
        ));
        assert!(matches!(
            Held::of(Some(&json!("fernet:gAAA"))),
            Held::Token("fernet:gAAA")
        ));
        match Held::of(Some(&json!(5432))) {
            Held::Plain(p) => assert_eq!(p.as_str(), "5432"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(Held::of(Some(&json!({"a": 1}))), Held::Structured));
    }

    #[test]
    fn finds_masks_anywhere_with_escaped_pointers() {
        let v = json!({"a/b": [1, MASK], "c": {"~d": MASK, "e": "x"}});
        let mut out = Vec::new();
        masks(&v, &mut String::new(), &mut out);
        out.sort();
        assert_eq!(out, vec!["/a~1b/1", "/c/~0d"]);
    }
}
