//! Request ids, error logging, authentication, and the 404/405 fallbacks.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, LoggedError};
use crate::state::AppState;

/// Header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// Gives every request an id (`x-request-id`), puts it into error bodies (`requestId`) and
/// logs each error once.
pub async fn request_id(req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    if let Some(err) = resp.extensions_mut().remove::<LoggedError>() {
        let status = resp.status();
        if status.is_server_error() {
            tracing::error!(request_id = %id, %method, %path, status = status.as_u16(), "{}", err.log);
        } else {
            tracing::info!(request_id = %id, %method, %path, status = status.as_u16(), "{}", err.log);
        }
        let mut body = err.body;
        body.request_id = Some(id.clone());
        if let Ok(json) = serde_json::to_vec(&body) {
            let (parts, _) = resp.into_parts();
            resp = Response::from_parts(parts, axum::body::Body::from(json));
            resp.headers_mut()
                .remove(axum::http::header::CONTENT_LENGTH);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

/// Requires `Authorization: Bearer <key>` when keys are configured. Keys are compared in
/// constant time and never logged.
pub async fn require_api_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let keys = state.keys();
    if keys.is_empty() {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let ok = presented.is_some_and(|p| {
        // Check every key so the time taken does not reveal which one matched.
        keys.iter().fold(0u8, |acc, k| {
            acc | u8::from(bool::from(k.as_slice().ct_eq(p.as_bytes())))
        }) == 1
    });
    if ok {
        next.run(req).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

/// 404 for unknown routes.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::RouteNotFound {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

/// 405 for known routes with the wrong method.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}
