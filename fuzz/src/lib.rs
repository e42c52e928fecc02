//! The properties the fuzz targets check, one function per target
//! (`fuzz_targets/<name>.rs` calls `om_secrets_fuzz::<name>`). Each takes
//! arbitrary bytes and panics only when a property is broken.
//!
//! The normal test suite includes this file too (`tests/all/sandbox_fuzz.rs`)
//! to replay `fuzz/seeds` and `fuzz/regressions` (crashing inputs, checked in)
//! and to run a short deterministic randomized pass on a stable toolchain.

use std::sync::Arc;

use om_secrets::fernet::FernetKeys;
use om_secrets::kms::SecretStore;
use om_secrets::kms::memory::MemoryStore;
use om_secrets::ops::Backend;
use om_secrets::plugin::check::{self, Treatment, tokens};
use om_secrets::plugin::{Limits, Plugins, Sandbox};
use om_secrets::secret_id::IdBuilder;
use om_secrets::{MASK, SecretsManager, Subject};
use serde_json::Value;

/// A fixed key (OpenMetadata's documented sample), so runs are reproducible.
const KEY: &str = "jJ/9sz0g0OHxsfxOoSfdFdmk3ysNmPRnH3TUAbz3IHA=";

fn is_string_or_null(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::String(_) | Value::Null))
}

/// **Config JSON walk + pointer handling.** The first byte picks a connector
/// type of the database plugin's rule table; the rest is the config text.
/// The guest SDK's walk (`RuleTable::discover`, run natively) must not panic,
/// and whatever it answers must pass the host's check (`check::check`): an
/// honest plugin is never refused, except for the documented refusal of two
/// fields whose secret ids would collide.
pub fn discover(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let rules = om_secrets_plugin_database::RULES;
    let types = rules.connector_types();
    let connector_type = types[pick as usize % types.len()];
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(fields) = rules.discover(connector_type, text) else {
        return;
    };
    let config: Value =
        serde_json::from_str(text).expect("the walk accepted text serde_json refuses");
    let answer: Vec<_> = fields
        .into_iter()
        .map(|f| {
            let t = match f.treatment {
                om_secrets_guest::Treatment::Secret => Treatment::Secret,
                om_secrets_guest::Treatment::Sensitive => Treatment::Sensitive,
            };
            (f.pointer, f.segments, t)
        })
        .collect();
    match check::check(&config, answer, usize::MAX) {
        Ok(checked) => {
            for f in checked {
                assert!(
                    is_string_or_null(config.pointer(&f.pointer)),
                    "{}",
                    f.pointer
                );
            }
        }
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.contains("would share the secret id"),
                "the host refused an honest answer: {m}"
            );
        }
    }
}

/// **The host's answer check on arbitrary answers.** Input: a config (JSON),
/// a `0xFF` byte, then the answer as lines `pointer<TAB>seg/seg<TAB>S|s`.
/// `check::check` must not panic; whatever it accepts must be sound: every
/// pointer canonical, present, naming a string or null, not `/type`, with the
/// host's own segments, and no two fields sharing a pointer or an id.
pub fn check(data: &[u8]) {
    let Some(cut) = data.iter().position(|&b| b == 0xFF) else {
        return;
    };
    let Ok(config) = serde_json::from_slice::<Value>(&data[..cut]) else {
        return;
    };
    let text = String::from_utf8_lossy(&data[cut + 1..]);
    let answer: Vec<(String, Vec<String>, Treatment)> = text
        .lines()
        .map(|line| {
            let mut cols = line.split('\t');
            let pointer = cols.next().unwrap_or("").to_string();
            let segments = match cols.next() {
                Some("") | None => Vec::new(),
                Some(s) => s.split('/').map(String::from).collect(),
            };
            let treatment = if cols.next() == Some("s") {
                Treatment::Sensitive
            } else {
                Treatment::Secret
            };
            (pointer, segments, treatment)
        })
        .collect();
    let Ok(fields) = check::check(&config, answer, 64) else {
        return;
    };
    let mut pointers = std::collections::HashSet::new();
    let mut ids = std::collections::HashSet::new();
    for f in &fields {
        let toks = tokens(&f.pointer).expect("accepted a pointer that does not parse");
        let canonical: String = toks
            .iter()
            .map(|t| format!("/{}", om_secrets_guest::discover::escape_token(t)))
            .collect();
        assert_eq!(canonical, f.pointer, "accepted a non-canonical pointer");
        assert!(
            is_string_or_null(config.pointer(&f.pointer)),
            "{}",
            f.pointer
        );
        assert_ne!(f.pointer, "/type");
        let expected: Vec<String> = toks
            .iter()
            .map(|t| om_secrets::secret_id::segment(t))
            .collect();
        assert_eq!(f.segments, expected);
        assert!(pointers.insert(f.pointer.clone()), "pointer listed twice");
        assert!(ids.insert(f.segments.clone()), "two fields share an id");
    }
}

