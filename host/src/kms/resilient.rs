//! [`Resilient`]: what every remote store (AWS, SSM, Vault) is wrapped in.
//!
//! - **Read cache** with a TTL (`cacheTtlSeconds`, default 300 s; `0` turns it
//!   off). Misses are cached too, so a reveal of many references to one absent
//!   secret asks once. Our own `put`/`delete` of an id drop its entry; a change
//!   made by another writer is seen once the entry expires.
//! - **Write rate limit** (`writesPerSecond`, default 10, OpenMetadata's
//!   default; `0`: unlimited): a token bucket holding one second's worth of
//!   permits, shared by `put` and `delete`.
//! - **Retries** of [`KmsErrorKind::Transient`] failures (throttling, 5xx,
//!   connection refused/reset, timeouts) with exponential backoff (50 ms
//!   doubling up to 2 s, with jitter) for at most `retryMaxSeconds` (default 30;
//!   `0`: no retry) in total. Anything else fails at once.
//! - **Timeout** of every call to the store (`timeoutSeconds`, default 10); a
//!   call that times out is transient (and so retried).
//!
//! - **Forwarding**: `canonical`, `validate` and `list` reach the wrapped
//!   store (retried and timed like a read); `apply` goes to the wrapped
//!   store's own `apply` in chunks of at most one second's worth of write
//!   permits (one permit per change), a chunk retried from its first change
//!   not yet applied, and drops every id it touches from the cache.
//!
//! Errors keep the id and kind of the last failure and say how many attempts
//! were made; they never hold a value. [`Resilient::stats`] exposes counters.
//!
//! Every reading of the time and every wait (cache ages, the token bucket,
//! backoff, the retry budget, call timeouts) goes through a [`Clock`]: the
//! [`SystemClock`] in production, a [`ManualClock`] in tests, which moves
//! only when told (or when everything waits on it) and so makes each of
//! those decisions independent of how fast the machine runs.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Change, KmsError, KmsErrorKind, SecretStore, SecretValue};
use crate::config::Settings;

/// A future that completes after some time, as a [`Clock`] counts it.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The time a [`Resilient`] store reads and waits on.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Instant;
    /// Complete once `d` has passed.
    fn sleep(&self, d: Duration) -> Sleep;
}

/// The real time: [`Instant::now`] and tokio's timers.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock that moves only when told: [`ManualClock::advance`], or
/// [`ManualClock::run`], which jumps to the next pending deadline whenever
/// the future it drives can make no progress. For tests: what a store
/// decides from the time no longer depends on how loaded the machine is.
/// Clones share one time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<ManualInner>);

#[derive(Debug)]
struct ManualInner {
    base: Instant,
    state: Mutex<ManualState>,
}

#[derive(Debug, Default)]
struct ManualState {
    elapsed: Duration,
    next_id: u64,
    /// Pending sleeps: id → (deadline as elapsed time, waker).
    timers: HashMap<u64, (Duration, Option<Waker>)>,
}

impl ManualClock {
    /// A clock at zero elapsed time.
    pub fn new() -> Self {
        ManualClock(Arc::new(ManualInner {
            base: Instant::now(),
            state: Mutex::default(),
        }))
    }

    /// Time passed since creation (by this clock).
    pub fn elapsed(&self) -> Duration {
        self.0.state.lock().unwrap().elapsed
    }

    /// Move the time forward by `d`, completing the sleeps that are due.
    pub fn advance(&self, d: Duration) {
        let mut s = self.0.state.lock().unwrap();
        s.elapsed += d;
        let now = s.elapsed;
        for (deadline, waker) in s.timers.values_mut() {
            if *deadline <= now
                && let Some(w) = waker.take()
            {
                w.wake();
            }
        }
    }

    /// The earliest deadline of a pending sleep.
    pub fn next_deadline(&self) -> Option<Duration> {
        let s = self.0.state.lock().unwrap();
        s.timers.values().map(|(d, _)| *d).min()
    }

