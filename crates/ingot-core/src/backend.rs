//! [`Backend`]: what answers a model id, one method per endpoint.
//!
//! A backend knows nothing of HTTP. It takes a validated request and gives a [`Reply`]: a
//! typed body, a stream of typed chunks (local engines), or an upstream's answer as it was
//! sent ([`Upstreamed`], piped byte for byte). Local engines, upstream routes and fallback
//! (an upstream route, then a local engine) are implementations; the server's registry maps
//! every id to one.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use ingot_protocol::chat::ChatCompletionRequest;
use ingot_protocol::chat_response::{ChatCompletionChunk, ChatCompletionResponse};
use ingot_protocol::completions::{CompletionRequest, CompletionResponse};
use ingot_protocol::embeddings::{EmbeddingRequest, EmbeddingResponse};
use ingot_protocol::error::StreamError;
use ingot_protocol::ranking::{RankingRequest, RankingResponse};
use ingot_protocol::trellis::{TrellisRequest, TrellisResponse};

use crate::catalog::ModelKind;

/// An endpoint of the API that model ids answer on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`.
    ChatCompletions,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `POST /v1/genai/microsoft/trellis` (and `/v1/infer`).
    Trellis,
    /// `POST /v1/completions`.
    Completions,
    /// `POST /v1/ranking`.
    Ranking,
}

impl Endpoint {
    /// The path clients send to.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/v1/chat/completions",
            Endpoint::Embeddings => "/v1/embeddings",
            Endpoint::Trellis => "/v1/genai/microsoft/trellis",
            Endpoint::Completions => "/v1/completions",
            Endpoint::Ranking => "/v1/ranking",
        }
    }

    /// Whether ids of `kind` answer here.
    pub fn serves(self, kind: ModelKind) -> bool {
        match self {
            Endpoint::ChatCompletions => matches!(kind, ModelKind::Chat | ModelKind::VisionChat),
            Endpoint::Embeddings => kind == ModelKind::Embedding,
            Endpoint::Trellis => kind == ModelKind::Gen3d,
            // Chat models complete text too (as vLLM serves both).
            Endpoint::Completions => matches!(kind, ModelKind::Chat | ModelKind::Completion),
            Endpoint::Ranking => kind == ModelKind::Ranking,
        }
    }
}

/// Bytes as they arrive from an upstream.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// An upstream's answer for the client: a success, or a client error passed back as is.
pub struct Upstreamed {
    /// The upstream that answered (its configured name).
    pub upstream: String,
    /// Its HTTP status.
    pub status: u16,
    /// Its `Content-Type`.
    pub content_type: Option<String>,
    /// The body.
    pub body: RawBody,
}

/// An upstream's body.
pub enum RawBody {
    /// Read in full (non-stream requests and error answers).
    Full(Bytes),
    /// Server-sent events, piped as they arrive.
    Stream(ByteStream),
}

/// Typed chunks of a local stream, ending after the last one (the server adds
/// `data: [DONE]`). An `Err` item is a mid-stream error: it is sent and the stream ends.
pub struct ChunkStream<C> {
    /// Tokens of the prompt, known when generation starts (counted if the client leaves).
    pub prompt_tokens: u32,
    /// The chunks. The last one carries the usage (`choices: []`); the server sends it only
    /// when the client asked for it.
    pub chunks: BoxStream<'static, Result<C, StreamError>>,
}

/// The chunk type of endpoints that never stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum NoChunks {}

/// What a backend answers.
pub enum Reply<B, C = NoChunks> {
    /// A typed body.
    Body(B),
    /// A stream of typed chunks.
    Stream(ChunkStream<C>),
    /// An upstream's answer, passed through.
    Upstream(Upstreamed),
}

/// A chat completion: a body, chunks, or an upstream's answer.
pub type ChatReply = Reply<ChatCompletionResponse, ChatCompletionChunk>;
/// Embeddings.
pub type EmbeddingsReply = Reply<EmbeddingResponse>;
/// A 3D asset.
pub type TrellisReply = Reply<TrellisResponse>;
/// A text completion: a body, chunks (the same shape), or an upstream's answer.
pub type CompletionReply = Reply<CompletionResponse, CompletionResponse>;
/// Passages ranked.
pub type RankingReply = Reply<RankingResponse>;

/// How an upstream route failed as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Errors of several kinds (502).
    Failed,
    /// Every upstream timed out (504).
    Timeout,
    /// Every upstream answered 429; seconds to wait (at least 1).
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
}

