//! Checking what a plugin answered. Nothing a plugin says is trusted:
//!
//! - at most [`crate::Limits::max_fields`] fields;
//! - every pointer is a valid RFC 6901 pointer that exists in the input and
//!   names a string or null;
//! - no pointer names a routing key ([`routing_key`]): the key the host
//!   routed the config by (`/type`, a bot's `/authType`), or a key a nested
//!   route may use (`/connection/type`, `/dbtConfigSource/dbtConfigType`),
//!   since a sealed or masked routing key makes the stored form unroutable
//!   (nothing could reveal it again) and an update sent back with the mask
//!   route nowhere;
//! - no pointer is listed twice;
//! - the segments are exactly the pointer's tokens, normalised as secret-id
//!   segments — so ids are the host's, derived from pointers and the entity
//!   name, and a plugin cannot direct a write to another entity's secret.
//!
//! One bad field rejects the whole answer: never a partial result.

// No unsafe code here: the one block of the crate is in `cache`.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use serde_json::Value;
use zeroize::Zeroizing;

use crate::PluginFailure;

/// What the host does with a field (mirrors the WIT enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Sanitise one secret-id segment: lower-cased, every character outside
/// `[a-z0-9_-]` replaced by `_` (`authType` → `authtype`), as OpenMetadata
/// builds its secret ids (the host's `secret_id` module, which re-exports
/// this one definition). The guest SDK has its twin
/// (`om_secrets_guest::segment`) on purpose: the host recomputes every
/// plugin's segments itself rather than trusting code that runs in plugins.
pub fn segment(s: &str) -> String {
    if s.is_ascii() {
        // Byte for byte (every name OpenMetadata's models use): the same
        // result as the general path below, which lower-cases per `char`.
        return s
            .bytes()
            .map(|b| char::from(ascii_segment_byte(b)))
            .collect();
    }
    segment_by_char(s)
}

