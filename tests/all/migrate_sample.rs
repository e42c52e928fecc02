//! A sample OpenMetadata-shaped database: OpenMetadata's tables (the DDL in
//! `tests/fixtures/migrate/`) filled with rows sealed in `db` mode by
//! om-secrets itself — every connector variant of the committed manifest
//! (`tools/om-connectors-2.0.7.json`) as a service, bots of every auth type,
//! dbt ingestion pipelines, test-connection workflows, and human users
//! (which the migration must leave alone).
//!
//! Shared by `tests/all/migrate.rs` and `cargo run --example om-sample-db`.

#![allow(dead_code)]

use std::path::Path;

use om_secrets::SecretsManager;
use om_secrets::ops::{BatchItem, SubjectKind};
use serde_json::{Value, json};
use sqlx::Connection;

/// Manifest service types → their OpenMetadata table.
pub const SERVICE_TABLES: &[(&str, &str)] = &[
    ("database", "dbservice_entity"),
    ("dashboard", "dashboard_service_entity"),
    ("messaging", "messaging_service_entity"),
    ("pipeline", "pipeline_service_entity"),
    ("mlmodel", "mlmodel_service_entity"),
    ("storage", "storage_service_entity"),
    ("metadata", "metadata_service_entity"),
    ("search", "search_service_entity"),
    ("api", "api_service_entity"),
    ("drive", "drive_service_entity"),
    ("security", "security_service_entity"),
    ("llm", "llm_service_entity"),
    ("mcp", "mcp_service_entity"),
];

/// One row: where it goes and its plain (unsealed) entity.
#[derive(Clone, Debug)]
pub struct SampleRow {
    pub table: &'static str,
    pub id: String,
    pub name: String,
    /// The subject kind the row's JSON is sealed as (`None`: a human user,
    /// stored as it is).
    pub kind: Option<SubjectKind>,
    /// The plain entity.
    pub doc: Value,
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Service rows in all (cycling through every variant); `None`: each
    /// variant once.
    pub services: Option<usize>,
    /// Bots, dbt pipelines, workflows and human users too.
    pub others: bool,
    /// Every n-th service gets a name outside `[a-z0-9_-]` (hashed ids).
    pub odd_names_every: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            services: None,
            others: true,
            odd_names_every: 25,
        }
    }
}

fn uuid(n: usize) -> String {
    // Deterministic, unique, UUID-shaped; spread over the key space.
    let h = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        n & 0xfff,
        n
    )
}

/// Make each row's secrets its own: `secret-3` → `secret-r17-3`.
fn personalise(v: &mut Value, row: usize) {
    match v {
        Value::String(s) if s.starts_with("secret-") => {
            *s = format!("secret-r{row}-{}", &s["secret-".len()..]);
        }
        Value::Array(a) => a.iter_mut().for_each(|x| personalise(x, row)),
        Value::Object(m) => m.values_mut().for_each(|x| personalise(x, row)),
        _ => {}
    }
}

fn entity(id: &str, name: &str, mut extra: Value) -> Value {
    let m = extra.as_object_mut().unwrap();
    let mut doc = json!({
        "id": id,
        "name": name,
        "fullyQualifiedName": name,
        "updatedAt": 1_700_000_000_000i64,
        "updatedBy": "admin",
        "deleted": false,
        "version": 0.1,
    });
    for (k, v) in std::mem::take(m) {
        doc[k] = v;
    }
    doc
}

/// The rows of a sample database (see the module docs).
pub fn corpus(repo: &Path, shape: &Shape) -> Vec<SampleRow> {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.join("tools/om-connectors-2.0.7.json")).unwrap(),
    )
    .unwrap();
    let mut variants = Vec::new();
    for (st, table) in SERVICE_TABLES {
        for (ct, c) in manifest["serviceTypes"][*st].as_object().unwrap() {
            for v in c["variants"].as_array().unwrap() {
                variants.push((*st, *table, ct.clone(), v["config"].clone()));
            }
        }
    }
    let mut rows = Vec::new();
    let mut n = 0usize;
    let count = shape.services.unwrap_or(variants.len());
    for i in 0..count {
        let (st, table, ct, config) = &variants[i % variants.len()];
        n += 1;
        let name = if shape.odd_names_every > 0 && i % shape.odd_names_every == 7 {
            format!("Prod.{ct}.{i}")
        } else {
            format!("{}-{i}", ct.to_lowercase())
        };
        let mut config = config.clone();
        personalise(&mut config, n);
        let id = uuid(n);
        let doc = entity(
            &id,
            &name,
            json!({"serviceType": ct, "connection": {"config": config}}),
        );
        rows.push(SampleRow {
            table,
            id,
            name,
            kind: Some(SubjectKind::Service((*st).to_string())),
            doc,
        });
    }
    if !shape.others {
        return rows;
    }
    // Bots of every auth type.
    for (t, c) in manifest["entities"]["bot"]["configTypes"]
        .as_object()
        .unwrap()
    {
        for (j, v) in c["variants"].as_array().unwrap().iter().enumerate() {
            n += 1;
            let name = format!("{}-bot-{j}", t.to_lowercase());
            let mut auth = v["config"].clone();
            personalise(&mut auth, n);
            let id = uuid(n);
            rows.push(SampleRow {
                table: "user_entity",
                id: id.clone(),
                name: name.clone(),
                kind: Some(SubjectKind::Bot),
                doc: entity(
                    &id,
                    &name,
                    json!({"email": format!("{name}@example.com"), "isBot": true, "authenticationMechanism": auth}),
                ),
            });
        }
    }
    // Human users: not bots, never touched.
    for h in ["alice", "bob"] {
        n += 1;
        let id = uuid(n);
        rows.push(SampleRow {
            table: "user_entity",
            id: id.clone(),
            name: h.into(),
            kind: None,
            doc: entity(
                &id,
                h,
                json!({"email": format!("{h}@example.com"), "isBot": false, "authenticationMechanism": {"authType": "JWT", "config": {"JWTToken": "human-token-not-a-bot"}}}),
            ),
        });
    }
    // dbt pipelines (every dbt source), named as OpenMetadata names them
    // (`<service>_dbt_<random>`: mixed case, so hashed ids).
    for (j, v) in manifest["entities"]["ingestion"]["configTypes"]["DBT"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        n += 1;
        let name = format!("mysql-{j}_dbt_aB3xY{j}kQ");
        let mut config = v["config"].clone();
        personalise(&mut config, n);
        let id = uuid(n);
        rows.push(SampleRow {
            table: "ingestion_pipeline_entity",
            id: id.clone(),
            name: name.clone(),
            kind: Some(SubjectKind::Pipeline),
            doc: entity(
                &id,
                &name,
                json!({"pipelineType": "dbt", "sourceConfig": {"config": config}, "airflowConfig": {}}),
            ),
        });
    }
    // Test-connection workflows over a few database connectors.
    let db_variants: Vec<&(&str, &str, String, Value)> = variants
        .iter()
        .filter(|(st, ..)| *st == "database")
        .take(6)
        .collect();
    for (j, (_, _, ct, config)) in db_variants.into_iter().enumerate() {
        n += 1;
        let name = format!("test-connection-{j}");
        let mut config = config.clone();
        personalise(&mut config, n);
        let id = uuid(n);
        rows.push(SampleRow {
            table: "automations_workflow",
            id: id.clone(),
            name: name.clone(),
            kind: Some(SubjectKind::Workflow),
            doc: entity(
                &id,
                &name,
                json!({"workflowType": "TEST_CONNECTION", "status": "Pending",
                       "request": {"connection": {"config": config}, "serviceType": "Database", "connectionType": ct}}),
            ),
        });
    }
    rows
}

