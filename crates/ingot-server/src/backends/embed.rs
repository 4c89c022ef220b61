//! Local embeddings: a BERT-family model on ingot's embedding engine; it ranks passages too
//! (`rank`).

use std::collections::BTreeSet;

use ingot_core::{
    Backend, BackendError, BackendFuture, EmbeddingsReply, ModelKind, RankingReply, Reply,
};
use ingot_embed::{EmbedError, EmbedInput, EmbedOptions, Embedder, Truncate};
use ingot_protocol::embeddings::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage,
    EmbeddingVector, EncodingFormat, InputType,
};
use ingot_protocol::ranking::RankingRequest;

/// A local embedding model.
pub struct LocalEmbed {
    engine: Embedder,
    /// Ids whose contract requires `input_type` (NIM answers 400 without it); the others take
    /// an absent one as `query`.
    asymmetric: BTreeSet<String>,
}

impl LocalEmbed {
    /// A backend on `engine`; `asymmetric` ids require `input_type`.
    pub fn new(engine: Embedder, asymmetric: BTreeSet<String>) -> Self {
        Self { engine, asymmetric }
    }

    async fn embed(&self, req: EmbeddingRequest) -> Result<EmbeddingsReply, BackendError> {
        if self.asymmetric.contains(&req.model) && req.input_type.is_none() {
            return Err(BackendError::BadRequest {
                message: "'input_type' parameter is required for asymmetric models".to_owned(),
                param: Some("input_type".to_owned()),
            });
        }
        let info = self.engine.info();
        let dims = info.dims;
        if let Some(d) = req.dimensions
            && usize::try_from(d).ok() != Some(dims)
        {
            return Err(BackendError::BadRequest {
                message: format!(
                    "`{}` is served by {}, which has a fixed size of {dims}; `dimensions` must be absent or {dims}",
                    req.model, info.name
                ),
                param: Some("dimensions".to_owned()),
            });
        }
        let inputs: Vec<EmbedInput> = match req.input {
            EmbeddingInput::Text(t) => vec![EmbedInput::Text(t)],
            EmbeddingInput::Texts(v) => v.into_iter().map(EmbedInput::Text).collect(),
            EmbeddingInput::Tokens(t) => vec![EmbedInput::Tokens(t)],
            EmbeddingInput::TokenBatches(v) => v.into_iter().map(EmbedInput::Tokens).collect(),
        };
        let opts = EmbedOptions {
            input_type: req.input_type.map(|t| match t {
                InputType::Query => ingot_embed::InputType::Query,
                InputType::Passage => ingot_embed::InputType::Passage,
            }),
            truncate: match req.truncate.unwrap_or_default() {
                ingot_protocol::embeddings::Truncate::None => Truncate::None,
                ingot_protocol::embeddings::Truncate::Start => Truncate::Start,
                ingot_protocol::embeddings::Truncate::End => Truncate::End,
            },
        };
        let out = self.engine.embed(inputs, opts).await.map_err(embed_error)?;
        let format = req.encoding_format.unwrap_or(EncodingFormat::Float);
        let tokens = u32::try_from(out.prompt_tokens).unwrap_or(u32::MAX);
        Ok(Reply::Body(EmbeddingResponse {
            object: "list".to_owned(),
            data: out
                .vectors
                .iter()
                .enumerate()
                .map(|(i, v)| Embedding {
                    object: "embedding".to_owned(),
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    embedding: EmbeddingVector::encode(v, format),
                })
                .collect(),
            model: req.model,
            usage: EmbeddingUsage {
                prompt_tokens: tokens,
                total_tokens: tokens,
            },
        }))
    }
}

impl Backend for LocalEmbed {
    fn kind(&self) -> ModelKind {
        ModelKind::Embedding
    }

    fn embeddings(&self, req: EmbeddingRequest) -> BackendFuture<'_, EmbeddingsReply> {
        Box::pin(self.embed(req))
    }

    fn ranking(&self, req: RankingRequest) -> BackendFuture<'_, RankingReply> {
        Box::pin(super::rank::rank(&self.engine, req))
    }
}

fn embed_error(e: EmbedError) -> BackendError {
    match e {
        EmbedError::TooLong { index, .. } | EmbedError::TooLongText { index, .. } => {
            BackendError::BadRequest {
                message: e.to_string(),
                param: Some(format!("input.{index}")),
            }
        }
        EmbedError::EmptyInput { index } | EmbedError::InvalidToken { index, .. } => {
            BackendError::invalid(format!("input.{index}"), e.to_string())
        }
        EmbedError::NoInputs | EmbedError::TooManyInputs { .. } => {
            BackendError::invalid("input", e.to_string())
        }
        EmbedError::QueueFull => BackendError::Overloaded {
            what: "the embedding model's queue is full".to_owned(),
            retry_after: 1,
        },
        other => BackendError::Internal(other.to_string()),
    }
}
