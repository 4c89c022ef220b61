//! `POST /v1/embeddings` (wire-spec §3): validate, find the id's backend, answer.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::response::Response;
use ingot_core::Endpoint;
use ingot_protocol::embeddings::{EmbeddingRequest, InputType};

use crate::error::ApiError;
use crate::extract::AppJson;
use crate::observe::Tally;
use crate::reply;
use crate::state::AppState;

/// Embeds the inputs, one vector per input in input order.
pub async fn create(
    State(state): State<AppState>,
    tally: Option<Extension<Arc<Tally>>>,
    AppJson(mut req): AppJson<EmbeddingRequest>,
) -> Result<Response, ApiError> {
    let tally = super::model_tally(tally, &req.model);
    req.validate()?;
    let registry = state.registry();
    // NIM 1.x accepts `<id>-query` / `<id>-passage` instead of `input_type`: the backend
    // gets the plain id and `input_type`.
    if !registry.knows(&req.model)
        && let Some((base, input_type)) = suffixed(&req.model)
        && registry.knows(base)
    {
        req.model = base.to_owned();
        req.input_type = req.input_type.or(Some(input_type));
    }
    let backend = registry.backend(&req.model, Endpoint::Embeddings)?;
    let reply = backend.embeddings(req).await?;
    Ok(reply::render(reply, tally, false))
}

fn suffixed(model: &str) -> Option<(&str, InputType)> {
    if let Some(base) = model.strip_suffix("-query") {
        Some((base, InputType::Query))
    } else {
        model
            .strip_suffix("-passage")
            .map(|base| (base, InputType::Passage))
    }
}
