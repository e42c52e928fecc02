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

use std::collections::HashSet;

use serde_json::Value;

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
        return Err(bad(format!("{} fields returned, the limit is {max_fields}", answer.len())));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(answer.len());
    for (pointer, segments, treatment) in answer {
        let shown: String = pointer.chars().take(200).collect();
        let toks = tokens(&pointer).ok_or_else(|| bad(format!("`{shown}` is not a JSON pointer")))?;
        match config.pointer(&pointer) {
            Some(Value::String(_) | Value::Null) => {}
            Some(_) => return Err(bad(format!("`{shown}` does not name a string or null"))),
            None => return Err(bad(format!("`{shown}` does not exist in the config"))),
        }
        if pointer == "/type" {
            return Err(bad("`/type` cannot be a secret field".into()));
        }
        let expected: Vec<String> = toks.iter().map(|t| segment(t)).collect();
        if segments != expected {
            return Err(bad(format!("segments for `{shown}` do not match the pointer")));
        }
        if !seen.insert(pointer.clone()) {
            return Err(bad(format!("`{shown}` listed twice")));
        }
        out.push(CheckedField { pointer, segments, treatment });
    }
    Ok(out)
}

/// Remove every string value of `config` (3 characters or longer) from a line
/// a plugin logged, so a plugin cannot leak a secret through the log.
pub fn redact(line: &str, config: &Value) -> String {
    let mut values = Vec::new();
    collect_strings(config, &mut values);
    values.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = line.to_string();
    for v in values {
        if v.len() >= 3 && out.contains(v) {
            out = out.replace(v, "[redacted]");
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
        (p.into(), s.iter().map(|x| x.to_string()).collect(), Treatment::Secret)
    }

    #[test]
    fn accepts_honest_answers() {
        let c = json!({"authType": {"password": "p"}, "a~b/c": null});
        let ok = check(&c, vec![f("/authType/password", &["authtype", "password"]), f("/a~0b~1c", &["a_b_c"])], 10).unwrap();
        assert_eq!(ok.len(), 2);
    }

    #[test]
    fn refuses_lies() {
        let c = json!({"type": "Mysql", "authType": {"password": "p"}, "n": 1, "o": {}});
        let cases = [
            (vec![f("/nope", &["nope"])], "does not exist"),
            (vec![f("/n", &["n"])], "string or null"),
            (vec![f("/o", &["o"])], "string or null"),
            (vec![f("authType", &["authtype"])], "not a JSON pointer"),
            (vec![f("/authType/password", &["..", "other"])], "do not match"),
            (vec![f("/type", &["type"])], "/type"),
            (vec![f("/authType/password", &["authtype", "password"]), f("/authType/password", &["authtype", "password"])], "twice"),
        ];
        for (answer, want) in cases {
            let e = check(&c, answer, 10).unwrap_err().to_string();
            assert!(e.contains(want), "{e} should contain {want}");
        }
        let many = (0..11).map(|_| f("/n", &["n"])).collect();
        assert!(check(&c, many, 10).unwrap_err().to_string().contains("limit is 10"));
    }

    #[test]
    fn redacts_config_values() {
        let c = json!({"p": "hunter2", "x": ["ab"]});
        assert_eq!(redact("boom: hunter2 ab", &c), "boom: [redacted] ab");
    }
}
