//! Failures of the stores: retries with backoff and a bounded total time,
//! timeouts, the read cache, rate limiting (library level, over a store that
//! fails on demand), and through the CLI against real servers: throttling and
//! 5xx answers injected by an HTTP shim in front of the real server and
//! retried, refused credentials not retried, a server gone mid-run (clear
//! error, nothing printed, a rerun after restart completes).
//!
//! The library-level tests run the store on a [`ManualClock`] (its backoff,
//! timeouts, cache ages and retry budget count the clock's time, which moves
//! only when everything waits on it), so what they assert is the mechanism,
//! never a window a loaded machine could miss.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use om_secrets::kms::memory::MemoryStore;
use om_secrets::kms::resilient::{Clock, ManualClock, Policy, Resilient, Sleep};
use om_secrets::kms::vault::VaultStore;
use om_secrets::kms::{KmsError, KmsErrorKind, SecretStore, SecretValue};

use crate::kms_common::*;

/// A memory store that fails the next calls as told, and can be slow (on
/// the test's clock).
#[derive(Default)]
struct Flaky {
    inner: MemoryStore,
    failures: Mutex<VecDeque<KmsErrorKind>>,
    delay: Mutex<Duration>,
    calls: AtomicUsize,
    clock: ManualClock,
}

impl Flaky {
    fn failing(kinds: &[KmsErrorKind]) -> Arc<Self> {
        let f = Flaky::default();
        f.failures.lock().unwrap().extend(kinds);
        Arc::new(f)
    }

    /// A [`Resilient`] store over this one, on the same clock.
    fn wrapped(self: &Arc<Self>, policy: Policy) -> Resilient {
        Resilient::with_clock(self.clone(), policy, Arc::new(self.clock.clone()))
    }

    /// Run `f` on the clock: it jumps to the next deadline whenever `f` waits.
    fn run<F: std::future::Future>(&self, f: F) -> F::Output {
        self.clock.run(f)
    }

    async fn enter(&self, id: &str) -> Result<(), KmsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            self.clock.sleep(delay).await;
        }
        match self.failures.lock().unwrap().pop_front() {
            Some(kind) => Err(KmsError::new("flaky", Some(id), kind, "injected failure")),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl SecretStore for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    async fn get(&self, id: &str) -> Result<Option<SecretValue>, KmsError> {
        self.enter(id).await?;
        self.inner.get(id).await
    }
    async fn put(&self, id: &str, value: &str) -> Result<(), KmsError> {
        self.enter(id).await?;
        self.inner.put(id, value).await
    }
    async fn delete(&self, id: &str) -> Result<bool, KmsError> {
        self.enter(id).await?;
        self.inner.delete(id).await
    }
}

fn fast() -> Policy {
    Policy {
        initial_backoff: Duration::from_millis(10),
        ..Policy::default()
    }
}

#[test]
fn transient_failures_are_retried_with_exponential_backoff() {
    use KmsErrorKind::Transient;
    let flaky = Flaky::failing(&[Transient, Transient, Transient]);
    let store = flaky.wrapped(fast());
    flaky.run(store.put("/a", "v")).unwrap();
    // 10 + 20 + 40 ms of backoff, each with up to 25 % jitter.
    let took = flaky.clock.elapsed();
    assert!(
        took >= Duration::from_millis(70) && took <= Duration::from_micros(87_500),
        "{took:?}"
    );
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 4);
    let s = store.stats();
    assert_eq!((s.retries, s.calls), (3, 4), "{s:?}");
    assert_eq!(flaky.run(store.get("/a")).unwrap().unwrap().as_str(), "v");
}

#[test]
fn retrying_gives_up_within_the_bound() {
    let flaky = Flaky::failing(&[KmsErrorKind::Transient; 1000]);
    let store = flaky.wrapped(Policy {
        retry_max: Duration::from_millis(400),
        ..fast()
    });
    let e = flaky.run(store.get("/openmetadata/x")).unwrap_err();
    let took = flaky.clock.elapsed();
    // Backoff 10, 20, 40, 80, 160 ms (+ jitter) fits in 400 ms; the next
    // (320 ms) would not: it gives up rather than overrun the bound.
    assert!(
        took >= Duration::from_millis(310) && took <= Duration::from_millis(400),
        "{took:?}"
    );
    let s = store.stats();
    assert_eq!((s.retries, s.calls), (5, 6), "{s:?}");
    assert_eq!(e.kind, KmsErrorKind::Transient);
    let msg = e.to_string();
    assert!(
        msg.contains("/openmetadata/x") && msg.contains("gave up after"),
        "{msg}"
    );
    assert!(msg.contains("gave up after 6 attempts"), "{msg}");
}

