//! `POST /v1/genai/microsoft/trellis` and `POST /v1/infer` (wire-spec §4): validate, find
//! the backend of `microsoft/trellis`, answer. Both response shapes are returned: the
//! reference's `output.glb` and real deployments' `artifacts[0]`.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::response::Response;
use ingot_core::Endpoint;
use ingot_protocol::trellis::TrellisRequest;

use crate::error::ApiError;
use crate::extract::AppJson;
use crate::observe::Tally;
use crate::reply;
use crate::state::AppState;

/// The id TRELLIS requests are routed by (their body names no model).
pub const TRELLIS_ID: &str = "microsoft/trellis";

/// Generates one asset.
pub async fn generate(
    State(state): State<AppState>,
    tally: Option<Extension<Arc<Tally>>>,
    AppJson(req): AppJson<TrellisRequest>,
) -> Result<Response, ApiError> {
    let tally = super::model_tally(tally, TRELLIS_ID);
    req.validate()?;
    let backend = state.registry().backend(TRELLIS_ID, Endpoint::Trellis)?;
    let reply = backend.trellis(TRELLIS_ID, req).await?;
    Ok(reply::render(reply, tally, false))
}