/// [`segment`], one `char` at a time (any text).
fn segment_by_char(s: &str) -> String {
    s.chars()
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

/// One ASCII byte of a [`segment`].
fn ascii_segment_byte(b: u8) -> u8 {
    match b.to_ascii_lowercase() {
        c @ (b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-') => c,
        _ => b'_',
    }
}

/// Whether `seg` is the [`segment`] of `tok`, without building it.
fn is_segment_of(seg: &str, tok: &str) -> bool {
    if tok.is_ascii() {
        return seg.len() == tok.len()
            && seg
                .bytes()
                .zip(tok.bytes())
                .all(|(s, t)| s == ascii_segment_byte(t));
    }
    seg == segment(tok)
}

/// One key as an RFC 6901 pointer token (`~` → `~0`, `/` → `~1`): the
/// inverse of [`tokens`]' unescaping.
pub fn escape_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
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

/// Check a plugin's answer against the input it was given, routed by `type`
/// (a connection config): [`check_routed`] with `"type"`.
pub fn check(
    config: &Value,
    answer: Vec<(String, Vec<String>, Treatment)>,
    max_fields: usize,
) -> Result<Vec<CheckedField>, PluginFailure> {
    check_routed(config, "type", answer, max_fields)
}

/// Whether the last word of a property name is `type`: `type`, `authType`,
/// `dbtConfigType`, `connection_type`, `AUTH-TYPE` (words split at
/// non-alphanumeric characters and at lower-to-upper case changes, as the
/// guest SDK's credential heuristics split them; `prototype` and `typed` are
/// one word). Every discriminator OpenMetadata routes by is named so, and the
/// heuristics never take such a key for a credential (`type` describes a
/// credential, it is not one).
pub(crate) fn names_a_type(key: &str) -> bool {
    let mut last = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            // A separator ends the word; the next one starts afresh.
            prev_lower = false;
            last.clear();
            continue;
        }
        if c.is_uppercase() && prev_lower {
            last.clear();
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        last.extend(c.to_lowercase());
    }
    // A trailing separator (`type_`) leaves no last word: not a type name.
    last == "type"
}

/// Whether a string could name a connector type, i.e. route a config: what
/// `describe` accepts for one (1 to 128 of `[A-Za-z0-9_.-]`). A URL with a
/// password, a `fernet:` token or a `secret:` reference never could.
fn could_route(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Whether the field at `pointer` (with these tokens) is a routing key of a
/// config routed by `type_key`, so that no plugin answer may seal or mask it:
///
/// - the routing key itself, at the root: `/<type_key>`, whatever it holds;
/// - at any depth, a property named `type_key` or whose last word is `type`
///   (`names_a_type`: `type` of a nested connection, `dbtConfigType` of a
///   nested dbt source, `authType` of nested bot credentials) *when it holds a
///   string that could name a connector type* (`could_route`). The host
///   cannot see a plugin's rule table, so it does not know which nested
///   objects the plugin routes by: it protects every property that could be a
///   route. The value condition keeps honest answers valid: a free-form map
///   entry `connectionOptions.db_type: "postgres://u:pw@h"` is a secret the
///   URL rule reports, and no connector type looks like it. (So a plugin
///   rule that takes every string below a point, such as
///   `secret appPrivateConfig/**`, must leave such discriminators out, as the
///   credential heuristics do: an honest answer never names one.)
pub fn routing_key(config: &Value, _pointer: &str, toks: &[String], type_key: &str) -> bool {
    match resolve(config, toks) {
        Some((value, parent_is_object)) => routed(value, parent_is_object, toks, type_key),
        None => false,
    }
}

/// [`routing_key`] on a pointer already resolved: its value, and whether it
/// is a property (its parent an object) rather than an array element.
fn routed(value: &Value, parent_is_object: bool, toks: &[String], type_key: &str) -> bool {
    if toks.len() == 1 && toks[0] == type_key {
        return true;
    }
    let Some(last) = toks.last() else {
        return false;
    };
    if *last != type_key && !names_a_type(last) {
        return false;
    }
    parent_is_object && matches!(value, Value::String(s) if could_route(s))
}

/// The value the tokens name, and whether its parent is an object: one walk
/// from the root, as RFC 6901 reads a pointer (array indices are decimal,
/// without leading zeros; `serde_json::Value::pointer`'s rules).
fn resolve<'v>(config: &'v Value, toks: &[String]) -> Option<(&'v Value, bool)> {
    let mut here = config;
    let mut parent_is_object = false;
    for tok in toks {
        parent_is_object = here.is_object();
        here = step(here, tok)?;
    }
    Some((here, parent_is_object))
}

/// One RFC 6901 step: an object member, or an array index written as
/// RFC 6901 and serde_json write it (digits, no sign, no leading zero).
pub(crate) fn step<'v>(here: &'v Value, tok: &str) -> Option<&'v Value> {
    match here {
        Value::Object(m) => m.get(tok),
        Value::Array(a) => {
            let canonical = !tok.is_empty()
                && tok.bytes().all(|b| b.is_ascii_digit())
                && (tok == "0" || !tok.starts_with('0'));
            a.get(tok.parse::<usize>().ok().filter(|_| canonical)?)
        }
        _ => None,
    }
}

