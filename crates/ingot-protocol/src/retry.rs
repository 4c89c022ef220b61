//! The retry policy the client SDK and the upstream proxy share, after openai-python's
//! `_base_client.py`: which answers are worth another attempt, what wait the server asks for,
//! how that wait is used, and the exponential backoff otherwise.
//!
//! ```
//! use std::time::Duration;
//! use ingot_protocol::retry::{Hint, hint, is_retryable};
//!
//! assert!(is_retryable(429) && !is_retryable(422));
//! let cap = Duration::from_secs(10);
//! assert_eq!(hint(Some(Duration::from_secs(2)), cap), Hint::Wait(Duration::from_secs(2)));
//! // `Retry-After: 0` is no hint: back off rather than retry at once.
//! assert_eq!(hint(Some(Duration::ZERO), cap), Hint::Backoff);
//! assert_eq!(hint(Some(Duration::from_secs(60)), cap), Hint::TooLong(Duration::from_secs(60)));
//! ```

use std::time::{Duration, SystemTime};

/// Longest backoff between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Whether an answer with this status may succeed if sent again: 408, 409, 429 and 5xx.
pub fn is_retryable(status: u16) -> bool {
    matches!(status, 408 | 409 | 429 | 500..=599)
}

/// The wait a server asks for, read through `header` (a case-insensitive lookup):
/// `retry-after-ms`, else `Retry-After` in seconds or as an HTTP date (relative to `now`).
/// `None` when absent, negative or unparsable.
pub fn server_delay<'a>(
    header: impl Fn(&str) -> Option<&'a str>,
    now: SystemTime,
) -> Option<Duration> {
    let get = |name: &str| header(name).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return secs(ms / 1000.0);
    }
    let value = get("retry-after")?;
    if let Ok(s) = value.parse::<f64>() {
        return secs(s);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn secs(s: f64) -> Option<Duration> {
    (0.0..1e9).contains(&s).then(|| Duration::from_secs_f64(s))
}

/// How a server's requested wait is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// Wait this long, then retry.
    Wait(Duration),
    /// No usable hint (absent, or zero): back off exponentially. An immediate retry after a
    /// 429 or a 503 mostly meets the same answer again.
    Backoff,
    /// Longer than the caller is willing to hold a request: the client backs off instead,
    /// the proxy fails over to the next upstream.
    TooLong(Duration),
}

/// Classifies a requested wait against `cap`.
pub fn hint(requested: Option<Duration>, cap: Duration) -> Hint {
    match requested {
        None => Hint::Backoff,
        Some(d) if d.is_zero() => Hint::Backoff,
        Some(d) if d > cap => Hint::TooLong(d),
        Some(d) => Hint::Wait(d),
    }
}

/// Backoff before retry `n` (0-based): `initial · 2ⁿ`, at most [`MAX_BACKOFF`], times a
/// jitter factor in `(0.75, 1]` (`rand` uniform in `[0, 1)`).
pub fn backoff(initial: Duration, n: u32, rand: f64) -> Duration {
    let d = initial.saturating_mul(1u32 << n.min(16)).min(MAX_BACKOFF);
    d.mul_f64(1.0 - 0.25 * rand.clamp(0.0, 1.0))
}

/// A number in `[0, 1)` that differs between calls and processes, for jitter: std's
/// per-process random hash keys mixed with the clock (spread, not cryptographic quality).
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.write_u128(nanos);
    #[expect(clippy::cast_precision_loss, reason = "53-bit value is exact in f64")]
    let v = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delay(pairs: &[(&str, &str)], now: SystemTime) -> Option<Duration> {
        server_delay(
            |name| {
                pairs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| *v)
            },
            now,
        )
    }

    #[test]
    fn statuses() {
        for s in [408, 409, 429, 500, 502, 503, 504] {
            assert!(is_retryable(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 413, 422, 302] {
            assert!(!is_retryable(s), "{s}");
        }
    }

    #[test]
    fn server_delay_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            delay(&[("retry-after-ms", "250"), ("retry-after", "9")], now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            delay(&[("Retry-After", "3")], now),
            Some(Duration::from_secs(3))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(
            delay(&[("retry-after", &later)], now),
            Some(Duration::from_secs(7))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(delay(&[("retry-after", &past)], now), Some(Duration::ZERO));
        assert_eq!(delay(&[("retry-after", "soon")], now), None);
        assert_eq!(delay(&[("retry-after", "-1")], now), None);
        assert_eq!(delay(&[], now), None);
    }

    #[test]
    fn hints_and_backoff() {
        let cap = Duration::from_secs(10);
        assert_eq!(hint(None, cap), Hint::Backoff);
        assert_eq!(hint(Some(Duration::ZERO), cap), Hint::Backoff);
        assert_eq!(hint(Some(cap), cap), Hint::Wait(cap));
        let ms = Duration::from_millis;
        assert_eq!(backoff(ms(500), 0, 0.0), ms(500));
        assert_eq!(backoff(ms(500), 1, 0.0), ms(1000));
        assert_eq!(backoff(ms(500), 4, 0.0), MAX_BACKOFF);
        assert_eq!(backoff(ms(500), 1000, 0.0), MAX_BACKOFF);
        assert_eq!(backoff(ms(500), 1, 1.0), ms(750));
        for _ in 0..100 {
            assert!((0.0..1.0).contains(&jitter()));
        }
    }
}
