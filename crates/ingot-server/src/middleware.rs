//! Request ids, error logging, authentication, and the 404/405 fallbacks.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ingot_proxy::ApiKey;
use subtle::ConstantTimeEq;

use ingot_keys::{Denied, RateInfo};

use crate::backends::upstream::with_caller_key;
use crate::error::{ApiError, LoggedError};
use crate::observe::{Caller, Tally, guard_body};
use crate::ratelimit::Admission;
use crate::state::AppState;

/// Header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// The request's id, as a request extension (the access log's span reads it).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// An incoming `x-request-id` worth keeping: 1 to 128 characters of letters, digits and
/// `-_.:/`, so it cannot break a log line or a header.
fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b));
    ok.then(|| s.to_owned())
}

/// Gives every request an id (`x-request-id`: the client's when it sent a sane one, else a
/// new UUID), puts it into error bodies (`requestId`) and logs each error once.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
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

/// Requires `Authorization: Bearer <key>` when keys are configured (in the configuration
/// or in the key database), then applies the key's limits. Configured keys are compared in
/// constant time; managed keys are looked up by their SHA-256. Keys are never logged.
///
/// A key over a limit gets 429 with `Retry-After` (the seconds until it would be admitted)
/// and the `x-ratelimit-*` headers, which admitted requests of limited keys carry too.
pub async fn require_api_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(problem) = state.key_store_problem() {
        return ApiError::Unavailable(format!("authentication is unavailable: {problem}"))
            .into_response();
    }
    let store = state.key_store();
    let keys = state.keys();
    if keys.is_empty() {
        // Only managed keys can turn authentication on: once the store holds any.
        match state.managed_keys_exist().await {
            // No key of ours is required: a bearer the caller sends is its own, which
            // upstreams with `forward_client_key` get (an ingot key never leaves).
            Ok(false) if state.proxy().forwards_client_keys() => {
                let key = bearer(&req).map(ApiKey::new);
                return with_caller_key(key, next.run(req)).await;
            }
            Ok(false) => return next.run(req).await,
            Ok(true) => {}
            Err(e) => return e.into_response(),
        }
    }
    let Some(presented) = bearer(&req) else {
        return ApiError::Unauthorized.into_response();
    };
    // Check every configured key so the time taken does not reveal which one matched.
    let configured = keys.iter().enumerate().fold(None, |found, (i, k)| {
        let eq = bool::from(k.as_slice().ct_eq(presented.as_bytes()));
        if eq { Some(i) } else { found }
    });
    let caller = match (configured, store) {
        (Some(i), _) => Caller::Configured(i),
        (None, Some(store)) => match store.authenticate(presented).await {
            Ok(Some(record)) => Caller::Managed(record),
            Ok(None) => return ApiError::Unauthorized.into_response(),
            Err(e) => return e.into_response(),
        },
        (None, None) => return ApiError::Unauthorized.into_response(),
    };
    let tally = req.extensions().get::<Arc<Tally>>().cloned();
    let Caller::Managed(record) = &caller else {
        if let Some(t) = tally {
            t.set_caller(caller);
        }
        return next.run(req).await;
    };
    let limits = record.limits;
    if limits == ingot_keys::Limits::default() {
        if let Some(t) = tally {
            t.set_caller(caller);
        }
        return next.run(req).await;
    }
    let admission = match state.rate_limits().admit(&record.id, &limits).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    match admission {
        Admission::Refused((denied, wait, info)) => {
            state.metrics().rate_limited(denied.describe());
            let limit = match denied {
                Denied::Requests => format!("{} requests per minute", limits.rpm.unwrap_or(0)),
                Denied::Tokens => format!("{} tokens per minute", limits.tpm.unwrap_or(0)),
                Denied::Concurrency => {
                    format!("{} concurrent requests", limits.concurrency.unwrap_or(0))
                }
            };
            let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut resp = ApiError::RateLimited {
                limit,
                retry_after: retry_after.max(1),
            }
            .into_response();
            rate_limit_headers(resp.headers_mut(), &info);
            resp
        }
        Admission::Admitted(held, info) => {
            if let Some(t) = tally {
                t.set_caller(caller);
            }
            let mut resp = next.run(req).await;
            if let Some(info) = &info {
                rate_limit_headers(resp.headers_mut(), info);
            }
            // The request counts against the concurrency limit until its body has been sent.
            guard_body(resp, held)
        }
    }
}

/// The key of `Authorization: Bearer KEY`, when there is one.
fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(axum::http::header::AUTHORIZATION)?;
    let (scheme, token) = v.to_str().ok()?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` for the limits the key has.
fn rate_limit_headers(h: &mut HeaderMap, info: &RateInfo) {
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    let secs = |d: Duration| format!("{}s", d.as_secs() + u64::from(d.subsec_nanos() > 0));
    if let (Some(l), Some(r)) = (info.limit_requests, info.remaining_requests) {
        set("x-ratelimit-limit-requests", l.to_string());
        set("x-ratelimit-remaining-requests", r.to_string());
        set("x-ratelimit-reset-requests", secs(info.reset_requests));
    }
    if let (Some(l), Some(r)) = (info.limit_tokens, info.remaining_tokens) {
        set("x-ratelimit-limit-tokens", l.to_string());
        set("x-ratelimit-remaining-tokens", r.to_string());
        set("x-ratelimit-reset-tokens", secs(info.reset_tokens));
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

#[cfg(test)]
mod request_id_tests {
    use super::*;

    #[test]
    fn only_sane_request_ids_are_kept() {
        let keep = |s: &str| sane_request_id(&HeaderValue::from_str(s).unwrap());
        assert_eq!(keep("req-42_a.b:c/d").as_deref(), Some("req-42_a.b:c/d"));
        assert_eq!(keep(""), None);
        assert_eq!(keep("a b"), None);
        assert_eq!(keep("x\"y"), None);
        assert_eq!(keep(&"a".repeat(129)), None);
    }
}
