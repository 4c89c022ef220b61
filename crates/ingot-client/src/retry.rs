//! When to retry and how long to wait: the policy shared with the proxy
//! ([`ingot_protocol::retry`], after openai-python's `_base_client.py`).
//!
//! - Retry connection errors, timeouts, 408, 409, 429 and 5xx; `x-should-retry: true|false`
//!   overrides the status.
//! - Wait what the server asks (`retry-after-ms`, then `Retry-After` in seconds or as an
//!   HTTP date) when it is in `(0, max_retry_after]`, else back off exponentially:
//!   0.5 s × 2ⁿ, at most 8 s, times a jitter factor in `(0.75, 1]`.

use std::time::{Duration, SystemTime};

use ingot_protocol::retry::{self as policy, Hint};
use reqwest::header::HeaderMap;

/// First backoff delay.
const INITIAL_RETRY_DELAY: Duration = Duration::from_millis(500);

/// Whether a response with this status and these headers should be retried.
pub(crate) fn should_retry(status: u16, headers: &HeaderMap) -> bool {
    match headers.get("x-should-retry").and_then(|v| v.to_str().ok()) {
        Some(v) if v.eq_ignore_ascii_case("true") => return true,
        Some(v) if v.eq_ignore_ascii_case("false") => return false,
        _ => {}
    }
    policy::is_retryable(status)
}

/// The wait before retry number `retries_so_far + 1`; `headers` are those of the failed
/// response, if there was one.
pub(crate) fn retry_delay(
    headers: Option<&HeaderMap>,
    retries_so_far: u32,
    cap: Duration,
) -> Duration {
    let asked = headers.and_then(|h| {
        policy::server_delay(
            |name| h.get(name).and_then(|v| v.to_str().ok()),
            SystemTime::now(),
        )
    });
    match policy::hint(asked, cap) {
        Hint::Wait(d) => d,
        Hint::Backoff | Hint::TooLong(_) => {
            policy::backoff(INITIAL_RETRY_DELAY, retries_so_far, policy::jitter())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retryable_statuses_and_override() {
        let none = HeaderMap::new();
        for s in [408, 409, 429, 500, 502, 503, 504] {
            assert!(should_retry(s, &none), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(!should_retry(s, &none), "{s}");
        }
        assert!(!should_retry(429, &headers(&[("x-should-retry", "false")])));
        assert!(should_retry(400, &headers(&[("x-should-retry", "true")])));
        assert!(should_retry(503, &headers(&[("x-should-retry", "maybe")])));
    }

    #[test]
    fn delay_honours_server_only_within_cap() {
        let cap = Duration::from_secs(60);
        let h = headers(&[("retry-after", "2")]);
        assert_eq!(retry_delay(Some(&h), 0, cap), Duration::from_secs(2));
        for v in ["0", "61"] {
            let h = headers(&[("retry-after", v)]);
            let d = retry_delay(Some(&h), 0, cap);
            assert!(
                d <= Duration::from_millis(500) && d > Duration::from_millis(370),
                "{v}: {d:?}"
            );
        }
    }
}
