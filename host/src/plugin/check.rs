//! Checking what a plugin answered. Nothing a plugin says is trusted:
//!
//! - at most [`super::Limits::max_fields`] fields;
//! - every pointer is a valid RFC 6901 pointer that exists in the input and
//!   names a string or null, and is not `/type` (the routing key);
//! - no pointer is listed twice;
//! - the segments are exactly the pointer's tokens, normalised as secret-id
//!   segments — so ids are the host's, derived from pointers and the entity
//!   name, and a plugin cannot direct a write to another entity's secret.
//!
//! One bad field rejects the whole answer: never a partial result.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use zeroize::Zeroizing;

use super::PluginFailure;
use crate::secret_id::segment;

/// What the host does with a field (mirrors the WIT enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Treatment {
    /// Sealed and masked.
    Secret,
    /// Masked only.
    Sensitive,
}

/// A field the host accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedField {
    /// RFC 6901 pointer into the config.
    pub pointer: String,
    /// Secret-id segments (the pointer's tokens, normalised).
    pub segments: Vec<String>,
    /// Treatment.
    pub treatment: Treatment,
}

/// Split an RFC 6901 pointer into unescaped tokens.
pub fn tokens(pointer: &str) -> Option<Vec<String>> {
    let rest = pointer.strip_prefix('/')?;
    let mut out = Vec::new();
    for raw in rest.split('/') {
        let mut tok = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '~' {
                match chars.next() {
                    Some('0') => tok.push('~'),
                    Some('1') => tok.push('/'),
                    _ => return None,
                }
            } else {
                tok.push(c);
            }
        }
        out.push(tok);
    }
    Some(out)
}

/// Check a plugin's answer against the input it was given.
pub fn check(
    config: &Value,
    answer: Vec<(String, Vec<String>, Treatment)>,
    max_fields: usize,
) -> Result<Vec<CheckedField>, PluginFailure> {
    let bad = |m: String| PluginFailure::InvalidAnswer(m);
    if answer.len() > max_fields {
        return Err(bad(format!(
            "{} fields returned, the limit is {max_fields}",
            answer.len()
        )));
    }
    // Pointers come from the plugin: shown shortened, and redacted in case a
    // plugin tries to smuggle a value out through an error message. The
    // redactor is built only when an error is shown, not on honest answers.
    let redactor = std::cell::OnceCell::new();
    let show = |p: &str| -> String {
        redactor
            .get_or_init(|| Redactor::new(config))
            .redact(&shorten(p, 200))
    };
    let mut seen = HashSet::new();
    let mut ids: HashMap<Vec<String>, String> = HashMap::new();
    let mut out = Vec::with_capacity(answer.len());
    for (pointer, segments, treatment) in answer {
        let toks = tokens(&pointer)
            .ok_or_else(|| bad(format!("`{}` is not a JSON pointer", show(&pointer))))?;
        match config.pointer(&pointer) {
            Some(Value::String(_) | Value::Null) => {}
            Some(_) => {
                return Err(bad(format!(
                    "`{}` does not name a string or null",
                    show(&pointer)
                )));
            }
            None => {
                return Err(bad(format!(
                    "`{}` does not exist in the config",
                    show(&pointer)
                )));
            }
        }
        if pointer == "/type" {
            return Err(bad("`/type` cannot be a secret field".into()));
        }
        let expected: Vec<String> = toks.iter().map(|t| segment(t)).collect();
        if segments != expected {
            return Err(bad(format!(
                "segments for `{}` do not match the pointer",
                show(&pointer)
            )));
        }
        if !seen.insert(pointer.clone()) {
            return Err(bad(format!("`{}` listed twice", show(&pointer))));
        }
        // Two fields whose ids collide (`/a.b` and `/a_b`) would overwrite
        // each other's secret: refused rather than guessed.
        if let Some(other) = ids.insert(segments.clone(), pointer.clone()) {
            return Err(bad(format!(
                "`{}` and `{}` would share the secret id segment `{}`",
                show(&other),
                show(&pointer),
                shorten(&segments.join("/"), 200)
            )));
        }
        out.push(CheckedField {
            pointer,
            segments,
            treatment,
        });
    }
    Ok(out)
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Removes the string values of one config from text a plugin produced (log
/// lines, panic messages, error messages), so a plugin cannot leak a secret
/// verbatim through them. Holds copies of the values: they are zeroized on
/// drop.
pub struct Redactor {
    /// Distinct values of 3 characters or more, longest first.
    values: Zeroizing<Vec<Zeroizing<String>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} values)", self.values.len())
    }
}