/// Seal every row with `manager` (in `db` mode: `fernet:` values in place),
/// one batch per table; the stored JSON of each row.
pub async fn seal(manager: &SecretsManager, rows: &[SampleRow]) -> Vec<Value> {
    let mut out: Vec<Option<Value>> = vec![None; rows.len()];
    let mut groups: Vec<(SubjectKind, Vec<usize>)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        match &r.kind {
            None => out[i] = Some(r.doc.clone()),
            Some(k) => match groups.iter_mut().find(|(g, _)| g == k) {
                Some((_, v)) => v.push(i),
                None => groups.push((k.clone(), vec![i])),
            },
        }
    }
    for (kind, idx) in groups {
        for chunk in idx.chunks(256) {
            let items: Vec<BatchItem> = chunk
                .iter()
                .map(|&i| BatchItem::named(rows[i].name.clone(), rows[i].doc.clone()))
                .collect();
            for (&i, r) in chunk.iter().zip(manager.seal_batch(&kind, &items).await) {
                out[i] = Some(r.unwrap_or_else(|e| {
                    panic!(
                        "sealing sample row {} ({}): {e}",
                        rows[i].name, rows[i].table
                    )
                }));
            }
        }
    }
    out.into_iter().map(Option::unwrap).collect()
}

/// Whether `url` is PostgreSQL (else MySQL/MariaDB).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres")
}

/// Create OpenMetadata's tables (if missing).
pub async fn create_tables(repo: &Path, url: &str) {
    let file = if is_postgres(url) {
        "postgres.sql"
    } else {
        "mysql.sql"
    };
    let ddl = std::fs::read_to_string(repo.join("tests/fixtures/migrate").join(file)).unwrap();
    if is_postgres(url) {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(&ddl).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
        sqlx::raw_sql(&ddl).execute(&mut c).await.unwrap();
    }
}

fn hash_column(table: &str, postgres: bool) -> &'static str {
    match (table == "ingestion_pipeline_entity", postgres) {
        (true, true) => "fqnhash",
        (true, false) => "fqnHash",
        (false, true) => "namehash",
        (false, false) => "nameHash",
    }
}

/// Insert rows (`stored[i]` is row `i`'s JSON), in transactions of 500.
pub async fn insert(url: &str, rows: &[SampleRow], stored: &[Value]) {
    let pg = is_postgres(url);
    if pg {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        for chunk in rows.iter().zip(stored).collect::<Vec<_>>().chunks(500) {
            let mut tx = c.begin().await.unwrap();
            for (r, s) in chunk {
                let cast = if r.table == "ingestion_pipeline_entity" {
                    "json"
                } else {
                    "jsonb"
                };
                sqlx::query(&format!(
                    "INSERT INTO {} (json, {}) VALUES ($1::{cast}, $2)",
                    r.table,
                    hash_column(r.table, true)
                ))
                .bind(s.to_string())
                .bind(format!("{:x}", md5ish(&r.name)))
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
    } else {
        let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
        for chunk in rows.iter().zip(stored).collect::<Vec<_>>().chunks(500) {
            let mut tx = c.begin().await.unwrap();
            for (r, s) in chunk {
                sqlx::query(&format!(
                    "INSERT INTO {} (id, {}, json) VALUES (?, ?, ?)",
                    r.table,
                    hash_column(r.table, false)
                ))
                .bind(&r.id)
                .bind(format!("{:x}", md5ish(&r.name)))
                .bind(s.to_string())
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
    }
}

/// A stand-in for OpenMetadata's name hash (unique per name).
fn md5ish(name: &str) -> u128 {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in name.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    h
}
