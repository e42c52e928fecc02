//! `migrateOnStart`: the migration the service (`om-secrets serve`) and the
//! JVM binding run before they answer, as OpenMetadata runs its own
//! migrations at start-up.
//!
//! [`run`] is [`migrate`](super::migrate) with the configured URL, progress
//! as plain lines on stderr (prefixed `migrateOnStart:`), and the report
//! judged: a run that fails (the database cannot be reached, another run
//! holds its lock) is an [`OnStartError::Failed`]; a report that lists
//! skipped rows or orphans is an [`OnStartError::Unclean`] unless
//! `requireClean: false`, in which case it is logged (each row by table, id
//! and reason) and the caller serves anyway.
//!
//! Another replica migrating the same database at the same moment holds its
//! lock: this one waits (1 s, doubling to 30 s between tries, not ready
//! meanwhile) and then runs (an idempotent pass over rows already done).
//! Any other failure is not retried: the caller stops, and its supervisor
//! (Kubernetes, systemd) restarts it, as with OpenMetadata's own failed
//! migrations. Errors and lines never hold the URL's credentials or a
//! secret value.

use std::io::Write;
use std::time::Duration;

use super::{Lines, MigrateError, MigrateOptions, Progress, Report, TableReport, redact};
use crate::SecretsManager;
use crate::config::MigrateOnStart;

/// Why the start-up migration did not let the caller serve.
#[derive(Debug, thiserror::Error)]
pub enum OnStartError {
    /// The run failed before finishing (nothing is half-done: a rerun
    /// converges).
    #[error("migrateOnStart: {0}")]
    Failed(#[from] MigrateError),
    /// The run finished, but rows were skipped or secrets orphaned, and
    /// `requireClean` is true (the default).
    #[error(
        "migrateOnStart: the migration of {database} finished with {skipped} skipped rows and {orphans} orphaned secrets (requireClean: true, so not serving; fix the rows listed, or set migrateOnStart.requireClean: false to serve anyway):\n{summary}"
    )]
    Unclean {
        /// The database, without credentials.
        database: String,
        /// Rows left as they were.
        skipped: usize,
        /// Secrets no row references any more.
        orphans: usize,
        /// The report's summary (tables, ids, reasons; no values).
        summary: String,
        /// The whole report.
        report: Box<Report>,
    },
}

/// Progress as `migrateOnStart: …` lines on stderr (a progress line at most
/// every 5 s).
struct Prefixed(Lines);

impl Progress for Prefixed {
    fn table_started(&self, table: &str, total: u64) {
        self.0
            .table_started(&format!("migrateOnStart: {table}"), total);
    }
    fn rows_done(&self, table: &str, n: u64) {
        self.0.rows_done(&format!("migrateOnStart: {table}"), n);
    }
    fn table_finished(&self, table: &str, report: &TableReport) {
        self.0
            .table_finished(&format!("migrateOnStart: {table}"), report);
    }
    fn note(&self, message: &str) {
        self.0.note(&format!("migrateOnStart: {message}"));
    }
}

/// Run the configured migration with `manager` (a managed mode), logging
/// its progress and its summary on stderr. `Ok`: the caller may serve (the
/// report is clean, or `requireClean` is false).
pub async fn run(
    manager: &SecretsManager,
    config: &MigrateOnStart,
) -> Result<Report, OnStartError> {
    let opts = MigrateOptions::new(config.url.as_str());
    let shown = redact(&config.url);
    let line = |s: &str| {
        let _ = writeln!(std::io::stderr(), "migrateOnStart: {s}");
    };
    line(&format!("migrating {shown} before serving"));
    let progress = Prefixed(Lines::new(Duration::from_secs(5)));
    let mut wait = Duration::from_secs(1);
    let report = loop {
        match super::migrate(manager, &opts, &progress).await {
            Err(MigrateError::Busy(_)) => {
                line(&format!(
                    "another migration is running on {shown}; trying again in {} s",
                    wait.as_secs()
                ));
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            r => break r?,
        }
    };
    for l in report.summary().lines() {
        line(l);
    }
    if report.is_clean() {
        return Ok(report);
    }
    if config.require_clean {
        return Err(OnStartError::Unclean {
            database: shown,
            skipped: report.skipped.len(),
            orphans: report.orphans.len(),
            summary: report.summary(),
            report: Box::new(report),
        });
    }
    line(&format!(
        "{} skipped rows and {} orphaned secrets (listed above); serving anyway (requireClean: false)",
        report.skipped.len(),
        report.orphans.len()
    ));
    Ok(report)
}
