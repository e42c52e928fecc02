//! The example configs of `tools/om-connectors-2.0.7.json` (every variant of
//! every connector of every service type, plus the bot and ingestion-pipeline
//! examples) and the documents that hold them. One copy, included with
//! `#[path]` by `host/benches/corpus.rs`, `host/jvm/benches/mask.rs` and
//! `tests/all/connectors.rs`; each uses part of it.
#![allow(dead_code)]

use std::path::Path;

use serde_json::{Value, json};

/// The manifest below the repository root `repo`, as committed.
pub fn manifest(repo: &Path) -> Value {
    let path = repo.join("tools/om-connectors-2.0.7.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The unescaped tokens of an RFC 6901 pointer.
pub fn tokens(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The document holding `config` at `pointer` (the config itself for `""`):
/// an entity named `name`, a bot's `User` marked `isBot`.
pub fn wrap(pointer: &str, config: &Value, name: &str) -> Value {
    let mut doc = config.clone();
    for t in tokens(pointer).iter().rev() {
        doc = json!({ t.as_str(): doc });
    }
    if !pointer.is_empty() {
        let m = doc.as_object_mut().unwrap();
        m.insert("name".into(), json!(name));
        if pointer == "/authenticationMechanism" {
            m.insert("isBot".into(), json!(true));
        }
    }
    doc
}

/// One example config of the manifest.
pub struct Variant<'a> {
    /// The service type, or `bot` / `ingestion`.
    pub table: &'a str,
    /// The connector (config type) name.
    pub ctype: &'a str,
    /// Its index among the connector's variants.
    pub index: usize,
    /// Where the config stands in the entity's document (`""`: it is the
    /// document).
    pub pointer: &'a str,
    /// The connector's manifest entry (`model`, `variants`…).
    pub connector: &'a Value,
    /// The example config (the variant's `config`; its `choices` say which
    /// branch of each `oneOf` it takes).
    pub config: &'a Value,
}

impl Variant<'_> {
    /// `<table>/<Connector>#<variant>`.
    pub fn id(&self) -> String {
        format!("{}/{}#{}", self.table, self.ctype, self.index)
    }

    /// The entity name it is given: `<connector lower-cased>-<variant>`.
    pub fn name(&self) -> String {
        format!("{}-{}", self.ctype.to_lowercase(), self.index)
    }

    /// The document the CLI is given for it.
    pub fn doc(&self) -> Value {
        wrap(self.pointer, self.config, &self.name())
    }
}

/// Every example config of the manifest `m`: the service types' connectors,
/// then the other entities' config types.
pub fn variants(m: &Value) -> Vec<Variant<'_>> {
    let services = m["serviceTypes"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(st, connectors)| {
            let connectors = connectors.as_object().unwrap().iter();
            connectors.map(move |(ctype, c)| (st.as_str(), ctype.as_str(), c, ""))
        });
    let entities = m["entities"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(table, e)| {
            let pointer = e["configPointer"].as_str().unwrap();
            let types = e["configTypes"].as_object().unwrap().iter();
            types.map(move |(ctype, c)| (table.as_str(), ctype.as_str(), c, pointer))
        });
    let mut out = Vec::new();
    for (table, ctype, connector, pointer) in services.chain(entities) {
        for (index, variant) in connector["variants"].as_array().unwrap().iter().enumerate() {
            let config = &variant["config"];
            assert!(
                config.is_object(),
                "{table}/{ctype}#{index}: no `config` object"
            );
            out.push(Variant {
                table,
                ctype,
                index,
                pointer,
                connector,
                config,
            });
        }
    }
    out
}
