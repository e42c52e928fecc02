//! Metrics in Prometheus' text format (`GET /metrics`), written by hand: a
//! few counter families and one latency histogram. Labels are route
//! templates (`/v1/services/{serviceType}/{name}/seal`, never the names in a
//! request), methods, statuses, store names, error kinds and failure
//! reasons: no value a caller sends ever becomes a label.
//!
//! Families:
//! - `om_secrets_http_requests_total{route,method,status}`
//! - `om_secrets_http_request_duration_seconds{route}` (histogram)
//! - `om_secrets_kms_calls_total{store,call}`, `om_secrets_kms_errors_total{store,kind}`
//!   (counted by [`ObservedStore`] around the store the operations use: a call
//!   answered from the read cache counts as a call)
//! - `om_secrets_kms_cache_hits_total{store}`, `om_secrets_kms_cache_misses_total{store}`
//!   (the remote stores' read cache, `cacheTtlSeconds`; absent when off)
//! - `om_secrets_sandbox_failures_total{reason}` (timeout, memory, trap, …)
//! - `om_secrets_auth_failures_total{reason}`, `om_secrets_rate_limited_total`,
//!   `om_secrets_request_timeouts_total`
//! - `om_secrets_ready` (0/1)

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::Error;
use crate::kms::{Change, KmsError, KmsErrorKind, SecretStore, SecretValue};
use crate::plugin::PluginFailure;

/// Histogram bucket bounds, seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// The registry.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

const HELP: &[(&str, &str)] = &[
    (
        "om_secrets_http_requests_total",
        "HTTP requests by route template, method and status.",
    ),
    (
        "om_secrets_kms_calls_total",
        "Calls the operations made to the secret store.",
    ),
    (
        "om_secrets_kms_errors_total",
        "Secret store calls that failed, by kind.",
    ),
    (
        "om_secrets_sandbox_failures_total",
        "Plugin calls that failed in the sandbox, by reason.",
    ),
    (
        "om_secrets_auth_failures_total",
        "Requests refused 401, by reason.",
    ),
    ("om_secrets_rate_limited_total", "Requests refused 429."),
    (
        "om_secrets_request_timeouts_total",
        "Requests answered 503 after the request timeout.",
    ),
];

/// A label value as Prometheus text escapes it.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Add one to a counter with its labels rendered (`a="x",b="y"`).
    pub fn inc(&self, family: &'static str, labels: String) {
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *c.entry((family, labels)).or_default() += 1;
    }

    /// One HTTP request done.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.inc(
            "om_secrets_http_requests_total",
            format!(
                "route=\"{}\",method=\"{}\",status=\"{status}\"",
                esc(route),
                esc(method)
            ),
        );
        let mut l = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = l.entry(route.to_string()).or_insert_with(|| Histogram {
            counts: vec![0; BUCKETS.len()],
            ..Histogram::default()
        });
        let s = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += s;
        h.count += 1;
    }

    /// Count what an operation's error says about the sandbox.
    pub fn error(&self, e: &Error) {
        if let Error::Plugin { reason, .. } = e {
            let r = match reason {
                PluginFailure::Timeout { .. } => "timeout",
                PluginFailure::MemoryLimit { .. } => "memory",
                PluginFailure::StackOverflow => "stack",
                PluginFailure::Panic { .. } => "panic",
                PluginFailure::Trap(_) => "trap",
                PluginFailure::InputTooLarge { .. } => "input_too_large",
                PluginFailure::OutputTooLarge { .. } => "output_too_large",
                PluginFailure::InvalidAnswer(_) | PluginFailure::RoutingKey { .. } => {
                    "invalid_answer"
                }
                _ => "other",
            };
            self.inc(
                "om_secrets_sandbox_failures_total",
                format!("reason=\"{r}\""),
            );
        }
    }

    /// The text format.
    pub fn render(&self, ready: bool, store: Option<&dyn SecretStore>) -> String {
        let mut out = String::new();
        if let Some((hits, misses)) = store.and_then(|s| s.cache_counts()) {
            let store = esc(store.map(|s| s.name()).unwrap_or_default());
            for (family, what, v) in [
                ("om_secrets_kms_cache_hits_total", "answered from", hits),
                (
                    "om_secrets_kms_cache_misses_total",
                    "not answered by",
                    misses,
                ),
            ] {
                let _ = writeln!(
                    out,
                    "# HELP {family} Store reads {what} the read cache.\n# TYPE {family} counter\n{family}{{store=\"{store}\"}} {v}"
                );
            }
        }
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        for (family, help) in HELP {
            let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} counter");
            for ((f, labels), v) in c.iter() {
                if f == family {
                    if labels.is_empty() {
                        let _ = writeln!(out, "{f} {v}");
                    } else {
                        let _ = writeln!(out, "{f}{{{labels}}} {v}");
                    }
                }
            }
        }
        drop(c);
        let name = "om_secrets_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to answer a request, by route template.\n# TYPE {name} histogram"
        );
        let l = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        for (route, h) in l.iter() {
            let r = esc(route);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{r}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{r}\"}} {}", h.count);
        }
        let _ = writeln!(
            out,
            "# HELP om_secrets_ready Whether the server is ready (plugins loaded, store reachable, start-up tasks done).\n# TYPE om_secrets_ready gauge\nom_secrets_ready {}",
            u8::from(ready)
        );
        out
    }
}

/// A store that counts the calls made to it and their errors.
pub struct ObservedStore {
    inner: Arc<dyn SecretStore>,
    metrics: Arc<Metrics>,
}

impl ObservedStore {
    /// Wrap a store.
    pub fn new(inner: Arc<dyn SecretStore>, metrics: Arc<Metrics>) -> Self {
        ObservedStore { inner, metrics }
    }

    fn count<T>(&self, call: &str, r: &Result<T, KmsError>) {
        let store = esc(self.inner.name());
        self.metrics.inc(
            "om_secrets_kms_calls_total",
            format!("store=\"{store}\",call=\"{call}\""),
        );
        if let Err(e) = r {
            let kind = match e.kind {
                KmsErrorKind::Auth => "auth",
                KmsErrorKind::Transient => "transient",
                KmsErrorKind::Corrupt => "corrupt",
                KmsErrorKind::Other => "other",
            };
            self.metrics.inc(
                "om_secrets_kms_errors_total",
                format!("store=\"{store}\",kind=\"{kind}\""),
            );
        }
    }
}

#[async_trait]
impl SecretStore for ObservedStore {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn get(&self, id: &str) -> Result<Option<SecretValue>, KmsError> {
        let r = self.inner.get(id).await;
        self.count("get", &r);
        r
    }
    async fn put(&self, id: &str, value: &str) -> Result<(), KmsError> {
        let r = self.inner.put(id, value).await;
        self.count("put", &r);
        r
    }
    async fn delete(&self, id: &str) -> Result<bool, KmsError> {
        let r = self.inner.delete(id).await;
        self.count("delete", &r);
        r
    }
    async fn canonical(&self, reference: &str) -> Result<String, KmsError> {
        self.inner.canonical(reference).await
    }
    fn validate(&self, id: &str) -> Result<(), KmsError> {
        self.inner.validate(id)
    }
    fn cache_counts(&self) -> Option<(u64, u64)> {
        self.inner.cache_counts()
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, KmsError> {
        let r = self.inner.list(prefix).await;
        self.count("list", &r);
        r
    }
    async fn apply(&self, changes: &[Change]) -> Result<(), (usize, KmsError)> {
        let r = self.inner.apply(changes).await;
        self.count("apply", &r.as_ref().map(|_| ()).map_err(|(_, e)| e.clone()));
        r
    }
}
