//! Retry decisions: which answers are retried on the same upstream, which fail over to the
//! next one, which go back to the client; and how long to wait (the policy shared with the
//! client SDK, [`ingot_protocol::retry`]).

use std::time::{Duration, SystemTime};

use ingot_protocol::retry::{self as policy, Hint};

pub use ingot_protocol::retry::{MAX_BACKOFF, jitter};

/// Longest `Retry-After` honoured inside a request. A longer one moves on to the next
/// upstream at once: holding a client for minutes helps nobody.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// What to do with an upstream's HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// 2xx: the answer.
    Success,
    /// 408, 409, 429, 5xx: retry here (with backoff), then fail over.
    Retry,
    /// 401, 403 and unexpected statuses: this upstream cannot serve (its key is wrong or
    /// it is misconfigured); fail over without retrying. Never shown to the client as its
    /// own auth error.
    FailOver,
    /// Any other 4xx: the request itself is wrong; the upstream's answer goes back as is.
    PassThrough,
}

/// Classifies an upstream status.
pub fn decide(status: u16) -> Decision {
    match status {
        200..=299 => Decision::Success,
        s if policy::is_retryable(s) => Decision::Retry,
        401 | 403 => Decision::FailOver,
        400..=499 => Decision::PassThrough,
        _ => Decision::FailOver,
    }
}

/// Whether a failure of this status lets a local engine answer instead (rate limits and
/// server errors do; a rejected key does not, so it is not hidden).
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// Backoff before retry number `retry` (1-based): `base · 2^(retry-1)`, at most
/// [`MAX_BACKOFF`], times a jitter factor in `(0.75, 1]` (`jitter` in `[0, 1)`).
pub fn backoff(base: Duration, retry: u32, jitter: f64) -> Duration {
    policy::backoff(base, retry.saturating_sub(1), jitter)
}

/// The wait an upstream asks for: `retry-after-ms`, else `Retry-After` in seconds or as an
/// HTTP date. `None` when absent or unparsable.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    policy::server_delay(
        |name| headers.get(name).and_then(|v| v.to_str().ok()),
        SystemTime::now(),
    )
}

/// The wait before the next attempt (the upstream's own when it asks for one, else the
/// backoff), or `None` when it asks for longer than [`MAX_RETRY_AFTER`] (fail over instead).
pub fn wait(base: Duration, retry: u32, hint: Option<Duration>, jitter: f64) -> Option<Duration> {
    match policy::hint(hint, MAX_RETRY_AFTER) {
        Hint::Wait(d) => Some(d),
        Hint::Backoff => Some(backoff(base, retry, jitter)),
        Hint::TooLong(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn statuses() {
        assert_eq!(decide(200), Decision::Success);
        assert_eq!(decide(201), Decision::Success);
        for s in [408, 409, 429, 500, 502, 503, 504] {
            assert_eq!(decide(s), Decision::Retry, "{s}");
        }
        for s in [401, 403, 302, 101] {
            assert_eq!(decide(s), Decision::FailOver, "{s}");
        }
        for s in [400, 404, 413, 422] {
            assert_eq!(decide(s), Decision::PassThrough, "{s}");
        }
        assert!(is_transient_status(429) && is_transient_status(503));
        assert!(!is_transient_status(401) && !is_transient_status(409));
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let b = Duration::from_millis(100);
        assert_eq!(backoff(b, 1, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(b, 2, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(b, 3, 0.0), Duration::from_millis(400));
        assert_eq!(backoff(b, 30, 0.0), MAX_BACKOFF);
        assert_eq!(backoff(b, 1, 0.5), Duration::from_micros(87_500));
        let j = jitter();
        assert!((0.0..1.0).contains(&j));
    }

    #[test]
    fn retry_after_forms_and_cap() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);

        let b = Duration::from_millis(100);
        assert_eq!(
            wait(b, 1, Some(Duration::from_secs(1)), 0.0),
            Some(Duration::from_secs(1))
        );
        assert_eq!(wait(b, 1, Some(Duration::from_secs(60)), 0.0), None);
        assert_eq!(wait(b, 2, None, 0.0), Some(Duration::from_millis(200)));
        // `Retry-After: 0` is no hint: the backoff applies, as in the client.
        assert_eq!(
            wait(b, 1, Some(Duration::ZERO), 0.0),
            Some(Duration::from_millis(100))
        );
    }
}
