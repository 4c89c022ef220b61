//! `ProxyError` and the record of what each upstream answered.

use std::fmt;
use std::time::Duration;

use crate::retry::is_transient_status;

/// Errors of this crate.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProxyError {
    /// An upstream's configuration is invalid (found at start).
    #[error("upstream `{upstream}`: {message}")]
    Config {
        /// The upstream's name.
        upstream: String,
        /// What is wrong, naming the key.
        message: String,
    },
    /// Two upstreams share a name.
    #[error("two upstreams are named `{name}`; names must be unique")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// The HTTP client could not be built.
    #[error("the upstream HTTP client could not be built: {0}")]
    Client(String),
    /// No upstream serves this id.
    #[error("no upstream serves `{model}`")]
    NoRoute {
        /// The id.
        model: String,
    },
    /// Every upstream of the id failed (after its retries).
    #[error("every upstream for `{model}` failed: {}", List(.failures))]
    AllFailed {
        /// The id.
        model: String,
        /// One entry per upstream tried, in order.
        failures: Vec<UpstreamFailure>,
        /// The id's route allows a local engine to answer, and every failure was
        /// transient (connection, timeout, 429, 5xx).
        local_fallback: bool,
    },
}

impl ProxyError {
    /// For [`ProxyError::AllFailed`]: whether a local engine may answer instead.
    pub fn local_fallback_allowed(&self) -> bool {
        matches!(
            self,
            ProxyError::AllFailed {
                local_fallback: true,
                ..
            }
        )
    }

    /// For [`ProxyError::AllFailed`]: every upstream timed out (the server answers 504).
    pub fn all_timed_out(&self) -> bool {
        match self {
            ProxyError::AllFailed { failures, .. } => {
                !failures.is_empty()
                    && failures
                        .iter()
                        .all(|f| matches!(f.last, FailureKind::Timeout { .. }))
            }
            _ => false,
        }
    }

    /// For [`ProxyError::AllFailed`]: every upstream answered 429; the longest wait any of
    /// them asked for (at least 1 s), so the client can back off (the server answers 429).
    pub fn all_rate_limited(&self) -> Option<Duration> {
        match self {
            ProxyError::AllFailed { failures, .. } if !failures.is_empty() => {
                let mut wait = Duration::from_secs(1);
                for f in failures {
                    match &f.last {
                        FailureKind::Status {
                            status: 429,
                            retry_after,
                            ..
                        } => wait = wait.max(retry_after.unwrap_or_default()),
                        _ => return None,
                    }
                }
                Some(wait)
            }
            _ => None,
        }
    }
}

/// What one upstream did for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamFailure {
    /// The upstream's name.
    pub upstream: String,
    /// The URL called (no credentials: `base_url` may not carry any).
    pub url: String,
    /// Attempts made on it.
    pub attempts: u32,
    /// The last attempt's failure.
    pub last: FailureKind,
}

impl UpstreamFailure {
    /// Whether this failure lets a local engine answer instead.
    pub fn is_transient(&self) -> bool {
        match &self.last {
            FailureKind::Connect(_) | FailureKind::Timeout { .. } | FailureKind::Body(_) => true,
            FailureKind::Status { status, .. } => is_transient_status(*status),
        }
    }
}

impl fmt::Display for UpstreamFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tries = if self.attempts == 1 {
            "1 attempt".to_owned()
        } else {
            format!("{} attempts", self.attempts)
        };
        write!(
            f,
            "`{}` ({}): {} ({tries})",
            self.upstream, self.url, self.last
        )
    }
}

/// How an attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub enum FailureKind {
    /// No connection (refused, DNS, TLS).
    Connect(String),
    /// No answer (or no first byte of a stream) in time.
    Timeout {
        /// The limit.
        after: Duration,
    },
    /// The answer's body broke off or could not be read.
    Body(String),
    /// An HTTP status that is not an answer for the client.
    Status {
        /// The status.
        status: u16,
        /// The start of the upstream's body, on one line.
        excerpt: String,
        /// The upstream's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Connect(e) => write!(f, "connection failed: {e}"),
            FailureKind::Timeout { after } => {
                write!(f, "no answer within {} s", after.as_secs_f64())
            }
            FailureKind::Body(e) => write!(f, "the response broke off: {e}"),
            FailureKind::Status {
                status, excerpt, ..
            } => {
                let reason = reqwest::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                write!(f, "answered {status} {reason}")?;
                if matches!(status, 401 | 403) {
                    f.write_str(" (check this upstream's api_key)")?;
                }
                if !excerpt.is_empty() {
                    write!(f, ": {excerpt}")?;
                }
                Ok(())
            }
        }
    }
}

struct List<'a>(&'a [UpstreamFailure]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, x) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{x}")?;
        }
        Ok(())
    }
}

/// Longest body excerpt kept in an error.
pub(crate) const EXCERPT_CHARS: usize = 200;

/// The start of a body on one line, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(EXCERPT_CHARS + 1)
        .collect();
    if out.chars().count() > EXCERPT_CHARS {
        out = out.chars().take(EXCERPT_CHARS).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(last: FailureKind) -> UpstreamFailure {
        UpstreamFailure {
            upstream: "a".into(),
            url: "http://127.0.0.1:1/v1/chat/completions".into(),
            attempts: 3,
            last,
        }
    }

    #[test]
    fn all_failed_names_each_upstream() {
        let e = ProxyError::AllFailed {
            model: "m".into(),
            failures: vec![
                failure(FailureKind::Status {
                    status: 503,
                    excerpt: "{\"detail\": \"down\"}".into(),
                    retry_after: None,
                }),
                UpstreamFailure {
                    upstream: "b".into(),
                    attempts: 1,
                    ..failure(FailureKind::Connect("refused".into()))
                },
            ],
            local_fallback: false,
        };
        let s = e.to_string();
        assert!(s.contains("`a` (http://127.0.0.1:1/v1/chat/completions): answered 503 Service Unavailable: {\"detail\": \"down\"} (3 attempts)"), "{s}");
        assert!(
            s.contains("`b`") && s.contains("refused (1 attempt)"),
            "{s}"
        );
        assert!(!e.all_timed_out());
        assert_eq!(e.all_rate_limited(), None);
    }

    #[test]
    fn timeouts_rate_limits_and_transience() {
        let t = failure(FailureKind::Timeout {
            after: Duration::from_secs(2),
        });
        let e = ProxyError::AllFailed {
            model: "m".into(),
            failures: vec![t.clone()],
            local_fallback: true,
        };
        assert!(e.all_timed_out() && e.local_fallback_allowed() && t.is_transient());
        let r = |s| {
            failure(FailureKind::Status {
                status: 429,
                excerpt: String::new(),
                retry_after: Some(Duration::from_secs(s)),
            })
        };
        let e = ProxyError::AllFailed {
            model: "m".into(),
            failures: vec![r(3), r(30)],
            local_fallback: false,
        };
        assert_eq!(e.all_rate_limited(), Some(Duration::from_secs(30)));
        let key = failure(FailureKind::Status {
            status: 401,
            excerpt: String::new(),
            retry_after: None,
        });
        assert!(!key.is_transient());
        assert!(key.to_string().contains("api_key"));
    }

    #[test]
    fn excerpts_are_short_and_one_line() {
        assert_eq!(excerpt(b"a\n  b"), "a b");
        let long = "x".repeat(500);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), EXCERPT_CHARS + 1);
    }
}
