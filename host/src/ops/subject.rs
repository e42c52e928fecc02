//! What a document is: a bare connection config, a whole service entity, a
//! bot user, an ingestion pipeline or a test-connection workflow — and where
//! inside it the config that a plugin understands sits.
//!
//! | subject | config inside the document | routed by | id root |
//! |---|---|---|---|
//! | service config | the document | `type` | `/<…>/<serviceType>/<name>` |
//! | service entity | `/connection/config` | `type` | `/<…>/<serviceType>/<name>` |
//! | bot user | `/authenticationMechanism` | `authType` (`JWT`…) | `/<…>/bot/<name>` |
//! | ingestion pipeline | `/sourceConfig/config` | `type` (`DBT`, `StorageMetadata`, `Application`…) | `/<…>/pipeline/<name>/sourceconfig/config` |
//! | workflow | `/request/connection/config` | `type` | `/<…>/workflow/<name>/request/connection/config` |
//!
//! Everything outside the secret fields passes through every operation
//! unchanged, so the output is the same entity.

use serde_json::Value;

use crate::{Error, Result};

/// Which OpenMetadata entity a document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    /// A service (its config or the whole entity).
    Service,
    /// A bot's `User`.
    Bot,
    /// An `IngestionPipeline`.
    IngestionPipeline,
    /// An automation `Workflow`.
    Workflow,
}

/// The id segment below `/<…>/pipeline/<name>` where an ingestion pipeline's
/// ids live. OpenMetadata gives pipeline *services* and *ingestion
/// pipelines* the same id root (`pipeline/<name>`): the ingestion pipeline
/// owns this sub-root, and a pipeline service may not use it.
pub(crate) const INGESTION_SUBROOT: &str = "sourceconfig";

/// Entity kinds of the id space that are not service types: a service type
/// spelled like one of these would share their ids.
pub(crate) const RESERVED_KINDS: &[&str] = &["bot", "workflow", "dbt", "ingestion"];

/// The top-level object OpenMetadata's server adds to ingestion pipelines and
/// workflows for its ingestion side: the ingestion bot's JWT, SSL config and
/// headers. OpenMetadata never stores it nor shows it to API callers.
pub(crate) const SERVER_CONNECTION: &str = "/openMetadataServerConnection";

