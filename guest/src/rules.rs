//! Rule tables: which fields of which connector hold credentials.
//!
//! A plugin's knowledge is data, not code: a text table, one section per
//! connector type, parsed on demand (only the section asked about is read, so a
//! table of 150 connectors costs nothing on a call about one of them).
//!
//! ```text
//! # comment
//! [Mysql]                                   # a connector type, as in the config's "type"
//! secret authType/password                  # a credential at this path, if present
//! secret authType/awsConfig/awsSecretAccessKey
//! sensitive someField                       # masked for viewers, not sealed
//! map connectionOptions                     # entries whose key looks like a credential
//! url hostPort                              # secret as a whole when it embeds user:password@
//! nested connection                         # an embedded connection: the rules of its "type"
//! nested dbtConfigSource by dbtConfigType   # the same, routed by another property
//! nested serviceConnections/*/config        # one per array element / map entry
//! [Postgres nested]                         # a section only for nested connections: not a
//!                                           # connector type of this plugin
//! secret dbtCloudAuthToken if dbtConfigType=cloud   # only when a sibling/other path holds a value
//! secret appPrivateConfig/**                # every string (or null) at any depth below,
//!                                           # whatever its key: a whole private object
//! ```
//!
//! Paths are property names separated by `/`, from the root of the config;
//! `*` stands for any key of an object or any index of an array
//! (`servers/*/password`); `**`, only as the last segment of a `secret` or
//! `sensitive` rule, for the value there and everything below it (every
//! string or null leaf, through objects and arrays, but for what the host
//! takes for a routing key: a `…type` property naming a type). A rule only
//! yields a field when its path is present in the config, so the variants of
//! a `oneOf` are listed side by side and the
//! config itself tells which one it holds; `if PATH=VALUE` settles the rare case
//! where the same property is a credential in one variant and not in another.
//!
//! The text is the source; a plugin's build script compiles it into static
//! data ([`compile_to_rust`], [`RuleTable::compiled`]), so that a call, which
//! always runs in a fresh instance, parses no rules at all: it finds its
//! section by name and walks `&'static` paths.

use std::borrow::Cow;
use std::fmt;

/// What a matched rule asks the host to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Treatment {
    /// Sealed and masked.
    Secret,
    /// Masked only.
    Sensitive,
}

/// The kind of a rule line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// A field at a fixed (possibly wildcarded) path.
    Field(Treatment),
    /// A free-form map: entries whose key looks like a credential are secrets.
    Map,
    /// A string that is secret as a whole when it embeds `user:password@`.
    Url,
    /// An embedded connection whose routing key ([`Rule::key`], `type`
    /// unless `by KEY` says otherwise) selects another section.
    Nested,
}

/// The property a nested connection is routed by when its rule names none.
pub const DEFAULT_KEY: &str = "type";

/// The path segment standing for everything below (`**`).
pub const ALL_BELOW: &str = "**";

/// One parsed rule line: borrowed from static data in a compiled table,
/// owned when parsed from text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule<'a> {
    /// What the rule does.
    pub kind: RuleKind,
    /// The path, split at `/`.
    pub path: Cow<'a, [&'a str]>,
    /// An optional guard: the rule applies only when the string at this path
    /// (from the same root) equals the value.
    pub guard: Option<(Cow<'a, [&'a str]>, &'a str)>,
    /// For `nested` rules: the property of the embedded object that names its
    /// section (`by KEY`; [`DEFAULT_KEY`] when not given).
    pub key: &'a str,
}

/// A rule table that could not be read: a bug in the plugin, reported with
/// the line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule table line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for RuleError {}

/// One section of a compiled table ([`RuleTable::compiled`]).
#[derive(Clone, Debug)]
pub struct Section {
    /// The connector type (the header's name).
    pub name: &'static str,
    /// Marked `nested`: only for nested connections.
    pub nested_only: bool,
    /// Its rules, in table order.
    pub rules: &'static [Rule<'static>],
}

/// A rule table: its text, and the same table compiled into static data when
/// a build script made one (a plugin's; see [`compile_to_rust`]).
#[derive(Clone, Copy, Debug)]
pub struct RuleTable {
    text: &'static str,
    compiled: Option<&'static [Section]>,
}

impl RuleTable {
    /// Wrap a table (usually `include_str!`-ed), read a section at a time on
    /// each call.
    pub const fn new(text: &'static str) -> Self {
        RuleTable {
            text,
            compiled: None,
        }
    }

    /// A table and its sections as [`compile_to_rust`] wrote them from the
    /// same text: calls read the sections, never the text.
    pub const fn compiled(text: &'static str, sections: &'static [Section]) -> Self {
        RuleTable {
            text,
            compiled: Some(sections),
        }
    }

