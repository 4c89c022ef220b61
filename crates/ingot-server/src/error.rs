//! `ApiError`: every failure a client can see, with one exhaustive status mapping.
//!
//! `into_response` renders the hybrid envelope of `ingot_protocol::error` and stores the
//! body in the response extensions; the request-id middleware fills in `requestId` and logs
//! the error once.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ingot_protocol::chat::FieldError;
use ingot_protocol::error::ErrorBody;

/// Longest id or path an error message repeats, in characters.
pub const MAX_SHOWN: usize = 256;
/// Longest error message sent, in characters.
pub const MAX_DETAIL: usize = 4096;

/// `text` as an error message repeats it: at most [`MAX_SHOWN`] characters, then how much
/// was left out.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    cap(text, MAX_SHOWN)
}

fn cap(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((at, _)) => {
            std::borrow::Cow::Owned(format!("{}… ({} more bytes)", &text[..at], text.len() - at))
        }
    }
}

/// A client-visible error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// Missing or wrong API key.
    #[error("Invalid or missing API key. Send `Authorization: Bearer <API key>`.")]
    Unauthorized,
    /// Unknown model id.
    #[error("The model `{}` does not exist. Check the model id (GET /v1/models lists them).", shown(.model))]
    ModelNotFound {
        /// The id asked for.
        model: String,
    },
    /// The model exists but answers on another endpoint.
    #[error("The model `{}` is a {kind} model; send it to {endpoint}.", shown(.model))]
    WrongEndpoint {
        /// The id asked for.
        model: String,
        /// Its kind.
        kind: &'static str,
        /// Where it is served.
        endpoint: &'static str,
    },
    /// No route at this path.
    #[error("No route for {} {}. Check the URL: the API lives under /v1.", shown(.method), shown(.path))]
    RouteNotFound {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
    },
    /// Route exists, method does not.
    #[error("Method {} is not allowed on {}.", shown(.method), shown(.path))]
    MethodNotAllowed {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
    },
    /// Body over the configured limit.
    #[error("Request body is larger than the limit of {limit} bytes.")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not `application/json`.
    #[error("Expected `Content-Type: application/json`.")]
    UnsupportedMediaType,
    /// The client stopped sending the request body.
    #[error("No part of the request body arrived for {secs} seconds.")]
    BodyTimeout {
        /// The pause allowed (`body_timeout_secs`).
        secs: u64,
    },
    /// Body does not match the schema, or a field is out of range.
    #[error("{}", .0.detail())]
    Invalid(FieldError),
    /// A semantic error NIM answers with 400 (e.g. a missing `input_type`).
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// The field at fault.
        param: Option<String>,
    },
    /// A known id whose kind has nothing to serve it.
    #[error("The model `{}` ({kind}) cannot be served: {reason}.", shown(.model))]
    NoEngine {
        /// The id asked for.
        model: String,
        /// Its kind.
        kind: &'static str,
        /// What is missing.
        reason: String,
    },
    /// A queue is full.
    #[error("The server is busy: {what}. Retry after {retry_after} s.")]
    Overloaded {
        /// Which queue.
        what: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The API key is over one of its limits.
    #[error("Rate limit reached for this API key: {limit}. Retry after {retry_after} s.")]
    RateLimited {
        /// Which limit (e.g. "10 requests per minute").
        limit: String,
        /// Seconds until the request would be admitted.
        retry_after: u64,
    },
    /// Not ready yet.
    #[error("{0}")]
    Unavailable(String),
    /// Every upstream of the id failed; the detail names each one and what it answered
    /// (never a key). 504 when all of them timed out, 502 otherwise.
    #[error("{detail}")]
    UpstreamFailed {
        /// Upstreams tried and their answers.
        detail: String,
        /// All of them timed out.
        timeout: bool,
    },
    /// Every upstream of the id answered 429.
    #[error("{detail}. Retry after {retry_after} s.")]
    UpstreamRateLimited {
        /// Upstreams tried and their answers.
        detail: String,
        /// Seconds to wait (the longest any upstream asked for, at least 1).
        retry_after: u64,
    },
    /// The shared store (Redis, PostgreSQL) that limits or keys live in cannot be reached;
    /// `what` says what could not be done, the detail is logged, never sent.
    #[error("{what}: the shared store is unavailable ({detail})")]
    StateUnavailable {
        /// What could not be done, e.g. "rate limits cannot be checked".
        what: &'static str,
        /// Why (its address and error), for the log only.
        detail: String,
    },
    /// A bug or an engine failure; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status. Exhaustive: a new variant must decide.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::ModelNotFound { .. } | ApiError::RouteNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            ApiError::WrongEndpoint { .. } | ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NoEngine { .. } => StatusCode::NOT_IMPLEMENTED,
            ApiError::Overloaded { .. } | ApiError::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) | ApiError::StateUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::UpstreamFailed { timeout: false, .. } => StatusCode::BAD_GATEWAY,
            ApiError::UpstreamFailed { timeout: true, .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::UpstreamRateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind_and_code(&self) -> (&'static str, &'static str, Option<String>) {
        match self {
            ApiError::Unauthorized => ("authentication_error", "invalid_api_key", None),
            ApiError::ModelNotFound { .. } => (
                "invalid_request_error",
                "model_not_found",
                Some("model".to_owned()),
            ),
            ApiError::WrongEndpoint { .. } => (
                "invalid_request_error",
                "wrong_endpoint",
                Some("model".to_owned()),
            ),
            ApiError::RouteNotFound { .. } => ("invalid_request_error", "not_found", None),
            ApiError::MethodNotAllowed { .. } => {
                ("invalid_request_error", "method_not_allowed", None)
            }
            ApiError::PayloadTooLarge { .. } => {
                ("invalid_request_error", "payload_too_large", None)
            }
            ApiError::UnsupportedMediaType => {
                ("invalid_request_error", "unsupported_media_type", None)
            }
            ApiError::BodyTimeout { .. } => ("invalid_request_error", "request_timeout", None),
            ApiError::Invalid(f) => ("invalid_request_error", "unprocessable_entity", f.param()),
            ApiError::BadRequest { param, .. } => {
                ("invalid_request_error", "bad_request", param.clone())
            }
            ApiError::NoEngine { .. } => {
                ("not_implemented_error", "no_engine", Some("model".into()))
            }
            ApiError::Overloaded { .. } => ("rate_limit_error", "overloaded", None),
            ApiError::RateLimited { .. } => ("rate_limit_error", "rate_limit_exceeded", None),
            ApiError::Unavailable(_) => ("service_unavailable_error", "not_ready", None),
            ApiError::StateUnavailable { .. } => {
                ("service_unavailable_error", "state_unavailable", None)
            }
            ApiError::UpstreamFailed { timeout: false, .. } => {
                ("upstream_error", "upstream_failed", None)
            }
            ApiError::UpstreamFailed { timeout: true, .. } => {
                ("upstream_error", "upstream_timeout", None)
            }
            ApiError::UpstreamRateLimited { .. } => {
                ("rate_limit_error", "upstream_rate_limited", None)
            }
            ApiError::Internal(_) => ("server_error", "internal_error", None),
        }
    }

    /// The body without the request id.
    pub fn body(&self) -> ErrorBody {
        let status = self.status();
        let (kind, code, param) = self.kind_and_code();
        let detail = match self {
            ApiError::Internal(_) => "The server hit an internal error; see its log.".to_owned(),
            ApiError::StateUnavailable { what, .. } => {
                format!("{what}: the shared store is unavailable; try again shortly.")
            }
            other => cap(&other.to_string(), MAX_DETAIL).into_owned(),
        };
        ErrorBody::new(
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error"),
            detail,
            kind,
            param,
            Some(code),
        )
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<ingot_core::BackendError> for ApiError {
    fn from(e: ingot_core::BackendError) -> Self {
        use ingot_core::{BackendError as B, UpstreamFailure as U};
        match e {
            B::WrongEndpoint { model, kind } => ApiError::WrongEndpoint {
                model,
                kind: kind.as_str(),
                endpoint: kind.endpoint(),
            },
            B::Invalid { param, message } => ApiError::Invalid(FieldError::new(&param, message)),
            B::BadRequest { param, message } => ApiError::BadRequest { message, param },
            B::Unserved {
                model,
                kind,
                reason,
            } => ApiError::NoEngine {
                model,
                kind: kind.as_str(),
                reason,
            },
            B::Unavailable(m) => ApiError::Unavailable(m),
            B::Overloaded { what, retry_after } => ApiError::Overloaded { what, retry_after },
            B::Upstream {
                detail,
                failure: U::Failed,
                ..
            } => ApiError::UpstreamFailed {
                detail,
                timeout: false,
            },
            B::Upstream {
                detail,
                failure: U::Timeout,
                ..
            } => ApiError::UpstreamFailed {
                detail,
                timeout: true,
            },
            B::Upstream {
                detail,
                failure: U::RateLimited { retry_after },
                ..
            } => ApiError::UpstreamRateLimited {
                detail,
                retry_after,
            },
            B::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// What the middleware finds in the extensions of an error response.
#[derive(Debug, Clone)]
pub struct LoggedError {
    /// The body to send, `requestId` still empty.
    pub body: ErrorBody,
    /// The full error, for the log (5xx details stay here).
    pub log: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let status = self.status();
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = (status, json).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match &self {
            ApiError::Unauthorized => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="nim", error="invalid_token""#),
                );
            }
            ApiError::Overloaded { retry_after, .. }
            | ApiError::RateLimited { retry_after, .. }
            | ApiError::UpstreamRateLimited { retry_after, .. } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    h.insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::StateUnavailable { .. } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        resp.extensions_mut().insert(LoggedError {
            body,
            log: self.to_string(),
        });
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbounded_echo_is_capped() {
        let id = "é".repeat(1 << 20);
        let detail = ApiError::ModelNotFound { model: id.clone() }
            .body()
            .detail
            .unwrap();
        assert!(detail.len() < 1024, "{}", detail.len());
        assert!(detail.contains(&format!("({} more bytes)", id.len() - 2 * MAX_SHOWN)));
        let long = ApiError::BadRequest {
            message: "x".repeat(100_000),
            param: None,
        };
        assert!(long.body().detail.unwrap().len() < MAX_DETAIL + 64);
        assert_eq!(shown("meta/llama"), "meta/llama");
    }

    #[test]
    fn internal_details_are_not_sent() {
        let b = ApiError::Internal("secret path /x".into()).body();
        assert!(!b.message().contains("secret"));
        assert_eq!(b.status, 500);
    }

    #[test]
    fn upstream_failures_map_to_502_504_429() {
        use ingot_core::{BackendError, UpstreamFailure};
        let fail = |failure| {
            ApiError::from(BackendError::Upstream {
                detail: "upstream `hosted`: refused".into(),
                failure,
                transient: true,
            })
        };
        let e = fail(UpstreamFailure::Failed);
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        assert!(e.body().message().contains("`hosted`"));
        assert_eq!(
            fail(UpstreamFailure::Timeout).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        let e = fail(UpstreamFailure::RateLimited { retry_after: 3 });
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(matches!(
            e,
            ApiError::UpstreamRateLimited { retry_after: 3, .. }
        ));
    }

    #[test]
    fn unauthorized_mentions_the_api_key() {
        let b = ApiError::Unauthorized.body();
        assert_eq!(b.title, "Unauthorized");
        assert!(b.message().contains("API key"));
    }
}