/// **Fernet token parsing.** Decrypting arbitrary text (as a token, with or
/// without the `fernet:` prefix) and parsing it as a key list never panics;
/// encrypting it round-trips; a token is never encrypted twice.
pub fn fernet(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let keys = FernetKeys::parse(KEY).unwrap();
    let _ = keys.decrypt(s);
    let _ = keys.decrypt(&format!("fernet:{s}"));
    let _ = FernetKeys::parse(s);
    let token = keys.encrypt(s);
    assert_eq!(&*keys.decrypt(&token).unwrap(), s);
    assert_eq!(keys.encrypt_once(&token), token);
}

/// **Secret-id building.** Input: NUL-separated prefix, cluster name, kind,
/// entity name, then segments. Whatever they hold, an id stays below its
/// entity's root, has exactly one `/` per part (no name or segment can add a
/// level or climb out with `..`), uses only `[a-z0-9_-/]`, and the guest
/// SDK's segment rule is the host's.
pub fn secret_id(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let prefix = parts.next().unwrap_or("");
    let cluster = parts.next().unwrap_or("");
    let kind = parts.next().unwrap_or("");
    let name = parts.next().unwrap_or("");
    let segments: Vec<String> = parts.map(String::from).collect();
    let ids = IdBuilder::new(prefix, cluster);
    let root = ids.entity(kind, name);
    let id = ids.id(kind, name, &segments);
    let levels = prefix.split('/').filter(|p| !p.is_empty()).count() + 3;
    assert_eq!(root.matches('/').count(), levels, "{root}");
    assert_eq!(id.matches('/').count(), levels + segments.len(), "{id}");
    assert!(id.starts_with(&root) && (id.len() == root.len() || id[root.len()..].starts_with('/')));
    // Only a name outside [a-z0-9_-] adds a `.` (before its digest), once.
    let derived = !om_secrets::secret_id::is_plain_name(name);
    assert!(
        id.chars().all(|c| c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, '_' | '-' | '/')
            || (derived && c == '.')),
        "{id}"
    );
    assert_eq!(id.matches('.').count(), usize::from(derived), "{id}");
    assert_ne!(
        ids.entity(kind, name),
        ids.entity(kind, &format!("{name}x")),
        "two names share a root"
    );
    for s in segments.iter().map(String::as_str).chain([name, kind]) {
        assert_eq!(
            om_secrets::secret_id::segment(s),
            om_secrets_guest::segment(s)
        );
    }
}

/// The database plugin, compiled once (compiling a component is the slow
/// part of a target's start-up, unoptimised builds most of all).
fn database_plugin() -> Arc<Plugins> {
    let sandbox = Sandbox::new(Limits::default()).unwrap();
    let mut plugins = Plugins::new();
    let (_, bytes) = om_secrets::plugin::registry::builtin()
        .iter()
        .find(|(n, _)| *n == "database")
        .unwrap();
    plugins
        .add_bytes(&sandbox, None, bytes, "builtin:database")
        .unwrap();
    Arc::new(plugins)
}

fn manager(backend: Backend, plugins: &Arc<Plugins>) -> SecretsManager {
    SecretsManager::new(
        backend,
        FernetKeys::parse(KEY).unwrap(),
        IdBuilder::new("", "openmetadata"),
        plugins.clone(),
    )
}

struct Managers {
    db: SecretsManager,
    managed: SecretsManager,
    /// The managed manager's store (in memory), to look inside.
    store: Arc<MemoryStore>,
    rt: tokio::runtime::Runtime,
}