/// Check a plugin's answer against the config it was given, which the host
/// routed by its `type_key` property (`type`, `authType`, `dbtConfigType`).
pub fn check_routed(
    config: &Value,
    type_key: &str,
    answer: Vec<(String, Vec<String>, Treatment)>,
    max_fields: usize,
) -> Result<Vec<CheckedField>, PluginFailure> {
    let bad = |m: String| PluginFailure::InvalidAnswer(m);
    let answer_len = answer.len();
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
            .redact_cut(p, 200)
    };
    // A pointer listed twice, or two whose ids collide, is found among the
    // fields accepted so far without copying a pointer or a segment: by
    // comparing with each of a short answer's, then by a hash of the segments.
    let mut by_id: Option<HashMap<u64, Vec<usize>>> = None;
    let mut out: Vec<CheckedField> = Vec::with_capacity(answer.len());
    for (pointer, segments, treatment) in answer {
        let toks = tokens(&pointer)
            .ok_or_else(|| bad(format!("`{}` is not a JSON pointer", show(&pointer))))?;
        // One walk per pointer: the value it names, and its parent's kind.
        let (value, parent_is_object) = match resolve(config, &toks) {
            Some(found @ (Value::String(_) | Value::Null, _)) => found,
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
        };
        if routed(value, parent_is_object, &toks, type_key) {
            return Err(PluginFailure::RoutingKey {
                pointer: show(&pointer),
            });
        }
        if segments.len() != toks.len()
            || !segments.iter().zip(&toks).all(|(s, t)| is_segment_of(s, t))
        {
            return Err(bad(format!(
                "segments for `{}` do not match the pointer",
                show(&pointer)
            )));
        }
        // Equal pointers have equal segments: both cases are found among the
        // fields whose segments are the same.
        let clash = match &by_id {
            None => out.iter().position(|f| f.segments == segments),
            Some(map) => map
                .get(&segments_hash(&segments))
                .and_then(|same| same.iter().copied().find(|&i| out[i].segments == segments)),
        };
        if let Some(i) = clash {
            let other = &out[i].pointer;
            if *other == pointer {
                return Err(bad(format!("`{}` listed twice", show(&pointer))));
            }
            // Two fields whose ids collide (`/a.b` and `/a_b`) would overwrite
            // each other's secret: refused rather than guessed.
            return Err(bad(format!(
                "`{}` and `{}` would share the secret id segment `{}`",
                show(other),
                show(&pointer),
                show(&segments.join("/"))
            )));
        }
        out.push(CheckedField {
            pointer,
            segments,
            treatment,
        });
        match &mut by_id {
            Some(map) => {
                let last = out.len() - 1;
                map.entry(segments_hash(&out[last].segments))
                    .or_default()
                    .push(last);
            }
            None if out.len() > LINEAR_CLASH_CHECK => {
                let mut map: HashMap<u64, Vec<usize>> = HashMap::with_capacity(answer_len);
                for (i, f) in out.iter().enumerate() {
                    map.entry(segments_hash(&f.segments)).or_default().push(i);
                }
                by_id = Some(map);
            }
            None => {}
        }
    }
    Ok(out)
}

/// Fields of an answer compared one by one for a clash; a longer answer's are
/// found by a hash of their segments.
const LINEAR_CLASH_CHECK: usize = 16;

/// A hash of a field's segments (std's, so that a plugin cannot aim at it).
fn segments_hash(segments: &[String]) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    thread_local!(static STATE: RandomState = RandomState::new());
    STATE.with(|s| s.hash_one(segments))
}

/// At most `max` characters of `s`, with `…` when cut.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Removes the string values of one config from text a plugin produced (log
/// lines, panic messages, error messages), so a plugin cannot leak a secret
/// verbatim through them. Holds copies of the values: they are zeroized on
/// drop.
///
/// A value is found in every form it takes in JSON text, not only as itself.
/// A plugin is handed the config as JSON text and may quote that text, or
/// re-serialise a value, in its messages; so each text is searched as it is,
/// and again with its escape sequences decoded, up to `DECODE_LEVELS` times
/// (a JSON string holding JSON text). Decoded are the escapes of JSON — `\"`,
/// `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, and `\uXXXX` in either case,
/// surrogate pairs included: serde_json's output (`\u001f` for control
/// characters), other serialisers' (`\u00E9` for non-ASCII with
/// `ensure_ascii`, `\u003c` for HTML-safe `<`, `\ud83d\ude00` for astral
/// characters) — and those of Rust's `{:?}` (`\u{1b}`, `\0`, `\'`), which a
/// Rust plugin formatting a value gets. Each character of a value may be
/// spelled any of these ways independently. The whole span of text a match
/// covers is replaced.
pub struct Redactor {
    /// Distinct values of 3 characters or more, longest first.
    values: Zeroizing<Vec<Zeroizing<String>>>,
    /// The longest value, in characters.
    longest: usize,
}

