//! Retry decisions: which answers are retried on the same upstream, which fail over to the
//! next one, which go back to the client; and how long to wait.

use std::time::{Duration, SystemTime};

/// Longest backoff between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

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
        408 | 409 | 429 | 500..=599 => Decision::Retry,
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
/// [`MAX_BACKOFF`], plus up to 25 % jitter (`jitter` in `[0, 1)`).
pub fn backoff(base: Duration, retry: u32, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << retry.saturating_sub(1).min(16));
    let d = exp.min(MAX_BACKOFF);
    d + d.mul_f64(jitter.clamp(0.0, 1.0) * 0.25)
}

/// The wait an upstream asks for: `retry-after-ms`, else `Retry-After` in seconds or as an
/// HTTP date. `None` when absent or unparsable.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let v = get("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The wait before the next attempt, or `None` when the upstream asks for longer than
/// [`MAX_RETRY_AFTER`] (fail over instead).
pub fn wait(base: Duration, retry: u32, hint: Option<Duration>, jitter: f64) -> Option<Duration> {
    match hint {
        Some(h) if h > MAX_RETRY_AFTER => None,
        Some(h) => Some(h),
        None => Some(backoff(base, retry, jitter)),
    }
}

/// A number in `[0, 1)` that differs between calls, for jitter (no RNG dependency).
pub fn jitter() -> f64 {
    use std::hash::BuildHasher;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let h = std::collections::hash_map::RandomState::new().hash_one(nanos);
    (h >> 11) as f64 / (1u64 << 53) as f64
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
        assert_eq!(backoff(b, 1, 0.5), Duration::from_micros(112_500));
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
    }
}
