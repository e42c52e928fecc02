//! A light JSON tree for discovery: what a call parses its config into.
//!
//! Discovery only asks of a config which keys it has, in which order, and
//! which values are strings, nulls, numbers, booleans, objects or arrays. So
//! the tree borrows every key and string from the config's text (a string is
//! copied only when it holds an escape), keeps an object's entries in their
//! order in a plain vector (looked up by a scan: objects are small, and the
//! rules ask for a few keys), and keeps no number's value. serde_json does the
//! reading, so what is accepted as JSON, and how deep it may nest, is exactly
//! what `serde_json::from_str::<serde_json::Value>` accepts.
//!
//! A key given twice keeps its first place and its last value, as
//! `serde_json::Value` (with `preserve_order`) does.

use std::borrow::Cow;
use std::fmt;

use crate::fx::{FastMap, FastSet};

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value whose strings borrow from the text it was read from.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number (its value is never needed).
    Number,
    /// A string.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Value<'a>>),
    /// An object, its entries in order.
    Object(Object<'a>),
}

/// An object's entries, in the order of the text; keys are unique.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Object<'a> {
    entries: Vec<(Cow<'a, str>, Value<'a>)>,
}

impl<'a> Object<'a> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.get_key_value(key).map(|(_, v)| v)
    }

    /// The entry of `key`.
    pub fn get_key_value(&self, key: &str) -> Option<(&Cow<'a, str>, &Value<'a>)> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(k, v)| (k, v))
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Cow<'a, str>, &Value<'a>)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The values, in order.
    pub fn values(&self) -> impl Iterator<Item = &Value<'a>> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A key given twice keeps its first place and takes the last value.
    fn dedup(&mut self) {
        let n = self.entries.len();
        let has_duplicates = if n <= 16 {
            (1..n).any(|i| {
                self.entries[..i]
                    .iter()
                    .any(|(k, _)| *k == self.entries[i].0)
            })
        } else {
            let mut seen = FastSet::with_capacity_and_hasher(n, Default::default());
            !self.entries.iter().all(|(k, _)| seen.insert(&k[..]))
        };
        if !has_duplicates {
            return;
        }
        let mut first: FastMap<Cow<'a, str>, usize> = FastMap::default();
        let mut out: Vec<(Cow<'a, str>, Value<'a>)> = Vec::with_capacity(n);
        for (k, v) in std::mem::take(&mut self.entries) {
            match first.get(&k) {
                Some(&i) => out[i].1 = v,
                None => {
                    first.insert(k.clone(), out.len());
                    out.push((k, v));
                }
            }
        }
        self.entries = out;
    }
}

impl<'a> Value<'a> {
    /// Parse JSON text (serde_json's grammar and nesting limit).
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let v = Value::deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }

    /// The same tree over a `serde_json::Value`, borrowing its strings.
    pub fn from_serde(v: &'a serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(_) => Value::Number,
            serde_json::Value::String(s) => Value::String(Cow::Borrowed(s)),
            serde_json::Value::Array(a) => Value::Array(a.iter().map(Value::from_serde).collect()),
            serde_json::Value::Object(m) => Value::Object(Object {
                entries: m
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(&k[..]), Value::from_serde(v)))
                    .collect(),
            }),
        }
    }

    /// The value of `key`, if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(m) => m.get(key),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Value<'de>, E> {
        Ok(Value::Number)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Value<'de>, E> {
        Ok(Value::Number)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Value<'de>, E> {
        Ok(Value::Number)
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value<'de>, D::Error> {
        Value::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        let mut obj = Object {
            entries: Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096)),
        };
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let v = map.next_value()?;
            obj.entries.push((k, v));
        }
        obj.dedup();
        Ok(Value::Object(obj))
    }
}

/// A key, borrowed from the text unless it holds an escape.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same tree as serde_json's, for what it reads and what it refuses.
    #[test]
    fn reads_as_serde_json_reads() {
        for text in [
            r#"{"a": 1, "b": [true, null, "x\"y", {"c": -2.5e3}], "é\u00e9": "\ud83d\ude00"}"#,
            r#"{"k": 1, "j": 2, "k": "last"}"#,
            "[]",
            "  {}  ",
            r#""s""#,
        ] {
            let ours = Value::parse(text).unwrap();
            let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, Value::from_serde(&theirs), "{text}");
        }
        let dup = Value::parse(r#"{"k": 1, "j": 2, "k": "last"}"#).unwrap();
        let Value::Object(m) = &dup else { panic!() };
        let keys: Vec<&str> = m.iter().map(|(k, _)| &k[..]).collect();
        assert_eq!(keys, ["k", "j"]);
        assert_eq!(m.get("k").and_then(Value::as_str), Some("last"));
        let many: String = (0..40).map(|i| format!("\"k{}\": {i},", i % 30)).collect();
        let text = format!("{{{}\"z\": 0}}", many);
        let theirs: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(Value::parse(&text).unwrap(), Value::from_serde(&theirs));
        for bad in ["{", "[1,]", "{\"a\" 1}", "1e400", "{} x", &"[".repeat(200)] {
            assert!(Value::parse(bad).is_err(), "{bad}");
            assert!(
                serde_json::from_str::<serde_json::Value>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