    /// The connector types the table serves (sections not marked `nested`),
    /// in order.
    pub fn connector_types(&self) -> Vec<&'static str> {
        if let Some(sections) = self.compiled {
            return sections
                .iter()
                .filter(|s| !s.nested_only)
                .map(|s| s.name)
                .collect();
        }
        self.text
            .lines()
            .filter_map(|l| section_header(strip_comment(l)))
            .filter(|(_, nested_only)| !nested_only)
            .map(|(name, _)| name)
            .collect()
    }

    /// The rules of one section, or `None` if the table has no such section.
    /// With `top_level`, sections marked `nested` do not count. A compiled
    /// table lends its static rules; a text table parses the section.
    pub fn section(
        &self,
        connector_type: &str,
        top_level: bool,
    ) -> Option<Result<Cow<'static, [Rule<'static>]>, RuleError>> {
        if let Some(sections) = self.compiled {
            return sections
                .iter()
                .find(|s| s.name == connector_type && !(top_level && s.nested_only))
                .map(|s| Ok(Cow::Borrowed(s.rules)));
        }
        self.parse_section(connector_type, top_level)
            .map(|r| r.map(Cow::Owned))
    }

    fn parse_section(
        &self,
        connector_type: &str,
        top_level: bool,
    ) -> Option<Result<Vec<Rule<'static>>, RuleError>> {
        // Find the header with a substring search rather than by parsing
        // every line: a plugin instance is fresh on every call, so this runs
        // once per call over a table of up to ~60 sections.
        let text = self.text;
        let needle = format!("[{connector_type}");
        let start = text.match_indices(&needle).map(|(i, _)| i).find(|&i| {
            let line_start = i == 0 || text.as_bytes()[i - 1] == b'\n';
            let line = text[i..].lines().next().unwrap_or("");
            line_start
                && section_header(strip_comment(line)).is_some_and(|(name, nested_only)| {
                    name == connector_type && !(top_level && nested_only)
                })
        })?;
        // The header line itself, then the section's rules.
        let mut lines = text[start..].lines().enumerate();
        lines.next();
        let mut rules = Vec::new();
        for (n, raw) in lines {
            let line = strip_comment(raw);
            if line.is_empty() {
                continue;
            }
            if section_name(line).is_some() {
                break;
            }
            match parse_rule(line) {
                Ok(rule) => rules.push(rule),
                Err(message) => {
                    // Line numbers are only counted when needed.
                    let first_line = text[..start].matches('\n').count();
                    return Some(Err(RuleError {
                        line: first_line + n + 1,
                        message,
                    }));
                }
            }
        }
        Some(Ok(rules))
    }

    /// Parse every section, for tests and build-time checks: the first error,
    /// or the number of rules.
    pub fn validate(&self) -> Result<usize, RuleError> {
        validate_text(self.text)
    }
}

fn validate_text(text: &str) -> Result<usize, RuleError> {
    let mut count = 0;
    let mut seen = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        if line.is_empty() {
            continue;
        }
        if let Some(name) = section_name(line) {
            if name.is_empty() || seen.contains(&name) {
                return Err(RuleError {
                    line: n + 1,
                    message: format!("empty or repeated section [{name}]"),
                });
            }
            seen.push(name);
            continue;
        }
        if seen.is_empty() {
            return Err(RuleError {
                line: n + 1,
                message: "rule outside a section".into(),
            });
        }
        parse_rule(line).map_err(|message| RuleError {
            line: n + 1,
            message,
        })?;
        count += 1;
    }
    Ok(count)
}

fn strip_comment(line: &str) -> &str {
    match line.find('#') {
        Some(i) => line[..i].trim(),
        None => line.trim(),
    }
}

fn section_name(line: &str) -> Option<&str> {
    section_header(line).map(|(name, _)| name)
}

/// `[Name]` → (Name, false); `[Name nested]` → (Name, true).
fn section_header(line: &str) -> Option<(&str, bool)> {
    let inner = line.strip_prefix('[')?.strip_suffix(']')?.trim();
    match inner.split_once(char::is_whitespace) {
        Some((name, flag)) if flag.trim() == "nested" => Some((name, true)),
        _ => Some((inner, false)),
    }
}

fn parse_path(text: &str) -> Result<Cow<'_, [&str]>, String> {
    let path: Vec<&str> = text.split('/').collect();
    if path.iter().any(|s| s.is_empty()) {
        return Err(format!("empty segment in path `{text}`"));
    }
    Ok(Cow::Owned(path))
}

