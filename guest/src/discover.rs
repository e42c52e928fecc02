//! Walking one config with one section of a rule table.

use serde_json::Value;

use crate::heuristics::{is_credential_key, url_has_password};
use crate::rules::{Rule, RuleKind, RuleTable, Treatment};

/// A secret field found in a config (the plain-Rust twin of the WIT record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretField {
    /// RFC 6901 pointer from the root of the config.
    pub pointer: String,
    /// Secret-id segments: the pointer's tokens, normalised by [`segment`].
    pub segments: Vec<String>,
    /// What the host does with it.
    pub treatment: Treatment,
}

/// Why discovery failed (the plain-Rust twin of the WIT variant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// The table has no section for this connector type.
    UnknownConnectorType(String),
    /// The config is not what the rules expect.
    MalformedConfig {
        /// Pointer of the offending value.
        pointer: String,
        /// What is wrong (never a value from the config).
        message: String,
    },
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyError::UnknownConnectorType(t) => write!(f, "unknown connector type `{t}`"),
            PolicyError::MalformedConfig { pointer, message } => {
                write!(f, "malformed config at `{pointer}`: {message}")
            }
        }
    }
}

impl std::error::Error for PolicyError {}

fn malformed(pointer: &str, message: impl Into<String>) -> PolicyError {
    PolicyError::MalformedConfig {
        pointer: pointer.to_string(),
        message: message.into(),
    }
}

/// A secret-id segment for one pointer token, as OpenMetadata builds ids:
/// lower-cased, every character outside `[a-z0-9_-]` replaced by `_`.
pub fn segment(token: &str) -> String {
    token
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Escape one reference token for an RFC 6901 pointer.
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// How deep `nested` rules may go: a connection inside a connection inside a
/// connection is already unusual; a cycle in a table must not loop.
const MAX_NESTING: usize = 4;

/// Whether a value is already in one of the host's own forms.
fn is_tokenized(s: &str) -> bool {
    s.starts_with("fernet:") || s.starts_with("secret:")
}

struct Walker<'t> {
    table: &'t RuleTable,
    found: Vec<SecretField>,
}

