//! `AppJson<T>`: a JSON body extractor whose rejections are [`ApiError`]s.
//!
//! Checks the content type (415), buffers the body under the configured limit (413; a client
//! pausing longer than `body_timeout_secs` gets 408, see [`crate::body`]) and
//! deserialises with the failing field's path (422, `body -> messages -> 0 -> role: …`).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use ingot_protocol::chat::FieldError;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A deserialised JSON body.
#[derive(Debug)]
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !json_type {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = state.config().body_limit;
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else if let Some(secs) = crate::body::timed_out(&rej) {
                ApiError::BodyTimeout { secs }
            } else {
                ApiError::BadRequest {
                    message: format!("could not read the request body: {rej}"),
                    param: None,
                }
            }
        })?;
        parse(&bytes).map(AppJson).map_err(ApiError::Invalid)
    }
}

/// Deserialises `bytes`, reporting the path of the first failing field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FieldError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let loc = e
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect::<Vec<_>>();
        let inner = e.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("JSON decode error: {inner}")
        } else {
            // serde appends " at line L column C"; the path already locates the field.
            let s = inner.to_string();
            match s.rfind(" at line ") {
                Some(i) => s[..i].to_owned(),
                None => s,
            }
        };
        FieldError { loc, message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_protocol::chat::ChatCompletionRequest;

    #[test]
    fn role_error_has_nim_path() {
        let e = parse::<ChatCompletionRequest>(
            br#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
        )
        .unwrap_err();
        assert!(
            e.detail()
                .starts_with("body -> messages -> 0 -> role: unknown variant `wizard`"),
            "{}",
            e.detail()
        );
        assert_eq!(e.param().as_deref(), Some("messages.0.role"));
    }

    #[test]
    fn missing_field_and_syntax() {
        let e = parse::<ChatCompletionRequest>(br#"{"messages":[]}"#).unwrap_err();
        assert!(e.message.contains("missing field `model`"), "{}", e.message);
        let e = parse::<ChatCompletionRequest>(b"{not json").unwrap_err();
        assert!(e.message.starts_with("JSON decode error"), "{}", e.message);
    }
}
