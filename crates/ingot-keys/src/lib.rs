//! API keys managed by ingot.
//!
//! - [`KeyStore`]: keys stored hashed (SHA-256; the secret is shown once, at creation) in an
//!   embedded SQLite database, with each key's limits, and the per-key usage ledger
//!   (requests, prompt and completion tokens, by model and UTC day).
//! - [`Limiter`]: per-key requests per minute, tokens per minute and concurrent requests over
//!   sliding one-minute windows, with what a 429 needs: the seconds until the request would be
//!   admitted and the `x-ratelimit-*` values.
//!
//! # Example
//! ```
//! use ingot_keys::{KeyStore, Limits};
//! let store = KeyStore::open_in_memory()?;
//! let (record, secret) = store.create("ci", Limits { rpm: Some(60), ..Limits::default() })?;
//! assert_eq!(store.authenticate(&secret)?.map(|k| k.id), Some(record.id.clone()));
//! store.revoke(&record.id)?;
//! assert!(store.authenticate(&secret)?.is_none());
//! # Ok::<(), ingot_keys::KeyError>(())
//! ```
#![warn(missing_docs)]

mod day;
mod limiter;
mod store;

pub use day::{unix_now, utc_day};
pub use limiter::{Denied, Limiter, Permit, RateInfo, Refusal};
pub use store::{KeyRecord, KeyStore, UsageRow, mint, secret_hash};

/// Per-key limits; `None` = unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Tokens (prompt + completion) per minute.
    pub tpm: Option<u32>,
    /// Requests in flight at once.
    pub concurrency: Option<u32>,
}

/// Errors of the key store.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error("key database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The database file's folder could not be created.
    #[error("key database folder {path}: {source}")]
    Io {
        /// The folder.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No key has this id or prefix.
    #[error("no key `{0}`")]
    NotFound(String),
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Rng,
}