impl Walker<'_> {
    fn push(&mut self, tokens: &[String], treatment: Treatment) {
        let pointer: String = tokens
            .iter()
            .map(|t| format!("/{}", escape_token(t)))
            .collect();
        if self.found.iter().any(|f| f.pointer == pointer) {
            return;
        }
        let segments = tokens.iter().map(|t| segment(t)).collect();
        self.found.push(SecretField {
            pointer,
            segments,
            treatment,
        });
    }

    fn apply_section(
        &mut self,
        connector_type: &str,
        root: &Value,
        base: &[String],
        depth: usize,
    ) -> Result<(), PolicyError> {
        let here = pointer_of(base);
        let rules = match self.table.section(connector_type, depth == 0) {
            None => {
                return Err(PolicyError::UnknownConnectorType(
                    connector_type.to_string(),
                ));
            }
            Some(Err(e)) => return Err(malformed(&here, format!("plugin rule table: {e}"))),
            Some(Ok(r)) => r,
        };
        let Value::Object(_) = root else {
            return Err(malformed(
                &here,
                "a connection config must be a JSON object",
            ));
        };
        if let Some(t) = root.get("type") {
            match t.as_str() {
                Some(t) if t == connector_type => {}
                Some(_) => {
                    return Err(malformed(
                        &format!("{here}/type"),
                        format!("`type` is not `{connector_type}`"),
                    ));
                }
                None => {
                    return Err(malformed(
                        &format!("{here}/type"),
                        "`type` must be a string",
                    ));
                }
            }
        }
        for rule in &rules {
            if !guard_holds(rule, root) {
                continue;
            }
            let mut tokens = base.to_vec();
            self.walk(rule, &rule.path, root, &mut tokens, depth)?;
        }
        Ok(())
    }

    fn walk(
        &mut self,
        rule: &Rule<'_>,
        rest: &[&str],
        value: &Value,
        tokens: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), PolicyError> {
        let Some((first, rest_after)) = rest.split_first() else {
            return self.at_target(rule, value, tokens, depth);
        };
        let children: Vec<(String, &Value)> = match (value, *first) {
            (Value::Object(m), "*") => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
            (Value::Array(a), "*") => a
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            (Value::Object(m), key) => m
                .get(key)
                .map(|v| vec![(key.to_string(), v)])
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        for (token, child) in children {
            tokens.push(token);
            let r = self.walk(rule, rest_after, child, tokens, depth);
            tokens.pop();
            r?;
        }
        Ok(())
    }

    fn at_target(
        &mut self,
        rule: &Rule<'_>,
        value: &Value,
        tokens: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), PolicyError> {
        let wildcard = rule.path.contains(&"*");
        match rule.kind {
            RuleKind::Field(treatment) => match value {
                Value::String(_) | Value::Null => self.push(tokens, treatment),
                // A wildcard may sweep over values of other kinds; a named
                // field of the wrong kind is a malformed config.
                _ if wildcard => {}
                _ => {
                    return Err(malformed(
                        &pointer_of(tokens),
                        "a secret field must be a string or null",
                    ));
                }
            },
            RuleKind::Url => match value {
                Value::String(s) if url_has_password(s) || is_tokenized(s) => {
                    self.push(tokens, Treatment::Secret)
                }
                _ => {}
            },
            RuleKind::Map => {
                if let Value::Object(m) = value {
                    for (k, v) in m {
                        if is_credential_key(k) && matches!(v, Value::String(_) | Value::Null) {
                            tokens.push(k.clone());
                            self.push(tokens, Treatment::Secret);
                            tokens.pop();
                        } else if let Value::String(s) = v
                            && (url_has_password(s) || is_tokenized(s))
                        {
                            tokens.push(k.clone());
                            self.push(tokens, Treatment::Secret);
                            tokens.pop();
                        }
                    }
                }
            }
            RuleKind::Nested => {
                let Value::Object(m) = value else {
                    return Ok(());
                };
                let Some(t) = m.get("type") else {
                    return Ok(());
                };
                let Some(t) = t.as_str() else {
                    return Err(malformed(
                        &format!("{}/type", pointer_of(tokens)),
                        "`type` must be a string",
                    ));
                };
                if depth >= MAX_NESTING {
                    return Err(malformed(
                        &pointer_of(tokens),
                        "connections nested too deeply",
                    ));
                }
                match self.apply_section(t, value, tokens, depth + 1) {
                    Err(PolicyError::UnknownConnectorType(t)) => {
                        return Err(malformed(
                            &format!("{}/type", pointer_of(tokens)),
                            format!("unknown nested connection type `{t}`"),
                        ));
                    }
                    r => r?,
                }
            }
        }
        Ok(())
    }
}

fn guard_holds(rule: &Rule<'_>, root: &Value) -> bool {
    let Some((path, want)) = &rule.guard else {
        return true;
    };
    let mut v = root;
    for key in path {
        match v.get(key) {
            Some(next) => v = next,
            None => return false,
        }
    }
    v.as_str() == Some(want)
}

fn pointer_of(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", escape_token(t)))
        .collect()
}

impl RuleTable {
    /// The secret fields present in `config` (JSON text) for `connector_type`.
    pub fn discover(
        &self,
        connector_type: &str,
        config: &str,
    ) -> Result<Vec<SecretField>, PolicyError> {
        let value: Value = serde_json::from_str(config).map_err(|e| {
            malformed(
                "",
                format!("not JSON: line {} column {}", e.line(), e.column()),
            )
        })?;
        self.discover_value(connector_type, &value)
    }

