//! State shared by several ingot instances.
//!
//! [`SharedLimiter`] enforces each managed key's limits (requests per minute, tokens per
//! minute, requests in flight) across every instance that points at the same Redis server.
//! Each decision is one Lua script run atomically by Redis over sliding one-minute windows
//! (sorted sets scored by Redis's own clock, so instances' clocks do not matter): no
//! read-modify-write race can admit more than a limit. Redis being down or slow is an error
//! within the configured timeout, never a hang; the next request reconnects.
//!
//! [`PgKeyStore`] keeps managed keys and the usage ledger in PostgreSQL instead of one
//! instance's SQLite file, with the same records and rules.
//!
//! # Layout
//! - [`resp`]: the Redis wire format (RESP2).
//! - [`redis`]: the client: pooled connections, timeouts, scripts by digest.
//! - [`limiter`]: [`SharedLimiter`], its scripts, [`SharedPermit`].
//! - [`pg`]: [`PgKeyStore`], keys and the ledger in PostgreSQL.
//! - [`testing`]: a throwaway `redis-server` for tests (this crate's and the server's).
//!   Always built: a feature would flip between test and release builds and rebuild every
//!   crate above this one.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use ingot_state::SharedLimiter;
//!
//! // Nothing connects until the first decision.
//! let limiter = SharedLimiter::new("redis://127.0.0.1:6379/0", Duration::from_millis(500))?;
//! assert_eq!(limiter.target().port, 6379);
//! assert!(SharedLimiter::new("http://cache", Duration::from_secs(1)).is_err());
//! # Ok::<(), ingot_state::StateError>(())
//! ```

pub mod limiter;
pub mod pg;
pub mod redis;
pub mod resp;
pub mod testing;

pub use limiter::{SharedLimiter, SharedPermit};
pub use pg::PgKeyStore;

/// What went wrong with a shared store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    /// The configuration is wrong (a bad URL).
    #[error("{0}")]
    Config(String),
    /// The store cannot be reached or did not answer in time.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The store refused a command.
    #[error("the server refused a command: {0}")]
    Refused(String),
    /// No key has this id or prefix.
    #[error("no key `{0}`")]
    NotFound(String),
    /// A connection failed mid-exchange (reported as [`StateError::Unavailable`]).
    #[error("connection: {0}")]
    Io(String),
    /// The server's answer could not be understood.
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

impl StateError {
    pub(crate) fn io(e: std::io::Error) -> Self {
        StateError::Io(e.to_string())
    }
}