    /// Run `fut` to completion on this thread. Whenever it cannot make
    /// progress, the clock jumps to the earliest pending deadline; panics if
    /// there is none (the future waits on something else than this clock).
    pub fn run<F: Future>(&self, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            let next = self
                .next_deadline()
                .expect("the future waits on something other than the manual clock");
            let now = self.elapsed();
            self.advance(next.saturating_sub(now));
        }
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.0.base + self.elapsed()
    }
    fn sleep(&self, d: Duration) -> Sleep {
        let mut s = self.0.state.lock().unwrap();
        let id = s.next_id;
        s.next_id += 1;
        let deadline = s.elapsed.saturating_add(d);
        s.timers.insert(id, (deadline, None));
        Box::pin(ManualSleep {
            clock: self.clone(),
            id,
            deadline,
        })
    }
}

struct ManualSleep {
    clock: ManualClock,
    id: u64,
    deadline: Duration,
}

impl Future for ManualSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.clock.0.state.lock().unwrap();
        if s.elapsed >= self.deadline {
            s.timers.remove(&self.id);
            return Poll::Ready(());
        }
        if let Some(t) = s.timers.get_mut(&self.id) {
            t.1 = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        if let Ok(mut s) = self.clock.0.state.lock() {
            s.timers.remove(&self.id);
        }
    }
}

/// How a [`Resilient`] store behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// How long a read (hit or miss) is cached; zero: no cache.
    pub cache_ttl: Duration,
    /// Writes (puts and deletes) per second; zero or less: unlimited.
    pub writes_per_second: f64,
    /// Total time spent retrying transient failures; zero: no retry.
    pub retry_max: Duration,
    /// Timeout of one call to the store.
    pub timeout: Duration,
    /// First backoff delay (doubles per retry).
    pub initial_backoff: Duration,
    /// Largest backoff delay.
    pub max_backoff: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            cache_ttl: Duration::from_secs(300),
            writes_per_second: 10.0,
            retry_max: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

fn seconds(settings: &Settings, name: &str) -> crate::Result<Option<f64>> {
    let Some(v) = settings.parameters.get(name) else {
        return Ok(None);
    };
    match v.trim().parse::<f64>() {
        Ok(x) if (0.0..1e9).contains(&x) => Ok(Some(x)),
        _ => Err(crate::Error::Config(format!(
            "parameters.{name} must be a non-negative number, not `{v}`"
        ))),
    }
}

impl Policy {
    /// The policy the settings' parameters describe (defaults otherwise).
    pub fn from_settings(settings: &Settings) -> crate::Result<Self> {
        let mut p = Policy::default();
        if let Some(s) = seconds(settings, "cacheTtlSeconds")? {
            p.cache_ttl = Duration::from_secs_f64(s);
        }
        if let Some(s) = seconds(settings, "writesPerSecond")? {
            p.writes_per_second = s;
        }
        if let Some(s) = seconds(settings, "retryMaxSeconds")? {
            p.retry_max = Duration::from_secs_f64(s);
        }
        if let Some(s) = seconds(settings, "timeoutSeconds")? {
            if s == 0.0 {
                return Err(crate::Error::Config(
                    "parameters.timeoutSeconds must be above 0".into(),
                ));
            }
            p.timeout = Duration::from_secs_f64(s);
        }
        Ok(p)
    }
}

/// Counters, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that went to the store.
    pub misses: u64,
    /// Calls made to the store (every attempt of every operation).
    pub calls: u64,
    /// Attempts repeated after a transient failure.
    pub retries: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Writes that had to wait for the rate limiter.
    pub throttled: u64,
    /// Cache entries dropped by our own writes and deletes.
    pub invalidations: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    calls: AtomicU64,
    retries: AtomicU64,
    timeouts: AtomicU64,
    throttled: AtomicU64,
    invalidations: AtomicU64,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A store wrapped with a cache, a write rate limit, retries and timeouts.
pub struct Resilient {
    inner: Arc<dyn SecretStore>,
    policy: Policy,
    cache: Mutex<HashMap<String, (Instant, Option<SecretValue>)>>,
    bucket: tokio::sync::Mutex<Bucket>,
    counters: Counters,
    clock: Arc<dyn Clock>,
}

impl Resilient {
    /// Wrap `inner`, on the [`SystemClock`].
    pub fn new(inner: Arc<dyn SecretStore>, policy: Policy) -> Self {
        Self::with_clock(inner, policy, Arc::new(SystemClock))
    }

