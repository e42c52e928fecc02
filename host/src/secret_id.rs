//! Secret ids, exactly as OpenMetadata builds them:
//! `/<prefix>/<clusterName>/<kind>/<name>/<segments…>`.
//!
//! - the prefix is omitted when empty;
//! - `kind` is the service type (`database`, …) or `bot`, `pipeline`,
//!   `workflow` for other entities;
//! - each segment, and the entity name, is lower-cased with every character
//!   outside `[a-z0-9_-]` replaced by `_` (`"mysql test"` → `mysql_test`). The
//!   name is sanitised as one segment, so a `/` in a name cannot reach into
//!   another entity's ids.
//!
//! Example: cluster `openmetadata`, service `mysql-test`, MySQL basic auth →
//! `/openmetadata/database/mysql-test/authtype/password`.

/// The prefix of a reference to a secret in the store.
pub const REFERENCE_PREFIX: &str = "secret:";

/// Sanitise one segment (see the module docs). The guest SDK has its twin
/// (`om_secrets_guest::segment`) on purpose: the host recomputes every
/// plugin's segments itself rather than trusting code that runs in plugins.
pub fn segment(s: &str) -> String {
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

/// Builds the ids of one deployment (prefix and cluster name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdBuilder {
    base: String,
}

impl IdBuilder {
    /// `prefix` may be empty or hold `/`-separated parts; `cluster` is
    /// `OPENMETADATA_CLUSTER_NAME` (default `openmetadata`).
    pub fn new(prefix: &str, cluster: &str) -> Self {
        let mut base = String::new();
        for part in prefix.split('/').filter(|p| !p.is_empty()) {
            base.push('/');
            base.push_str(&segment(part));
        }
        base.push('/');
        base.push_str(&segment(cluster));
        IdBuilder { base }
    }

    /// Whether an id lies in this deployment's namespace
    /// (`/<prefix>/<cluster>/…`): the ids om-secrets itself writes in
    /// managed mode.
    pub fn owns(&self, id: &str) -> bool {
        id.strip_prefix(&self.base)
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The id root of one entity: `/<prefix>/<cluster>/<kind>/<name>`.
    pub fn entity(&self, kind: &str, name: &str) -> String {
        format!("{}/{}/{}", self.base, segment(kind), segment(name))
    }

    /// A full id below an entity root.
    pub fn id(&self, kind: &str, name: &str, segments: &[String]) -> String {
        let mut id = self.entity(kind, name);
        for s in segments {
            id.push('/');
            id.push_str(&segment(s));
        }
        id
    }
}

/// The id inside a `secret:<id>` reference, if the value is one.
pub fn reference(value: &str) -> Option<&str> {
    value.strip_prefix(REFERENCE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn openmetadata_examples() {
        let ids = IdBuilder::new("", "openmetadata");
        assert_eq!(
            ids.id("database", "mysql-test", &segs(&["authType", "password"])),
            "/openmetadata/database/mysql-test/authtype/password"
        );
        let ids = IdBuilder::new("prefix", "openmetadata");
        assert_eq!(
            ids.id("database", "test", &segs(&["authType", "password"])),
            "/prefix/openmetadata/database/test/authtype/password"
        );
        assert_eq!(
            ids.id(
                "workflow",
                "test-connection",
                &segs(&["request", "connection", "config", "authType", "password"])
            ),
            "/prefix/openmetadata/workflow/test-connection/request/connection/config/authtype/password"
        );
        assert_eq!(
            ids.entity("database", "test name"),
            "/prefix/openmetadata/database/test_name"
        );
        assert_eq!(
            IdBuilder::new("/a/b/", "My.Cluster").entity("bot", "ingestion-bot"),
            "/a/b/my_cluster/bot/ingestion-bot"
        );
    }

    #[test]
    fn names_cannot_escape_their_entity() {
        let ids = IdBuilder::new("", "openmetadata");
        assert_eq!(
            ids.entity("database", "../other/x"),
            "/openmetadata/database/___other_x"
        );
        assert_eq!(reference("secret:/a/b"), Some("/a/b"));
        assert_eq!(reference("fernet:x"), None);
    }
}
