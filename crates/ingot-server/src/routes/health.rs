//! NIM health probes. They need no API key, so load balancers and orchestrators can call them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ingot_protocol::health::HealthResponse;

use crate::state::AppState;

/// The process is up.
pub async fn live() -> Json<HealthResponse> {
    Json(HealthResponse::new(true, "live"))
}

/// 200 once every configured local model is loaded, 503 with what is missing before.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
    match state.readiness() {
        Ok(()) => (StatusCode::OK, Json(HealthResponse::new(true, "ready"))),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(HealthResponse::new(false, why)),
        ),
    }
}
