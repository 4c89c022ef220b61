//! Per-key rate limits over sliding one-minute windows.
//!
//! Requests per minute and concurrency are exact: a request is admitted only while the key
//! has fewer than `rpm` requests in the last minute and fewer than `concurrency` in flight,
//! checked and counted under one lock, so concurrent requests are never over-admitted.
//! Tokens per minute are charged when a request finishes (its size is unknown before), and a
//! key is refused while the tokens charged in the last minute reach `tpm`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::Limits;

const WINDOW: Duration = Duration::from_secs(60);
/// Retry hint when only concurrency refuses: a slot frees when some request ends.
const CONCURRENCY_RETRY: Duration = Duration::from_secs(1);

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    Tokens,
    /// Requests in flight.
    Concurrency,
}

impl Denied {
    /// A phrase for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Denied::Requests => "requests per minute",
            Denied::Tokens => "tokens per minute",
            Denied::Concurrency => "concurrent requests",
        }
    }
}

/// What the `x-ratelimit-*` headers report after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateInfo {
    /// `x-ratelimit-limit-requests`.
    pub limit_requests: Option<u32>,
    /// `x-ratelimit-remaining-requests`.
    pub remaining_requests: Option<u32>,
    /// `x-ratelimit-reset-requests`: until the oldest request of the window expires.
    pub reset_requests: Duration,
    /// `x-ratelimit-limit-tokens`.
    pub limit_tokens: Option<u32>,
    /// `x-ratelimit-remaining-tokens`.
    pub remaining_tokens: Option<u32>,
    /// `x-ratelimit-reset-tokens`: until the oldest charge of the window expires.
    pub reset_tokens: Duration,
}

#[derive(Debug, Default)]
struct Window {
    requests: VecDeque<Instant>,
    charges: VecDeque<(Instant, u64)>,
    tokens: u64,
    in_flight: u32,
}

impl Window {
    fn prune(&mut self, now: Instant) {
        while self.requests.front().is_some_and(|t| *t + WINDOW <= now) {
            self.requests.pop_front();
        }
        while let Some(&(t, n)) = self.charges.front() {
            if t + WINDOW > now {
                break;
            }
            self.tokens -= n;
            self.charges.pop_front();
        }
    }

    fn info(&self, limits: &Limits, now: Instant) -> RateInfo {
        let until = |t: Option<Instant>| {
            t.map_or(Duration::ZERO, |t| {
                (t + WINDOW).saturating_duration_since(now)
            })
        };
        RateInfo {
            limit_requests: limits.rpm,
            remaining_requests: limits
                .rpm
                .map(|l| l.saturating_sub(u32::try_from(self.requests.len()).unwrap_or(u32::MAX))),
            reset_requests: until(self.requests.front().copied()),
            limit_tokens: limits.tpm,
            remaining_tokens: limits
                .tpm
                .map(|l| u32::try_from(u64::from(l).saturating_sub(self.tokens)).unwrap_or(0)),
            reset_tokens: until(self.charges.front().map(|c| c.0)),
        }
    }

    /// How long until the tokens charged in the window drop below `tpm`.
    fn tokens_free_in(&self, tpm: u64, now: Instant) -> Duration {
        let mut left = self.tokens;
        for &(t, n) in &self.charges {
            left -= n;
            if left < tpm {
                return (t + WINDOW).saturating_duration_since(now);
            }
        }
        Duration::ZERO
    }
}

/// Per-key windows; cheap to share (`Arc`).
#[derive(Debug, Default)]
pub struct Limiter {
    keys: Mutex<HashMap<String, Window>>,
}

/// An admitted request; dropping it ends the request for the concurrency limit.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<Limiter>,
    key: String,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(w) = self.limiter.lock().get_mut(&self.key) {
            w.in_flight = w.in_flight.saturating_sub(1);
        }
    }
}

impl Permit {
    /// The key this permit counts against.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A refusal: which limit, how long until the request would be admitted, and the headers.
pub type Refusal = (Denied, Duration, RateInfo);

impl Limiter {
    /// A limiter with no history.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Window>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a request of `key` now, or says which limit refuses it.
    ///
    /// # Errors
    /// The refusal: the limit, the time until the request would be admitted, the headers.
    pub fn admit(
        self: &Arc<Self>,
        key: &str,
        limits: &Limits,
    ) -> Result<(Permit, RateInfo), Refusal> {
        self.admit_at(key, limits, Instant::now())
    }