    /// Wrap `inner`, reading and waiting on `clock`.
    pub fn with_clock(inner: Arc<dyn SecretStore>, policy: Policy, clock: Arc<dyn Clock>) -> Self {
        let burst = policy.writes_per_second.max(1.0);
        Resilient {
            inner,
            policy,
            cache: Mutex::new(HashMap::new()),
            bucket: tokio::sync::Mutex::new(Bucket {
                tokens: burst,
                last: clock.now(),
            }),
            counters: Counters::default(),
            clock,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            hits: l(&c.hits),
            misses: l(&c.misses),
            calls: l(&c.calls),
            retries: l(&c.retries),
            timeouts: l(&c.timeouts),
            throttled: l(&c.throttled),
            invalidations: l(&c.invalidations),
        }
    }

    /// Drop every cached read.
    pub fn clear_cache(&self) {
        self.cache.lock().unwrap().clear();
    }

    fn invalidate(&self, id: &str) {
        if self.cache.lock().unwrap().remove(id).is_some() {
            self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn acquire_write_permit(&self) {
        let rate = self.policy.writes_per_second;
        if rate <= 0.0 {
            return;
        }
        let burst = rate.max(1.0);
        let mut waited = false;
        let mut b = self.bucket.lock().await;
        loop {
            let now = self.clock.now();
            b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(burst);
            b.last = now;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                break;
            }
            if !waited {
                waited = true;
                self.counters.throttled.fetch_add(1, Ordering::Relaxed);
            }
            // The lock is held while waiting: writers queue in order.
            self.clock
                .sleep(Duration::from_secs_f64((1.0 - b.tokens) / rate))
                .await;
        }
    }

    /// Run `op` with the timeout, retrying transient failures.
    async fn call<T, F, Fut>(&self, what: &str, id: &str, op: F) -> Result<T, KmsError>
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: Future<Output = Result<T, KmsError>> + Send,
        T: Send,
    {
        self.call_within(what, id, self.policy.timeout, op).await
    }

    /// [`Self::call`] with a timeout of its own (a batch of many calls).
    async fn call_within<T, F, Fut>(
        &self,
        what: &str,
        id: &str,
        timeout: Duration,
        op: F,
    ) -> Result<T, KmsError>
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: Future<Output = Result<T, KmsError>> + Send,
        T: Send,
    {
        let start = self.clock.now();
        let mut backoff = self.policy.initial_backoff;
        let mut attempt = 1u32;
        loop {
            self.counters.calls.fetch_add(1, Ordering::Relaxed);
            // The call first, then the deadline (as `tokio::time::timeout`).
            let attempt_result = tokio::select! {
                biased;
                r = op() => Ok(r),
                () = self.clock.sleep(timeout) => Err(()),
            };
            let result = match attempt_result {
                Ok(r) => r,
                Err(()) => {
                    self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                    Err(KmsError::new(
                        self.inner.name(),
                        Some(id),
                        KmsErrorKind::Transient,
                        format!("{what}: no answer within {:?} (timeoutSeconds)", timeout),
                    ))
                }
            };
            let e = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let elapsed = self.clock.now().saturating_duration_since(start);
            // Up to +25 % jitter, from the clock (no RNG needed for this).
            let jitter = backoff.mul_f64(f64::from(elapsed.subsec_nanos() % 256) / 1024.0);
            let delay = backoff + jitter;
            if e.kind != KmsErrorKind::Transient || elapsed + delay > self.policy.retry_max {
                if attempt == 1 {
                    return Err(e);
                }
                let mut e = e;
                e.message = format!(
                    "{} (gave up after {attempt} attempts in {:.1} s)",
                    e.message,
                    elapsed.as_secs_f64()
                );
                return Err(e);
            }
            tracing::debug!(
                store = self.inner.name(),
                id,
                attempt,
                delay_ms = delay.as_millis() as u64,
                "retrying {what} after a transient failure: {}",
                e.message
            );
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            self.clock.sleep(delay).await;
            backoff = (backoff * 2).min(self.policy.max_backoff);
            attempt += 1;
        }
    }
}

#[async_trait]
impl SecretStore for Resilient {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn get(&self, id: &str) -> Result<Option<SecretValue>, KmsError> {
        if !self.policy.cache_ttl.is_zero() {
            let cache = self.cache.lock().unwrap();
            if let Some((at, v)) = cache.get(id)
                && self.clock.now().saturating_duration_since(*at) < self.policy.cache_ttl
            {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(store = self.inner.name(), id, "cache hit");
                return Ok(v.clone());
            }
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let v = self.call("read", id, || self.inner.get(id)).await?;
        if !self.policy.cache_ttl.is_zero() {
            self.cache
                .lock()
                .unwrap()
                .insert(id.to_string(), (self.clock.now(), v.clone()));
        }
        Ok(v)
    }

