//! What a document is: a bare connection config, a whole service entity, a
//! bot user, an ingestion pipeline or a test-connection workflow — and where
//! inside it the config that a plugin understands sits.
//!
//! | subject | config inside the document | routed by | id root |
//! |---|---|---|---|
//! | service config | the document | `type` | `/<…>/<serviceType>/<name>` |
//! | service entity | `/connection/config` | `type` | `/<…>/<serviceType>/<name>` |
//! | bot user | `/authenticationMechanism` | `authType` (`JWT`…) | `/<…>/bot/<name>` |
//! | ingestion pipeline | `/sourceConfig/config/dbtConfigSource` | `dbtConfigType` | `/<…>/pipeline/<name>/sourceconfig/config/dbtconfigsource` |
//! | workflow | `/request/connection/config` | `type` | `/<…>/workflow/<name>/request/connection/config` |
//!
//! Everything outside the secret fields passes through every operation
//! unchanged, so the output is the same entity.

use serde_json::Value;

use crate::{Error, Result};

/// A document's kind and where its connection config sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The id kind: the service type for services, `bot`, `pipeline`,
    /// `workflow` for other entities.
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
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Subject {
    /// A service's connection config (what OpenMetadata stores under
    /// `connection.config`), given alone.
    pub fn service(service_type: &str, name: Option<&str>) -> Self {
        Subject {
            kind: service_type.to_string(),
            name: name.map(String::from),
            service_type: service_type.to_string(),
            config_pointer: String::new(),
            type_key: "type".into(),
            optional: false,
            id_segments: Vec::new(),
        }
    }

    /// A whole service entity (`{"name", "serviceType", "connection": {"config": …}}`).
    pub fn service_entity(service_type: &str, name: Option<&str>) -> Self {
        Subject {
            config_pointer: "/connection/config".into(),
            ..Self::service(service_type, name)
        }
    }

    /// A service given either as its config or as the whole entity: an object
    /// with `connection.config` is an entity.
    pub fn service_for(service_type: &str, name: Option<&str>, doc: &Value) -> Self {
        if doc
            .pointer("/connection/config")
            .is_some_and(Value::is_object)
        {
            Self::service_entity(service_type, name)
        } else {
            Self::service(service_type, name)
        }
    }

    /// A bot's `User` entity: its `authenticationMechanism` (JWT token…).
    pub fn bot(name: Option<&str>) -> Self {
        Subject {
            kind: "bot".into(),
            name: name.map(String::from),
            service_type: "bot".into(),
            config_pointer: "/authenticationMechanism".into(),
            type_key: "authType".into(),
            optional: true,
            id_segments: Vec::new(),
        }
    }

    /// An `IngestionPipeline` entity: its dbt configuration source.
    pub fn pipeline(name: Option<&str>) -> Self {
        Subject {
            kind: "pipeline".into(),
            name: name.map(String::from),
            service_type: "dbt".into(),
            config_pointer: "/sourceConfig/config/dbtConfigSource".into(),
            type_key: "dbtConfigType".into(),
            optional: true,
            id_segments: owned(&["sourceconfig", "config", "dbtconfigsource"]),
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
            })?
            .to_ascii_lowercase();
        Ok(Subject {
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

/// Check that a document is a bot user (not a human one).
pub fn check_bot(doc: &Value) -> Result<()> {
    match doc.get("isBot") {
        Some(Value::Bool(true)) => Ok(()),
        Some(Value::Bool(false)) => Err(Error::input("/isBot", "this user is not a bot")),
        _ => Err(Error::input(
            "/isBot",
            "a bot's User entity must have `\"isBot\": true`",
        )),
    }
}
