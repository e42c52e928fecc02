//! Secret ids, exactly as OpenMetadata builds them:
//! `/<prefix>/<clusterName>/<kind>/<name>/<segments…>`.
//!
//! - the prefix is omitted when empty;
//! - `kind` is the service type (`database`, …) or `bot`, `pipeline`,
//!   `workflow` for other entities;
//! - each field segment is lower-cased with every character outside
//!   `[a-z0-9_-]` replaced by `_` (`authType` → `authtype`);
//! - the entity name is kept as it is when it is made of `[a-z0-9_-]` only
//!   (OpenMetadata's id, byte for byte). Any other name would share its
//!   sanitised form with other names (`db-東京` and `db-大阪` → `db-__`,
//!   `Kafka.Prod`/`kafka prod` → `kafka_prod`, `PROD` → `prod`, the Kelvin
//!   sign `K` → `k`), so it becomes `<sanitised>.<16 hex digits of its
//!   sha256>` (`Kafka.Prod` → `kafka_prod.5a3f…`): a `.` never appears in a
//!   sanitised segment, so such an id cannot meet another name's, and a `/`
//!   in a name cannot reach into another entity's ids. See [`name_segment`].
//!
//! Example: cluster `openmetadata`, service `mysql-test`, MySQL basic auth →
//! `/openmetadata/database/mysql-test/authtype/password`.

/// The prefix of a reference to a secret in the store.
pub const REFERENCE_PREFIX: &str = "secret:";

/// Sanitise one segment (see the module docs). Defined once, in the
/// sandbox's answer check, which compares every plugin's segments with it.
pub use om_secrets_sandbox::check::segment;

/// Whether a name is its own id segment: `[a-z0-9_-]+`.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The id segment of an entity name: the name itself when
/// [`is_plain_name`], else its sanitised form, a `.` and the first 16 hex
/// digits of the sha256 of the exact name (so no two names share a segment).
pub fn name_segment(name: &str) -> String {
    if is_plain_name(name) {
        return name.to_string();
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    format!("{}.{}", segment(name), &hex::encode(digest)[..16])
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
    pub(crate) fn owns(&self, id: &str) -> bool {
        id.strip_prefix(&self.base)
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Whether `text` names this deployment's namespace anywhere (an ARN, a
    /// path without its leading `/`, a selector): what a reference that is
    /// not [`owns`](Self::owns)-shaped may still resolve to in some store.
    pub(crate) fn mentions(&self, text: &str) -> bool {
        text.contains(&format!("{}/", self.base.trim_start_matches('/')))
    }

    /// The id root of one entity: `/<prefix>/<cluster>/<kind>/<name>`, the
    /// name as [`name_segment`] makes it.
    pub fn entity(&self, kind: &str, name: &str) -> String {
        format!("{}/{}/{}", self.base, segment(kind), name_segment(name))
    }

    /// The id root OpenMetadata itself gives an entity: its name sanitised
    /// like a segment (so `PROD`, `prod` and `p.rod`… share it). Differs from
    /// [`entity`](Self::entity) only for names outside `[a-z0-9_-]`; used to
    /// tell an owner that a reference is its OpenMetadata-era id.
    pub(crate) fn legacy_entity(&self, kind: &str, name: &str) -> String {
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
            ids.entity("database", "test-name_2"),
            "/prefix/openmetadata/database/test-name_2"
        );
        assert_eq!(
            IdBuilder::new("/a/b/", "My.Cluster").entity("bot", "ingestion-bot"),
            "/a/b/my_cluster/bot/ingestion-bot"
        );
    }

    #[test]
    fn names_cannot_escape_their_entity() {
        let ids = IdBuilder::new("", "openmetadata");
        let e = ids.entity("database", "../other/x");
        assert!(e.starts_with("/openmetadata/database/___other_x."), "{e}");
        assert_eq!(e.matches('/').count(), 3, "{e}");
        assert_eq!(reference("secret:/a/b"), Some("/a/b"));
        assert_eq!(reference("fernet:x"), None);
    }

    #[test]
    fn names_that_sanitise_alike_get_distinct_ids() {
        let ids = IdBuilder::new("", "openmetadata");
        // Each group sanitises to one string; every member must get its own root,
        // and no derived root may equal a plain name's.
        let groups: &[&[&str]] = &[
            &["db-東京", "db-大阪", "db-__"],
            &["Kafka.Prod", "kafka prod", "kafka_prod", "KAFKA_PROD"],
            &["\u{212a}afka", "Kafka", "kafka"],
            &["prod", "PROD", "Prod"],
            &["a/b", "a_b", "a.b"],
        ];
        for group in groups {
            let roots: std::collections::BTreeSet<String> =
                group.iter().map(|n| ids.entity("database", n)).collect();
            assert_eq!(roots.len(), group.len(), "{group:?} → {roots:?}");
        }
        // Plain names keep OpenMetadata's id byte for byte.
        assert_eq!(
            ids.entity("database", "kafka_prod"),
            "/openmetadata/database/kafka_prod"
        );
        assert_eq!(
            ids.entity("database", "db-__"),
            "/openmetadata/database/db-__"
        );
        // A derived segment is stable and names its sanitised form.
        assert_eq!(name_segment("Kafka.Prod"), name_segment("Kafka.Prod"));
        assert!(name_segment("Kafka.Prod").starts_with("kafka_prod."));
        assert_eq!(name_segment("Kafka.Prod").len(), "kafka_prod.".len() + 16);
    }

    #[test]
    fn prefix_and_cluster_are_cleaned_as_openmetadata_stores_them() {
        // OpenMetadata appends the prefix and cluster name as they are, but
        // builds every field id with buildSecretId(false, parentId, field),
        // which cleans the parent id (cluster and prefix included) again:
        // the ids it stores hold `om_prod`, not `om.prod`.
        let ids = IdBuilder::new("Team.Data", "om.prod");
        assert_eq!(
            ids.id("database", "victim", &segs(&["authType", "password"])),
            "/team_data/om_prod/database/victim/authtype/password"
        );
    }

    #[test]
    fn the_legacy_root_is_openmetadatas_and_only_differs_for_non_plain_names() {
        let ids = IdBuilder::new("", "openmetadata");
        assert_eq!(
            ids.legacy_entity("pipeline", "mysql_dbt_aB3xY9kQ"),
            "/openmetadata/pipeline/mysql_dbt_ab3xy9kq"
        );
        assert_ne!(
            ids.entity("pipeline", "mysql_dbt_aB3xY9kQ"),
            ids.legacy_entity("pipeline", "mysql_dbt_aB3xY9kQ")
        );
        assert_eq!(
            ids.entity("database", "prod"),
            ids.legacy_entity("database", "prod")
        );
    }
}
