//! Typed async SDK for the NVIDIA NIM flavour of the OpenAI API, as served by NVIDIA's hosted
//! endpoints (`integrate.api.nvidia.com`, `ai.api.nvidia.com`) and by a self-hosted ingot
//! server: models, chat completions (whole or streamed), embeddings and TRELLIS 3D generation.
//!
//! Requests and responses are the wire types of [`ingot_protocol`], so the SDK never depends
//! on server internals. Calls are retried like openai-python does (connection errors,
//! timeouts, 408, 409, 429, 5xx; `Retry-After` honoured), and errors are parsed from both
//! NVIDIA's problem-details body and OpenAI's `{"error":{…}}` envelope into one
//! [`ClientError`] that prints well in a terminal (`[401] Unauthorized: …`).
//!
//! # Layout
//! - [`config`]: [`ClientConfig`], its defaults and [`ClientConfig::from_env`]
//!   (`NVIDIA_API_KEY`, `NVIDIA_BASE_URL`).
//! - `client`: [`Client`] with one method per endpoint, over the retrying request loop.
//! - `retry`: which failures are retried and how long to wait.
//! - `sse` and `stream`: the hand-written SSE parser behind [`ChatStream`] and
//!   [`CompletionStream`].
//! - `decode`: success bodies to vectors ([`decode_embeddings`]) and TRELLIS asset bytes.
//! - `error`: [`ClientError`] and the parsing of error bodies.
//! - [`media`]: local images and videos as `data:` URLs ([`image_data_url`] shrinks images
//!   that are too large).
//!
//! # Example
//! ```no_run
//! use futures::StreamExt;
//! use ingot_client::{Client, ClientConfig};
//! use ingot_client::protocol::chat::{ChatCompletionRequest, ChatMessage, Role};
//!
//! # async fn run() -> Result<(), ingot_client::ClientError> {
//! // NVIDIA_API_KEY / NVIDIA_BASE_URL, or explicitly:
//! let client = Client::new(ClientConfig::new("http://127.0.0.1:8000/v1").with_max_retries(3))?;
//!
//! for model in client.models().await?.data {
//!     println!("{}", model.id);
//! }
//!
//! let req = ChatCompletionRequest {
//!     model: "meta/llama-3.1-8b-instruct".into(),
//!     messages: vec![ChatMessage::text(Role::User, "Say hello")],
//!     max_tokens: Some(64),
//!     ..Default::default()
//! };
//! let reply = client.chat(&req).await?;
//! println!("{:?}", reply.choices[0].message.content);
//!
//! let mut stream = client.chat_stream(&req).await?;
//! while let Some(chunk) = stream.next().await {
//!     match chunk {
//!         Ok(chunk) => {
//!             for choice in chunk.choices {
//!                 print!("{}", choice.delta.content.unwrap_or_default());
//!             }
//!         }
//!         Err(e) => {
//!             eprintln!("{e} (retried {} times)", e.retries());
//!             break;
//!         }
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod client;
pub mod config;
mod decode;
mod error;
pub mod media;
mod retry;
mod sse;
mod stream;

pub use client::Client;
pub use config::ClientConfig;
pub use decode::decode_embeddings;
pub use error::{ApiError, ClientError};
pub use media::{image_data_url, video_data_url};
pub use stream::{ChatStream, CompletionStream, EventStream};

/// The wire types, re-exported so callers need not depend on `ingot-protocol` themselves.
pub use ingot_protocol as protocol;