fn parse_rule(line: &str) -> Result<Rule<'_>, String> {
    let mut words = line.split_whitespace();
    let kind = match words.next() {
        Some("secret") => RuleKind::Field(Treatment::Secret),
        Some("sensitive") => RuleKind::Field(Treatment::Sensitive),
        Some("map") => RuleKind::Map,
        Some("url") => RuleKind::Url,
        Some("nested") => RuleKind::Nested,
        Some(other) => return Err(format!("unknown rule kind `{other}`")),
        None => return Err("empty rule".into()),
    };
    let path = parse_path(words.next().ok_or("rule without a path")?)?;
    let mut next = words.next();
    let mut key = DEFAULT_KEY;
    if next == Some("by") {
        if kind != RuleKind::Nested {
            return Err("only a nested rule can say `by`".into());
        }
        key = words.next().ok_or("`by` without a property name")?;
        if key.contains(['/', '=']) || key == "*" || key == ALL_BELOW {
            return Err(format!("`by {key}`: a routing key is one property name"));
        }
        next = words.next();
    }
    let guard = match next {
        None => None,
        Some("if") => {
            let cond = words.next().ok_or("`if` without a condition")?;
            let (p, v) = cond.split_once('=').ok_or("condition must be PATH=VALUE")?;
            let gp = parse_path(p)?;
            if gp.iter().any(|s| *s == "*" || *s == ALL_BELOW) {
                return Err("a condition path cannot hold `*`".into());
            }
            Some((gp, v))
        }
        Some(other) => return Err(format!("unexpected `{other}`")),
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected `{extra}`"));
    }
    if let Some(i) = path.iter().position(|s| *s == ALL_BELOW) {
        if !matches!(kind, RuleKind::Field(_)) {
            return Err("only a secret or sensitive rule can hold `**`".into());
        }
        if i + 1 != path.len() {
            return Err("`**` can only be the last segment".into());
        }
    }
    Ok(Rule {
        kind,
        path,
        guard,
        key,
    })
}

/// Compile a table's text into a Rust expression of type
/// `&'static [Section]` (for [`RuleTable::compiled`]), after checking every
/// line ([`RuleTable::validate`]). A plugin's build script writes it to
/// `OUT_DIR` ([`build`]); the `plugin!` macro includes it.
pub fn compile_to_rust(text: &str) -> Result<String, RuleError> {
    validate_text(text)?;
    let mut out = String::from("&[\n");
    let mut lines = text.lines().map(strip_comment).filter(|l| !l.is_empty());
    let mut header = lines.next();
    while let Some(h) = header {
        let (name, nested_only) = section_header(h).expect("validated: a section comes first");
        out.push_str(&format!(
            "    ::om_secrets_guest::rules::Section {{ name: {name:?}, nested_only: {nested_only}, rules: &[\n"
        ));
        header = None;
        for line in lines.by_ref() {
            if section_name(line).is_some() {
                header = Some(line);
                break;
            }
            let r = parse_rule(line).expect("validated");
            let kind = match r.kind {
                RuleKind::Field(Treatment::Secret) => {
                    "Field(::om_secrets_guest::rules::Treatment::Secret)"
                }
                RuleKind::Field(Treatment::Sensitive) => {
                    "Field(::om_secrets_guest::rules::Treatment::Sensitive)"
                }
                RuleKind::Map => "Map",
                RuleKind::Url => "Url",
                RuleKind::Nested => "Nested",
            };
            let guard = match &r.guard {
                None => "None".to_string(),
                Some((p, v)) => {
                    format!("Some((::std::borrow::Cow::Borrowed(&{:?}), {v:?}))", &p[..])
                }
            };
            out.push_str(&format!(
                "        ::om_secrets_guest::rules::Rule {{ kind: ::om_secrets_guest::rules::RuleKind::{kind}, path: ::std::borrow::Cow::Borrowed(&{:?}), guard: {guard}, key: {:?} }},\n",
                &r.path[..],
                r.key
            ));
        }
        out.push_str("    ] },\n");
    }
    out.push(']');
    Ok(out)
}

/// The guest's shadow stack (wasm-ld's `-z stack-size`), instead of Rust's
/// 1 MiB default: discovery keeps little on it (serde_json's nesting limit of
/// 128 bounds the depth), and a small stack keeps what a call touches — stack
/// top, data, allocator arena — within a few hundred KiB of linear memory,
/// which the host scans and resets after every call. Overflowing it traps
/// (the stack comes first in memory, below address 0 nothing is mapped).
pub const PLUGIN_STACK_BYTES: usize = 256 << 10;