#[test]
fn refused_credentials_and_other_errors_are_not_retried() {
    for kind in [
        KmsErrorKind::Auth,
        KmsErrorKind::Other,
        KmsErrorKind::Corrupt,
    ] {
        let flaky = Flaky::failing(&[kind]);
        let store = flaky.wrapped(fast());
        assert_eq!(flaky.run(store.get("/a")).unwrap_err().kind, kind);
        assert_eq!(
            flaky.calls.load(Ordering::SeqCst),
            1,
            "{kind:?} is not retried"
        );
        assert_eq!(store.stats().retries, 0);
    }
}

#[test]
fn every_call_has_a_timeout() {
    let flaky = Arc::new(Flaky::default());
    *flaky.delay.lock().unwrap() = Duration::from_secs(5);
    let store = flaky.wrapped(Policy {
        timeout: Duration::from_millis(100),
        retry_max: Duration::from_millis(250),
        ..fast()
    });
    let e = flaky.run(store.put("/slow", "v")).unwrap_err();
    assert_eq!(e.kind, KmsErrorKind::Transient);
    assert!(e.to_string().contains("no answer within"), "{e}");
    let s = store.stats();
    let calls = flaky.calls.load(Ordering::SeqCst) as u64;
    // Every attempt timed out and was retried while the budget allowed.
    assert!(s.calls >= 2 && s.calls == calls, "{s:?}");
    assert_eq!((s.timeouts, s.retries), (s.calls, s.calls - 1), "{s:?}");
    // Each attempt was cut at its timeout, neither earlier nor after the
    // store's 5 s; the give-up came within the budget's reach.
    let took = flaky.clock.elapsed();
    assert!(
        took >= Duration::from_millis(100) * s.calls as u32
            && took < Duration::from_millis(250 + 100),
        "{took:?}"
    );
    // The slow calls were dropped, not left to finish.
    assert!(flaky.run(flaky.inner.get("/slow")).unwrap().is_none());
}

#[test]
fn reads_are_cached_with_a_ttl_misses_too_and_our_writes_invalidate() {
    let flaky = Arc::new(Flaky::default());
    let store = flaky.wrapped(Policy {
        cache_ttl: Duration::from_millis(300),
        ..fast()
    });
    let calls = || flaky.calls.load(Ordering::SeqCst);
    flaky.run(async {
        assert!(store.get("/a").await.unwrap().is_none());
        assert!(store.get("/a").await.unwrap().is_none());
        assert_eq!(calls(), 1, "a miss is cached");
        store.put("/a", "v1").await.unwrap();
        assert_eq!(store.get("/a").await.unwrap().unwrap().as_str(), "v1");
        assert_eq!(store.get("/a").await.unwrap().unwrap().as_str(), "v1");
        assert_eq!(calls(), 3, "put + one read");
        flaky.inner.put("/a", "changed elsewhere").await.unwrap();
        flaky.clock.advance(Duration::from_millis(299));
        assert_eq!(
            store.get("/a").await.unwrap().unwrap().as_str(),
            "v1",
            "cached until the TTL runs out"
        );
        flaky.clock.advance(Duration::from_millis(1));
        assert_eq!(
            store.get("/a").await.unwrap().unwrap().as_str(),
            "changed elsewhere"
        );
        assert!(store.delete("/a").await.unwrap());
        assert!(store.get("/a").await.unwrap().is_none());
    });
    let s = store.stats();
    assert_eq!((s.hits, s.misses, s.invalidations), (3, 4, 2), "{s:?}");
    // No cache at all with a zero TTL.
    let store = flaky.wrapped(Policy {
        cache_ttl: Duration::ZERO,
        ..fast()
    });
    flaky.run(async {
        store.get("/b").await.unwrap();
        store.get("/b").await.unwrap();
    });
    assert_eq!((store.stats().hits, store.stats().misses), (0, 2));
}

/// The real time plus a skew the test sets: the store waits on real timers
/// (it talks to a real server), but the test decides when a cache entry is old.
#[derive(Default)]
struct Skewed(Mutex<Duration>);

