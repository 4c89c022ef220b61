//! NIM health responses (`/v1/health/live`, `/v1/health/ready`).

use serde::{Deserialize, Serialize};

/// `{"object":"health.response","message":"ready","ready":true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct HealthResponse {
    /// Always `health.response`.
    pub object: String,
    /// `live`, `ready` or what is still loading.
    pub message: String,
    /// Whether the probed condition holds.
    pub ready: bool,
}

impl HealthResponse {
    /// Builds a health response.
    pub fn new(ready: bool, message: impl Into<String>) -> Self {
        Self {
            object: "health.response".to_owned(),
            message: message.into(),
            ready,
        }
    }
}
