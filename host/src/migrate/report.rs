//! What a run did: per table, totals, and every row it could not handle
//! (table, id and reason — never a value). Serialised as the `--report`
//! JSON.

use std::collections::BTreeMap;

use serde::Serialize;

/// The summary of one run of [`migrate`](super::migrate) or
/// [`rotate`](super::rotate).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `migrate` or `rotate`.
    pub operation: String,
    /// Nothing was written (`--dry-run`).
    pub dry_run: bool,
    /// The database, without credentials.
    pub database: String,
    /// The run went on from a checkpoint of an interrupted one.
    pub resumed: bool,
    /// One entry per table walked.
    pub tables: Vec<TableReport>,
    /// Tables of the list that this database does not have (older or newer
    /// OpenMetadata): reported and skipped.
    pub missing_tables: Vec<String>,
    /// Sums over [`tables`](Self::tables).
    pub totals: Counts,
    /// Rows left as they were because they could not be handled.
    pub skipped: Vec<SkippedRow>,
    /// Secrets written to the store that no row references (a row changed
    /// or deleted after the write): left in place, listed here.
    pub orphans: Vec<Orphan>,
    /// Secrets of entities whose names lie outside `[a-z0-9_-]`, moved from
    /// the OpenMetadata-era id (shared by names that sanitise alike) to the
    /// entity's own id. The old id is left in place.
    pub moved: Vec<Moved>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// A secret moved from an OpenMetadata-era id to the entity's own.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Moved {
    /// The table.
    pub table: String,
    /// The row's `id`.
    pub row: String,
    /// The OpenMetadata-era id read.
    pub from: String,
    /// The entity's own id written.
    pub to: String,
}

/// Counters of one table (or of all).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Rows read (bots only in `user_entity`).
    pub rows_read: u64,
    /// Rows rewritten (dry run: rows that would be).
    pub migrated: u64,
    /// Rows that needed nothing.
    pub unchanged: u64,
    /// Rows skipped (see [`Report::skipped`]).
    pub skipped: u64,
    /// Secret values written to the store (migrate), or Fernet tokens
    /// re-encrypted (rotate); dry run: that would be.
    pub secrets_written: u64,
    /// Rows re-read because they changed between read and write.
    pub reread: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.rows_read += o.rows_read;
        self.migrated += o.migrated;
        self.unchanged += o.unchanged;
        self.skipped += o.skipped;
        self.secrets_written += o.secrets_written;
        self.reread += o.reread;
    }
}

/// One table's part of a run.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TableReport {
    /// The table.
    pub table: String,
    /// Its counters.
    #[serde(flatten)]
    pub counts: Counts,
    /// Rows that were (dry run: would be) rewritten, by the entity's
    /// `serviceType` (services, workflows: the request's; pipelines: the
    /// pipeline type; bots: `bot`).
    pub by_service_type: BTreeMap<String, u64>,
    /// The table was finished by an earlier, interrupted run.
    pub already_done: bool,
}

/// A row the run left as it was.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SkippedRow {
    /// The table.
    pub table: String,
    /// The row's `id`.
    pub id: String,
    /// Why (an error naming the field or id; never a value).
    pub reason: String,
}

/// A secret in the store that no row references.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Orphan {
    /// The table of the row it was written for.
    pub table: String,
    /// That row's `id`.
    pub row: String,
    /// The secret id.
    pub secret_id: String,
}

impl Report {
    /// Recompute [`totals`](Self::totals).
    pub fn total(&mut self) {
        let mut t = Counts::default();
        for r in &self.tables {
            t.add(&r.counts);
        }
        self.totals = t;
    }

    /// Every row was handled and nothing is orphaned.
    pub fn is_clean(&self) -> bool {
        self.skipped.is_empty() && self.orphans.is_empty()
    }

    /// Human-readable lines (no values, no credentials).
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let verb = if self.dry_run {
            "would rewrite"
        } else {
            "rewrote"
        };
        for t in &self.tables {
            let c = &t.counts;
            let _ = writeln!(
                s,
                "{:<28} read {:>7}  {verb} {:>7}  unchanged {:>7}  skipped {:>5}  secrets {:>7}{}",
                t.table,
                c.rows_read,
                c.migrated,
                c.unchanged,
                c.skipped,
                c.secrets_written,
                if t.already_done {
                    "  (done earlier)"
                } else {
                    ""
                }
            );
        }
        for m in &self.missing_tables {
            let _ = writeln!(s, "{m:<28} not in this database: skipped");
        }
        for r in &self.skipped {
            let _ = writeln!(s, "skipped {} {}: {}", r.table, r.id, r.reason);
        }
        for m in &self.moved {
            let _ = writeln!(s, "moved {} → {} ({} {})", m.from, m.to, m.table, m.row);
        }
        for o in &self.orphans {
            let _ = writeln!(
                s,
                "orphan {} (written for {} {}, no longer referenced)",
                o.secret_id, o.table, o.row
            );
        }
        let c = &self.totals;
        let what = if self.operation == "rotate" {
            "tokens re-encrypted"
        } else {
            "secrets written"
        };
        let _ = write!(
            s,
            "{}: {} rows read, {} {verb}, {} unchanged, {} skipped, {} {what}, {} orphans in {:.1} s",
            self.operation,
            c.rows_read,
            c.migrated,
            c.unchanged,
            c.skipped,
            c.secrets_written,
            self.orphans.len(),
            self.seconds
        );
        if c.migrated == 0 && c.skipped == 0 && !self.dry_run {
            s.push_str(" — nothing changed");
        }
        s
    }
}
