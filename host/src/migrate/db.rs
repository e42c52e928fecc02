//! The database side: PostgreSQL and MySQL/MariaDB through sqlx, one code
//! path each, behind [`Db`].
//!
//! Every statement reads or writes JSON as text (`json::text` on PostgreSQL,
//! `CAST(json AS CHAR)` on MySQL), so both column types of PostgreSQL
//! (`jsonb`, and `json` for `ingestion_pipeline_entity`) and MariaDB's JSON
//! (a checked `LONGTEXT`) go through one path. A row is updated with a
//! compare-and-set on the text read: PostgreSQL renders a stored value's text
//! deterministically, and MySQL/MariaDB compare an MD5 of it (exact bytes,
//! whatever the connection's collation), so a row changed since it was read
//! is never overwritten.

use std::time::Duration;

use sqlx::mysql::MySqlPool;
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgPool;
use sqlx::{ConnectOptions, Connection, Pool, Row};

use super::MigrateError;

/// The table holding checkpoints (see [`Db::checkpoints`]).
pub const CHECKPOINT_TABLE: &str = "om_secrets_checkpoint";

/// One row as read: its primary key and its JSON as text.
#[derive(Clone, Debug)]
pub struct RawRow {
    /// `id` (varchar(36), a UUID).
    pub id: String,
    /// The `json` column's text.
    pub json: String,
}

/// The advisory lock key of PostgreSQL's migration lock ("omsecret").
const PG_LOCK_KEY: i64 = 0x6f6d_7365_6372_6574;

/// The migration lock of one run (see [`Db::try_lock`]): the connection
/// whose session holds it.
#[derive(Debug)]
pub enum RunLock {
    /// PostgreSQL.
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
    /// MySQL or MariaDB.
    MySql(sqlx::pool::PoolConnection<sqlx::MySql>),
}

impl RunLock {
    /// Release the lock and close its connection (closing alone would
    /// release it too; the connection never goes back to the pool holding
    /// it).
    pub async fn release(self) {
        match self {
            RunLock::Postgres(mut c) => {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(PG_LOCK_KEY)
                    .execute(&mut *c)
                    .await;
                let _ = sqlx::Connection::close(c.detach()).await;
            }
            RunLock::MySql(mut c) => {
                let _ = sqlx::query(
                    "SELECT RELEASE_LOCK(CONCAT('om_secrets_migrate.', MD5(COALESCE(DATABASE(), ''))))",
                )
                .execute(&mut *c)
                .await;
                let _ = sqlx::Connection::close(c.detach()).await;
            }
        }
    }
}

/// A connected database.
#[derive(Clone, Debug)]
pub enum Db {
    /// PostgreSQL.
    Postgres(PgPool),
    /// MySQL 8 or MariaDB.
    MySql(MySqlPool),
}

/// Which rows of a table are read: all, or only bot users.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Every row.
    All,
    /// `json.isBot` is true.
    Bots,
}

/// The column a table's rows are walked and updated by: its
/// [`Table::key`](super::Table::key) (`id` for any other name).
fn key_of(table: &str) -> &'static str {
    super::tables::rotated_by_name(table).map_or("id", |t| t.key)
}

/// `url` without its password (and user), for messages and reports: the
/// scheme, host, port and path; no user information (everything up to the
/// last `@`, so a password holding an unescaped `/` or `@` goes too) and no
/// query string (which may carry `password=`).
pub fn redact(url: &str) -> String {
    crate::redact::url(url).unwrap_or_else(|| "<database URL>".to_string())
}

