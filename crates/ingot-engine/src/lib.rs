//! ingot's local chat engine: any llama.cpp-supported GGUF chat model, generated on
//! llama.cpp's kernels (crate `llama-cpp-2`), with everything above the kernels in ingot's own
//! Rust: chat templates (minijinja over the GGUF's `tokenizer.chat_template`), sampling,
//! stop strings, streaming, and a continuous-batching scheduler (one thread per model).
//! With a multimodal projector (`mmproj`), prompts may hold images: llama.cpp's `mtmd`
//! library encodes them where [`MEDIA_MARKER`] stands.
//!
//! This crate knows nothing about HTTP or wire types; the server adapts them onto
//! [`ChatJob`] and [`ChatEvent`].
//!
//! # Layout
//! - [`engine`]: [`ChatEngine`] — load, validate, render, tokenize, queue.
//! - `scheduler`: the per-model thread — batching, chunked prefill, cancellation; its
//!   `placement` acts on the `slots` decisions, its `output` turns tokens into events.
//! - `slots`: the sequence slots — prefix cache, prefix sharing, keeping busy ones consecutive.
//! - `sampler`: temperature/top-k/top-p/min-p/penalties/bias, per-sequence RNG, logprobs.
//! - `stop`: UTF-8 buffering and stop strings across token boundaries.
//! - [`grammar`]: output constraints (JSON Schema, regex, Lark, choices) through llguidance.
//! - [`template`]: Hugging Face-compatible Jinja rendering.
//! - [`tools`]: tool-call formats by template family: grammars and parsing.
//! - [`types`] and [`error`]: the public request/event/config types.
//!
//! # Example
//! ```no_run
//! use ingot_engine::{ChatEngine, ChatEngineConfig, ChatEvent, ChatJob, ChatMessage, SamplingParams};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = ChatEngine::load(ChatEngineConfig::new("SmolLM2-135M-Instruct.Q4_1.gguf"))?;
//! let mut job = ChatJob::new(vec![ChatMessage::new("user", "Say hi")]);
//! job.sampling = SamplingParams::greedy();
//! job.max_tokens = Some(16);
//! let mut handle = engine.submit(job)?;
//! while let Some(event) = handle.events.blocking_recv() {
//!     if let ChatEvent::Delta { text, .. } = event {
//!         print!("{text}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```

pub mod engine;
pub mod error;
pub mod grammar;
mod sampler;
mod scheduler;
mod slots;
mod stop;
pub mod template;
pub mod tools;
pub mod types;

pub use engine::{
    ChatEngine, EngineLoad, EngineStats, MAX_TOP_LOGPROBS, MEDIA_MARKER, llama_backend,
};
pub use error::EngineError;
pub use grammar::{Constraint, Grammar};
pub use tools::{ParsedCall, ToolFormat, ToolMode, ToolSpec};
pub use types::{
    CachedTokens, ChatEngineConfig, ChatEvent, ChatJob, ChatMessage, FinishReason, ImageInput,
    JobHandle, ModelInfo, RawPrompt, SamplingParams, TokenLogprob,
};