/// How many levels of escaping are undone when searching a text: a value in
/// JSON text (1), in a JSON string holding that text (2), once more (3).
pub(crate) const DECODE_LEVELS: usize = 3;

/// The most characters one character of a value can take once escaped
/// [`DECODE_LEVELS`] times (an astral character: `\ud83d\ude00` is 12, and
/// each level doubles every backslash: 14, 18), rounded up.
const MAX_ESCAPED_CHAR: usize = 24;

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} values)", self.values.len())
    }
}

/// A text as a redactor searches it: `text`, and for each of its bytes the
/// byte range of the original text it was decoded from.
struct View {
    text: Zeroizing<String>,
    origin: Vec<(usize, usize)>,
}

impl View {
    fn raw(text: &str) -> Self {
        let mut origin = Vec::with_capacity(text.len());
        for (i, c) in text.char_indices() {
            let end = i + c.len_utf8();
            origin.extend(std::iter::repeat_n((i, end), c.len_utf8()));
        }
        View {
            text: Zeroizing::new(text.to_string()),
            origin,
        }
    }

    /// The view with one level of escapes decoded, or `None` if it holds none.
    fn decoded(&self) -> Option<View> {
        let s = self.text.as_str();
        if !s.contains('\\') {
            return None;
        }
        let mut text = Zeroizing::new(String::with_capacity(s.len()));
        let mut origin = Vec::with_capacity(self.origin.len());
        let mut changed = false;
        let mut i = 0;
        while i < s.len() {
            let (c, used) = match unescape(&s[i..]) {
                Some(d) => {
                    changed = true;
                    d
                }
                None => {
                    let c = s[i..].chars().next().expect("i is a char boundary");
                    (c, c.len_utf8())
                }
            };
            let span = (self.origin[i].0, self.origin[i + used - 1].1);
            text.push(c);
            origin.extend(std::iter::repeat_n(span, c.len_utf8()));
            i += used;
        }
        changed.then_some(View { text, origin })
    }
}

/// The character an escape sequence at the start of `s` stands for, and the
/// sequence's length in bytes; `None` if `s` does not start with one.
fn unescape(s: &str) -> Option<(char, usize)> {
    let rest = s.strip_prefix('\\')?;
    let c = match rest.bytes().next()? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'\'' => '\'',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'0' => '\0',
        b'u' => return unescape_u(&rest[1..]).map(|(c, n)| (c, n + 2)),
        _ => return None,
    };
    Some((c, 2))
}