/// Why a backend could not answer. The server maps each variant to one status.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// The model answers on another endpoint.
    #[error("The model `{model}` is a {} model; send it to {}.", kind.as_str(), kind.endpoint())]
    WrongEndpoint {
        /// The id asked for.
        model: String,
        /// Its kind.
        kind: ModelKind,
    },
    /// A field's value cannot be honoured or is out of range (422).
    #[error("{message}")]
    Invalid {
        /// The field at fault, as a dotted path (`messages.0.content`).
        param: String,
        /// What is wrong.
        message: String,
    },
    /// A request NIM answers with 400 (a missing `input_type`, a prompt too long).
    #[error("{message}")]
    BadRequest {
        /// The field at fault.
        param: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The id is known, but nothing serves it: the reason names what is missing (501).
    #[error("The model `{model}` ({}) cannot be served: {reason}.", kind.as_str())]
    Unserved {
        /// The id asked for.
        model: String,
        /// Its kind.
        kind: ModelKind,
        /// What is missing.
        reason: String,
    },
    /// A tool the backend needs is missing on this host (503).
    #[error("{0}")]
    Unavailable(String),
    /// A bounded queue is full (429).
    #[error("The server is busy: {what}. Retry after {retry_after} s.")]
    Overloaded {
        /// Which queue.
        what: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Every upstream of the id failed; the detail names each one and what it answered.
    #[error("{detail}")]
    Upstream {
        /// Upstreams tried and their answers (never a key).
        detail: String,
        /// How the route failed.
        failure: UpstreamFailure,
        /// Whether a local engine may answer instead (connection errors, timeouts, 429,
        /// 5xx; never a rejected key).
        transient: bool,
    },
    /// An engine failure; the detail is logged, never sent (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl BackendError {
    /// [`BackendError::Invalid`] for `param`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            param: param.into(),
            message: message.into(),
        }
    }
}

/// The future a backend method returns.
pub type BackendFuture<'a, T> = BoxFuture<'a, Result<T, BackendError>>;

/// Serves model ids: one method per endpoint, each answering "wrong endpoint" unless the
/// backend implements it.
pub trait Backend: Send + Sync {
    /// The kind of model this backend is (for the default "wrong endpoint" answers).
    fn kind(&self) -> ModelKind;

    /// `POST /v1/chat/completions`.
    fn chat(&self, req: ChatCompletionRequest) -> BackendFuture<'_, ChatReply> {
        let err = self.wrong(&req.model);
        Box::pin(async move { Err(err) })
    }

    /// `POST /v1/embeddings`.
    fn embeddings(&self, req: EmbeddingRequest) -> BackendFuture<'_, EmbeddingsReply> {
        let err = self.wrong(&req.model);
        Box::pin(async move { Err(err) })
    }

    /// `POST /v1/genai/microsoft/trellis`; `model` is the id the request was routed by.
    fn trellis(&self, model: &str, req: TrellisRequest) -> BackendFuture<'_, TrellisReply> {
        let _ = req;
        let err = self.wrong(model);
        Box::pin(async move { Err(err) })
    }

    /// `POST /v1/completions`.
    fn completions(&self, req: CompletionRequest) -> BackendFuture<'_, CompletionReply> {
        let err = self.wrong(&req.model);
        Box::pin(async move { Err(err) })
    }

    /// `POST /v1/ranking`.
    fn ranking(&self, req: RankingRequest) -> BackendFuture<'_, RankingReply> {
        let err = self.wrong(&req.model);
        Box::pin(async move { Err(err) })
    }

    /// The "wrong endpoint for this model" error.
    fn wrong(&self, model: &str) -> BackendError {
        BackendError::WrongEndpoint {
            model: model.to_owned(),
            kind: self.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct EmbedOnly;

    impl Backend for EmbedOnly {
        fn kind(&self) -> ModelKind {
            ModelKind::Embedding
        }
    }

    #[test]
    fn endpoints_a_backend_does_not_implement_say_where_to_go() {
        let req: ChatCompletionRequest = serde_json::from_value(serde_json::json!({
            "model": "baai/bge-m3",
            "messages": [{"role": "user", "content": "hi"}]
        }))
        .unwrap();
        let err = futures::FutureExt::now_or_never(EmbedOnly.chat(req))
            .unwrap()
            .err()
            .unwrap();
        assert!(matches!(err, BackendError::WrongEndpoint { .. }));
        assert_eq!(
            err.to_string(),
            "The model `baai/bge-m3` is a embedding model; send it to /v1/embeddings."
        );
        assert!(Endpoint::ChatCompletions.serves(ModelKind::VisionChat));
        assert!(!Endpoint::Embeddings.serves(ModelKind::Chat));
    }
}