impl Redactor {
    /// Collect the values of `config`.
    pub fn new(config: &Value) -> Self {
        let mut found = Vec::new();
        collect_strings(config, &mut found);
        found.retain(|s| s.chars().count() >= 3);
        found.sort_by_key(|s| std::cmp::Reverse(s.len()));
        found.dedup();
        Redactor {
            values: Zeroizing::new(
                found
                    .into_iter()
                    .map(|s| Zeroizing::new(s.to_string()))
                    .collect(),
            ),
        }
    }

    /// A redactor that removes nothing (no config involved, e.g. `describe`).
    pub fn none() -> Self {
        Redactor {
            values: Zeroizing::new(Vec::new()),
        }
    }

    /// `text` with every value replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in self.values.iter() {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "[redacted]");
            }
        }
        out
    }
}

/// Remove every string value of `config` (3 characters or longer) from a line
/// a plugin logged, so a plugin cannot leak a secret through the log.
pub fn redact(line: &str, config: &Value) -> String {
    Redactor::new(config).redact(line)
}

/// Make text from a plugin safe to print on one line: control characters
/// (newlines, escapes) are shown escaped, so a plugin cannot forge host log
/// lines or terminal sequences.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn collect_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(p: &str, s: &[&str]) -> (String, Vec<String>, Treatment) {
        (
            p.into(),
            s.iter().map(|x| x.to_string()).collect(),
            Treatment::Secret,
        )
    }

    #[test]
    fn accepts_honest_answers() {
        let c = json!({"authType": {"password": "p"}, "a~b/c": null});
        let ok = check(
            &c,
            vec![
                f("/authType/password", &["authtype", "password"]),
                f("/a~0b~1c", &["a_b_c"]),
            ],
            10,
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
    }

    #[test]
    fn refuses_lies() {
        let c = json!({"type": "Mysql", "authType": {"password": "p"}, "n": 1, "o": {}, "a.b": "x", "a_b": "y", "s": "hunter2"});
        let cases = [
            (vec![f("/nope", &["nope"])], "does not exist"),
            (vec![f("/n", &["n"])], "string or null"),
            (vec![f("/o", &["o"])], "string or null"),
            (vec![f("authType", &["authtype"])], "not a JSON pointer"),
            (
                vec![f("/authType/password", &["..", "other"])],
                "do not match",
            ),
            (vec![f("/type", &["type"])], "/type"),
            (
                vec![
                    f("/authType/password", &["authtype", "password"]),
                    f("/authType/password", &["authtype", "password"]),
                ],
                "twice",
            ),
            (
                vec![f("/a.b", &["a_b"]), f("/a_b", &["a_b"])],
                "share the secret id",
            ),
            (vec![f("/p", &["p"])], "does not exist"),
            (
                vec![f("/hunter2", &["hunter2"])],
                "`/[redacted]` does not exist",
            ),
            (vec![f("/a~2", &["a_2"])], "not a JSON pointer"),
            (vec![f("", &[])], "not a JSON pointer"),
        ];
        for (answer, want) in cases {
            let e = check(&c, answer, 10).unwrap_err().to_string();
            assert!(e.contains(want), "{e} should contain {want}");
        }
        let many = (0..11).map(|_| f("/n", &["n"])).collect();
        assert!(
            check(&c, many, 10)
                .unwrap_err()
                .to_string()
                .contains("limit is 10")
        );
    }

    #[test]
    fn redacts_config_values() {
        let c = json!({"p": "hunter2", "x": ["ab"]});
        assert_eq!(redact("boom: hunter2 ab", &c), "boom: [redacted] ab");
        assert_eq!(Redactor::none().redact("hunter2"), "hunter2");
        assert_eq!(printable("a\nERROR b\u{1b}[2J"), "a\\nERROR b\\u{1b}[2J");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("abc", 3), "abc");
    }
}
