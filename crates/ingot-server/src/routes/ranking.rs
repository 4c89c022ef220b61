//! `POST /v1/ranking` (NeMo Retriever reranking): validate, find the id's backend, answer.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::response::Response;
use ingot_core::Endpoint;
use ingot_protocol::ranking::RankingRequest;

use crate::error::ApiError;
use crate::extract::AppJson;
use crate::observe::Tally;
use crate::reply;
use crate::state::AppState;

/// Ranks the passages for the query, most relevant first.
pub async fn rank(
    State(state): State<AppState>,
    tally: Option<Extension<Arc<Tally>>>,
    AppJson(req): AppJson<RankingRequest>,
) -> Result<Response, ApiError> {
    let tally = super::model_tally(tally, &req.model);
    req.validate()?;
    let backend = state.registry().backend(&req.model, Endpoint::Ranking)?;
    let reply = backend.ranking(req).await?;
    Ok(reply::render(reply, tally, false))
}
