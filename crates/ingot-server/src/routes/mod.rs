//! One module per endpoint.

pub mod chat;
pub mod embeddings;
pub mod health;
pub mod models;
pub mod trellis;
pub mod upstream;

use ingot_core::{CatalogEntry, ModelKind, Served};

use crate::error::ApiError;
use crate::state::AppState;

/// Finds `id` in the local catalog and checks it answers on this endpoint's kinds.
pub(crate) fn resolve(
    state: &AppState,
    id: &str,
    kinds: &[ModelKind],
) -> Result<CatalogEntry, ApiError> {
    let catalog = state.local_catalog();
    let entry = catalog.get(id).ok_or_else(|| ApiError::ModelNotFound {
        model: id.to_owned(),
    })?;
    if !kinds.contains(&entry.kind) {
        return Err(ApiError::WrongEndpoint {
            model: id.to_owned(),
            kind: entry.kind.as_str(),
            endpoint: entry.kind.endpoint(),
        });
    }
    Ok(entry.clone())
}

/// The reason an entry cannot be served, as an error.
pub(crate) fn missing(entry: &CatalogEntry) -> ApiError {
    let reason = match &entry.served {
        Served::Missing { reason } => reason.clone(),
        Served::Local { .. } | Served::Upstream { .. } => "its engine is not available".to_owned(),
    };
    ApiError::NoEngine {
        model: entry.id.clone(),
        kind: entry.kind.as_str(),
        reason,
    }
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