/// The credentials a database URL carries, as written and percent-decoded:
/// the user information's password and the query string's `password` (any
/// key naming a password, e.g. `sslpassword`) values.
fn credentials(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some((_, rest)) = url.split_once("://") else {
        return out;
    };
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    if let Some((auth, _)) = before_query.rsplit_once('@')
        && let Some((_, password)) = auth.split_once(':')
    {
        out.push(password.to_string());
    }
    for pair in query.split(['&', '#']) {
        if let Some((k, v)) = pair.split_once('=')
            && k.to_ascii_lowercase().contains("pass")
        {
            out.push(v.to_string());
        }
    }
    let decoded: Vec<String> = out.iter().map(|p| percent_decode(p)).collect();
    out.extend(decoded);
    out.retain(|p| !p.is_empty());
    out.sort_by_key(|p| std::cmp::Reverse(p.len()));
    out.dedup();
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A pool of `DB` connections to `url`, statements not logged.
async fn pool<DB: sqlx::Database>(
    url: &str,
    fail: &impl Fn(sqlx::Error) -> MigrateError,
) -> Result<Pool<DB>, MigrateError> {
    let opts: <DB::Connection as Connection>::Options = url.parse().map_err(fail)?;
    let opts = opts.disable_statement_logging();
    // One direct connection first: an unreachable or refusing server fails
    // at once with its own reason, where the pool would retry for its whole
    // acquire timeout and then say only that it timed out.
    DB::Connection::connect_with(&opts)
        .await
        .map_err(fail)?
        .close()
        .await
        .map_err(fail)?;
    PoolOptions::<DB>::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(opts)
        .await
        .map_err(fail)
}

impl Db {
    /// Connect to `url` (`postgres://`, `postgresql://`, `mysql://`,
    /// `mariadb://`). Errors name the URL without its credentials.
    pub async fn connect(url: &str) -> Result<Db, MigrateError> {
        let shown = redact(url);
        let fail = |e: sqlx::Error| MigrateError::Database {
            url: shown.clone(),
            message: scrub(&e.to_string(), url),
        };
        let scheme = url.split("://").next().unwrap_or_default();
        // Statements are logged by sqlx at debug level with their text only
        // (values are bound, never part of the text); slow ones are not
        // warned about, so no log line ever names a row.
        match scheme {
            "postgres" | "postgresql" => Ok(Db::Postgres(pool(url, &fail).await?)),
            "mysql" | "mariadb" => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                Ok(Db::MySql(pool(&url, &fail).await?))
            }
            _ => Err(MigrateError::Url(format!(
                "`{shown}`: the scheme must be postgres://, postgresql://, mysql:// or mariadb://"
            ))),
        }
    }

    /// Take the database's migration lock for this run, on a connection of
    /// its own held until [`RunLock::release`] (or until the process dies:
    /// the lock is the session's, so a `kill -9` frees it). `Ok(None)`:
    /// another run holds it. PostgreSQL: an advisory lock (per database);
    /// MySQL/MariaDB: `GET_LOCK` on a name holding the MD5 of the
    /// database's (its locks are server-wide, their names at most 64
    /// characters: a database's name may take 64 alone).
    pub async fn try_lock(&self) -> Result<Option<RunLock>, sqlx::Error> {
        match self {
            Db::Postgres(p) => {
                let mut c = p.acquire().await?;
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(PG_LOCK_KEY)
                    .fetch_one(&mut *c)
                    .await?;
                Ok(got.then_some(RunLock::Postgres(c)))
            }
            Db::MySql(p) => {
                let mut c = p.acquire().await?;
                let got: Option<i64> = sqlx::query_scalar(
                    "SELECT GET_LOCK(CONCAT('om_secrets_migrate.', MD5(COALESCE(DATABASE(), ''))), 0)",
                )
                .fetch_one(&mut *c)
                .await?;
                Ok((got == Some(1)).then_some(RunLock::MySql(c)))
            }
        }
    }

    /// Close the pool.
    pub async fn close(&self) {
        match self {
            Db::Postgres(p) => p.close().await,
            Db::MySql(p) => p.close().await,
        }
    }

    /// The `json` column's type (`jsonb`, `json`, `longtext`…), or `None` if
    /// the table (or its `json` column) does not exist.
    pub async fn json_type(&self, table: &str) -> Result<Option<String>, sqlx::Error> {
        match self {
            Db::Postgres(p) => {
                sqlx::query_scalar::<_, String>(
                    "SELECT data_type::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'json'",
                )
                .bind(table)
                .fetch_optional(p)
                .await
            }
            Db::MySql(p) => {
                sqlx::query_scalar::<_, String>(
                    "SELECT CAST(data_type AS CHAR) FROM information_schema.columns \
                     WHERE table_schema = DATABASE() AND table_name = ? AND column_name = 'json'",
                )
                .bind(table)
                .fetch_optional(p)
                .await
            }
        }
    }

    fn bot_clause(&self, filter: Filter) -> &'static str {
        match (self, filter) {
            (_, Filter::All) => "",
            (Db::Postgres(_), Filter::Bots) => " AND (json::jsonb ->> 'isBot') = 'true'",
            (Db::MySql(_), Filter::Bots) => {
                " AND JSON_UNQUOTE(JSON_EXTRACT(json, '$.isBot')) = 'true'"
            }
        }
    }

    /// How many rows lie after `after` (every row when `None`).
    pub async fn count(
        &self,
        table: &str,
        filter: Filter,
        after: Option<&str>,
    ) -> Result<u64, sqlx::Error> {
        let after = after.unwrap_or("");
        let key = key_of(table);
        let bots = self.bot_clause(filter);
        let n: i64 = match self {
            Db::Postgres(p) => {
                sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE {key} > $1{bots}"
                ))
                .bind(after)
                .fetch_one(p)
                .await?
            }
            Db::MySql(p) => {
                sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE {key} > ?{bots}"
                ))
                .bind(after)
                .fetch_one(p)
                .await?
            }
        };
        Ok(n.max(0) as u64)
    }

    /// The next page of rows after `after`, by primary key.
    pub async fn page(
        &self,
        table: &str,
        filter: Filter,
        after: &str,
        limit: usize,
    ) -> Result<Vec<RawRow>, sqlx::Error> {
        let bots = self.bot_clause(filter);
        let key = key_of(table);
        let rows = match self {
            Db::Postgres(p) => {
                sqlx::query(&format!(
                    "SELECT {key}::text, json::text FROM {table} WHERE {key} > $1{bots} ORDER BY {key} LIMIT $2"
                ))
                .bind(after)
                .bind(limit as i64)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(|r| (r.get::<String, _>(0), r.get::<Option<String>, _>(1)))
                .collect::<Vec<_>>()
            }
            Db::MySql(p) => sqlx::query(&format!(
                "SELECT CAST({key} AS CHAR), CAST(json AS CHAR) FROM {table} WHERE {key} > ?{bots} ORDER BY {key} LIMIT ?"
            ))
            .bind(after)
            .bind(limit as i64)
            .fetch_all(p)
            .await?
            .into_iter()
            .map(|r| (r.get::<String, _>(0), r.get::<Option<String>, _>(1)))
            .collect(),
        };
        Ok(rows
            .into_iter()
            .map(|(id, json)| RawRow {
                id,
                json: json.unwrap_or_default(),
            })
            .collect())
    }

    /// The `name` of every row read with `filter`.
    pub async fn names(&self, table: &str, filter: Filter) -> Result<Vec<String>, sqlx::Error> {
        let bots = self.bot_clause(filter);
        let names: Vec<Option<String>> = match self {
            Db::Postgres(p) => {
                sqlx::query_scalar(&format!(
                    "SELECT json::jsonb ->> 'name' FROM {table} WHERE TRUE{bots}"
                ))
                .fetch_all(p)
                .await?
            }
            Db::MySql(p) => {
                sqlx::query_scalar(&format!(
                    "SELECT CAST(JSON_UNQUOTE(JSON_EXTRACT(json, '$.name')) AS CHAR) FROM {table} WHERE TRUE{bots}"
                ))
                .fetch_all(p)
                .await?
            }
        };
        Ok(names.into_iter().flatten().collect())
    }

    /// One row by primary key, or `None` if it is gone.
    pub async fn row(&self, table: &str, id: &str) -> Result<Option<RawRow>, sqlx::Error> {
        let key = key_of(table);
        let json: Option<Option<String>> = match self {
            Db::Postgres(p) => {
                sqlx::query_scalar(&format!("SELECT json::text FROM {table} WHERE {key} = $1"))
                    .bind(id)
                    .fetch_optional(p)
                    .await?
            }
            Db::MySql(p) => {
                sqlx::query_scalar(&format!(
                    "SELECT CAST(json AS CHAR) FROM {table} WHERE {key} = ?"
                ))
                .bind(id)
                .fetch_optional(p)
                .await?
            }
        };
        Ok(json.map(|j| RawRow {
            id: id.to_string(),
            json: j.unwrap_or_default(),
        }))
    }

    /// Replace a row's JSON with `new` if it still holds `old` (the text
    /// read), in a transaction of its own. `Ok(false)`: the row changed or
    /// went away meanwhile, nothing was written. `json_type` is the column's
    /// (PostgreSQL casts to it). `between` runs after the update and before
    /// the commit (the test hook's mid-transaction step).
    pub async fn compare_and_set(
        &self,
        table: &str,
        json_type: &str,
        id: &str,
        old: &str,
        new: &str,
        between: impl FnOnce(),
    ) -> Result<bool, sqlx::Error> {
        let key = key_of(table);
        match self {
            Db::Postgres(p) => {
                let cast = if json_type.eq_ignore_ascii_case("json") {
                    "json"
                } else {
                    "jsonb"
                };
                let mut tx = p.begin().await?;
                let n = sqlx::query(&format!(
                    "UPDATE {table} SET json = $1::{cast} WHERE {key} = $2 AND json::text = $3"
                ))
                .bind(new)
                .bind(id)
                .bind(old)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                between();
                tx.commit().await?;
                Ok(n == 1)
            }
            Db::MySql(p) => {
                let mut tx = p.begin().await?;
                let n = sqlx::query(&format!(
                    "UPDATE {table} SET json = ? WHERE {key} = ? AND MD5(CAST(json AS CHAR)) = MD5(?)"
                ))
                .bind(new)
                .bind(id)
                .bind(old)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                between();
                tx.commit().await?;
                Ok(n == 1)
            }
        }
    }

    /// Create the checkpoint table if it is missing. `pending` (a page's
    /// journal: every entity's id and name) is unbounded text: MySQL's
    /// `text` stops at 64 KiB, which a page of a few hundred long names
    /// exceeds (an error in strict mode, a cut journal without), so there it
    /// is `longtext`, and a table made with `text` is widened.
    pub async fn ensure_checkpoint_table(&self) -> Result<(), sqlx::Error> {
        let pending = match self {
            Db::Postgres(_) => "text",
            Db::MySql(_) => "longtext",
        };
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (\
             operation varchar(16) NOT NULL, \
             table_name varchar(64) NOT NULL, \
             last_id varchar(64) NOT NULL, \
             finished smallint NOT NULL, \
             pending {pending}, \
             updated_at bigint NOT NULL, \
             PRIMARY KEY (operation, table_name))"
        );
        match self {
            Db::Postgres(p) => sqlx::query(&ddl).execute(p).await.map(|_| ()),
            Db::MySql(p) => {
                sqlx::query(&ddl).execute(p).await?;
                let ty: Option<String> = sqlx::query_scalar(
                    "SELECT CAST(data_type AS CHAR) FROM information_schema.columns \
                     WHERE table_schema = DATABASE() AND table_name = ? AND column_name = 'pending'",
                )
                .bind(CHECKPOINT_TABLE)
                .fetch_optional(p)
                .await?;
                if ty.is_some_and(|t| !t.eq_ignore_ascii_case("longtext")) {
                    sqlx::query(&format!(
                        "ALTER TABLE {CHECKPOINT_TABLE} MODIFY pending longtext"
                    ))
                    .execute(p)
                    .await?;
                }
                Ok(())
            }
        }
    }

    /// The checkpoint rows of one operation: (table, last id, finished, pending).
    pub async fn checkpoints(
        &self,
        operation: &str,
    ) -> Result<Vec<(String, String, bool, Option<String>)>, sqlx::Error> {
        let exists = match self {
            Db::Postgres(p) => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = $1",
                )
                .bind(CHECKPOINT_TABLE)
                .fetch_one(p)
                .await?
            }
            Db::MySql(p) => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?",
                )
                .bind(CHECKPOINT_TABLE)
                .fetch_one(p)
                .await?
            }
        };
        if exists == 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT table_name, last_id, finished, pending FROM {CHECKPOINT_TABLE} WHERE operation = {}",
            self.placeholder(1)
        );
        let rows = match self {
            Db::Postgres(p) => sqlx::query(&sql)
                .bind(operation)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(|r| (r.get(0), r.get(1), r.get::<i16, _>(2) != 0, r.get(3)))
                .collect(),
            Db::MySql(p) => sqlx::query(&sql)
                .bind(operation)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(|r| (r.get(0), r.get(1), r.get::<i16, _>(2) != 0, r.get(3)))
                .collect(),
        };
        Ok(rows)
    }

    fn placeholder(&self, n: usize) -> String {
        match self {
            Db::Postgres(_) => format!("${n}"),
            Db::MySql(_) => "?".into(),
        }
    }

    /// Record a table's progress (upsert).
    pub async fn save_checkpoint(
        &self,
        operation: &str,
        table: &str,
        last_id: &str,
        finished: bool,
        pending: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let sql = match self {
            Db::Postgres(_) => format!(
                "INSERT INTO {CHECKPOINT_TABLE} (operation, table_name, last_id, finished, pending, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (operation, table_name) DO UPDATE SET \
                 last_id = EXCLUDED.last_id, finished = EXCLUDED.finished, pending = EXCLUDED.pending, \
                 updated_at = EXCLUDED.updated_at"
            ),
            Db::MySql(_) => format!(
                "INSERT INTO {CHECKPOINT_TABLE} (operation, table_name, last_id, finished, pending, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                 last_id = VALUES(last_id), finished = VALUES(finished), pending = VALUES(pending), \
                 updated_at = VALUES(updated_at)"
            ),
        };
        let finished = i16::from(finished);
        match self {
            Db::Postgres(p) => sqlx::query(&sql)
                .bind(operation)
                .bind(table)
                .bind(last_id)
                .bind(finished)
                .bind(pending)
                .bind(now)
                .execute(p)
                .await
                .map(|_| ()),
            Db::MySql(p) => sqlx::query(&sql)
                .bind(operation)
                .bind(table)
                .bind(last_id)
                .bind(finished)
                .bind(pending)
                .bind(now)
                .execute(p)
                .await
                .map(|_| ()),
        }
    }

    /// Forget the checkpoints of an operation for `tables` (the tables a
    /// run walked to their end); other tables' are kept.
    pub async fn clear_checkpoints(
        &self,
        operation: &str,
        tables: &[&str],
    ) -> Result<(), sqlx::Error> {
        if self.checkpoints(operation).await?.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "DELETE FROM {CHECKPOINT_TABLE} WHERE operation = {} AND table_name = {}",
            self.placeholder(1),
            self.placeholder(2)
        );
        for table in tables {
            match self {
                Db::Postgres(p) => {
                    sqlx::query(&sql)
                        .bind(operation)
                        .bind(*table)
                        .execute(p)
                        .await?;
                }
                Db::MySql(p) => {
                    sqlx::query(&sql)
                        .bind(operation)
                        .bind(*table)
                        .execute(p)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// A driver message with the URL's credentials (if they appear, as written
/// or decoded) removed.
pub fn scrub(message: &str, url: &str) -> String {
    let mut out = message.replace(url, &redact(url));
    for c in credentials(url) {
        out = out.replace(&c, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact("postgres://om:pw@127.0.0.1:5432/openmetadata_db?sslmode=require&password=x"),
            "postgres://127.0.0.1:5432/openmetadata_db"
        );
        assert_eq!(redact("mysql://h/db"), "mysql://h/db");
        assert_eq!(redact("nonsense"), "<database URL>");
        assert_eq!(
            scrub("failed for om:s3cr3t@h", "mysql://om:s3cr3t@h/db"),
            "failed for om:***@h"
        );
        assert_eq!(
            redact("postgres://127.0.0.1:5432?user=om&password=x"),
            "postgres://127.0.0.1:5432"
        );
        assert_eq!(redact("postgres://om:pa/ss@h/db"), "postgres://h/db");
        assert_eq!(scrub("no p@ss!", "mysql://om:p%40ss@h/db"), "no ***!");
        assert_eq!(
            scrub(
                "q hunter2 r",
                "postgres://h/db?sslmode=require&password=hunter2"
            ),
            "q *** r"
        );
    }
}
