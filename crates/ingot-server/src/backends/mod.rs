//! The [`Backend`] implementations: local engines, upstream routes, fallback between them,
//! and [`Unserved`] for ids that nothing serves (it says why).
//!
//! # Layout
//! - [`chat`]: a local GGUF chat model, for text ids and (with the vision intake in front)
//!   vision-chat ids; `constraint` reads the output constraint a request asks for;
//!   `completion` serves text completion (and fill-in-the-middle) on the same engine; `job`
//!   holds what the two share (generation settings, engine errors).
//! - [`embed`]: a local embedding model, for embedding ids and (`rank`) ranking ids.
//! - [`gen3d`]: the local 3D preview engine.
//! - [`upstream`]: upstream routes and [`upstream::Fallback`].

pub mod chat;
mod completion;
mod constraint;
pub mod embed;
pub mod gen3d;
mod job;
mod rank;
mod reasoning;
mod tool_calls;
pub mod upstream;

use ingot_core::{
    Backend, BackendError, BackendFuture, ChatReply, CompletionReply, EmbeddingsReply, ModelKind,
    RankingReply, TrellisReply,
};
use ingot_protocol::chat::ChatCompletionRequest;
use ingot_protocol::completions::CompletionRequest;
use ingot_protocol::embeddings::EmbeddingRequest;
use ingot_protocol::ranking::RankingRequest;
use ingot_protocol::trellis::TrellisRequest;

/// A listed id that nothing serves: every request on its endpoint gets the reason (501).
pub struct Unserved {
    /// The id's kind.
    pub kind: ModelKind,
    /// What is missing ("the local model X is still loading", …).
    pub reason: String,
}

impl Unserved {
    fn refuse<T: Send + 'static>(&self, model: &str) -> BackendFuture<'_, T> {
        let err = BackendError::Unserved {
            model: model.to_owned(),
            kind: self.kind,
            reason: self.reason.clone(),
        };
        Box::pin(async move { Err(err) })
    }
}

impl Backend for Unserved {
    fn kind(&self) -> ModelKind {
        self.kind
    }

    fn chat(&self, req: ChatCompletionRequest) -> BackendFuture<'_, ChatReply> {
        self.refuse(&req.model)
    }

    fn embeddings(&self, req: EmbeddingRequest) -> BackendFuture<'_, EmbeddingsReply> {
        self.refuse(&req.model)
    }

    fn trellis(&self, model: &str, _req: TrellisRequest) -> BackendFuture<'_, TrellisReply> {
        self.refuse(model)
    }

    fn completions(&self, req: CompletionRequest) -> BackendFuture<'_, CompletionReply> {
        self.refuse(&req.model)
    }

    fn ranking(&self, req: RankingRequest) -> BackendFuture<'_, RankingReply> {
        self.refuse(&req.model)
    }
}
