//! Wire types of the API that ingot serves and speaks: the NVIDIA NIM flavour of the
//! OpenAI HTTP API (`/v1/models`, `/v1/chat/completions`, `/v1/embeddings`) and the
//! TRELLIS 3D generation endpoint (`/v1/genai/microsoft/trellis`).
//!
//! The types follow `shared/design/wire-spec.md`: requests are lenient (unknown fields are
//! kept in `extra` maps so they survive a round trip and can be forwarded upstream),
//! responses omit absent optional fields, and the error body satisfies both
//! openai-python and NVIDIA's LangChain client.
//!
//! # Layout
//! - [`error`]: the hybrid problem-details / OpenAI error envelope.
//! - [`models`]: the model list and model object.
//! - [`chat`]: chat completion requests, messages and content parts.
//! - [`chat_response`]: non-stream responses, stream chunks, usage, logprobs.
//! - [`completions`]: text completion requests (prompt, fill-in-the-middle) and responses.
//! - [`embeddings`]: embedding requests and responses (float and base64).
//! - [`ranking`]: reranking requests and responses.
//! - [`trellis`]: the TRELLIS 3D request and its two response shapes.
//! - [`health`]: NIM health responses.
//! - `openapi` (feature `openapi`): JSON Schemas of all of the above, for OpenAPI documents.
//!
//! # Example
//! ```
//! use ingot_protocol::chat::ChatCompletionRequest;
//! let req: ChatCompletionRequest = serde_json::from_str(
//!     r#"{"model":"meta/llama-3.3-70b-instruct","messages":[{"role":"user","content":"Hello"}],"max_tokens":1024}"#,
//! ).unwrap();
//! assert_eq!(req.effective_max_tokens(), Some(1024));
//! ```
#![warn(missing_docs)]

pub mod chat;
pub mod chat_response;
pub mod completions;
pub mod embeddings;
pub mod error;
pub mod health;
pub mod models;
mod num;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod ranking;
pub mod retry;
pub mod trellis;

/// A JSON object of fields this crate does not model; kept so they round-trip.
pub type Extra = serde_json::Map<String, serde_json::Value>;