    async fn put(&self, id: &str, value: &str) -> Result<(), KmsError> {
        self.acquire_write_permit().await;
        let r = self.call("write", id, || self.inner.put(id, value)).await;
        self.invalidate(id);
        r
    }

    async fn delete(&self, id: &str) -> Result<bool, KmsError> {
        self.acquire_write_permit().await;
        let r = self.call("delete", id, || self.inner.delete(id)).await;
        self.invalidate(id);
        r
    }

    async fn canonical(&self, reference: &str) -> Result<String, KmsError> {
        self.call("resolve", reference, || self.inner.canonical(reference))
            .await
    }

    fn validate(&self, id: &str) -> Result<(), KmsError> {
        self.inner.validate(id)
    }

    fn cache_counts(&self) -> Option<(u64, u64)> {
        (!self.policy.cache_ttl.is_zero()).then(|| {
            let s = self.stats();
            (s.hits, s.misses)
        })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, KmsError> {
        self.call("list", prefix, || self.inner.list(prefix)).await
    }

    /// The inner store's `apply`, in chunks of at most one second's worth of
    /// write permits (each change takes one), each chunk with the timeout of
    /// as many calls and retried from the first change not yet applied.
    /// Every id applied (or attempted) is dropped from the cache.
    async fn apply(&self, changes: &[Change]) -> Result<(), (usize, KmsError)> {
        let rate = self.policy.writes_per_second;
        let chunk = if rate > 0.0 {
            (rate.max(1.0) as usize).max(1)
        } else {
            changes.len().max(1)
        };
        let mut result = Ok(());
        let mut offset = 0;
        for part in changes.chunks(chunk) {
            for _ in part {
                self.acquire_write_permit().await;
            }
            let done = AtomicUsize::new(0);
            // Attempts started and finished: an attempt the timeout dropped
            // may have applied any part of what it was given, unreported.
            let (started, finished) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let id = part[0].id();
            let timeout = self.policy.timeout * part.len() as u32;
            let r = self
                .call_within("apply", id, timeout, || {
                    let (done, started, finished) = (&done, &started, &finished);
                    async move {
                        let from = done.load(Ordering::SeqCst).min(part.len());
                        started.fetch_add(1, Ordering::SeqCst);
                        let r = self.inner.apply(&part[from..]).await;
                        finished.fetch_add(1, Ordering::SeqCst);
                        match r {
                            Ok(()) => Ok(()),
                            Err((applied, e)) => {
                                done.fetch_add(applied, Ordering::SeqCst);
                                Err(e)
                            }
                        }
                    }
                })
                .await;
            for c in part {
                self.invalidate(c.id());
            }
            if let Err(e) = r {
                // Over-reporting is safe (undoing a change that was never
                // applied writes back what is there); under-reporting would
                // leave new values behind an undo.
                let applied = if started.load(Ordering::SeqCst) != finished.load(Ordering::SeqCst) {
                    part.len()
                } else {
                    done.load(Ordering::SeqCst).min(part.len())
                };
                result = Err((offset + applied, e));
                break;
            }
            offset += part.len();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::memory::MemoryStore;

    fn policy() -> Policy {
        Policy {
            initial_backoff: Duration::from_millis(1),
            ..Policy::default()
        }
    }

    #[tokio::test]
    async fn caches_hits_and_misses_and_our_writes_invalidate() {
        let mem = Arc::new(MemoryStore::new());
        let r = Resilient::new(mem.clone(), policy());
        assert!(r.get("/a").await.unwrap().is_none());
        assert!(r.get("/a").await.unwrap().is_none());
        assert_eq!((r.stats().hits, r.stats().misses), (1, 1));
        mem.put("/a", "behind our back").await.unwrap();
        assert!(r.get("/a").await.unwrap().is_none(), "a cached miss");
        r.put("/a", "v1").await.unwrap();
        assert_eq!(r.get("/a").await.unwrap().unwrap().as_str(), "v1");
        assert_eq!(r.get("/a").await.unwrap().unwrap().as_str(), "v1");
        assert!(r.delete("/a").await.unwrap());
        assert!(r.get("/a").await.unwrap().is_none());
        let s = r.stats();
        assert_eq!((s.hits, s.misses, s.invalidations), (3, 3, 2), "{s:?}");
    }

    /// A store at 4 writes a second on a clock the test drives: the token
    /// bucket's arithmetic, not the machine's speed, decides who waits.
    fn limited(inner: Arc<dyn SecretStore>) -> (Resilient, ManualClock) {
        let clock = ManualClock::new();
        let policy = Policy {
            writes_per_second: 4.0,
            ..policy()
        };
        let r = Resilient::with_clock(inner, policy, Arc::new(clock.clone()));
        (r, clock)
    }

    #[test]
    fn writes_are_rate_limited() {
        let mem = Arc::new(MemoryStore::new());
        let (r, clock) = limited(mem.clone());
        let mut at = Vec::new();
        clock.run(async {
            for i in 0..6 {
                r.put(&format!("/k{i}"), "v").await.unwrap();
                at.push(clock.elapsed().as_millis());
            }
        });
        // 4 permits at once, then one per 0.25 s.
        assert_eq!(at, [0, 0, 0, 0, 250, 500]);
        assert_eq!((r.stats().throttled, mem.writes()), (2, 6));
        // A second later the bucket is full again: 4 more at once, and no more.
        clock.advance(Duration::from_secs(1));
        let t = clock.elapsed();
        clock.run(async {
            for i in 0..5 {
                r.delete(&format!("/k{i}")).await.unwrap();
            }
        });
        assert_eq!(clock.elapsed() - t, Duration::from_millis(250));
        assert_eq!(r.stats().throttled, 3);
    }

    #[test]
    fn policy_from_parameters() {
        let mut s = Settings::resolve(crate::config::FileConfig::default(), |_| None).unwrap();
        s.parameters.insert("cacheTtlSeconds".into(), "0.5".into());
        s.parameters.insert("writesPerSecond".into(), "0".into());
        let p = Policy::from_settings(&s).unwrap();
        assert_eq!(p.cache_ttl, Duration::from_millis(500));
        assert_eq!(p.writes_per_second, 0.0);
        s.parameters.insert("timeoutSeconds".into(), "-1".into());
        let e = Policy::from_settings(&s).unwrap_err().to_string();
        assert!(e.contains("timeoutSeconds"), "{e}");
    }

    /// A memory store whose `apply` fails once, transiently, at change `at`.
    struct FailsOnce {
        mem: MemoryStore,
        at: usize,
        failed: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl SecretStore for FailsOnce {
        fn name(&self) -> &str {
            "fails-once"
        }
        async fn get(&self, id: &str) -> Result<Option<SecretValue>, KmsError> {
            self.mem.get(id).await
        }
        async fn put(&self, id: &str, value: &str) -> Result<(), KmsError> {
            self.mem.put(id, value).await
        }
        async fn delete(&self, id: &str) -> Result<bool, KmsError> {
            self.mem.delete(id).await
        }
        async fn apply(&self, changes: &[Change]) -> Result<(), (usize, KmsError)> {
            for (i, c) in changes.iter().enumerate() {
                if i == self.at && !self.failed.swap(true, Ordering::SeqCst) {
                    return Err((
                        i,
                        KmsError::new("fails-once", None, KmsErrorKind::Transient, "flaky"),
                    ));
                }
                self.mem
                    .apply(std::slice::from_ref(c))
                    .await
                    .map_err(|(_, e)| (i, e))?;
            }
            Ok(())
        }
    }

    fn put(id: &str, v: &str) -> Change {
        Change::Put(id.into(), SecretValue::new(v.into()))
    }

    #[tokio::test]
    async fn canonical_validate_and_list_reach_the_inner_store() {
        let mem = Arc::new(MemoryStore::new());
        mem.put("/o/db/svc/a", "v").await.unwrap();
        mem.put("/o/db/svc-2/a", "v").await.unwrap();
        let r = Resilient::new(mem, policy());
        assert_eq!(r.list("/o/db/svc/").await.unwrap(), ["/o/db/svc/a"]);
        assert!(r.validate("/o/db/svc/").is_err());
        assert!(r.canonical("o/db/svc/a").await.is_err());
        assert_eq!(r.canonical("/o/db/svc/a").await.unwrap(), "/o/db/svc/a");
    }

    #[tokio::test]
    async fn apply_resumes_after_a_transient_failure_and_invalidates_the_cache() {
        let inner = Arc::new(FailsOnce {
            mem: MemoryStore::new(),
            at: 3,
            failed: Default::default(),
        });
        let r = Resilient::new(inner.clone(), policy());
        assert!(r.get("/k0").await.unwrap().is_none(), "a cached miss");
        let changes: Vec<Change> = (0..6).map(|i| put(&format!("/k{i}"), "v")).collect();
        r.apply(&changes).await.unwrap();
        assert_eq!(
            inner.mem.writes(),
            6,
            "the first 3 changes are not applied twice"
        );
        assert_eq!(r.stats().retries, 1);
        assert_eq!(r.get("/k0").await.unwrap().unwrap().as_str(), "v");
    }

    #[test]
    fn apply_counts_one_write_per_change() {
        let mem = Arc::new(MemoryStore::new());
        let (r, clock) = limited(mem.clone());
        let changes: Vec<Change> = (0..6).map(|i| put(&format!("/k{i}"), "v")).collect();
        clock.run(r.apply(&changes)).unwrap();
        // A chunk of 4 at once, then 2 permits a quarter second apart.
        assert_eq!(clock.elapsed(), Duration::from_millis(500));
        assert_eq!((r.stats().throttled, mem.writes()), (2, 6));
    }

    /// Applies its first change, then never answers.
    struct HangsAfterOne(MemoryStore);

    #[async_trait]
    impl SecretStore for HangsAfterOne {
        fn name(&self) -> &str {
            "hangs"
        }
        async fn get(&self, id: &str) -> Result<Option<SecretValue>, KmsError> {
            self.0.get(id).await
        }
        async fn put(&self, id: &str, value: &str) -> Result<(), KmsError> {
            self.0.put(id, value).await
        }
        async fn delete(&self, id: &str) -> Result<bool, KmsError> {
            self.0.delete(id).await
        }
        async fn apply(&self, changes: &[Change]) -> Result<(), (usize, KmsError)> {
            self.0.apply(&changes[..1]).await?;
            std::future::pending().await
        }
    }

    #[test]
    fn a_timed_out_apply_reports_every_change_it_may_have_applied() {
        // The first change reached the store before the call timed out: a
        // caller undoing `applied` changes must include it.
        let inner = Arc::new(HangsAfterOne(MemoryStore::new()));
        let clock = ManualClock::new();
        let r = Resilient::with_clock(
            inner.clone(),
            Policy {
                retry_max: Duration::ZERO,
                writes_per_second: 0.0,
                ..policy()
            },
            Arc::new(clock.clone()),
        );
        let changes: Vec<Change> = (0..3).map(|i| put(&format!("/k{i}"), "v")).collect();
        let (applied, e) = clock.run(r.apply(&changes)).unwrap_err();
        assert_eq!(e.kind, KmsErrorKind::Transient);
        assert_eq!(inner.0.ids(), ["/k0"]);
        assert_eq!(
            applied, 3,
            "a dropped attempt counts as having applied its part"
        );
    }

    #[tokio::test]
    async fn apply_reports_how_many_changes_were_applied() {
        let inner = Arc::new(FailsOnce {
            mem: MemoryStore::new(),
            at: 1,
            failed: Default::default(),
        });
        let r = Resilient::new(
            inner,
            Policy {
                retry_max: Duration::ZERO,
                ..policy()
            },
        );
        let (applied, e) = r
            .apply(&[put("/a", "v"), put("/b", "v")])
            .await
            .unwrap_err();
        assert_eq!((applied, e.kind), (1, KmsErrorKind::Transient));
    }
}