impl Clock for Skewed {
    fn now(&self) -> Instant {
        Instant::now() + *self.0.lock().unwrap()
    }
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

#[test]
fn the_cache_in_front_of_a_real_vault() {
    let kms = Kms::new(Kind::Vault);
    let vault = Arc::new(VaultStore::connect(&kms.settings(true), Duration::from_secs(5)).unwrap());
    let clock = Arc::new(Skewed::default());
    // A TTL no test run outlasts: an entry expires when the test says so.
    let ttl = Duration::from_secs(300);
    let store = Resilient::with_clock(
        vault,
        Policy {
            cache_ttl: ttl,
            ..fast()
        },
        clock.clone(),
    );
    let id = kms.id("cache/password");
    let get = |store: &Resilient| block_on(store.get(&id)).unwrap().map(|v| v.to_string());
    assert_eq!(get(&store), None);
    kms.put_raw(&id, "external-1");
    assert_eq!(get(&store), None, "a cached miss");
    block_on(store.put(&id, "ours-1")).unwrap();
    assert_eq!(
        get(&store).as_deref(),
        Some("ours-1"),
        "our write invalidated the entry"
    );
    kms.put_raw(&id, "external-2");
    assert_eq!(get(&store).as_deref(), Some("ours-1"), "a cached hit");
    *clock.0.lock().unwrap() += ttl;
    assert_eq!(get(&store).as_deref(), Some("external-2"), "expired");
    assert!(block_on(store.delete(&id)).unwrap());
    assert_eq!(get(&store), None);
    let s = store.stats();
    assert_eq!((s.hits, s.misses, s.invalidations), (2, 4, 2), "{s:?}");
}

#[test]
fn writes_are_rate_limited_through_the_cli() {
    let kms = Kms::new(Kind::Aws).with("OM_SM_WRITES_PER_SECOND", "1");
    let d = Doc::mysql("rate");
    let t0 = Instant::now();
    kms.om(true).json(&d.args("seal"), &d.doc);
    // Three writes at one a second.
    assert!(
        t0.elapsed() >= Duration::from_millis(1950),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(kms.list(), d.ids(&kms));
}

fn retried(stderr: &str) -> usize {
    stderr.matches("after a transient failure").count()
}

/// Seal through a shim that injects `faults` before forwarding; they are retried.
fn injected_faults_are_retried(kind: Kind, faults: Vec<Action>) {
    let mut kms = Kms::new(kind);
    let shim = Shim::new(&kms.server.addr);
    for f in &faults {
        shim.then(1, f.clone());
    }
    kms.endpoint = shim.addr.clone();
    let d = Doc::mysql("shim");
    let run = kms
        .om(true)
        .with("OM_SECRETS_LOG", "debug")
        .run(&d.args("seal"), &d.doc.to_string());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (requests, injected, forwarded) = shim.counts();
    assert_eq!(injected, faults.len());
    assert_eq!(requests, injected + forwarded);
    assert_eq!(
        retried(&run.stderr),
        faults.len(),
        "one retry per injected fault:\n{}",
        run.stderr
    );
    assert_eq!(kms.list(), d.ids(&kms));
    let stored: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(kms.om(true).json(&d.args("reveal"), &stored), d.doc);
}

#[test]
fn aws_throttling_and_5xx_are_retried() {
    injected_faults_are_retried(
        Kind::Aws,
        vec![
            aws_error(400, "ThrottlingException"),
            aws_error(503, "ServiceUnavailable"),
            aws_error(500, "InternalServiceError"),
            Action::Drop,
        ],
    );
}

#[test]
fn ssm_throttling_and_5xx_are_retried() {
    injected_faults_are_retried(
        Kind::Ssm,
        vec![
            aws_error(400, "ThrottlingException"),
            aws_error(400, "ThrottlingException"),
            aws_error(503, "ServiceUnavailable"),
        ],
    );
}

#[test]
fn vault_5xx_and_429_are_retried() {
    let sealed = Action::Respond(response(
        503,
        "Service Unavailable",
        "application/json",
        r#"{"errors":["Vault is sealed"]}"#,
    ));
    let limited = Action::Respond(response(
        429,
        "Too Many Requests",
        "application/json",
        r#"{"errors":["rate limited"]}"#,
    ));
    injected_faults_are_retried(Kind::Vault, vec![sealed.clone(), limited, sealed]);
}

#[test]
fn aws_refused_credentials_are_not_retried() {
    let mut kms = Kms::new(Kind::Aws);
    let shim = Shim::new(&kms.server.addr);
    shim.otherwise(aws_error(400, "UnrecognizedClientException"));
    kms.endpoint = shim.addr.clone();
    let d = Doc::mysql("authfail");
    let run = kms.om(true).run(&d.args("seal"), &d.doc.to_string());
    let err = run.err();
    assert!(
        err.contains("UnrecognizedClientException") && err.contains("credentials"),
        "{err}"
    );
    assert_eq!(shim.counts().0, 1, "not retried");
}

/// The server goes away after `forward` requests: a clear error naming the
/// secret, nothing printed (the caller keeps its stored config); once it is
/// back, a rerun completes.
#[test]
fn aws_server_gone_mid_run_then_rerun_completes() {
    let mut kms = Kms::new(Kind::Aws).with("OM_SM_RETRY_MAX_SECONDS", "1");
    let shim = Shim::new(&kms.server.addr);
    shim.then(3, Action::Forward).otherwise(Action::Drop);
    kms.endpoint = shim.addr.clone();
    let d = Doc::mysql("midrun");
    let om = kms.om(true);
    let t0 = Instant::now();
    let run = om.run(&d.args("seal"), &d.doc.to_string());
    let err = run.err();
    assert!(
        err.contains("could not reach") && err.contains("gave up after"),
        "{err}"
    );
    assert!(
        d.ids(&kms).iter().any(|id| err.contains(id.as_str())),
        "names the secret: {err}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "bounded: {:?}",
        t0.elapsed()
    );
    assert!(kms.list().len() < 3, "the run stopped part way");
    shim.otherwise(Action::Forward);
    let stored = om.json(&d.args("seal"), &d.doc);
    assert_eq!(kms.list(), d.ids(&kms));
    assert_eq!(om.json(&d.args("reveal"), &stored), d.doc);
}

/// The server stops (its port held by the test, so that no other test's
/// server can take it meanwhile: connections are refused), then a new one
/// starts on a port servers.sh picks and the client is pointed at it.
fn stopped_then_restarted(kind: Kind) {
    let kms = Kms::dedicated(kind).with("OM_SM_RETRY_MAX_SECONDS", "1");
    let a = Doc::mysql("before");
    kms.om(true).json(&a.args("seal"), &a.doc);
    let held = kms.server.stop_and_hold();
    let b = Doc::mysql("during");
    let run = kms.om(true).run(&b.args("seal"), &b.doc.to_string());
    let err = run.err();
    assert!(
        b.ids(&kms).iter().any(|id| err.contains(id.as_str())),
        "{err}"
    );
    assert!(err.contains("reach"), "{err}");
    assert_not_in(err, &b.values(), "the error");
    // A new server on another port (servers.sh cannot pick the held one); a
    // dev server starts empty, with a new token.
    let server = Arc::new(Server::start(kind.server_kind()));
    assert_ne!(server.port, kms.server.port);
    drop(held);
    let mut again = Kms::on(kind, server);
    again.prefix = kms.prefix.clone();
    let again = again.with("OM_SM_RETRY_MAX_SECONDS", "1");
    let stored = again.om(true).json(&b.args("seal"), &b.doc);
    assert_eq!(again.list(), b.ids(&again));
    assert_eq!(again.om(true).json(&b.args("reveal"), &stored), b.doc);
}

#[test]
fn vault_stopped_then_restarted() {
    stopped_then_restarted(Kind::Vault);
}

#[test]
fn moto_stopped_then_restarted() {
    stopped_then_restarted(Kind::Ssm);
}

#[test]
fn library_errors_name_the_id_and_kind() {
    let kms = Kms::dedicated(Kind::Aws).with("OM_SM_RETRY_MAX_SECONDS", "0.3");
    let _held = kms.server.stop_and_hold();
    let settings = kms.settings(true);
    let e = block_on(async {
        let store = om_secrets::kms::open(&settings).await.unwrap().unwrap();
        store
            .get("/openmetadata/database/x/authtype/password")
            .await
            .unwrap_err()
    });
    assert_eq!(e.kind, KmsErrorKind::Transient, "{e}");
    assert!(
        e.to_string()
            .contains("/openmetadata/database/x/authtype/password"),
        "{e}"
    );
}

/// A batch (`apply`) that meets throttling half-way through, against a real
/// store: retried from the first change not yet applied (none is sent
/// twice), and `list` is retried too.
#[test]
fn a_throttled_batch_resumes_where_it_stopped() {
    use om_secrets::kms::Change;
    let mut kms = Kms::new(Kind::Ssm);
    let shim = Shim::new(&kms.server.addr);
    // Three puts pass, the fourth is throttled; then the listing's first page.
    shim.then(3, Action::Forward)
        .then(1, aws_error(400, "ThrottlingException"))
        .then(2, Action::Forward)
        .then(1, aws_error(400, "ThrottlingException"));
    kms.endpoint = shim.addr.clone();
    let root = kms.id("openmetadata/database/svc/");
    let ids: Vec<String> = (0..5).map(|i| format!("{root}k{i}")).collect();
    let changes: Vec<Change> = ids
        .iter()
        .map(|id| Change::Put(id.clone(), SecretValue::new(format!("v:{id}"))))
        .collect();
    let settings = kms.settings(true);
    let listed = block_on(async {
        let store = om_secrets::kms::open(&settings).await.unwrap().unwrap();
        store.apply(&changes).await.unwrap();
        store.list(&root).await.unwrap()
    });
    assert_eq!(listed, ids);
    let (requests, injected, forwarded) = shim.counts();
    assert_eq!(injected, 2);
    // 5 puts, each sent once, and the listing (one page, sent twice).
    assert_eq!((requests, forwarded), (8, 6));
    let read = kms.read(&ids);
    for (id, v) in ids.iter().zip(read) {
        assert_eq!(v, Some(format!("v:{id}")));
    }
}
