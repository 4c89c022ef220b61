//! Request bodies: the server's JSON extractor (`ingot_server::extract::parse`, which names
//! the failing field) into the protocol types, then their validation, as the routes do.

use ingot_protocol::chat::{ChatCompletionRequest, FieldError};
use ingot_protocol::completions::CompletionRequest;
use ingot_protocol::embeddings::EmbeddingRequest;
use ingot_protocol::ranking::RankingRequest;
use ingot_protocol::trellis::TrellisRequest;
use ingot_server::ApiError;
use ingot_server::error::MAX_DETAIL;
use ingot_server::extract::parse;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `POST /v1/chat/completions`: parse, validate, and the accessors the route reads.
pub fn chat_request(data: &[u8]) {
    request::<ChatCompletionRequest>(data, |r| {
        let _ = (r.effective_max_tokens(), r.is_stream(), r.include_usage());
        r.validate()
    });
}

/// `POST /v1/embeddings`, `/v1/completions`, `/v1/ranking` and TRELLIS: the same bytes are
/// read as each request type.
pub fn other_requests(data: &[u8]) {
    request::<EmbeddingRequest>(data, |r| {
        let _ = (r.input.len(), r.input.is_empty());
        r.validate()
    });
    request::<CompletionRequest>(data, |r| {
        let _ = (r.is_stream(), r.include_usage(), r.prompt.each().len());
        let generation = r.generation();
        let _ = generation.validate_generation();
        r.validate()
    });
    request::<RankingRequest>(data, RankingRequest::validate);
    request::<TrellisRequest>(data, |r| r.validate().map(|_job| ()));
}

/// Parses `data` as `T` and validates it, as the routes do. Invariants: a refusal is a 4xx
/// with a bounded message; a parsed request serialises; a validated one (what is handed to
/// a backend or forwarded upstream) parses back from its JSON to the same request, which
/// validates too.
fn request<T>(data: &[u8], validate: impl Fn(&T) -> Result<(), FieldError>)
where
    T: Serialize + DeserializeOwned,
{
    let req = match parse::<T>(data) {
        Ok(req) => req,
        Err(e) => return refused(e),
    };
    let first = serde_json::to_value(&req);
    assert!(
        first.is_ok(),
        "a parsed request does not serialise: {first:?}"
    );
    if let Err(e) = validate(&req) {
        return refused(e);
    }
    let Ok(first) = first else { return };
    let text = first.to_string();
    let again = parse::<T>(text.as_bytes());
    assert!(
        again.is_ok(),
        "a validated request does not parse back: {:?}\n{text}",
        again.err()
    );
    let Ok(again) = again else { return };
    let second = serde_json::to_value(&again).ok();
    assert_eq!(
        Some(&first),
        second.as_ref(),
        "a validated request changes on a round trip"
    );
    let verdict = validate(&again);
    assert!(
        verdict.is_ok(),
        "a validated request is refused after a round trip: {verdict:?}\n{text}"
    );
}

/// A refused body: the error the client gets is a 4xx JSON envelope of bounded size.
fn refused(e: FieldError) {
    let _ = (e.detail(), e.param());
    let err = ApiError::from(e);
    assert!(err.status().is_client_error(), "{err:?} is not a 4xx");
    let body = err.body();
    let detail = body.detail.as_deref().unwrap_or_default();
    assert!(
        detail.len() < MAX_DETAIL + 64,
        "an error detail of {} bytes",
        detail.len()
    );
    assert!(
        serde_json::to_vec(&body).is_ok(),
        "the error body does not serialise"
    );
}
