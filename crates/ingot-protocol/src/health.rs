//! NIM health responses (`/v1/health/live`, `/v1/health/ready`) and deployment metadata
//! (`/v1/metadata`).

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

/// `GET /v1/metadata`: NIM's deployment metadata (the version and the models served).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Metadata {
    /// The server's version.
    pub version: String,
    /// Every id something serves: the id and the weights (or upstream id) behind it.
    #[serde(rename = "modelInfo")]
    pub model_info: Vec<ModelInfo>,
    /// Assets besides the models (none).
    #[serde(rename = "assetInfo")]
    pub asset_info: Vec<String>,
    /// The server's license.
    #[serde(rename = "licenseInfo")]
    pub license_info: LicenseInfo,
    /// Where artifacts come from instead of the defaults (none).
    pub repository_override: String,
}

/// One served id of [`Metadata`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ModelInfo {
    /// The id clients send.
    #[serde(rename = "shortName")]
    pub short_name: String,
    /// What serves it: the local weights, or the id an upstream knows it by (`root` in
    /// `/v1/models`).
    #[serde(rename = "modelUrl")]
    pub model_url: String,
}

/// The license of [`Metadata`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct LicenseInfo {
    /// SPDX name.
    pub name: String,
    /// Where the text is (empty: not shipped with the binary).
    pub path: String,
    /// Its digest (empty when there is no file).
    pub sha: String,
    /// `SPDX`.
    #[serde(rename = "type")]
    pub kind: String,
}
