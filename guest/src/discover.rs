//! Walking one config with one section of a rule table.
//!
//! First the section's rules run, in table order; then everything they did not
//! settle (the entries of `map`s, and properties, `oneOf` variants or whole
//! objects newer than the table) is swept once with the credential heuristics
//! ([`crate::heuristics`]): a credential-like key makes its whole value secret
//! (every string or null below it; a number is refused, naming it, since only
//! strings can be sealed), other strings are secret when they are URLs with a
//! password or already sealed. Objects a rule's path goes into are looked at
//! key by key, never taken whole. The routing key (`type`, a bot's `authType`,
//! a dbt source's `dbtConfigType`) is never a secret. Each node is visited once
//! and each field reported once.

use std::borrow::Cow;

use crate::fx::FastSet;

use crate::json::Value;

use crate::heuristics::{is_credential_key, url_has_password, words};
use crate::rules::{ALL_BELOW, DEFAULT_KEY, Rule, RuleKind, RuleTable, Treatment};

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

/// Keys that route a config to its section (`type` of a connection, `authType`
/// of a bot, `dbtConfigType` of a dbt source): never a secret, even where a
/// heuristic might say so.
const ROUTING_KEYS: &[&str] = &["type", "authType", "dbtConfigType"];

/// The identity of a node of the (immutable) config being walked.
fn node(v: &Value<'_>) -> *const () {
    (v as *const Value<'_>).cast()
}

struct Walker<'t> {
    table: &'t RuleTable,
    found: Vec<SecretField>,
    /// Pointers in `found`: a field is reported once, in linear time.
    seen: FastSet<String>,
    /// Nodes a rule has settled (a field it yielded, a `url` field, a nested
    /// connection): the heuristic sweep skips them.
    settled: FastSet<*const ()>,
    /// Nodes a rule's path goes through, and `map`s: the sweep looks at their
    /// entries one by one and never takes them as a whole, even under a
    /// credential-like name (`credentials/gcpConfig/…` is a typed model).
    entered: FastSet<*const ()>,
}

