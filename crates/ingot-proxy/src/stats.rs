//! Per-upstream counters (plain atomics), for logs and metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one upstream.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) attempts: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) successes: AtomicU64,
    pub(crate) passed_through: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) connect_errors: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) status_errors: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) stream_errors: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self, name: &str) -> UpstreamStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        UpstreamStats {
            name: name.to_owned(),
            requests: get(&self.requests),
            attempts: get(&self.attempts),
            retries: get(&self.retries),
            successes: get(&self.successes),
            passed_through: get(&self.passed_through),
            failures: get(&self.failures),
            connect_errors: get(&self.connect_errors),
            timeouts: get(&self.timeouts),
            status_errors: get(&self.status_errors),
            rate_limited: get(&self.rate_limited),
            stream_errors: get(&self.stream_errors),
        }
    }
}

/// A snapshot of one upstream's counters since start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamStats {
    /// The upstream's name.
    pub name: String,
    /// Requests routed to it (each counts once, however many attempts).
    pub requests: u64,
    /// HTTP attempts made.
    pub attempts: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Requests it answered (2xx).
    pub successes: u64,
    /// Client errors (4xx) it answered, passed back as is.
    pub passed_through: u64,
    /// Requests it failed after its retries (the next upstream was tried).
    pub failures: u64,
    /// Attempts that could not connect.
    pub connect_errors: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Attempts answered with a retryable or unusable status (5xx, 429, 401, …).
    pub status_errors: u64,
    /// Of those, 429s.
    pub rate_limited: u64,
    /// Streams that broke off after their first byte.
    pub stream_errors: u64,
}
