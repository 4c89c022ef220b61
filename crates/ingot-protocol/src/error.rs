//! The error envelope.
//!
//! Two real parsers read it: NVIDIA's LangChain client reads top-level `status`, `title`,
//! `detail` and `requestId` (RFC 7807 problem details as the hosted API returns them),
//! openai-python reads `error.{message,type,param,code}`. The body carries both.

use serde::{Deserialize, Serialize};

/// The hybrid error body (wire-spec §0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// Problem type; always `about:blank`.
    #[serde(rename = "type", default = "about_blank")]
    pub kind: String,
    /// HTTP status code.
    pub status: u16,
    /// HTTP reason phrase, e.g. `Unauthorized`.
    pub title: String,
    /// Human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Request id; a string, as LangChain concatenates it.
    #[serde(rename = "requestId", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// OpenAI-style error object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OpenAiError>,
}

fn about_blank() -> String {
    "about:blank".to_owned()
}

/// The OpenAI error object, `{"message","type","param","code"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct OpenAiError {
    /// Human-readable message.
    pub message: String,
    /// Error class, e.g. `invalid_request_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, if any.
    #[serde(default)]
    pub param: Option<String>,
    /// Machine-readable code, e.g. `model_not_found`.
    #[serde(default)]
    pub code: Option<serde_json::Value>,
}

impl ErrorBody {
    /// Builds the hybrid body from its parts.
    pub fn new(
        status: u16,
        title: &str,
        detail: String,
        kind: &str,
        param: Option<String>,
        code: Option<&str>,
    ) -> Self {
        Self {
            kind: about_blank(),
            status,
            title: title.to_owned(),
            error: Some(OpenAiError {
                message: detail.clone(),
                kind: kind.to_owned(),
                param,
                code: code.map(|c| serde_json::Value::String(c.to_owned())),
            }),
            detail: Some(detail),
            request_id: None,
        }
    }

    /// The message a client would show: `detail`, else `error.message`, else `title`.
    pub fn message(&self) -> &str {
        self.detail
            .as_deref()
            .or(self.error.as_ref().map(|e| e.message.as_str()))
            .unwrap_or(&self.title)
    }
}

/// An error event inside an SSE stream, sent after the stream has started
/// (`data: {"error":{...}}` followed by `data: [DONE]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StreamError {
    /// The error payload.
    pub error: StreamErrorInner,
}

/// Payload of [`StreamError`]; `object` is `"error"` because LangChain checks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StreamErrorInner {
    /// Always `error`.
    pub object: String,
    /// Human-readable message.
    pub message: String,
    /// Error class, e.g. `InternalServerError`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Field at fault, if any.
    pub param: Option<String>,
    /// HTTP-like status code.
    pub code: u16,
}

impl StreamError {
    /// A mid-stream error with the given class and status.
    pub fn new(message: impl Into<String>, kind: &str, code: u16) -> Self {
        Self {
            error: StreamErrorInner {
                object: "error".to_owned(),
                message: message.into(),
                kind: kind.to_owned(),
                param: None,
                code,
            },
        }
    }
}
