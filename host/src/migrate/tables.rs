//! OpenMetadata's tables whose JSON holds secrets, and what kind of entity
//! each row is (from `bootstrap/sql/schema/{mysql,postgres}.sql` and its
//! migrations, releases 1.5 to 2.x).

use crate::ops::SubjectKind;

use super::db::Filter;

/// One table the migration walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    /// The table's name.
    pub name: &'static str,
    /// What its rows are: a service type, `bot`, `pipeline` or `workflow`.
    pub kind: TableKind,
    /// The unique text column rows are walked by (`id`; `configType` for
    /// `openmetadata_settings`, whose `id` is a number).
    pub key: &'static str,
}

/// What a table's rows are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// Services of one type (`database`…): `json.connection.config`.
    Service(&'static str),
    /// Users; only bots (`json.isBot`) are read: `authenticationMechanism`.
    Bot,
    /// Ingestion pipelines: `sourceConfig.config` (dbt sources…).
    Pipeline,
    /// Automation workflows: `request.connection.config`.
    Workflow,
    /// Rows OpenMetadata Fernet-encrypts values of outside any secrets
    /// manager (settings, event subscriptions): only `rotate` walks them.
    Fernet,
}

impl Table {
    /// The library's subject kind of the rows.
    pub fn subject_kind(&self) -> SubjectKind {
        match self.kind {
            TableKind::Service(t) => SubjectKind::Service(t.to_string()),
            TableKind::Bot => SubjectKind::Bot,
            TableKind::Pipeline => SubjectKind::Pipeline,
            TableKind::Workflow => SubjectKind::Workflow,
            // Never sealed (only `rotate` walks them); a service kind no
            // plugin serves, so that a mistaken seal fails.
            TableKind::Fernet => SubjectKind::Service(String::new()),
        }
    }

    /// Which rows are read.
    pub fn filter(&self) -> Filter {
        match self.kind {
            TableKind::Bot => Filter::Bots,
            _ => Filter::All,
        }
    }
}

const fn service(name: &'static str, t: &'static str) -> Table {
    Table {
        name,
        kind: TableKind::Service(t),
        key: "id",
    }
}

/// Every table, in the order they are walked.
pub const TABLES: &[Table] = &[
    service("dbservice_entity", "database"),
    service("dashboard_service_entity", "dashboard"),
    service("messaging_service_entity", "messaging"),
    service("pipeline_service_entity", "pipeline"),
    service("mlmodel_service_entity", "mlmodel"),
    service("storage_service_entity", "storage"),
    service("metadata_service_entity", "metadata"),
    service("search_service_entity", "search"),
    service("api_service_entity", "api"),
    service("drive_service_entity", "drive"),
    service("security_service_entity", "security"),
    service("llm_service_entity", "llm"),
    service("mcp_service_entity", "mcp"),
    Table {
        name: "user_entity",
        kind: TableKind::Bot,
        key: "id",
    },
    Table {
        name: "ingestion_pipeline_entity",
        kind: TableKind::Pipeline,
        key: "id",
    },
    Table {
        name: "automations_workflow",
        kind: TableKind::Workflow,
        key: "id",
    },
];

/// The tables only `rotate` walks, after [`TABLES`]: OpenMetadata
/// Fernet-encrypts values there itself whatever the secrets manager (the
/// SMTP password and Slack tokens in its settings, webhook secret keys and
/// destination credentials of event subscriptions), so dropping an old key
/// without re-encrypting them would lose those values.
pub const ROTATE_ONLY: &[Table] = &[
    Table {
        name: "openmetadata_settings",
        kind: TableKind::Fernet,
        key: "configType",
    },
    Table {
        name: "event_subscription_entity",
        kind: TableKind::Fernet,
        key: "id",
    },
];

/// The table named `name`, if it is one of [`TABLES`].
pub fn by_name(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// The table named `name` among those `rotate` walks ([`TABLES`] and
/// [`ROTATE_ONLY`]).
pub fn rotated_by_name(name: &str) -> Option<&'static Table> {
    by_name(name).or_else(|| ROTATE_ONLY.iter().find(|t| t.name == name))
}
