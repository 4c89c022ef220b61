//! Requests for ids that upstreams serve: forwarded through the proxy, with the local
//! engine as the fallback where the configuration allows it.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use ingot_core::ModelKind;
use ingot_proxy::{Endpoint, Forwarded, ForwardedBody};

use crate::error::ApiError;
use crate::observe::{Tally, guard_body};
use crate::state::AppState;

/// Response header naming the upstream that answered.
pub const UPSTREAM_HEADER: &str = "x-ingot-upstream";

/// Whether upstreams serve `model`.
pub(crate) fn routed(state: &AppState, model: &str) -> bool {
    state.proxy().route(model).is_some()
}

/// For a routed id: the catalog's kind (if it knows the id) must answer on this endpoint.
/// Ids only a pattern routes are not in the catalog; the upstream decides about them.
pub(crate) fn check_kind(
    state: &AppState,
    model: &str,
    kinds: &[ModelKind],
) -> Result<(), ApiError> {
    match state.catalog().get(model) {
        Some(e) if !kinds.contains(&e.kind) => Err(ApiError::WrongEndpoint {
            model: model.to_owned(),
            kind: e.kind.as_str(),
            endpoint: e.kind.endpoint(),
        }),
        _ => Ok(()),
    }
}

/// Forwards a validated request body for a routed id. `Ok(None)`: every upstream failed
/// transiently, the route allows `local_fallback` and a local engine serves `model`, so
/// the caller answers locally.
///
/// # Errors
/// Every upstream failed (502/504/429 naming them).
pub(crate) async fn forward<T: serde::Serialize>(
    state: &AppState,
    endpoint: Endpoint,
    model: &str,
    req: &T,
    stream: bool,
    tally: Option<&Arc<Tally>>,
) -> Result<Option<Response>, ApiError> {
    let body = serde_json::to_value(req)
        .map_err(|e| ApiError::Internal(format!("could not re-encode the request: {e}")))?;
    let permit = Arc::clone(state.upstream_gate())
        .try_acquire_owned()
        .map_err(|_| {
            state.metrics().rate_limited("upstream requests in flight");
            ApiError::Overloaded {
                what: format!(
                    "{} requests are already being forwarded to upstreams",
                    state.config().upstream_max_in_flight
                ),
                retry_after: 1,
            }
        })?;
    match state.proxy().forward(endpoint, model, body, stream).await {
        Ok(mut f) => {
            if let Some(t) = tally
                && (200..300).contains(&f.status)
            {
                match f.body {
                    ForwardedBody::Full(ref b) => {
                        if let Some((prompt, completion)) = usage_of(b) {
                            t.usage(prompt, completion);
                        }
                    }
                    ForwardedBody::Stream(s) => {
                        t.expect_usage();
                        f.body = ForwardedBody::Stream(Box::pin(tap_stream(s, Arc::clone(t))));
                    }
                }
            }
            // The permit is held until the (possibly streamed) answer has been sent.
            Ok(Some(guard_body(response(f), permit)))
        }
        Err(e) if e.local_fallback_allowed() && state.serves_locally(model) => {
            tracing::warn!(model, "answering from the local engine: {e}");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads a piped SSE stream as it passes: each content delta counts as a token (time to
/// first token, inter-token latency) and the last `usage` event is the request's usage,
/// recorded when the stream ends or is dropped (zero tokens when the upstream sent none).
fn tap_stream(
    inner: ingot_proxy::sse::ByteStream,
    tally: Arc<Tally>,
) -> impl futures::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send {
    struct Tap {
        tally: Arc<Tally>,
        line: Vec<u8>,
        usage: Option<(u64, u64)>,
    }
    impl Tap {
        fn feed(&mut self, bytes: &[u8]) {
            for &b in bytes {
                if b != b'\n' {
                    self.line.push(b);
                    continue;
                }
                let line = std::mem::take(&mut self.line);
                let Some(data) = line.strip_prefix(b"data:") else {
                    continue;
                };
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(data.trim_ascii()) else {
                    continue;
                };
                if let Some(usage) = usage_in(&v) {
                    self.usage = Some(usage);
                }
                let has_text = v["choices"].as_array().is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["delta"]["content"]
                            .as_str()
                            .is_some_and(|t| !t.is_empty())
                    })
                });
                if has_text {
                    self.tally.token();
                }
            }
        }
    }
    impl Drop for Tap {
        fn drop(&mut self) {
            let (prompt, completion) = self.usage.unwrap_or_default();
            self.tally.usage(prompt, completion);
        }
    }
    let mut tap = Tap {
        tally,
        line: Vec::new(),
        usage: None,
    };
    futures::StreamExt::map(inner, move |chunk| {
        if let Ok(bytes) = &chunk {
            tap.feed(bytes);
        }
        chunk
    })
}

/// `usage` of an upstream's JSON answer (chat: prompt and completion tokens; embeddings:
/// prompt tokens). Streamed answers are piped through unread, so only their requests count.
fn usage_of(body: &[u8]) -> Option<(u64, u64)> {
    usage_in(&serde_json::from_slice(body).ok()?)
}

/// `usage` of a chat/embeddings answer or stream chunk, when it has one (a JSON object).
fn usage_in(v: &serde_json::Value) -> Option<(u64, u64)> {
    let u = v.get("usage")?.as_object()?;
    let n = |k: &str| u.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    Some((n("prompt_tokens"), n("completion_tokens")))
}

fn response(f: Forwarded) -> Response {
    if !(200..300).contains(&f.status) {
        tracing::info!(
            upstream = %f.upstream,
            status = f.status,
            "passing the upstream's client error back"
        );
    }
    let stream = matches!(f.body, ForwardedBody::Stream(_));
    let mut resp = match f.body {
        ForwardedBody::Full(b) => Response::new(Body::from(b)),
        ForwardedBody::Stream(s) => Response::new(Body::from_stream(s)),
    };
    *resp.status_mut() = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = resp.headers_mut();
    let content_type = f
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
        .unwrap_or(HeaderValue::from_static("application/json"));
    h.insert(header::CONTENT_TYPE, content_type);
    if stream {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    if let Ok(v) = HeaderValue::from_str(&f.upstream) {
        h.insert(UPSTREAM_HEADER, v);
    }
    resp
}