    /// [`admit`](Self::admit) at a given instant.
    ///
    /// # Errors
    /// As [`admit`](Self::admit).
    pub fn admit_at(
        self: &Arc<Self>,
        key: &str,
        limits: &Limits,
        now: Instant,
    ) -> Result<(Permit, RateInfo), Refusal> {
        let mut keys = self.lock();
        let w = keys.entry(key.to_owned()).or_default();
        w.prune(now);
        let mut refusals = Vec::new();
        if let Some(rpm) = limits.rpm
            && w.requests.len() >= rpm as usize
        {
            let wait = w
                .requests
                .get(w.requests.len() - rpm as usize)
                .map_or(Duration::ZERO, |t| {
                    (*t + WINDOW).saturating_duration_since(now)
                });
            refusals.push((Denied::Requests, wait));
        }
        if let Some(tpm) = limits.tpm
            && w.tokens >= u64::from(tpm)
        {
            refusals.push((Denied::Tokens, w.tokens_free_in(u64::from(tpm), now)));
        }
        if let Some(c) = limits.concurrency
            && w.in_flight >= c
        {
            refusals.push((Denied::Concurrency, CONCURRENCY_RETRY));
        }
        // The request waits for the slowest of the limits that refuse it.
        if let Some(&(denied, wait)) = refusals.iter().max_by_key(|(_, wait)| *wait) {
            return Err((denied, wait, w.info(limits, now)));
        }
        w.requests.push_back(now);
        w.in_flight += 1;
        let info = w.info(limits, now);
        drop(keys);
        Ok((
            Permit {
                limiter: Arc::clone(self),
                key: key.to_owned(),
            },
            info,
        ))
    }

    /// Charges `tokens` (prompt + completion) to `key` now.
    pub fn charge(&self, key: &str, tokens: u64) {
        self.charge_at(key, tokens, Instant::now());
    }

    /// [`charge`](Self::charge) at a given instant.
    pub fn charge_at(&self, key: &str, tokens: u64, now: Instant) {
        if tokens == 0 {
            return;
        }
        let mut keys = self.lock();
        let w = keys.entry(key.to_owned()).or_default();
        w.prune(now);
        w.charges.push_back((now, tokens));
        w.tokens += tokens;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rpm: Option<u32>, tpm: Option<u32>, concurrency: Option<u32>) -> Limits {
        Limits {
            rpm,
            tpm,
            concurrency,
        }
    }

    #[test]
    fn requests_per_minute_slide() {
        let l = Limiter::new();
        let lim = limits(Some(2), None, None);
        let t0 = Instant::now();
        let (_a, info) = l.admit_at("k", &lim, t0).unwrap();
        assert_eq!(info.remaining_requests, Some(1));
        let _b = l.admit_at("k", &lim, t0 + Duration::from_secs(10)).unwrap();
        let (d, wait, info) = l
            .admit_at("k", &lim, t0 + Duration::from_secs(20))
            .unwrap_err();
        assert_eq!(d, Denied::Requests);
        assert_eq!(wait, Duration::from_secs(40));
        assert_eq!(info.remaining_requests, Some(0));
        // Another key is not affected; after the window the first request expires.
        assert!(
            l.admit_at("other", &lim, t0 + Duration::from_secs(20))
                .is_ok()
        );
        assert!(l.admit_at("k", &lim, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn concurrency_is_released_by_dropping_the_permit() {
        let l = Limiter::new();
        let lim = limits(None, None, Some(1));
        let t0 = Instant::now();
        let p = l.admit_at("k", &lim, t0).unwrap();
        let (d, wait, _) = l.admit_at("k", &lim, t0).unwrap_err();
        assert_eq!((d, wait), (Denied::Concurrency, CONCURRENCY_RETRY));
        drop(p);
        assert!(l.admit_at("k", &lim, t0).is_ok());
    }

    #[test]
    fn tokens_per_minute_charge_after_the_fact() {
        let l = Limiter::new();
        let lim = limits(None, Some(100), None);
        let t0 = Instant::now();
        drop(l.admit_at("k", &lim, t0).unwrap());
        l.charge_at("k", 70, t0);
        l.charge_at("k", 40, t0 + Duration::from_secs(30));
        let (d, wait, info) = l
            .admit_at("k", &lim, t0 + Duration::from_secs(31))
            .unwrap_err();
        assert_eq!(d, Denied::Tokens);
        // The 70 tokens expire at t0+60 s, leaving 40 < 100.
        assert_eq!(wait, Duration::from_secs(29));
        assert_eq!(info.remaining_tokens, Some(0));
        let (_, info) = l.admit_at("k", &lim, t0 + Duration::from_secs(60)).unwrap();
        assert_eq!(info.remaining_tokens, Some(60));
    }

    #[test]
    fn concurrent_admissions_never_exceed_the_limit() {
        let l = Limiter::new();
        let lim = limits(Some(50), None, None);
        let admitted = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..20 {
                        if l.admit("k", &lim).is_ok() {
                            admitted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        assert_eq!(admitted.into_inner(), 50);
    }
}
