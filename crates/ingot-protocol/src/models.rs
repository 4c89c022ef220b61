//! `GET /v1/models` and `GET /v1/models/{id}`.

use serde::{Deserialize, Serialize};

/// The `created` constant the hosted API reports for every model.
pub const HOSTED_CREATED: i64 = 735_790_403;

/// `{"object":"list","data":[...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ModelList {
    /// Always `list`.
    pub object: String,
    /// The models.
    pub data: Vec<Model>,
}

impl ModelList {
    /// Wraps models in a list object.
    pub fn new(data: Vec<Model>) -> Self {
        Self {
            object: "list".to_owned(),
            data,
        }
    }
}

/// One model, as openai-python's `Model` and NIM's vLLM `ModelCard` describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Model {
    /// The id clients send, e.g. `meta/llama-3.3-70b-instruct`.
    pub id: String,
    /// Always `model`.
    pub object: String,
    /// Unix seconds; an integer.
    pub created: i64,
    /// Organisation that owns the model.
    pub owned_by: String,
    /// The weights that really serve this id (LangChain reads it as `base_model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Parent model; NIM sends `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Context length, for chat models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_model_len: Option<u64>,
    /// Fields this crate does not model (e.g. vLLM's `permission`).
    #[serde(flatten)]
    pub extra: crate::Extra,
}
