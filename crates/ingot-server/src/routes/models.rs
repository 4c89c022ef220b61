//! `GET /v1/models` and `GET /v1/models/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use ingot_protocol::models::{Model, ModelList};

use crate::error::ApiError;
use crate::state::AppState;

/// Every known id, local models first.
pub async fn list(State(state): State<AppState>) -> Json<ModelList> {
    Json(ModelList::new(
        state
            .catalog()
            .entries()
            .iter()
            .map(|e| e.to_model())
            .collect(),
    ))
}

/// One model; the id may contain `/` raw or as `%2F` (axum decodes the path parameter).
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Model>, ApiError> {
    let id = id.trim_start_matches('/');
    state
        .catalog()
        .get(id)
        .map(|e| Json(e.to_model()))
        .ok_or_else(|| ApiError::ModelNotFound {
            model: id.to_owned(),
        })
}