/// A document's kind and where its connection config sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// Which entity the document is.
    pub entity: Entity,
    /// The id kind: the service type for services (lower case), `bot`,
    /// `pipeline`, `workflow` for other entities.
    pub kind: String,
    /// The entity's name (`None` where no id is needed: mask, merge).
    pub name: Option<String>,
    /// The service type whose plugin knows the config (`database`, `bot`,
    /// `dbt`…).
    pub service_type: String,
    /// RFC 6901 pointer of the config in the document (`""`: the document is
    /// the config).
    pub config_pointer: String,
    /// The config's property naming its connector type (`type`, `authType`,
    /// `dbtConfigType`).
    pub type_key: String,
    /// Whether a document without that config simply has no secrets (a
    /// pipeline without dbt, a bot without credentials) rather than being an
    /// error.
    pub optional: bool,
    /// Secret-id segments between the entity root and the config's own.
    pub id_segments: Vec<String>,
    /// Pointers of objects that are never stored nor shown (sealing and
    /// masking drop them; revealing leaves them).
    pub dropped: Vec<String>,
    /// Pointers of values a viewer sees only as one mask, whatever they hold
    /// (OpenMetadata never returns them); `merge` puts the stored value back.
    pub masked_whole: Vec<String>,
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Subject {
    /// A service's connection config (what OpenMetadata stores under
    /// `connection.config`), given alone. Service types are case-insensitive
    /// (`Database` is `database`, as OpenMetadata lower-cases ids); one
    /// spelled like an entity kind that is not a service (`bot`, `workflow`…)
    /// is refused, since its ids would be that entity's.
    pub fn service(service_type: &str, name: Option<&str>) -> Result<Self> {
        let kind = service_type_kind(service_type, "--service-type")?;
        Ok(Subject {
            entity: Entity::Service,
            kind: kind.clone(),
            name: name.map(String::from),
            service_type: kind,
            config_pointer: String::new(),
            type_key: "type".into(),
            optional: false,
            id_segments: Vec::new(),
            dropped: Vec::new(),
            masked_whole: Vec::new(),
        })
    }

    /// A whole service entity (`{"name", "serviceType", "connection": {"config": …}}`).
    pub fn service_entity(service_type: &str, name: Option<&str>) -> Result<Self> {
        Ok(Subject {
            config_pointer: "/connection/config".into(),
            ..Self::service(service_type, name)?
        })
    }

    /// A service given either as its config or as the whole entity, decided
    /// by what the document declares, never guessed from its content: a
    /// service entity declares its `serviceType` (a string) and holds a
    /// `connection` object; anything else is a bare connection config (whose
    /// own properties may be called anything, `connection` included).
    pub fn service_for(service_type: &str, name: Option<&str>, doc: &Value) -> Result<Self> {
        let declares = doc.get("serviceType").is_some_and(Value::is_string)
            && doc.get("connection").is_some_and(Value::is_object);
        if declares {
            Self::service_entity(service_type, name)
        } else {
            Self::service(service_type, name)
        }
    }

    /// A bot's `User` entity: its `authenticationMechanism` (JWT token…).
    pub fn bot(name: Option<&str>) -> Self {
        Subject {
            entity: Entity::Bot,
            dropped: Vec::new(),
            masked_whole: Vec::new(),
            kind: "bot".into(),
            name: name.map(String::from),
            service_type: "bot".into(),
            config_pointer: "/authenticationMechanism".into(),
            type_key: "authType".into(),
            optional: true,
            id_segments: Vec::new(),
        }
    }

    /// An `IngestionPipeline` entity: its source configuration
    /// (`sourceConfig.config`), whose pipeline `type` routes it to a section
    /// of the `ingestion` plugin (dbt sources inside it are routed on by their
    /// `dbtConfigType`). Ids are OpenMetadata's:
    /// `…/pipeline/<name>/sourceconfig/config/<path>`, e.g.
    /// `…/sourceconfig/config/dbtconfigsource/dbtcloudauthtoken`, as before
    /// other pipeline types were covered. The models default a missing
    /// `type` per model; the one model with `dbtConfigSource` is DbtPipeline,
    /// whose `type` defaults to `DBT`.
    pub fn pipeline(name: Option<&str>) -> Self {
        Subject {
            entity: Entity::IngestionPipeline,
            dropped: vec![SERVER_CONNECTION.into()],
            // An Application's private config (tokens, and numbers or flags
            // beside them).
            masked_whole: vec!["/sourceConfig/config/appPrivateConfig".into()],
            kind: "pipeline".into(),
            name: name.map(String::from),
            service_type: "ingestion".into(),
            config_pointer: "/sourceConfig/config".into(),
            type_key: "type".into(),
            optional: true,
            id_segments: owned(&["sourceconfig", "config"]),
        }
    }

    /// Remove from `doc` the objects this subject never stores nor shows
    /// ([`dropped`](Self::dropped)).
    pub fn drop_unstored(&self, doc: &mut Value) {
        for p in &self.dropped {
            let (parent, key) = p.rsplit_once('/').unwrap_or(("", p));
            if let Some(Value::Object(m)) = doc.pointer_mut(parent) {
                m.shift_remove(key);
            }
        }
    }

    /// The connector type of a config that does not name one (it has no
    /// `type_key`), where OpenMetadata's models give it a default: an
    /// ingestion pipeline's `sourceConfig.config` holding `dbtConfigSource`
    /// is a DbtPipeline (the only pipeline model with that property), whose
    /// `type` defaults to `DBT`. `None`: the config names its type, or must.
    pub fn default_type(&self, config: &Value) -> Option<&'static str> {
        match (self.entity, config) {
            (Entity::IngestionPipeline, Value::Object(m))
                if !m.contains_key(&self.type_key) && m.contains_key("dbtConfigSource") =>
            {
                Some("DBT")
            }
            _ => None,
        }
    }

    /// An automation `Workflow` (test connection): its
    /// `request.connection.config`, of the service type the request names
    /// (`request.serviceType`, e.g. `Database`).
    pub fn workflow(name: Option<&str>, doc: &Value) -> Result<Self> {
        let service_type = doc
            .pointer("/request/serviceType")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::input(
                    "/request/serviceType",
                    "a workflow must name its request's serviceType (e.g. \"Database\")",
                )
            })?;
        let service_type = service_type_kind(service_type, "/request/serviceType")?;
        Ok(Subject {
            entity: Entity::Workflow,
            dropped: vec![SERVER_CONNECTION.into()],
            masked_whole: Vec::new(),
            kind: "workflow".into(),
            name: name.map(String::from),
            service_type,
            config_pointer: "/request/connection/config".into(),
            type_key: "type".into(),
            optional: false,
            id_segments: owned(&["request", "connection", "config"]),
        })
    }
}

/// A service type as an id kind: lower case, and not an entity kind of its own.
fn service_type_kind(service_type: &str, what: &str) -> Result<String> {
    let kind = service_type.to_ascii_lowercase();
    let plain = !kind.is_empty()
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !plain {
        return Err(Error::input(
            what,
            format!("`{service_type}` is not a service type (letters, digits, `_`, `-`)"),
        ));
    }
    if RESERVED_KINDS.contains(&kind.as_str()) {
        return Err(Error::input(
            what,
            format!(
                "`{service_type}` is not a service type: its ids would be those of {kind} entities (use --{} for those)",
                match kind.as_str() {
                    "dbt" | "ingestion" => "pipeline",
                    k => k,
                }
            ),
        ));
    }
    Ok(kind)
}

/// Check that a document is a bot user (not a human one).
pub(crate) fn check_bot(doc: &Value) -> Result<()> {
    match doc.get("isBot") {
        Some(Value::Bool(true)) => Ok(()),
        Some(Value::Bool(false)) => Err(Error::input("/isBot", "this user is not a bot")),
        _ => Err(Error::input(
            "/isBot",
            "a bot's User entity must have `\"isBot\": true`",
        )),
    }
}
