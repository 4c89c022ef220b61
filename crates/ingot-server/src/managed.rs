//! Managed keys (`ingot keys`) and the usage ledger: in one instance's SQLite file
//! (`keys_db`, the default) or in PostgreSQL shared by every instance
//! (`[state] postgres_url`). The request path sees one interface; what a store failure
//! means is decided here: SQLite failing is an internal error, PostgreSQL being away is a
//! 503 (`state_unavailable`) so that clients retry.

use std::sync::Arc;

use ingot_keys::{KeyRecord, KeyStore};
use ingot_state::{PgKeyStore, StateError};

use crate::error::ApiError;

/// Where managed keys and the ledger live.
pub enum ManagedKeys {
    /// A SQLite file of this instance.
    Sqlite(KeyStore),
    /// PostgreSQL, shared.
    Postgres(Arc<PgKeyStore>),
}

fn state_error(e: StateError, what: &'static str) -> ApiError {
    ApiError::StateUnavailable {
        what,
        detail: e.to_string(),
    }
}

impl ManagedKeys {
    /// The live key whose secret this is.
    ///
    /// # Errors
    /// The store failed.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<KeyRecord>, ApiError> {
        match self {
            ManagedKeys::Sqlite(s) => s
                .authenticate(secret)
                .map_err(|e| ApiError::Internal(format!("key database: {e}"))),
            ManagedKeys::Postgres(p) => p
                .authenticate(secret)
                .await
                .map_err(|e| state_error(e, "API keys cannot be checked")),
        }
    }

    /// Whether any key was ever created (authentication is then required).
    ///
    /// # Errors
    /// The store failed.
    pub async fn has_keys(&self) -> Result<bool, ApiError> {
        match self {
            ManagedKeys::Sqlite(s) => s
                .has_keys()
                .map_err(|e| ApiError::Internal(format!("key database: {e}"))),
            ManagedKeys::Postgres(p) => p
                .has_keys()
                .await
                .map_err(|e| state_error(e, "API keys cannot be checked")),
        }
    }

    /// Adds one answered request to the ledger (in the background for PostgreSQL).
    pub fn record_usage(
        &self,
        key_id: &str,
        model: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
    ) {
        match self {
            ManagedKeys::Sqlite(s) => {
                if let Err(e) = s.record_usage(key_id, model, prompt_tokens, completion_tokens) {
                    tracing::error!("usage ledger: {e}");
                }
            }
            ManagedKeys::Postgres(p) => {
                let Ok(rt) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                let p = Arc::clone(p);
                let (key_id, model) = (key_id.to_owned(), model.to_owned());
                rt.spawn(async move {
                    if let Err(e) = p
                        .record_usage(&key_id, &model, prompt_tokens, completion_tokens)
                        .await
                    {
                        tracing::error!(
                            "usage ledger: {prompt_tokens}+{completion_tokens} tokens of a request not recorded: {e}"
                        );
                    }
                });
            }
        }
    }

    /// Why the store cannot be used now, for readiness; `None` when it can.
    pub async fn problem(&self) -> Option<String> {
        match self {
            ManagedKeys::Sqlite(_) => None,
            ManagedKeys::Postgres(p) => p.ping().await.err().map(|e| format!("key store {e}")),
        }
    }
}
