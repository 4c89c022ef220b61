//! The replicas of one upstream: which one takes the next attempt, when a sick one is
//! ejected and when it comes back, and what is counted per replica.
//!
//! - **Choice** ([`pick`]): the replica with the fewest outstanding requests (streams count
//!   until they end), ties at random; ejected replicas and those already tried for this
//!   request only when nothing else is left.
//! - **Ejection**: a connection error, a timeout or a 5xx ejects a replica for a cool-down
//!   that doubles with each ejection since its last success ([`cooldown`]), up to
//!   [`MAX_EJECTION`]. A success resets it.
//! - **Active health checks** (when the upstream has a `health_path`): a failed check takes
//!   the replica out until a check passes; a passed check also ends a passive ejection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::stats::bump;

/// Longest cool-down of an ejected replica.
pub const MAX_EJECTION: Duration = Duration::from_secs(300);

/// Upper bounds (seconds) of the per-replica latency histogram; the last bucket is `+Inf`.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Why an attempt on a replica failed, for its error counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Connect,
    Timeout,
    Status,
}

#[derive(Debug, Default)]
struct Health {
    /// End of the passive ejection, when one is running.
    ejected_until: Option<Instant>,
    /// Ejections since the last success: the next cool-down is `base · 2^level`.
    level: u32,
}

/// One base URL of an upstream, with its live state.
#[derive(Debug)]
pub(crate) struct Replica {
    /// The base URL as configured, the replica's label.
    pub(crate) base: String,
    /// The URL of each endpoint, in [`crate::Endpoint`] order.
    pub(crate) urls: [reqwest::Url; 5],
    /// Where active health checks go.
    pub(crate) health_url: Option<reqwest::Url>,
    /// Its model list (`GET models`).
    pub(crate) models_url: reqwest::Url,
    outstanding: AtomicU64,
    /// Cleared by a failed health check, set by a passed one.
    checked_ok: AtomicBool,
    health: Mutex<Health>,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    connect_errors: AtomicU64,
    timeouts: AtomicU64,
    status_errors: AtomicU64,
    ejections: AtomicU64,
    health_failures: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_count: AtomicU64,
    latency_micros: AtomicU64,
}

