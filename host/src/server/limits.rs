//! Per-principal rate limiting: a token bucket per caller id (`ratePerSecond`
//! refill, `burst` capacity). A refused request learns when one token will
//! be back (`Retry-After`, whole seconds, at least 1).
//!
//! Body size, concurrency and the request timeout are enforced in
//! [`super::routes`](mod@super::routes): the body is read with a limit (413), a request waits
//! for one of `maxConcurrent` permits, and the whole request runs under the
//! timeout (503).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Token buckets by caller.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `rate` tokens per second (0: unlimited), at most `burst` saved.
    pub fn new(rate: f64, burst: u32) -> Self {
        RateLimiter {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take a token for `who`; `Err(seconds)` to wait if there is none.
    pub fn take(&self, who: &str) -> Result<(), u64> {
        self.take_at(who, Instant::now())
    }

    fn take_at(&self, who: &str, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        // Idle buckets are full: forget them rather than grow without bound.
        if b.len() > 10_000 {
            let full = self.burst / self.rate;
            b.retain(|_, (_, t)| now.duration_since(*t).as_secs_f64() < full);
        }
        let (tokens, last) = b.entry(who.to_string()).or_insert((self.burst, now));
        let refill = now.duration_since(*last).as_secs_f64() * self.rate;
        *tokens = (*tokens + refill).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - *tokens) / self.rate).ceil() as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_refills_at_the_rate() {
        let r = RateLimiter::new(0.5, 2);
        let t = Instant::now();
        assert!(r.take_at("a", t).is_ok());
        assert!(r.take_at("a", t).is_ok());
        assert_eq!(r.take_at("a", t), Err(2));
        // Another caller has its own bucket.
        assert!(r.take_at("b", t).is_ok());
        assert!(r.take_at("a", t + Duration::from_secs(2)).is_ok());
        assert!(RateLimiter::new(0.0, 1).take("x").is_ok());
    }
}