    /// Like [`RuleTable::discover`], on an already parsed value.
    pub fn discover_value(
        &self,
        connector_type: &str,
        value: &Value,
    ) -> Result<Vec<SecretField>, PolicyError> {
        let mut w = Walker {
            table: self,
            found: Vec::new(),
        };
        w.apply_section(connector_type, value, &[], 0)?;
        Ok(w.found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: RuleTable = RuleTable::new(
        "[Db]
secret authType/password
secret authType/awsConfig/awsSecretAccessKey
sensitive hint
map connectionOptions
url hostPort
secret servers/*/password
secret token if kind=cloud
[Pipe]
nested connection
[Loop]
nested inner
[Inner nested]
secret p
",
    );

    fn pointers(t: &str, v: Value) -> Vec<String> {
        T.discover(t, &v.to_string())
            .unwrap()
            .into_iter()
            .map(|f| f.pointer)
            .collect()
    }

    #[test]
    fn present_variant_only() {
        let p = pointers(
            "Db",
            json!({"type": "Db", "authType": {"password": "x"}, "username": "u"}),
        );
        assert_eq!(p, vec!["/authType/password"]);
        let p = pointers(
            "Db",
            json!({"authType": {"awsConfig": {"awsSecretAccessKey": "k", "awsRegion": "r"}}}),
        );
        assert_eq!(p, vec!["/authType/awsConfig/awsSecretAccessKey"]);
    }

    #[test]
    fn segments_and_treatments() {
        let f = T
            .discover(
                "Db",
                &json!({"authType": {"password": null}, "hint": "h"}).to_string(),
            )
            .unwrap();
        assert_eq!(f[0].segments, vec!["authtype", "password"]);
        assert_eq!(f[0].treatment, Treatment::Secret);
        assert_eq!(f[1].pointer, "/hint");
        assert_eq!(f[1].treatment, Treatment::Sensitive);
    }

    #[test]
    fn maps_urls_arrays_guards() {
        let v = json!({
            "connectionOptions": {"ssl_mode": "x", "api~key/x": "k", "Password": "p", "n": 3},
            "hostPort": "mysql://u:p@h:1",
            "servers": [{"password": "a"}, {"host": "b"}],
            "kind": "cloud", "token": "t"
        });
        let p = pointers("Db", v);
        assert_eq!(
            p,
            vec![
                // In the config's order (serde_json keeps it).
                "/connectionOptions/api~0key~1x",
                "/connectionOptions/Password",
                "/hostPort",
                "/servers/0/password",
                "/token"
            ]
        );
        let f = T
            .discover(
                "Db",
                &json!({"connectionOptions": {"api~key/x": "k"}}).to_string(),
            )
            .unwrap();
        assert_eq!(f[0].segments, vec!["connectionoptions", "api_key_x"]);
        assert!(
            pointers(
                "Db",
                json!({"hostPort": "h:1", "token": "t", "kind": "basic"})
            )
            .is_empty()
        );
        // Sealed values are found again where a heuristic put them.
        assert_eq!(
            pointers("Db", json!({"hostPort": "fernet:abc"})),
            vec!["/hostPort"]
        );
    }

    #[test]
    fn nested_connections() {
        let v = json!({"connection": {"type": "Db", "authType": {"password": "p"}}});
        assert_eq!(pointers("Pipe", v), vec!["/connection/authType/password"]);
        let v = json!({"connection": {"type": "Inner", "p": "x"}});
        assert_eq!(pointers("Pipe", v), vec!["/connection/p"]);
        assert_eq!(
            T.discover("Inner", "{}").unwrap_err(),
            PolicyError::UnknownConnectorType("Inner".into())
        );
        let err = T
            .discover("Pipe", &json!({"connection": {"type": "Nope"}}).to_string())
            .unwrap_err();
        assert!(
            matches!(err, PolicyError::MalformedConfig { ref pointer, .. } if pointer == "/connection/type")
        );
        let mut v = json!({"type": "Loop"});
        for _ in 0..10 {
            v = json!({"type": "Loop", "inner": v});
        }
        assert!(T.discover("Loop", &v.to_string()).is_err());
    }

    #[test]
    fn errors() {
        assert_eq!(
            T.discover("Nope", "{}").unwrap_err(),
            PolicyError::UnknownConnectorType("Nope".into())
        );
        assert!(matches!(
            T.discover("Db", "[1]").unwrap_err(),
            PolicyError::MalformedConfig { .. }
        ));
        assert!(matches!(
            T.discover("Db", "{").unwrap_err(),
            PolicyError::MalformedConfig { .. }
        ));
        let e = T
            .discover("Db", r#"{"authType": {"password": 5}}"#)
            .unwrap_err();
        assert_eq!(
            e,
            PolicyError::MalformedConfig {
                pointer: "/authType/password".into(),
                message: "a secret field must be a string or null".into()
            }
        );
        let e = T.discover("Db", r#"{"type": "Other"}"#).unwrap_err();
        assert!(
            matches!(e, PolicyError::MalformedConfig { ref pointer, .. } if pointer == "/type")
        );
    }
}