/// An attempt in progress on a replica; dropping it ends the attempt (for a stream: when
/// the stream has been sent or dropped).
#[derive(Debug)]
pub(crate) struct Outstanding(Arc<Replica>);

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Replica {
    pub(crate) fn new(
        base: String,
        urls: [reqwest::Url; 5],
        health_url: Option<reqwest::Url>,
        models_url: reqwest::Url,
    ) -> Self {
        Self {
            base,
            urls,
            health_url,
            models_url,
            outstanding: AtomicU64::new(0),
            checked_ok: AtomicBool::new(true),
            health: Mutex::new(Health::default()),
            counters: Counters::default(),
        }
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        // Each update leaves the state whole, so a poisoned lock is still usable.
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests in progress on it.
    pub(crate) fn outstanding(&self) -> u64 {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Whether it takes traffic at `now`: not ejected, and its last health check (if any)
    /// passed.
    pub(crate) fn available(&self, now: Instant) -> bool {
        self.checked_ok.load(Ordering::Relaxed)
            && self.health().ejected_until.is_none_or(|t| t <= now)
    }

    /// Starts an attempt on it.
    pub(crate) fn begin(self: &Arc<Self>) -> Outstanding {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        bump(&self.counters.requests);
        Outstanding(Arc::clone(self))
    }

    /// An attempt answered (any status that is not a fault): its latency, and the end of
    /// its ejection history.
    pub(crate) fn succeeded(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        bump(&self.counters.latency[bucket]);
        bump(&self.counters.latency_count);
        self.counters.latency_micros.fetch_add(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let mut h = self.health();
        h.level = 0;
        h.ejected_until = None;
    }

    /// Counts a failed attempt.
    pub(crate) fn fault(&self, fault: Fault) {
        bump(match fault {
            Fault::Connect => &self.counters.connect_errors,
            Fault::Timeout => &self.counters.timeouts,
            Fault::Status => &self.counters.status_errors,
        });
    }

    /// Ejects it for its next cool-down (`base` the first), unless it is out already.
    /// Returns the cool-down when this starts an ejection.
    pub(crate) fn eject(&self, base: Duration, now: Instant) -> Option<Duration> {
        let mut h = self.health();
        if h.ejected_until.is_some_and(|t| t > now) {
            return None;
        }
        let wait = cooldown(base, h.level);
        h.level = h.level.saturating_add(1);
        h.ejected_until = Some(now + wait);
        bump(&self.counters.ejections);
        Some(wait)
    }

    /// The result of an active health check: a failure takes it out until a check passes
    /// (and counts as an ejection when it was in); a pass brings it back at once.
    pub(crate) fn checked(&self, ok: bool) {
        let was = self.checked_ok.swap(ok, Ordering::Relaxed);
        if ok {
            self.health().ejected_until = None;
        } else {
            bump(&self.counters.health_failures);
            if was {
                bump(&self.counters.ejections);
            }
        }
    }

    pub(crate) fn snapshot(&self, upstream: &str, now: Instant) -> ReplicaStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ReplicaStats {
            upstream: upstream.to_owned(),
            base_url: self.base.clone(),
            up: self.available(now),
            outstanding: self.outstanding(),
            requests: get(&self.counters.requests),
            connect_errors: get(&self.counters.connect_errors),
            timeouts: get(&self.counters.timeouts),
            status_errors: get(&self.counters.status_errors),
            ejections: get(&self.counters.ejections),
            health_check_failures: get(&self.counters.health_failures),
            latency_buckets: self.counters.latency.iter().map(get).collect(),
            latency_count: get(&self.counters.latency_count),
            latency_micros: get(&self.counters.latency_micros),
        }
    }
}

/// The cool-down of an ejection after `level` earlier ones since the last success:
/// `base · 2^level`, at most [`MAX_EJECTION`].
pub fn cooldown(base: Duration, level: u32) -> Duration {
    base.saturating_mul(1u32.checked_shl(level.min(31)).unwrap_or(u32::MAX))
        .min(MAX_EJECTION)
}

/// One replica as [`pick`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Requests in progress on it.
    pub outstanding: u64,
    /// Not ejected and not failing its health checks.
    pub available: bool,
    /// Already tried for this request.
    pub tried: bool,
}

/// The replica for the next attempt: among the available ones not yet tried (else the
/// available ones, else the untried ones, else all), the one with the fewest outstanding
/// requests; ties are broken by `random` in `[0, 1)`. `None` only for no candidates.
pub fn pick(candidates: &[Candidate], random: f64) -> Option<usize> {
    let tiers: [fn(&Candidate) -> bool; 4] = [
        |c| c.available && !c.tried,
        |c| c.available,
        |c| !c.tried,
        |_| true,
    ];
    for tier in tiers {
        let fewest = candidates
            .iter()
            .filter(|c| tier(c))
            .map(|c| c.outstanding)
            .min();
        let Some(fewest) = fewest else { continue };
        let ties: Vec<usize> = (0..candidates.len())
            .filter(|&i| tier(&candidates[i]) && candidates[i].outstanding == fewest)
            .collect();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "random is in [0, 1): the product is a valid index"
        )]
        let n = ((random * ties.len() as f64) as usize).min(ties.len() - 1);
        return Some(ties[n]);
    }
    None
}