/// For a plugin's `build.rs`: compile the rule table at `path` (relative to
/// the plugin's manifest directory) into `$OUT_DIR/rules.rs`, which
/// `plugin! { …, compiled: include!(…) }` includes, and set the plugin's
/// stack size ([`PLUGIN_STACK_BYTES`]) when building for wasm. A bad table
/// fails the build, naming the line.
pub fn build(path: &str) {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size={PLUGIN_STACK_BYTES}");
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("run from a build script");
    let out = std::env::var("OUT_DIR").expect("run from a build script");
    let file = std::path::Path::new(&dir).join(path);
    println!("cargo:rerun-if-changed={}", file.display());
    let text =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let code = compile_to_rust(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    std::fs::write(std::path::Path::new(&out).join("rules.rs"), code)
        .unwrap_or_else(|e| panic!("write rules.rs: {e}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: RuleTable = RuleTable::new(
        "# test\n[A]\nsecret a/b\nmap opts # comment\n\n[B]\nurl hostPort\nsecret x if t=cloud\n[C nested]\nsecret y\n",
    );

    #[test]
    fn sections_are_listed_and_read() {
        assert_eq!(TABLE.connector_types(), vec!["A", "B"]);
        assert!(TABLE.section("C", true).is_none());
        assert_eq!(TABLE.section("C", false).unwrap().unwrap().len(), 1);
        let a = TABLE.section("A", true).unwrap().unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].kind, RuleKind::Field(Treatment::Secret));
        assert_eq!(a[0].path, vec!["a", "b"]);
        assert_eq!(a[1].kind, RuleKind::Map);
        let b = TABLE.section("B", true).unwrap().unwrap();
        assert_eq!(b[1].guard, Some((Cow::Owned(vec!["t"]), "cloud")));
        assert!(TABLE.section("D", false).is_none());
        assert_eq!(TABLE.validate(), Ok(5));
    }

    #[test]
    fn bad_lines_name_their_line() {
        let t = RuleTable::new("[A]\nsecret a//b\n");
        assert_eq!(t.validate().unwrap_err().line, 2);
        let t = RuleTable::new("[AB]\nsecret a\n[A]\n\nsecret x//y\n");
        assert_eq!(t.section("A", true).unwrap().unwrap_err().line, 5);
        assert_eq!(t.section("AB", true).unwrap().unwrap().len(), 1);
        let t = RuleTable::new("[A]\nsecrets a\n");
        assert!(
            t.validate()
                .unwrap_err()
                .message
                .contains("unknown rule kind")
        );
        let t = RuleTable::new("secret a\n");
        assert!(t.validate().unwrap_err().message.contains("outside"));
        let t = RuleTable::new("[A]\n[A]\n");
        assert!(t.validate().unwrap_err().message.contains("repeated"));
        let t = RuleTable::new("[A]\nsecret a if b\n");
        assert!(t.validate().is_err());
    }

    #[test]
    fn nested_rules_name_their_routing_key() {
        let t = RuleTable::new(
            "[P]\nnested src by dbtConfigType\nnested conns/*/config\nnested x by k if t=v\n",
        );
        let r = t.section("P", true).unwrap().unwrap();
        assert_eq!(r[0].kind, RuleKind::Nested);
        assert_eq!(
            (r[0].path.to_vec(), r[0].key),
            (vec!["src"], "dbtConfigType")
        );
        // Without `by`, the connection's own `type`; `*` reaches every element.
        assert_eq!(
            (r[1].path.to_vec(), r[1].key),
            (vec!["conns", "*", "config"], "type")
        );
        assert_eq!(
            (r[2].key, r[2].guard.clone()),
            ("k", Some((Cow::Owned(vec!["t"]), "v")))
        );
        assert_eq!(t.validate(), Ok(3));
        for (bad, why) in [
            ("secret a by k", "only a nested rule"),
            ("nested a by", "without a property"),
            ("nested a by k/j", "one property name"),
            ("nested a by *", "one property name"),
            ("nested a by k extra", "unexpected `extra`"),
        ] {
            let t = RuleTable::new(format!("[A]\n{bad}\n").leak());
            let e = t.validate().unwrap_err();
            assert!(e.message.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn all_below_is_a_last_segment_of_field_rules() {
        let t = RuleTable::new("[A]\nsecret appPrivateConfig/**\nsensitive x/*/**\n");
        let r = t.section("A", true).unwrap().unwrap();
        assert_eq!(r[0].path, vec!["appPrivateConfig", "**"]);
        assert_eq!(r[1].kind, RuleKind::Field(Treatment::Sensitive));
        for (bad, why) in [
            ("secret a/**/b", "last segment"),
            ("map a/**", "only a secret or sensitive"),
            ("url a/**", "only a secret or sensitive"),
            ("nested a/**", "only a secret or sensitive"),
            ("secret a if b/**=c", "cannot hold"),
        ] {
            let t = RuleTable::new(format!("[A]\n{bad}\n").leak());
            let e = t.validate().unwrap_err();
            assert!(e.message.contains(why), "{bad}: {e}");
        }
    }
}
