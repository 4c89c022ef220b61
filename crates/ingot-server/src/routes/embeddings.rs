//! `POST /v1/embeddings` (wire-spec §3): forwarded for ids that upstreams serve, otherwise
//! on the local embedding engines.

use axum::Json;
use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use ingot_core::{EmbedSymmetry, ModelKind};
use ingot_embed::{EmbedError, EmbedInput, EmbedOptions, Truncate};
use ingot_protocol::chat::FieldError;
use ingot_protocol::embeddings::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage,
    EmbeddingVector, EncodingFormat, InputType,
};

use super::{missing, resolve, upstream};
use crate::error::ApiError;
use crate::extract::AppJson;
use crate::observe::Tally;
use crate::state::AppState;

/// Embeds the inputs, one vector per input in input order.
pub async fn create(
    State(state): State<AppState>,
    tally: Option<Extension<Arc<Tally>>>,
    AppJson(mut req): AppJson<EmbeddingRequest>,
) -> Result<Response, ApiError> {
    let tally = tally.map(|Extension(t)| t);
    if let Some(t) = &tally {
        t.set_model(&req.model);
    }
    req.validate()?;
    let kinds = [ModelKind::Embedding];
    // NIM 1.x accepts `<id>-query` / `<id>-passage` instead of `input_type`; an upstream
    // gets the plain id and `input_type`.
    let routed = if upstream::routed(&state, &req.model) {
        Some((req.model.clone(), None))
    } else {
        suffixed(&req.model).filter(|(base, _)| upstream::routed(&state, base))
    };
    if let Some((id, suffix_type)) = routed {
        upstream::check_kind(&state, &id, &kinds)?;
        if suffix_type.is_some() {
            req.input_type = req.input_type.or(suffix_type);
            req.model.clone_from(&id);
        }
        let endpoint = ingot_proxy::Endpoint::Embeddings;
        if let Some(resp) =
            upstream::forward(&state, endpoint, &id, &req, false, tally.as_ref()).await?
        {
            return Ok(resp);
        }
    }
    let resp = local(&state, req).await?;
    if let Some(t) = &tally {
        t.usage(u64::from(resp.usage.prompt_tokens), 0);
    }
    Ok(resp.into_response())
}

fn suffixed(model: &str) -> Option<(String, Option<InputType>)> {
    if let Some(base) = model.strip_suffix("-query") {
        Some((base.to_owned(), Some(InputType::Query)))
    } else {
        model
            .strip_suffix("-passage")
            .map(|base| (base.to_owned(), Some(InputType::Passage)))
    }
}

async fn local(
    state: &AppState,
    req: EmbeddingRequest,
) -> Result<Json<EmbeddingResponse>, ApiError> {
    let kinds = [ModelKind::Embedding];
    let (id, suffix_type) = if state.local_catalog().get(&req.model).is_some() {
        (req.model.as_str(), None)
    } else if let Some(base) = req.model.strip_suffix("-query") {
        (base, Some(InputType::Query))
    } else if let Some(base) = req.model.strip_suffix("-passage") {
        (base, Some(InputType::Passage))
    } else {
        (req.model.as_str(), None)
    };
    let entry = resolve(state, id, &kinds)?;
    let input_type = req.input_type.or(suffix_type);
    if entry.symmetry == Some(EmbedSymmetry::Asymmetric) && input_type.is_none() {
        return Err(ApiError::BadRequest {
            message: "'input_type' parameter is required for asymmetric models".to_owned(),
            param: Some("input_type".to_owned()),
        });
    }
    let engines = state.engines();
    let multilingual = entry.root() != entry.id
        && engines
            .multilingual
            .get()
            .is_some_and(|m| m.info().name == entry.root());
    let engine = if multilingual {
        engines.multilingual.get()
    } else {
        engines
            .general
            .get()
            .filter(|m| m.info().name == entry.root())
    }
    .ok_or_else(|| missing(&entry))?;
    let dims = engine.info().dims;
    if let Some(d) = req.dimensions
        && usize::try_from(d).ok() != Some(dims)
    {
        return Err(ApiError::BadRequest {
            message: format!(
                "`{}` is served by {}, which has a fixed size of {dims}; `dimensions` must be absent or {dims}",
                req.model,
                engine.info().name
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
        input_type: input_type.map(|t| match t {
            InputType::Query => ingot_embed::InputType::Query,
            InputType::Passage => ingot_embed::InputType::Passage,
        }),
        truncate: match req.truncate.unwrap_or_default() {
            ingot_protocol::embeddings::Truncate::None => Truncate::None,
            ingot_protocol::embeddings::Truncate::Start => Truncate::Start,
            ingot_protocol::embeddings::Truncate::End => Truncate::End,
        },
    };
    let out = engine.embed(inputs, opts).await.map_err(embed_error)?;
    let format = req.encoding_format.unwrap_or(EncodingFormat::Float);
    let tokens = u32::try_from(out.prompt_tokens).unwrap_or(u32::MAX);
    Ok(Json(EmbeddingResponse {
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

fn embed_error(e: EmbedError) -> ApiError {
    match e {
        EmbedError::TooLong { index, .. } => ApiError::BadRequest {
            message: e.to_string(),
            param: Some(format!("input.{index}")),
        },
        EmbedError::EmptyInput { index } | EmbedError::InvalidToken { index, .. } => {
            ApiError::Invalid(FieldError::new(&format!("input.{index}"), e.to_string()))
        }
        EmbedError::NoInputs | EmbedError::TooManyInputs { .. } => {
            ApiError::Invalid(FieldError::new("input", e.to_string()))
        }
        EmbedError::QueueFull => ApiError::Overloaded {
            what: "the embedding model's queue is full".to_owned(),
            retry_after: 1,
        },
        other => ApiError::Internal(other.to_string()),
    }
}
