//! When to retry and how long to wait, following openai-python's `_base_client.py`.
//!
//! - Retry connection errors, timeouts, 408, 409, 429 and 5xx; `x-should-retry: true|false`
//!   overrides the status.
//! - Wait what the server asks (`retry-after-ms`, then `Retry-After` in seconds or as an
//!   HTTP date) when it is in `(0, max_retry_after]`, else back off exponentially:
//!   0.5 s × 2ⁿ, at most 8 s, times a jitter factor in `(0.75, 1]`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// First backoff delay.
const INITIAL_RETRY_DELAY: Duration = Duration::from_millis(500);
/// Longest backoff delay.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(8);

/// Whether a response with this status and these headers should be retried.
pub(crate) fn should_retry(status: u16, headers: &HeaderMap) -> bool {
    match headers.get("x-should-retry").and_then(|v| v.to_str().ok()) {
        Some(v) if v.eq_ignore_ascii_case("true") => return true,
        Some(v) if v.eq_ignore_ascii_case("false") => return false,
        _ => {}
    }
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// The wait before retry number `retries_so_far + 1`; `headers` are those of the failed
/// response, if there was one.
pub(crate) fn retry_delay(
    headers: Option<&HeaderMap>,
    retries_so_far: u32,
    cap: Duration,
) -> Duration {
    if let Some(d) = headers.and_then(|h| server_delay(h, SystemTime::now()))
        && !d.is_zero()
        && d <= cap
    {
        return d;
    }
    backoff(retries_so_far, random_unit())
}

/// The delay the server asks for: `retry-after-ms`, else `Retry-After` as seconds or an
/// HTTP date (relative to `now`). Negative or unparsable values give `None`.
pub(crate) fn server_delay(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return secs_f64(ms / 1000.0);
    }
    let value = get("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return secs_f64(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn secs_f64(s: f64) -> Option<Duration> {
    (0.0..1e9).contains(&s).then(|| Duration::from_secs_f64(s))
}

/// Exponential backoff for retry `n` (0-based) with jitter; `rand` is uniform in `[0, 1)`.
pub(crate) fn backoff(n: u32, rand: f64) -> Duration {
    let base = INITIAL_RETRY_DELAY.as_secs_f64() * 2f64.powi(n.min(30) as i32);
    let capped = base.min(MAX_RETRY_DELAY.as_secs_f64());
    let jitter = 1.0 - 0.25 * rand.clamp(0.0, 1.0);
    Duration::from_secs_f64(capped * jitter)
}

/// A uniform value in `[0, 1)`: std's per-process random hash keys mixed with the clock.
/// Jitter needs spread between clients, not cryptographic quality.
fn random_unit() -> f64 {
    let mut h = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.write_u128(nanos);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
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
    fn server_delay_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let d = |pairs: &[(&'static str, &str)]| server_delay(&headers(pairs), now);
        assert_eq!(
            d(&[("retry-after-ms", "250")]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            d(&[("retry-after-ms", "250"), ("retry-after", "9")]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(d(&[("retry-after", "3")]), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(d(&[("retry-after", &later)]), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(d(&[("retry-after", &past)]), Some(Duration::ZERO));
        assert_eq!(d(&[("retry-after", "soon")]), None);
        assert_eq!(d(&[("retry-after", "-1")]), None);
        assert_eq!(d(&[]), None);
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

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(3, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(4, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(1000, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(1, 1.0), Duration::from_millis(750));
        for _ in 0..100 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
