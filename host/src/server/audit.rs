//! The audit trail: one JSON line per reveal, seal, merge and forget (each
//! document of a batch its own line), allowed or refused: who, which entity,
//! which secret ids, the outcome. Never a value: the line is built from the
//! caller's id, the route's names and the ids the library computed.
//!
//! ```json
//! {"ts":"2026-12-01T17:00:00.123Z","principal":"apiKey:openmetadata","op":"reveal","keepReferences":false,
//!  "subject":"service","serviceType":"database","name":"mysql_prod",
//!  "secretIds":["/openmetadata/database/mysql_prod/authtype/password"],
//!  "outcome":"allowed","status":200}
//! ```
//!
//! The lines go to `server.audit.file` (JSON lines, appended, 0600) or,
//! without one, to stderr (one JSON line each, beside the log).
//!
//! `outcome` is `allowed` (the operation ran), `refused` (403) or `failed`
//! (it was allowed and the library refused or failed it; `status` says how).
//! A refused line names no secret id: a refusal never runs a plugin (working
//! ids out would, per document, for a caller who may not have any of it
//! done), and a route that names its entity refuses before reading the body
//! (a batch whose kind the caller has no grant for at all: one line, no name).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::ops::{Operation, SubjectKind};

use super::ServeError;

/// Where audit lines go.
pub struct Audit {
    file: Option<(PathBuf, Mutex<std::fs::File>)>,
}

/// The outcome of an audited operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It ran.
    Allowed,
    /// The caller's roles do not allow it.
    Refused,
    /// It was allowed, and failed.
    Failed,
}

/// Whether an operation is audited.
pub fn audited(op: Operation) -> bool {
    !matches!(op, Operation::Mask | Operation::Fields)
}

/// The name of an operation in routes, metrics and the audit.
pub fn op_name(op: Operation) -> &'static str {
    match op {
        Operation::Seal => "seal",
        Operation::Reveal { .. } => "reveal",
        Operation::Mask => "mask",
        Operation::Merge => "merge",
        Operation::Forget => "forget",
        Operation::Fields => "fields",
    }
}

/// One audited event.
pub struct Event<'a> {
    /// Who (`apiKey:NAME`, `jwt:SUB`).
    pub principal: &'a str,
    /// The operation.
    pub op: Operation,
    /// The entity kind.
    pub kind: &'a SubjectKind,
    /// The entity's name.
    pub name: Option<&'a str>,
    /// The secret ids involved.
    pub ids: &'a [String],
    /// What happened.
    pub outcome: Outcome,
    /// The HTTP status of this document (a batch item's own).
    pub status: u16,
}

impl Audit {
    /// To a JSON-lines file (created 0600, appended to), or stderr.
    pub fn open(file: Option<&Path>) -> Result<Self, ServeError> {
        let file = match file {
            None => None,
            Some(p) => {
                let mut o = std::fs::OpenOptions::new();
                o.append(true).create(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
                let f = o.open(p).map_err(|e| ServeError::Io {
                    path: p.to_path_buf(),
                    source: e,
                })?;
                Some((p.to_path_buf(), Mutex::new(f)))
            }
        };
        Ok(Audit { file })
    }

    /// Record one event.
    pub fn record(&self, e: &Event<'_>) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let (subject, service_type) = match e.kind {
            SubjectKind::Service(t) => ("service", Some(t.as_str())),
            SubjectKind::Bot => ("bot", None),
            SubjectKind::Pipeline => ("pipeline", None),
            SubjectKind::Workflow => ("workflow", None),
        };
        let mut line = json!({
            "ts": rfc3339(now),
            "principal": e.principal,
            "op": op_name(e.op),
            "subject": subject,
            "name": e.name,
            "secretIds": e.ids,
            "outcome": match e.outcome {
                Outcome::Allowed => "allowed",
                Outcome::Refused => "refused",
                Outcome::Failed => "failed",
            },
            "status": e.status,
        });
        if let Operation::Reveal { keep_references } = e.op {
            line["keepReferences"] = Value::Bool(keep_references);
        }
        if let Some(t) = service_type {
            line["serviceType"] = Value::String(t.into());
        }
        let text = line.to_string();
        match &self.file {
            Some((path, f)) => {
                let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(err) = f.write_all(format!("{text}\n").as_bytes()) {
                    tracing::error!(file = %path.display(), "audit line not written: {err}; the line: {text}");
                }
            }
            None => {
                // Whole lines, never interleaved with another thread's.
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(format!("{text}\n").as_bytes());
            }
        }
    }
}

/// `2026-12-01T17:00:00.123Z` for a time since the Unix epoch (UTC).
fn rfc3339(since_epoch: std::time::Duration) -> String {
    let secs = since_epoch.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(Duration::from_millis(951_782_400_123)),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            rfc3339(Duration::from_secs(1_764_608_399)),
            "2025-12-01T16:59:59.000Z"
        );
    }
}
