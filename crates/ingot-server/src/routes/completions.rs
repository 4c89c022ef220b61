//! `POST /v1/completions`: validate, find the id's backend, answer.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::response::Response;
use ingot_core::Endpoint;
use ingot_protocol::completions::CompletionRequest;

use crate::error::ApiError;
use crate::extract::AppJson;
use crate::observe::Tally;
use crate::reply;
use crate::state::AppState;

/// Handles a text completion, streamed or not.
pub async fn create(
    State(state): State<AppState>,
    tally: Option<Extension<Arc<Tally>>>,
    AppJson(req): AppJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let tally = super::model_tally(tally, &req.model);
    req.validate()?;
    let backend = state
        .registry()
        .backend(&req.model, Endpoint::Completions)?;
    let include_usage = req.include_usage();
    let reply = backend.completions(req).await?;
    Ok(reply::render(reply, tally, include_usage))
}