/// A snapshot of one replica's state and counters since start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaStats {
    /// The upstream's name.
    pub upstream: String,
    /// The replica's base URL.
    pub base_url: String,
    /// Whether it takes traffic now.
    pub up: bool,
    /// Requests in progress on it (streams until they end).
    pub outstanding: u64,
    /// Attempts sent to it.
    pub requests: u64,
    /// Attempts that could not connect.
    pub connect_errors: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Attempts answered 5xx (or a retryable status).
    pub status_errors: u64,
    /// Times it was taken out (passively or by a health check).
    pub ejections: u64,
    /// Failed active health checks.
    pub health_check_failures: u64,
    /// Answered attempts per [`LATENCY_BUCKETS`] bucket (not cumulative; the last is
    /// `+Inf`).
    pub latency_buckets: Vec<u64>,
    /// Answered attempts.
    pub latency_count: u64,
    /// Their latency summed, in microseconds.
    pub latency_micros: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(outstanding: u64, available: bool, tried: bool) -> Candidate {
        Candidate {
            outstanding,
            available,
            tried,
        }
    }

    #[test]
    fn fewest_outstanding_wins_among_the_available() {
        assert_eq!(pick(&[], 0.5), None);
        let cs = [c(3, true, false), c(1, true, false), c(0, false, false)];
        assert_eq!(pick(&cs, 0.9), Some(1));
        // Ties split by the random draw.
        let cs = [c(2, true, false), c(1, true, false), c(1, true, false)];
        assert_eq!(pick(&cs, 0.0), Some(1));
        assert_eq!(pick(&cs, 0.99), Some(2));
        // A tried replica is used again only when nothing else is available.
        let cs = [c(0, true, true), c(5, true, false)];
        assert_eq!(pick(&cs, 0.0), Some(1));
        let cs = [c(0, true, true), c(0, false, false)];
        assert_eq!(pick(&cs, 0.0), Some(0));
        // All ejected: still the least loaded, rather than no answer at all.
        let cs = [c(4, false, false), c(2, false, false)];
        assert_eq!(pick(&cs, 0.0), Some(1));
    }

    #[test]
    fn cooldown_doubles_and_caps() {
        let b = Duration::from_secs(5);
        assert_eq!(cooldown(b, 0), b);
        assert_eq!(cooldown(b, 1), Duration::from_secs(10));
        assert_eq!(cooldown(b, 3), Duration::from_secs(40));
        assert_eq!(cooldown(b, 10), MAX_EJECTION);
        assert_eq!(cooldown(b, u32::MAX), MAX_EJECTION);
    }

    fn replica() -> Arc<Replica> {
        let u = reqwest::Url::parse("http://127.0.0.1:9/v1/x").unwrap();
        Arc::new(Replica::new(
            "http://127.0.0.1:9/v1".into(),
            std::array::from_fn(|_| u.clone()),
            None,
            u.clone(),
        ))
    }

    fn failed(r: &Replica, fault: Fault, base: Duration, now: Instant) -> Option<Duration> {
        r.fault(fault);
        r.eject(base, now)
    }

    #[tokio::test]
    async fn ejection_grows_until_a_success() {
        let r = replica();
        let t0 = Instant::now();
        let b = Duration::from_secs(1);
        assert!(r.available(t0));
        assert_eq!(failed(&r, Fault::Connect, b, t0), Some(b));
        assert!(!r.available(t0));
        // A failure while ejected does not extend it.
        assert_eq!(failed(&r, Fault::Timeout, b, t0), None);
        let t1 = t0 + b;
        assert!(r.available(t1));
        assert_eq!(failed(&r, Fault::Status, b, t1), Some(2 * b));
        r.succeeded(Duration::from_millis(3));
        assert!(r.available(t1));
        assert_eq!(failed(&r, Fault::Status, b, t1), Some(b));
        let s = r.snapshot("u", t1);
        assert_eq!(
            (s.connect_errors, s.timeouts, s.status_errors, s.ejections),
            (1, 1, 2, 3)
        );
        assert_eq!(s.latency_count, 1);
        assert_eq!(s.latency_buckets[2], 1, "3 ms is in the 5 ms bucket");
        assert_eq!(s.latency_micros, 3000);
    }

    #[tokio::test]
    async fn health_checks_take_out_and_bring_back() {
        let r = replica();
        let now = Instant::now();
        failed(&r, Fault::Connect, Duration::from_secs(60), now);
        assert!(!r.available(now));
        r.checked(true);
        assert!(r.available(now), "a passed check ends the ejection");
        r.checked(false);
        r.checked(false);
        assert!(!r.available(now + MAX_EJECTION));
        r.checked(true);
        assert!(r.available(now));
        let s = r.snapshot("u", now);
        assert_eq!((s.ejections, s.health_check_failures), (2, 2));
    }

    #[test]
    fn outstanding_follows_the_guards() {
        let r = replica();
        let a = r.begin();
        let b = r.begin();
        assert_eq!(r.outstanding(), 2);
        drop(a);
        assert_eq!(r.outstanding(), 1);
        drop(b);
        assert_eq!(r.outstanding(), 0);
        assert_eq!(r.snapshot("u", Instant::now()).requests, 2);
    }
}
