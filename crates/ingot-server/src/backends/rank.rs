//! Local reranking on an embedding model (a bi-encoder): the query is embedded as a query,
//! the passages as passages, and each passage's score (`logit`) is its cosine similarity to
//! the query, in [-1, 1].
//!
//! No cross-encoder reranker ships in a package registry that ingot's setup can pin, and on
//! the project's relevance set the bi-encoder ranks better than pointwise yes/no scoring with
//! the local chat models, at a hundred times their speed (`docs/benchmarks.md`, "Ranking").

use ingot_core::{BackendError, RankingReply, Reply};
use ingot_embed::{EmbedError, EmbedInput, EmbedOptions, Embedder, InputType, Truncate};
use ingot_protocol::ranking::{
    RankTruncate, Ranking, RankingRequest, RankingResponse, RankingUsage,
};

/// Ranks the request's passages with `engine`.
pub(super) async fn rank(
    engine: &Embedder,
    req: RankingRequest,
) -> Result<RankingReply, BackendError> {
    if let Some(field) = req.query.extra.keys().next() {
        return Err(not_served(&req.model, &format!("query.{field}")));
    }
    for (i, p) in req.passages.iter().enumerate() {
        if let Some(field) = p.extra.keys().next() {
            return Err(not_served(&req.model, &format!("passages.{i}.{field}")));
        }
    }
    let truncate = match req.truncate.unwrap_or_default() {
        RankTruncate::None => Truncate::None,
        RankTruncate::End => Truncate::End,
    };
    let opts = |input_type| EmbedOptions {
        input_type: Some(input_type),
        truncate,
    };
    let query = engine
        .embed(
            vec![EmbedInput::Text(req.query.text.clone())],
            opts(InputType::Query),
        )
        .await
        .map_err(|e| rank_error(e, |_| "query.text".to_owned()))?;
    let passages = engine
        .embed(
            req.passages
                .iter()
                .map(|p| EmbedInput::Text(p.text.clone()))
                .collect(),
            opts(InputType::Passage),
        )
        .await
        .map_err(|e| rank_error(e, |i| format!("passages.{i}.text")))?;
    let q = query.vectors.first().ok_or_else(|| {
        BackendError::Internal("the embedding model returned no query vector".into())
    })?;
    let mut rankings: Vec<Ranking> = passages
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| Ranking {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            // The vectors are unit length: the dot product is the cosine.
            logit: q.iter().zip(v).map(|(a, b)| a * b).sum(),
        })
        .collect();
    rankings.sort_by(|a, b| b.logit.total_cmp(&a.logit).then(a.index.cmp(&b.index)));
    let tokens = u32::try_from(query.prompt_tokens + passages.prompt_tokens).unwrap_or(u32::MAX);
    Ok(Reply::Body(RankingResponse {
        rankings,
        usage: Some(RankingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        }),
    }))
}

fn not_served(model: &str, field: &str) -> BackendError {
    BackendError::invalid(
        field,
        format!("`{model}` is served by a text model here, which does not take `{field}`"),
    )
}

/// An embedding error, with the input at fault named by `field`.
fn rank_error(e: EmbedError, field: impl Fn(usize) -> String) -> BackendError {
    match e {
        EmbedError::TooLong { index, .. } | EmbedError::TooLongText { index, .. } => {
            BackendError::BadRequest {
                message: format!("{e}; send `truncate: \"END\"` to cut it"),
                param: Some(field(index)),
            }
        }
        EmbedError::EmptyInput { index } | EmbedError::InvalidToken { index, .. } => {
            BackendError::invalid(field(index), e.to_string())
        }
        EmbedError::NoInputs | EmbedError::TooManyInputs { .. } => {
            BackendError::invalid("passages", e.to_string())
        }
        EmbedError::QueueFull => BackendError::Overloaded {
            what: "the embedding model's queue is full".to_owned(),
            retry_after: 1,
        },
        other => BackendError::Internal(other.to_string()),
    }
}