impl Walker<'_> {
    fn push(&mut self, tokens: &[Cow<'_, str>], treatment: Treatment) {
        let pointer = pointer_of(tokens);
        if !self.seen.insert(pointer.clone()) {
            return;
        }
        let segments = tokens.iter().map(|t| segment(t)).collect();
        self.found.push(SecretField {
            pointer,
            segments,
            treatment,
        });
    }

    fn apply_section<'v>(
        &mut self,
        connector_type: &str,
        root: &'v Value<'_>,
        base: &[Cow<'v, str>],
        depth: usize,
        key: &str,
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
        let Value::Object(entries) = root else {
            return Err(malformed(
                &here,
                "a connection config must be a JSON object",
            ));
        };
        if let Some(t) = root.get(key) {
            match t.as_str() {
                Some(t) if t == connector_type => {}
                Some(_) => {
                    return Err(malformed(
                        &format!("{here}/{}", escape_token(key)),
                        format!("`{key}` is not `{connector_type}`"),
                    ));
                }
                None => {
                    return Err(malformed(
                        &format!("{here}/{}", escape_token(key)),
                        format!("`{key}` must be a string"),
                    ));
                }
            }
        }
        for rule in rules.iter() {
            if !guard_holds(rule, root) {
                // The table knows this property, and that it is plain here:
                // not for the heuristics either.
                self.settle(&rule.path[..], root);
                continue;
            }
            let mut tokens = base.to_vec();
            self.walk(rule, &rule.path[..], root, &mut tokens, depth)?;
        }
        // What no rule settled (properties and `oneOf` variants newer than
        // the table, free-form maps) gets the credential heuristics.
        let mut tokens = base.to_vec();
        for (k, v) in entries.iter() {
            if ROUTING_KEYS.contains(&&k[..]) && v.is_string() {
                continue;
            }
            tokens.push(Cow::Borrowed(&k[..]));
            let r = self.sweep_entry(Some(k), v, &mut tokens);
            tokens.pop();
            r?;
        }
        Ok(())
    }

    fn walk<'v>(
        &mut self,
        rule: &Rule<'_>,
        rest: &[&str],
        value: &'v Value<'_>,
        tokens: &mut Vec<Cow<'v, str>>,
        depth: usize,
    ) -> Result<(), PolicyError> {
        let Some((first, rest_after)) = rest.split_first() else {
            return self.at_target(rule, value, tokens, depth);
        };
        if *first == ALL_BELOW {
            // The rule decides everything below: the heuristics skip it all
            // (a number there is no credential-like entry to refuse).
            self.settled.insert(node(value));
            // The grammar allows `**` only last, in secret/sensitive rules.
            if let RuleKind::Field(treatment) = rule.kind {
                self.leaves(value, tokens, treatment, Numbers::Skip)?;
            }
            return Ok(());
        }
        self.entered.insert(node(value));
        // A named key (the common case) needs no list of children.
        if let (Value::Object(m), key) = (value, *first)
            && key != "*"
        {
            if let Some((k, child)) = m.get_key_value(key) {
                tokens.push(Cow::Borrowed(&k[..]));
                let r = self.walk(rule, rest_after, child, tokens, depth);
                tokens.pop();
                r?;
            }
            return Ok(());
        }
        let children: Vec<(Cow<'v, str>, &'v Value<'_>)> = match (value, *first) {
            (Value::Object(m), "*") => m.iter().map(|(k, v)| (Cow::Borrowed(&k[..]), v)).collect(),
            (Value::Array(a), "*") => a
                .iter()
                .enumerate()
                .map(|(i, v)| (Cow::Owned(i.to_string()), v))
                .collect(),
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

    /// Mark what `path` reaches as settled, yielding nothing.
    fn settle(&mut self, path: &[&str], value: &Value<'_>) {
        let Some((first, rest)) = path.split_first() else {
            self.settled.insert(node(value));
            return;
        };
        match (value, *first) {
            (_, ALL_BELOW) => {
                self.settled.insert(node(value));
            }
            (Value::Object(m), "*") => m.values().for_each(|v| self.settle(rest, v)),
            (Value::Array(a), "*") => a.iter().for_each(|v| self.settle(rest, v)),
            (Value::Object(m), key) => {
                if let Some(v) = m.get(key) {
                    self.settle(rest, v)
                }
            }
            _ => {}
        }
    }

    fn at_target<'v>(
        &mut self,
        rule: &Rule<'_>,
        value: &'v Value<'_>,
        tokens: &[Cow<'v, str>],
        depth: usize,
    ) -> Result<(), PolicyError> {
        let wildcard = rule.path.contains(&"*");
        match rule.kind {
            RuleKind::Field(treatment) => match value {
                Value::String(_) | Value::Null => {
                    self.settled.insert(node(value));
                    self.push(tokens, treatment)
                }
                // A wildcard may sweep over values of other kinds (left to
                // the heuristics); a named field of the wrong kind is a
                // malformed config.
                _ if wildcard => {}
                _ => {
                    return Err(malformed(
                        &pointer_of(tokens),
                        "a secret field must be a string or null",
                    ));
                }
            },
            RuleKind::Url => {
                if let Value::String(s) = value {
                    self.settled.insert(node(value));
                    if url_has_password(s) || is_tokenized(s) {
                        self.push(tokens, Treatment::Secret)
                    }
                }
            }
            // Its entries are swept with the heuristics once the rules ran.
            RuleKind::Map => {
                self.entered.insert(node(value));
            }
            RuleKind::Nested => {
                let Value::Object(m) = value else {
                    return Ok(());
                };
                let key = rule.key;
                let at_key = format!("{}/{}", pointer_of(tokens), escape_token(key));
                let Some(t) = m.get(key) else {
                    return Ok(());
                };
                let Some(t) = t.as_str() else {
                    return Err(malformed(&at_key, format!("`{key}` must be a string")));
                };
                if depth >= MAX_NESTING {
                    return Err(malformed(
                        &pointer_of(tokens),
                        "connections nested too deeply",
                    ));
                }
                match self.apply_section(t, value, tokens, depth + 1, key) {
                    Err(PolicyError::UnknownConnectorType(t)) => {
                        return Err(malformed(
                            &at_key,
                            format!("unknown nested connection {key} `{t}`"),
                        ));
                    }
                    r => r?,
                }
                // Its own section swept what its rules left.
                self.settled.insert(node(value));
            }
        }
        Ok(())
    }

    /// The heuristics on one entry (`key` is `None` for an array element)
    /// that no rule settled: a credential-like key makes its whole value
    /// secret; otherwise strings are looked at as URLs and containers are
    /// swept entry by entry. Each node is visited once.
    fn sweep_entry<'v>(
        &mut self,
        key: Option<&str>,
        value: &'v Value<'_>,
        tokens: &mut Vec<Cow<'v, str>>,
    ) -> Result<(), PolicyError> {
        let id = node(value);
        if self.settled.contains(&id) {
            return Ok(());
        }
        if !self.entered.contains(&id) && key.is_some_and(is_credential_key) {
            return self.leaves(value, tokens, Treatment::Secret, Numbers::Refuse);
        }
        match value {
            Value::String(s) if url_has_password(s) || is_tokenized(s) => {
                self.push(tokens, Treatment::Secret);
            }
            Value::Object(m) => {
                for (k, v) in m.iter() {
                    tokens.push(Cow::Borrowed(&k[..]));
                    let r = self.sweep_entry(Some(k), v, tokens);
                    tokens.pop();
                    r?;
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    tokens.push(Cow::Owned(i.to_string()));
                    let r = self.sweep_entry(None, v, tokens);
                    tokens.pop();
                    r?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Every string or null at or below `value`, as `treatment`: what a `**`
    /// rule takes, and the whole value under a credential-like key. Booleans
    /// carry no secret. A number is skipped below `**` (the rule names what it
    /// wants) and refused under a credential-like key, naming it: the host
    /// seals strings only, and a credential must not pass in the clear.
    fn leaves<'v>(
        &mut self,
        value: &'v Value<'_>,
        tokens: &mut Vec<Cow<'v, str>>,
        treatment: Treatment,
        numbers: Numbers,
    ) -> Result<(), PolicyError> {
        match value {
            Value::String(_) | Value::Null => self.push(tokens, treatment),
            Value::Bool(_) => {}
            Value::Number => {
                if numbers == Numbers::Refuse {
                    return Err(malformed(
                        &pointer_of(tokens),
                        "a credential-like entry holds a number, which cannot be sealed: write it as a JSON string",
                    ));
                }
            }
            Value::Object(m) => {
                for (k, v) in m.iter() {
                    if let Value::String(s) = v
                        && routes(k, s)
                    {
                        continue;
                    }
                    tokens.push(Cow::Borrowed(&k[..]));
                    let r = self.leaves(v, tokens, treatment, numbers);
                    tokens.pop();
                    r?;
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    tokens.push(Cow::Owned(i.to_string()));
                    let r = self.leaves(v, tokens, treatment, numbers);
                    tokens.pop();
                    r?;
                }
            }
        }
        Ok(())
    }
}

/// Whether the host takes this property for a routing key (its
/// `plugin::check::routing_key`): a name whose last word is `type` (`type`,
/// `dbtConfigType`, `auth_type`, not `type_` nor `prototype`) holding what
/// could name a connector type. The host refuses an answer that seals or
/// masks one, so what takes every leaf below a value (`**`, a
/// credential-like key's value) leaves these out: a type describes a
/// credential, it is not one.
fn routes(key: &str, value: &str) -> bool {
    key.chars().last().is_some_and(char::is_alphanumeric)
        && words(key).last().is_some_and(|w| w == "type")
        && !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// What [`Walker::leaves`] does with a number.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Numbers {
    Skip,
    Refuse,
}

fn guard_holds(rule: &Rule<'_>, root: &Value<'_>) -> bool {
    let Some((path, want)) = &rule.guard else {
        return true;
    };
    let mut v = root;
    for key in path.iter() {
        match v.get(key) {
            Some(next) => v = next,
            None => return false,
        }
    }
    v.as_str() == Some(want)
}

fn pointer_of(tokens: &[Cow<'_, str>]) -> String {
    let mut out = String::with_capacity(tokens.iter().map(|t| t.len() + 1).sum());
    for t in tokens {
        out.push('/');
        if t.contains(['~', '/']) {
            out.push_str(&escape_token(t));
        } else {
            out.push_str(t);
        }
    }
    out
}

impl RuleTable {
    /// The secret fields present in `config` (JSON text) for `connector_type`.
    pub fn discover(
        &self,
        connector_type: &str,
        config: &str,
    ) -> Result<Vec<SecretField>, PolicyError> {
        // The light tree of [`crate::json`]: keys and strings borrowed from
        // the text, no hashing; serde_json's grammar.
        let value = Value::parse(config).map_err(|e| {
            malformed(
                "",
                format!("not JSON: line {} column {}", e.line(), e.column()),
            )
        })?;
        self.walk_config(connector_type, &value)
    }

    /// Like [`RuleTable::discover`], on an already parsed value.
    pub fn discover_value(
        &self,
        connector_type: &str,
        value: &serde_json::Value,
    ) -> Result<Vec<SecretField>, PolicyError> {
        self.walk_config(connector_type, &Value::from_serde(value))
    }

    fn walk_config(
        &self,
        connector_type: &str,
        value: &Value<'_>,
    ) -> Result<Vec<SecretField>, PolicyError> {
        let mut w = Walker {
            table: self,
            found: Vec::new(),
            seen: FastSet::default(),
            // Sized for an ordinary config, so that they never grow in one.
            settled: FastSet::with_capacity_and_hasher(64, Default::default()),
            entered: FastSet::with_capacity_and_hasher(64, Default::default()),
        };
        w.apply_section(connector_type, value, &[], 0, DEFAULT_KEY)?;
        Ok(w.found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

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
                // The rules' finds in table order, then what the heuristics
                // find in the rest, in the config's order.
                "/hostPort",
                "/servers/0/password",
                "/token",
                "/connectionOptions/api~0key~1x",
                "/connectionOptions/Password",
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

    /// Item 15: what the table does not know (a property, a `oneOf` variant,
    /// a whole object newer than it) gets the credential heuristics.
    #[test]
    fn unknown_properties_and_variants_get_the_heuristics() {
        let v = json!({
            "type": "Db",
            "authType": {"token": "t1", "tokenUrl": "https://idp/token"},
            "apiToken": "t2",
            "brokerConfig": {"newBroker": {"host": "h", "sasl.jaas.config": "j", "keyId": "k"}},
            "sessionTimeout": 30,
            "ssl_mode": "require",
            "dsn": "admin:pw@db:5432/x",
            "servers": [{"password": "a", "X-Api-Key": "x"}],
        });
        assert_eq!(
            pointers("Db", v),
            vec![
                "/servers/0/password",
                "/authType/token",
                "/apiToken",
                "/brokerConfig/newBroker/sasl.jaas.config",
                "/dsn",
                "/servers/0/X-Api-Key",
            ]
        );
        // Inside a nested connection, its own section's rest.
        let v = json!({"connection": {"type": "Db", "authType": {"password": "p", "pwd2": "q"}}});
        assert_eq!(
            pointers("Pipe", v),
            vec!["/connection/authType/password", "/connection/authType/pwd2"]
        );
    }

    /// The routing key is never a secret, whatever it holds; a field a rule
    /// yields is reported once even where the heuristics would find it too.
    #[test]
    fn routing_keys_are_never_secrets_and_nothing_is_reported_twice() {
        let f = T
            .discover(
                "Pipe",
                &json!({
                    "type": "Pipe",
                    "authType": "u:p@h",
                    "dbtConfigType": "secret:/x",
                    "connection": {"type": "Db", "authType": {"password": "p"}, "kind": "cloud", "token": "t"},
                })
                .to_string(),
            )
            .unwrap();
        let p: Vec<&str> = f.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(p, ["/connection/authType/password", "/connection/token"]);
        assert_eq!(f[1].segments, ["connection", "token"]);
    }

    /// A value under a credential-like key is secret as a whole, wherever it
    /// stands: every string or null below it; booleans are no secret; a
    /// number cannot be sealed and is refused, naming it.
    #[test]
    fn whole_values_under_credential_keys() {
        let v = json!({"connectionOptions": {
            "credentials": {"user": "u", "password": "p", "extra": [{"k": "v"}]},
            "tokens": ["a", null],
            "use_token": true,
            "secret_key": null,
        }});
        assert_eq!(
            pointers("Db", v),
            vec![
                "/connectionOptions/credentials/user",
                "/connectionOptions/credentials/password",
                "/connectionOptions/credentials/extra/0/k",
                "/connectionOptions/tokens/0",
                "/connectionOptions/tokens/1",
                "/connectionOptions/secret_key",
            ]
        );
        for (v, at) in [
            (
                json!({"connectionOptions": {"PGPASSWORD": 1234}}),
                "/connectionOptions/PGPASSWORD",
            ),
            (
                json!({"newThing": {"secret": {"pin": [7]}}}),
                "/newThing/secret/pin/0",
            ),
        ] {
            match T.discover("Db", &v.to_string()).unwrap_err() {
                PolicyError::MalformedConfig { pointer, message } => {
                    assert_eq!(pointer, at);
                    assert!(message.contains("number"), "{message}");
                }
                e => panic!("{e:?}"),
            }
        }
        // A typed object a rule goes into is looked at key by key, even
        // under a credential-like name.
        let t = RuleTable::new("[G]\nsecret credentials/gcpConfig/privateKey\n");
        let v = json!({"credentials": {"gcpConfig": {"privateKey": "k", "privateKeyId": "i", "projectId": "p"}}});
        let f = t.discover("G", &v.to_string()).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].pointer, "/credentials/gcpConfig/privateKey");
    }

    /// Below a `**` rule the rule alone decides: numbers there are not
    /// refused as credential-like entries.
    #[test]
    fn all_below_is_settled_for_the_heuristics() {
        let t = RuleTable::new("[A]\nsecret app/**\n");
        let v = json!({"app": {"token": "t", "tokenLimit": 5, "n": [1, "x"]}});
        let f = t.discover("A", &v.to_string()).unwrap();
        let p: Vec<&str> = f.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(p, ["/app/token", "/app/n/1"]);
    }

    /// 6,000 credential keys in one map (item 16): each reported once, in
    /// the config's order (the check for duplicates is a set, not a scan).
    #[test]
    fn six_thousand_credential_keys() {
        let mut opts = serde_json::Map::new();
        for i in 0..6000 {
            opts.insert(format!("password{i}"), json!(format!("p{i}")));
        }
        let v = json!({"connectionOptions": opts, "authType": {"password": "x"}});
        let p = pointers("Db", v);
        assert_eq!(p.len(), 6001);
        assert_eq!(p[0], "/authType/password");
        for (i, ptr) in p[1..].iter().enumerate() {
            assert_eq!(*ptr, format!("/connectionOptions/password{i}"));
        }
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
        // Each `inner` is a connection of its own (routed by its `type`): the
        // walk stops at the nesting limit, naming where, and not for any
        // other reason (a config nested just within the limit passes).
        assert_eq!(
            T.discover("Loop", &v.to_string()).unwrap_err(),
            PolicyError::MalformedConfig {
                pointer: "/inner".repeat(MAX_NESTING + 1),
                message: "connections nested too deeply".into(),
            }
        );
        let mut v = json!({"type": "Inner", "p": "deep"});
        for _ in 0..MAX_NESTING {
            v = json!({"type": "Loop", "inner": v});
        }
        assert_eq!(
            pointers("Loop", v.clone()),
            vec![format!("{}/p", "/inner".repeat(MAX_NESTING))]
        );
        // One level more is refused at that level.
        let v = json!({"type": "Loop", "inner": v});
        assert_eq!(
            T.discover("Loop", &v.to_string()).unwrap_err(),
            PolicyError::MalformedConfig {
                pointer: "/inner".repeat(MAX_NESTING + 1),
                message: "connections nested too deeply".into(),
            }
        );
    }

    const ING: RuleTable = RuleTable::new(
        "[DBT]
nested dbtConfigSource by dbtConfigType
[TestSuite]
nested serviceConnections/*/serviceConnection/config
[Application]
secret appPrivateConfig/**
[cloud nested]
secret dbtCloudAuthToken
secret accountRef
[Db nested]
secret authType/password
",
    );

    fn ing(t: &str, v: Value) -> Result<Vec<String>, PolicyError> {
        ING.discover(t, &v.to_string())
            .map(|f| f.into_iter().map(|f| f.pointer).collect())
    }

    #[test]
    fn nested_by_another_key() {
        let v = json!({"type": "DBT", "dbtConfigSource": {"dbtConfigType": "cloud", "dbtCloudAuthToken": "t", "type": "x"}});
        assert_eq!(
            ing("DBT", v).unwrap(),
            ["/dbtConfigSource/dbtCloudAuthToken"]
        );
        // No routing key: its section's rules do not apply.
        assert_eq!(
            ing("DBT", json!({"dbtConfigSource": {"accountRef": "r"}})).unwrap(),
            Vec::<String>::new()
        );
        let e = ing("DBT", json!({"dbtConfigSource": {"dbtConfigType": "ftp"}})).unwrap_err();
        assert_eq!(
            e,
            PolicyError::MalformedConfig {
                pointer: "/dbtConfigSource/dbtConfigType".into(),
                message: "unknown nested connection dbtConfigType `ftp`".into()
            }
        );
        let e = ing("DBT", json!({"dbtConfigSource": {"dbtConfigType": 3}})).unwrap_err();
        assert!(
            matches!(e, PolicyError::MalformedConfig { ref pointer, .. } if pointer == "/dbtConfigSource/dbtConfigType")
        );
    }

    #[test]
    fn nested_in_every_element() {
        let v = json!({"type": "TestSuite", "serviceConnections": [
            {"serviceName": "a", "serviceConnection": {"config": {"type": "Db", "authType": {"password": "p0"}}}},
            {"serviceName": "b", "serviceConnection": {"config": {"type": "Db", "hostPort": "h"}}},
            {"serviceName": "c", "serviceConnection": {"config": {"type": "Db", "authType": {"password": "p2"}}}}
        ]});
        assert_eq!(
            ing("TestSuite", v).unwrap(),
            [
                "/serviceConnections/0/serviceConnection/config/authType/password",
                "/serviceConnections/2/serviceConnection/config/authType/password"
            ]
        );
        let v =
            json!({"serviceConnections": [{"serviceConnection": {"config": {"type": "Nope"}}}]});
        let e = ing("TestSuite", v).unwrap_err();
        assert!(
            matches!(e, PolicyError::MalformedConfig { ref pointer, .. } if pointer == "/serviceConnections/0/serviceConnection/config/type"),
            "{e:?}"
        );
    }

    #[test]
    fn all_below_takes_every_string_leaf() {
        let v = json!({"type": "Application", "sourcePythonClass": "x", "appPrivateConfig": {
            "token": "t", "waiiInstance": "https://w", "limits": {"billingCycleStart": "2024-01-01", "actions": {"n": 5, "ok": true}},
            "list": ["a", {"b": "c"}, 7], "gone": null
        }});
        assert_eq!(
            ing("Application", v).unwrap(),
            [
                "/appPrivateConfig/token",
                "/appPrivateConfig/waiiInstance",
                "/appPrivateConfig/limits/billingCycleStart",
                "/appPrivateConfig/list/0",
                "/appPrivateConfig/list/1/b",
                "/appPrivateConfig/gone"
            ]
        );
        // What the host takes for a routing key stays: never sealed, never
        // masked (a type is no credential); anything else under such a name is.
        assert_eq!(
            ing(
                "Application",
                json!({"appPrivateConfig": {"type": "CollateAI", "authType": "basic", "token": "t",
                    "nested": {"dbtConfigType": "cloud", "type": "postgres://u:pw@h/db", "type_": "x", "prototype": "y"}}})
            )
            .unwrap(),
            [
                "/appPrivateConfig/token",
                "/appPrivateConfig/nested/type",
                "/appPrivateConfig/nested/type_",
                "/appPrivateConfig/nested/prototype"
            ]
        );
        // A string where an object was expected is still sealed as a whole.
        assert_eq!(
            ing("Application", json!({"appPrivateConfig": "opaque"})).unwrap(),
            ["/appPrivateConfig"]
        );
        assert_eq!(
            ing("Application", json!({"appPrivateConfig": 5})).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(ing("Application", json!({})).unwrap(), Vec::<String>::new());
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