/// After `\u`: `XXXX` (a surrogate pair as `XXXX\uYYYY`) or Rust's `{X…}`.
fn unescape_u(s: &str) -> Option<(char, usize)> {
    if let Some(braced) = s.strip_prefix('{') {
        let end = braced.find('}')?;
        let hex = &braced[..end];
        if hex.is_empty() || hex.len() > 6 {
            return None;
        }
        let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
        return Some((c, end + 2));
    }
    let hex4 = |s: &str| -> Option<u32> {
        let h = s.get(..4)?;
        h.bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then(|| u32::from_str_radix(h, 16).ok())?
    };
    let unit = hex4(s)?;
    match unit {
        0xD800..=0xDBFF => {
            let low = hex4(s[4..].strip_prefix("\\u")?)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return None;
            }
            let c = char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?;
            Some((c, 10))
        }
        _ => Some((char::from_u32(unit)?, 4)),
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
        let longest = found.iter().map(|s| s.chars().count()).max().unwrap_or(0);
        Redactor {
            values: Zeroizing::new(
                found
                    .into_iter()
                    .map(|s| Zeroizing::new(s.to_string()))
                    .collect(),
            ),
            longest,
        }
    }

    /// A redactor that removes nothing (no config involved, e.g. `describe`).
    pub fn none() -> Self {
        Redactor {
            values: Zeroizing::new(Vec::new()),
            longest: 0,
        }
    }

    /// `text` with every value, in any of its forms, replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        if self.values.is_empty() {
            return text.to_string();
        }
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut view = View::raw(text);
        for level in 0..=DECODE_LEVELS {
            for v in self.values.iter() {
                for (at, _) in view.text.match_indices(v.as_str()) {
                    spans.push((view.origin[at].0, view.origin[at + v.len() - 1].1));
                }
            }
            if level == DECODE_LEVELS {
                break;
            }
            match view.decoded() {
                Some(next) => view = next,
                None => break,
            }
        }
        if spans.is_empty() {
            return text.to_string();
        }
        spans.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for (start, end) in spans {
            match merged.last_mut() {
                // Overlapping matches (a value inside another's escaped form)
                // make one redaction.
                Some(last) if start < last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut done = 0;
        for (start, end) in merged {
            out.push_str(&text[done..start]);
            out.push_str("[redacted]");
            done = end;
        }
        out.push_str(&text[done..]);
        out
    }

    /// At most `max` characters of `text` redacted (with `…` when cut).
    /// Redaction comes first, so a value straddling the cut is still found;
    /// only a prefix long enough to hold every value starting in the first
    /// `max` characters, in any form, is searched.
    pub fn redact_cut(&self, text: &str, max: usize) -> String {
        let window = max + self.longest.saturating_mul(MAX_ESCAPED_CHAR) + 16;
        let (head, cut) = match text.char_indices().nth(window) {
            Some((i, _)) => (&text[..i], true),
            None => (text, false),
        };
        let redacted = self.redact(head);
        match redacted.char_indices().nth(max) {
            Some((i, _)) => format!("{}…", &redacted[..i]),
            None if cut => format!("{redacted}…"),
            None => redacted,
        }
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
pub(crate) fn printable(text: &str) -> String {
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

    /// A clash is found wherever it stands, in a short answer (compared one
    /// by one) and past [`LINEAR_CLASH_CHECK`] fields (found by hash), and
    /// names both pointers.
    #[test]
    fn clashes_are_found_in_long_answers() {
        let mut c = serde_json::Map::new();
        for i in 0..40 {
            c.insert(format!("k{i}"), json!("v"));
        }
        // Every spelling that reaches the id `a_b`: a dot, case, a `/` in
        // the key (`~1` in the pointer), a non-ASCII letter.
        let spellings = [
            ("a.b", "/a.b"),
            ("a_b", "/a_b"),
            ("A_B", "/A_B"),
            ("a/b", "/a~1b"),
            ("aéb", "/aéb"),
        ];
        for (i, (key, _)) in spellings.iter().enumerate() {
            c.insert(key.to_string(), json!(format!("value-{i}")));
        }
        let c = Value::Object(c);
        let field = |i: usize| f(&format!("/k{i}"), &[&format!("k{i}")]);
        for n in [0, 3, 15, 16, 17, 30] {
            for (j, &(_, first)) in spellings.iter().enumerate() {
                let mut twice: Vec<_> = (0..n).map(field).collect();
                twice.push(f(first, &["a_b"]));
                twice.extend((n..n + 5).map(field));
                twice.push(f(first, &["a_b"]));
                let e = check(&c, twice, 100).unwrap_err().to_string();
                assert!(e.contains(&format!("`{first}` listed twice")), "{n}: {e}");

                for &(_, second) in &spellings[j + 1..] {
                    let mut shared: Vec<_> = (0..n).map(field).collect();
                    shared.push(f(first, &["a_b"]));
                    shared.extend((n..n + 5).map(field));
                    shared.push(f(second, &["a_b"]));
                    let e = check(&c, shared, 100).unwrap_err().to_string();
                    assert!(
                        e.contains(&format!(
                            "`{first}` and `{second}` would share the secret id segment `a_b`"
                        )),
                        "{n}: {e}"
                    );
                }
            }

            let mut honest: Vec<_> = (0..n + 5).map(field).collect();
            honest.push(f("/a.b", &["a_b"]));
            assert_eq!(check(&c, honest, 100).unwrap().len(), n + 6);
        }
    }

    /// The ASCII path of [`segment`] and [`is_segment_of`] give what the
    /// general one gives.
    #[test]
    fn segments_of_ascii_are_the_general_ones() {
        let general = segment_by_char;
        let all_ascii: String = (0u8..128).map(char::from).collect();
        for s in [
            "authType",
            "PASSWORD",
            "a.b/c~d",
            "x-Y_z 9",
            "",
            all_ascii.as_str(),
            "Ünïcode",
            "İ",
            "ß",
        ] {
            assert_eq!(segment(s), general(s), "{s:?}");
            assert!(is_segment_of(&general(s), s), "{s:?}");
            assert!(!is_segment_of(&format!("{}x", general(s)), s), "{s:?}");
        }
        assert!(!is_segment_of("authType", "authType"));
        assert!(!is_segment_of("a_b", "a.c"));
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

    fn refused(c: &Value, type_key: &str, pointer: &str) -> bool {
        let toks = tokens(pointer).unwrap();
        let answer = vec![(
            pointer.to_string(),
            toks.iter().map(|t| segment(t)).collect(),
            Treatment::Secret,
        )];
        match check_routed(c, type_key, answer, 10) {
            Ok(_) => false,
            Err(PluginFailure::RoutingKey { pointer: p }) => {
                assert_eq!(p, pointer);
                true
            }
            Err(e) => panic!("{pointer}: {e}"),
        }
    }

    #[test]
    fn refuses_routing_keys() {
        let c = json!({
            "type": "Airflow",
            "connection": {"type": "Mysql", "authType": {"password": "p"}},
            "dbtConfigSource": {"dbtConfigType": "cloud", "dbtCloudAuthToken": "t"},
            "creds": {"authType": "JWT", "auth_type": "basic", "TOKEN-TYPE": "Bearer", "Type": "X.1"},
            "connectionOptions": {
                "db_type": "postgres://u:pw@h", "type": "fernet:gAAAA", "x_type": "",
                "subtype": "Mysql", "prototype": "Mysql", "typed": "Mysql", "type_": "Mysql",
                "kind_type": null, "password": "Mysql"
            },
            "list": ["Mysql"],
        });
        for p in [
            "/type",
            "/connection/type",
            "/dbtConfigSource/dbtConfigType",
            "/creds/authType",
            "/creds/auth_type",
            "/creds/TOKEN-TYPE",
            "/creds/Type",
        ] {
            assert!(refused(&c, "type", p), "{p} should be refused");
        }
        // Not routing keys: not named so, or holding what no connector type
        // is called (a URL with a password, a token, nothing).
        for p in [
            "/connection/authType/password",
            "/dbtConfigSource/dbtCloudAuthToken",
            "/connectionOptions/db_type",
            "/connectionOptions/type",
            "/connectionOptions/x_type",
            "/connectionOptions/subtype",
            "/connectionOptions/prototype",
            "/connectionOptions/typed",
            "/connectionOptions/type_",
            "/connectionOptions/kind_type",
            "/connectionOptions/password",
            "/list/0",
        ] {
            assert!(!refused(&c, "type", p), "{p} should be accepted");
        }
        // The key the host routed by, at the root, whatever it holds; and a
        // property of that name at any depth.
        let bot = json!({"authType": "JWT", "config": {"JWTToken": "t"}});
        assert!(refused(&bot, "authType", "/authType"));
        assert!(!refused(&bot, "authType", "/config/JWTToken"));
        let dbt = json!({"dbtConfigType": "cloud", "dbtCloudAuthToken": "t"});
        assert!(refused(&dbt, "dbtConfigType", "/dbtConfigType"));
        let odd = json!({"kind": "not a name", "inner": {"kind": "Y"}, "other": {"kind": "Y"}});
        assert!(refused(&odd, "kind", "/kind"));
        assert!(refused(&odd, "kind", "/inner/kind"));
        assert!(!refused(&odd, "type", "/inner/kind"));
        assert!(names_a_type("dbtConfigType") && names_a_type("AUTH_TYPE") && names_a_type("type"));
        assert!(!names_a_type("prototype") && !names_a_type("typed") && !names_a_type("type_"));
    }

    /// A value with every character JSON escapes or spells otherwise: a quote,
    /// a backslash, a tab, a slash, `<`, a control character, non-ASCII and an
    /// astral character.
    const NASTY: &str = "Pa\"ss\\w\tord/<\u{1}é😀";

    #[test]
    fn redacts_every_form_a_value_takes_in_json_text() {
        let c = json!({"p": NASTY, "other": "visible-ok"});
        let r = Redactor::new(&c);
        let serde = serde_json::to_string(NASTY).unwrap();
        let forms: Vec<(&str, String)> = vec![
            ("raw", NASTY.to_string()),
            // serde_json: `\"`, `\\`, `\t`, `\u0001`; UTF-8 kept.
            ("serde_json", serde.clone()),
            // ensure_ascii (Python's json.dumps): lower-case \u, surrogates.
            (
                "ensure_ascii",
                r#""Pa\"ss\\w\tord/<\u0001\u00e9\ud83d\ude00""#.into(),
            ),
            // Upper-case hex, everything as \u (Jackson-style), `\/`, and
            // HTML-safe `<` (Go).
            (
                "upper \\u",
                r#""Pa\u0022ss\u005Cw\u0009ord\/\u003C\u0001\u00E9\uD83D\uDE00""#.into(),
            ),
            // Each character spelled its own way.
            (
                "mixed",
                r#""Pa\"ss\\w\u0009ord\/\u003c\u0001é\uD83D\ude00""#.into(),
            ),
            // Rust's `{:?}` of the value, as a Rust plugin formats it.
            ("rust debug", format!("{NASTY:?}")),
            // The config text the plugin was given, quoted whole.
            ("config text", c.to_string()),
            // JSON text inside a JSON string, and once more.
            ("json in json", serde_json::to_string(&serde).unwrap()),
            (
                "json in json in json",
                serde_json::to_string(&serde_json::to_string(&serde).unwrap()).unwrap(),
            ),
        ];
        for (name, form) in forms {
            let line = format!("value: {form} end");
            let out = r.redact(&line);
            assert!(out.contains("[redacted]"), "{name}: {out}");
            assert!(
                out.starts_with("value: ") && out.ends_with(" end"),
                "{name}: {out}"
            );
            for piece in ["Pa", "ord", "é", "😀", "ss"] {
                assert!(!out.contains(piece), "{name}: `{piece}` left in {out}");
            }
            if name == "config text" {
                assert_eq!(out, r#"value: {"p":"[redacted]","other":"[redacted]"} end"#);
            }
        }
        assert_eq!(r.redact(&format!("x={serde}.")), "x=\"[redacted]\".");
        // Escapes that decode to nothing of a value, and lone surrogates or
        // broken sequences, are left alone.
        for text in [r"a\u00e9b \ud83d \u{zz} \q \u12", "Pa ss ord", "visible"] {
            assert_eq!(r.redact(text), text);
        }
    }

    #[test]
    fn redaction_happens_before_a_cut() {
        let long = "S".repeat(300);
        let c = json!({"k": long});
        let r = Redactor::new(&c);
        let text = format!("{}{long}", "x".repeat(190));
        assert_eq!(
            r.redact_cut(&text, 200),
            format!("{}[redacted]", "x".repeat(190))
        );
        let text = format!("{}{long}tail", "x".repeat(190));
        assert_eq!(
            r.redact_cut(&text, 200),
            format!("{}[redacted]…", "x".repeat(190))
        );
        let text = format!("{}{long}{}", "x".repeat(190), "y".repeat(500));
        assert_eq!(
            r.redact_cut(&text, 205),
            format!("{}[redacted]yyyyy…", "x".repeat(190))
        );
        // Through the answer check: a pointer made of a long value.
        let err = check(&c, vec![f(&format!("/{long}"), &["x"])], 10)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SSS"), "{err}");
        assert!(err.contains("`/[redacted]` does not exist"), "{err}");
    }
}
