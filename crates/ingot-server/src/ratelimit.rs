//! Per-key rate limits of managed keys: kept in this process (the default), or shared by
//! every instance through Redis (`[state] redis_url`). One place decides what a store
//! failure means: a 503 (`state_unavailable`), or with `fail_open` the request goes on
//! unlimited and the failure is logged (the limiter counts its failures for `/metrics`).

use std::sync::Arc;

use ingot_keys::{Limiter, Limits, Permit, RateInfo};
use ingot_state::{SharedLimiter, SharedPermit};

use crate::error::ApiError;

/// A refusal: which limit, how long until the request would be admitted, the headers.
pub type Refusal = ingot_keys::Refusal;

/// Where the limits are kept.
pub enum RateLimits {
    /// In this process only.
    Local(Arc<Limiter>),
    /// In Redis, shared by every instance using it.
    Shared {
        /// The limiter.
        limiter: Arc<SharedLimiter>,
        /// When Redis cannot decide: admit (true) or answer 503 (false).
        fail_open: bool,
    },
}

/// What keeps an admitted request counted until its response has been sent.
pub enum Held {
    /// A slot of the in-process limiter.
    Local(Permit),
    /// A slot in Redis.
    Shared(SharedPermit),
    /// Admitted without a check (`fail_open` while Redis was unavailable).
    Unchecked,
}

/// The decision on one request.
pub enum Admission {
    /// Go on; the headers when the limits were checked.
    Admitted(Held, Option<RateInfo>),
    /// Over a limit.
    Refused(Refusal),
}

impl RateLimits {
    /// Decides on a request of `key`.
    ///
    /// # Errors
    /// [`ApiError::StateUnavailable`] when Redis cannot decide and `fail_open` is off.
    pub async fn admit(&self, key: &str, limits: &Limits) -> Result<Admission, ApiError> {
        match self {
            RateLimits::Local(l) => Ok(match l.admit(key, limits) {
                Ok((permit, info)) => Admission::Admitted(Held::Local(permit), Some(info)),
                Err(refusal) => Admission::Refused(refusal),
            }),
            RateLimits::Shared { limiter, fail_open } => match limiter.admit(key, limits).await {
                Ok(Ok((permit, info))) => Ok(Admission::Admitted(Held::Shared(permit), Some(info))),
                Ok(Err(refusal)) => Ok(Admission::Refused(refusal)),
                Err(e) => {
                    if *fail_open {
                        tracing::warn!("rate limits not checked (fail_open): {e}");
                        Ok(Admission::Admitted(Held::Unchecked, None))
                    } else {
                        Err(ApiError::StateUnavailable {
                            what: "rate limits cannot be checked",
                            detail: e.to_string(),
                        })
                    }
                }
            },
        }
    }

    /// Charges a finished request's tokens to `key` (in the background for Redis).
    pub fn charge(&self, key: &str, tokens: u64) {
        match self {
            RateLimits::Local(l) => l.charge(key, tokens),
            RateLimits::Shared { limiter, .. } => {
                let Ok(rt) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                let (limiter, key) = (Arc::clone(limiter), key.to_owned());
                rt.spawn(async move {
                    if let Err(e) = limiter.charge(&key, tokens).await {
                        tracing::warn!("{tokens} tokens not charged to a key's limit: {e}");
                    }
                });
            }
        }
    }

    /// Why the limits cannot be decided now, for readiness; `None` when they can.
    pub async fn problem(&self) -> Option<String> {
        match self {
            RateLimits::Local(_) => None,
            RateLimits::Shared { limiter, fail_open } => match limiter.ping().await {
                Ok(()) => None,
                // With fail_open, a Redis outage lowers no request: the server stays ready.
                Err(_) if *fail_open => None,
                Err(e) => Some(format!("rate-limit store {e}")),
            },
        }
    }
}
