//! `GET /v1/models` and `GET /v1/models/{id}`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use ingot_protocol::models::{Model, ModelList};

use crate::error::ApiError;
use crate::state::AppState;

/// Every known id, local models first.
pub async fn list(State(state): State<AppState>) -> Json<ModelList> {
    Json(ModelList::new(
        state
            .registry()
            .catalog()
            .entries()
            .iter()
            .map(|e| e.to_model())
            .collect(),
    ))
}

/// One model; the id may contain `/` raw or as `%2F` (axum decodes the path parameter).
/// An id that is not UTF-8 once decoded names no model: 404 with the envelope, not axum's
/// plain-text 400.
pub async fn get_one(
    State(state): State<AppState>,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Model>, ApiError> {
    let Ok(Path(id)) = id else {
        let raw = uri.path().rsplit_once("/models/").map_or("", |(_, id)| id);
        return Err(ApiError::ModelNotFound {
            model: raw.to_owned(),
        });
    };
    let id = id.trim_start_matches('/');
    state
        .registry()
        .catalog()
        .get(id)
        .map(|e| Json(e.to_model()))
        .ok_or_else(|| ApiError::ModelNotFound {
            model: id.to_owned(),
        })
}
