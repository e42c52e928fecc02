//! Progress of a run: a [`Progress`] receives table starts, rows done and
//! table ends. [`Bar`] draws indicatif bars (rows done/total, rate, ETA per
//! table) for a terminal; [`Lines`] writes a plain line per table and at most
//! one every few seconds otherwise (logs, CI); [`Silent`] says nothing.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::report::TableReport;

/// Receives a run's progress. Never given a value or a credential.
pub trait Progress: Send + Sync {
    /// A table starts: `total` rows to go.
    fn table_started(&self, table: &str, total: u64);
    /// `n` more rows of the table are done.
    fn rows_done(&self, table: &str, n: u64);
    /// The table is done.
    fn table_finished(&self, table: &str, report: &TableReport);
    /// Something worth saying (a missing table, a resumed checkpoint).
    fn note(&self, _message: &str) {}
}

/// No progress at all.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn table_started(&self, _: &str, _: u64) {}
    fn rows_done(&self, _: &str, _: u64) {}
    fn table_finished(&self, _: &str, _: &TableReport) {}
}

fn finished_line(table: &str, r: &TableReport) -> String {
    let c = &r.counts;
    format!(
        "{table}: {} read, {} rewritten, {} unchanged, {} skipped",
        c.rows_read, c.migrated, c.unchanged, c.skipped
    )
}

/// Plain lines on stderr (not a terminal): one when a table starts and ends,
/// and a progress line at most every `every`.
#[derive(Debug)]
pub struct Lines {
    every: Duration,
    state: Mutex<(u64, u64, Instant, Instant)>,
}

impl Lines {
    /// Lines at most every `every`.
    pub fn new(every: Duration) -> Self {
        let now = Instant::now();
        Lines {
            every,
            state: Mutex::new((0, 0, now, now)),
        }
    }
}

impl Progress for Lines {
    fn table_started(&self, table: &str, total: u64) {
        let now = Instant::now();
        *self.state.lock().unwrap() = (0, total, now, now);
        let _ = writeln!(std::io::stderr(), "{table}: {total} rows");
    }

    fn rows_done(&self, table: &str, n: u64) {
        let mut s = self.state.lock().unwrap();
        s.0 += n;
        let now = Instant::now();
        if now.duration_since(s.3) >= self.every {
            s.3 = now;
            let secs = now.duration_since(s.2).as_secs_f64().max(1e-3);
            let rate = s.0 as f64 / secs;
            let eta = if rate > 0.0 {
                (s.1.saturating_sub(s.0)) as f64 / rate
            } else {
                0.0
            };
            let _ = writeln!(
                std::io::stderr(),
                "{table}: {}/{} rows, {rate:.0} rows/s, ETA {eta:.0} s",
                s.0,
                s.1
            );
        }
    }

    fn table_finished(&self, table: &str, r: &TableReport) {
        let _ = writeln!(std::io::stderr(), "{}", finished_line(table, r));
    }

    fn note(&self, message: &str) {
        let _ = writeln!(std::io::stderr(), "{message}");
    }
}

/// indicatif progress bars on stderr, one per table.
pub struct Bar {
    multi: indicatif::MultiProgress,
    current: Mutex<Option<indicatif::ProgressBar>>,
}

impl std::fmt::Debug for Bar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bar")
    }
}

impl Default for Bar {
    fn default() -> Self {
        Self::new()
    }
}

impl Bar {
    /// Bars drawn on stderr.
    pub fn new() -> Self {
        Bar {
            multi: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::stderr(),
            ),
            current: Mutex::new(None),
        }
    }
}

impl Progress for Bar {
    fn table_started(&self, table: &str, total: u64) {
        let bar = self.multi.add(indicatif::ProgressBar::new(total));
        let style = indicatif::ProgressStyle::with_template(
            "{prefix:<28} [{bar:30}] {pos:>7}/{len:7} {rate:>12} ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} rows/s", state.per_sec());
            },
        )
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(table.to_string());
        *self.current.lock().unwrap() = Some(bar);
    }

    fn rows_done(&self, _: &str, n: u64) {
        if let Some(b) = &*self.current.lock().unwrap() {
            b.inc(n);
        }
    }

    fn table_finished(&self, table: &str, r: &TableReport) {
        if let Some(b) = self.current.lock().unwrap().take() {
            b.finish_and_clear();
        }
        let _ = self.multi.println(finished_line(table, r));
    }

    fn note(&self, message: &str) {
        let _ = self.multi.println(message);
    }
}
