//! NIM health probes. They need no API key, so load balancers and orchestrators can call them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ingot_core::Served;
use ingot_protocol::health::{HealthResponse, LicenseInfo, Metadata, ModelInfo};

use crate::state::AppState;

/// The process is up (also at `/health`, where load balancers look by default).
pub async fn live() -> Json<HealthResponse> {
    Json(HealthResponse::new(true, "live"))
}

/// The server's name and version: `{"name": "ingot", "version": "0.1.0"}`.
pub async fn version() -> Json<serde_json::Value> {
    Json(serde_json::json!({"name": "ingot", "version": env!("CARGO_PKG_VERSION")}))
}

/// 200 once every configured local model is loaded (and the shared rate-limit store, when
/// one is configured without `fail_open`, answers); 503 with what is missing before.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
    let limits = state.rate_limits().problem().await;
    let keys = match state.key_store() {
        Some(k) => k.problem().await,
        None => None,
    };
    let shared = match (limits, keys) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    };
    let readiness = match (state.readiness(), shared) {
        (r, None) => r,
        (Ok(()), Some(p)) => Err(p),
        (Err(why), Some(p)) => Err(format!("{why}; {p}")),
    };
    match readiness {
        Ok(()) => (StatusCode::OK, Json(HealthResponse::new(true, "ready"))),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(HealthResponse::new(false, why)),
        ),
    }
}

/// NIM's deployment metadata: the version and every id something serves, with what serves it
/// (ids nothing serves are left out; `/v1/models` lists them with the reason).
pub async fn metadata(State(state): State<AppState>) -> Json<Metadata> {
    let registry = state.registry();
    let model_info = registry
        .catalog()
        .entries()
        .iter()
        .filter(|e| !matches!(e.served, Served::Missing { .. }))
        .map(|e| ModelInfo {
            short_name: e.id.clone(),
            model_url: e.root().to_owned(),
        })
        .collect();
    Json(Metadata {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        model_info,
        asset_info: Vec::new(),
        license_info: LicenseInfo {
            name: env!("CARGO_PKG_LICENSE").to_owned(),
            path: String::new(),
            sha: String::new(),
            kind: "SPDX".to_owned(),
        },
        repository_override: String::new(),
    })
}