thread_local! {
    static MANAGERS: Managers = {
        let store = Arc::new(MemoryStore::new());
        let plugins = database_plugin();
        Managers {
            db: manager(Backend::Db, &plugins),
            managed: manager(Backend::Managed(store.clone()), &plugins),
            store,
            rt: tokio::runtime::Builder::new_current_thread().build().unwrap(),
        }
    };
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// A refused `seal` of a config whose fields were found: an input error,
/// never a panic, a plugin, store or configuration failure. It names a
/// pointer of the document: a mask, a structured value in a secret field, a
/// token that does not open (at a discovered field holding `fernet:…`), a
/// reference that is missing or another entity's (managed mode).
fn assert_input_error(e: &om_secrets::Error, doc: &Value, fields: &[om_secrets::ops::Field]) {
    use om_secrets::Error;
    use om_secrets::fernet::FernetError;
    let is_field = |p: &str| fields.iter().any(|f| f.pointer == p);
    match e {
        Error::Input {
            pointer: Some(p), ..
        } => assert!(doc.pointer(p).is_some(), "{e}: no `{p}` in {doc}"),
        Error::Fernet(FernetError::Decrypt { pointer: Some(p) })
        | Error::Fernet(FernetError::NotText { pointer: Some(p) }) => {
            assert!(is_field(p), "{e}: `{p}` is not a field");
            let held = doc.pointer(p).and_then(Value::as_str).unwrap_or("");
            assert!(held.starts_with("fernet:"), "{e}: `{p}` holds no token");
        }
        Error::MissingSecret { pointer, .. } => {
            assert!(is_field(pointer), "{e}: `{pointer}` is not a field")
        }
        other => panic!("seal refused a config whose fields were found with {other:?}"),
    }
}

/// **The CLI's JSON input path.** Bytes as the CLI reads stdin (parsed with
/// serde_json), then through the real sandboxed `database` plugin, in `db`
/// mode and in managed mode (an in-memory store): `fields`, `mask`, `seal`
/// and `reveal` never panic; a masked view holds no token, reference or
/// discovered value; a refused seal is an input error naming a pointer of
/// the document; a sealed config holds every secret field sealed (in managed
/// mode, its value in the store under the field's id); and revealing it
/// gives the input back.
pub fn cli_json(data: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    MANAGERS.with(|ms| {
        let subject = Subject::service("database", Some("fuzz")).unwrap();
        let Ok(fields) = ms.db.fields(&subject, &doc) else {
            // Refused (not a database config, a plugin refusal…): every
            // operation must refuse it too.
            assert!(ms.db.mask(&subject, &doc).is_err());
            assert!(ms.rt.block_on(ms.db.seal(&subject, &doc)).is_err());
            assert!(ms.rt.block_on(ms.managed.seal(&subject, &doc)).is_err());
            return;
        };
        let masked = ms
            .db
            .mask(&subject, &doc)
            .expect("fields worked, mask failed");
        let mut all = Vec::new();
        strings(&masked, &mut all);
        assert!(
            all.iter()
                .all(|s| !s.starts_with("fernet:") && !s.starts_with("secret:")),
            "{masked}"
        );
        for f in &fields {
            let shown = masked.pointer(&f.pointer).unwrap();
            assert!(
                shown.is_null() || shown == MASK,
                "{} shown as {shown}",
                f.pointer
            );
        }
        let mut inputs = Vec::new();
        strings(&doc, &mut inputs);
        let plain_input = inputs
            .iter()
            .all(|s| !s.starts_with("fernet:") && !s.starts_with("secret:") && s != MASK);
        for (managed, m) in [(false, &ms.db), (true, &ms.managed)] {
            let sealed = match ms.rt.block_on(m.seal(&subject, &doc)) {
                Ok(sealed) => sealed,
                Err(e) => {
                    assert_input_error(&e, &doc, &fields);
                    // A plain document with no mask and only string or null
                    // secrets is always sealed.
                    let structured = fields.iter().any(|f| {
                        matches!(
                            doc.pointer(&f.pointer),
                            Some(Value::Object(_) | Value::Array(_))
                        )
                    });
                    assert!(
                        !plain_input || structured,
                        "managed={managed}: a plain config was refused: {e}"
                    );
                    continue;
                }
            };
            // The string "null" is how OpenMetadata wrote a cleared secret:
            // it is sealed (and so revealed) as null.
            let mut expected = doc.clone();
            for f in fields.iter().filter(|f| f.treatment == Treatment::Secret) {
                if doc.pointer(&f.pointer) == Some(&Value::String("null".into())) {
                    assert_eq!(sealed.pointer(&f.pointer), Some(&Value::Null));
                    *expected.pointer_mut(&f.pointer).unwrap() = Value::Null;
                    continue;
                }
                if let Some(Value::String(s)) = doc.pointer(&f.pointer)
                    && !s.is_empty()
                {
                    let out = sealed
                        .pointer(&f.pointer)
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    assert!(out.starts_with("fernet:"), "{} not sealed", f.pointer);
                    if managed && plain_input {
                        let held = ms.rt.block_on(ms.store.get(&f.secret_id)).unwrap();
                        assert_eq!(
                            held.as_deref().map(String::as_str),
                            Some(s.as_str()),
                            "{} not in the store under {}",
                            f.pointer,
                            f.secret_id
                        );
                    }
                }
            }
            if plain_input {
                let revealed = ms
                    .rt
                    .block_on(m.reveal(&subject, &sealed, false))
                    .expect("cannot reveal what was sealed");
                assert_eq!(
                    revealed, expected,
                    "managed={managed}: reveal(seal(x)) != x"
                );
            }
        }
    });
}
