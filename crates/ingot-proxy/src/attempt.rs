//! One attempt of a request on one replica: the HTTP call, the first byte of a stream, and
//! the [`Attempt`] outcome the retry loop acts on.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tokio::time::Instant;

use crate::error::{FailureKind, excerpt};
use crate::replica::Replica;
use crate::retry::{self, Decision};
use crate::spec::{ApiKey, UpstreamSpec};
use crate::sse::pipe;
use crate::stats::bump;
use crate::upstream::{Endpoint, Forwarded, ForwardedBody, Upstream};

/// Bytes of an error body read for the error message.
const ERROR_BODY_LIMIT: usize = 4096;

/// What one request asks of an upstream, the same for each of its attempts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub(crate) endpoint: Endpoint,
    /// The JSON body, `model` already renamed for this upstream.
    pub(crate) body: &'a Bytes,
    pub(crate) stream: bool,
    pub(crate) timeout: Duration,
    /// (the upstream's id, the client's id) when `rename` applies.
    pub(crate) rename: Option<(&'a str, &'a str)>,
    /// The key the caller presented, for upstreams that forward it.
    pub(crate) caller: Option<&'a ApiKey>,
}

impl<'a> Call<'a> {
    /// The key sent to `spec`'s upstream: the caller's when it forwards callers' keys and
    /// the caller sent one, else its own.
    pub(crate) fn key_for(&self, spec: &'a UpstreamSpec) -> Option<&'a ApiKey> {
        match self.caller {
            Some(k) if spec.forward_client_key => Some(k),
            _ => spec.api_key.as_ref(),
        }
    }
}

/// How an attempt ended.
pub(crate) enum Attempt {
    /// An answer for the client (2xx, or a client error passed back).
    Done(Forwarded),
    /// Worth another try (with the upstream's wait, when it gave one).
    Retry(FailureKind, Option<Duration>),
    /// This upstream cannot serve it; the next one may.
    FailOver(FailureKind),
}

/// One attempt of `call` on `replica` of `up`, with `client` (`None`: no HTTP client, the
/// pool routes nothing).
pub(crate) async fn attempt(
    client: Option<&reqwest::Client>,
    up: &Upstream,
    replica: &Arc<Replica>,
    call: &Call<'_>,
) -> Attempt {
    let Call {
        endpoint,
        stream,
        timeout,
        rename,
        ..
    } = *call;
    let url = &replica.urls[endpoint.index()];
    let deadline = Instant::now() + timeout;
    let outstanding = replica.begin();
    let timed_out = || {
        bump(&up.counters.timeouts);
        Attempt::Retry(FailureKind::Timeout { after: timeout }, None)
    };
    let Some(client) = client else {
        return Attempt::FailOver(FailureKind::Connect("no HTTP client".to_owned()));
    };
    let mut rb = client
        .post(url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(
            ACCEPT,
            if stream {
                "text/event-stream"
            } else {
                "application/json"
            },
        )
        .body(call.body.clone());
    let key = call.key_for(&up.spec);
    if let Some(key) = key {
        rb = rb.bearer_auth(key.expose());
    }
    let resp = match tokio::time::timeout_at(deadline, rb.send()).await {
        Err(_) => return timed_out(),
        Ok(Err(e)) if e.is_timeout() => return timed_out(),
        Ok(Err(e)) => {
            bump(&up.counters.connect_errors);
            return Attempt::Retry(FailureKind::Connect(describe(e)), None);
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let forwarded = |body| Forwarded {
        upstream: up.spec.name.clone(),
        status,
        content_type: content_type.clone(),
        body,
    };
    let decision = match retry::decide(status) {
        // The caller's own key was refused: that is the caller's to know.
        Decision::FailOver
            if key.is_some_and(|k| call.caller == Some(k)) && matches!(status, 401 | 403) =>
        {
            Decision::PassThrough
        }
        d => d,
    };
    match decision {
        Decision::Success if stream => {
            let mut s = resp.bytes_stream();
            let first = loop {
                match tokio::time::timeout_at(deadline, s.next()).await {
                    Err(_) => return timed_out(),
                    Ok(None) => {
                        return Attempt::Retry(
                            FailureKind::Body("the stream ended before its first byte".into()),
                            None,
                        );
                    }
                    Ok(Some(Err(e))) => {
                        return Attempt::Retry(FailureKind::Body(describe(e)), None);
                    }
                    Ok(Some(Ok(b))) if b.is_empty() => {}
                    Ok(Some(Ok(b))) => break b,
                }
            };
            let sse = content_type
                .as_deref()
                .is_some_and(|c| c.trim_start().starts_with("text/event-stream"));
            let piped = pipe(
                first,
                s,
                timeout,
                sse,
                up.spec.name.clone(),
                up.counters.clone(),
            );
            // The replica counts the stream as outstanding until it has been sent or
            // dropped.
            let piped = piped.map(move |chunk| {
                let _held = &outstanding;
                chunk
            });
            Attempt::Done(forwarded(ForwardedBody::Stream(Box::pin(piped))))
        }
        Decision::Success | Decision::PassThrough => {
            match tokio::time::timeout_at(deadline, resp.bytes()).await {
                Err(_) => timed_out(),
                Ok(Err(e)) => Attempt::Retry(FailureKind::Body(describe(e)), None),
                Ok(Ok(b)) => {
                    let b = match rename {
                        Some((theirs, ours)) if (200..300).contains(&status) => {
                            rename_back(b, theirs, ours)
                        }
                        _ => b,
                    };
                    Attempt::Done(forwarded(ForwardedBody::Full(b)))
                }
            }
        }
        decision @ (Decision::Retry | Decision::FailOver) => {
            bump(&up.counters.status_errors);
            if status == 429 {
                bump(&up.counters.rate_limited);
            }
            let hint = retry::retry_after(resp.headers());
            let text = read_some(resp, deadline).await;
            let kind = FailureKind::Status {
                status,
                excerpt: excerpt(&text),
                retry_after: hint,
            };
            if decision == Decision::Retry {
                Attempt::Retry(kind, hint)
            } else {
                Attempt::FailOver(kind)
            }
        }
    }
}

/// The start of an error body, read until the deadline at most.
async fn read_some(resp: reqwest::Response, deadline: Instant) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = resp.bytes_stream();
    while out.len() < ERROR_BODY_LIMIT {
        match tokio::time::timeout_at(deadline, s.next()).await {
            Ok(Some(Ok(b))) => out.extend_from_slice(&b),
            _ => break,
        }
    }
    out.truncate(ERROR_BODY_LIMIT);
    out
}

/// A JSON answer names the id the client asked for, not the upstream's.
pub(crate) fn rename_back(body: Bytes, theirs: &str, ours: &str) -> Bytes {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    match v.get_mut("model") {
        Some(m) if m.as_str() == Some(theirs) => {
            *m = serde_json::Value::String(ours.to_owned());
        }
        _ => return body,
    }
    serde_json::to_vec(&v).map(Bytes::from).unwrap_or(body)
}

/// A reqwest error with its causes, without the URL (the failure record has it).
pub(crate) fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        src = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_back_only_touches_the_model() {
        let b = rename_back(
            Bytes::from_static(br#"{"model":"llama-x","n":1}"#),
            "llama-x",
            "meta/x",
        );
        assert_eq!(&b[..], br#"{"model":"meta/x","n":1}"#);
        let raw = Bytes::from_static(b"not json");
        assert_eq!(rename_back(raw.clone(), "a", "b"), raw);
    }

    #[test]
    fn the_callers_key_goes_only_where_it_is_forwarded() {
        let mut spec = UpstreamSpec::new("u", "http://h/v1", vec!["*".into()]);
        spec.api_key = Some(ApiKey::new("own"));
        let caller = ApiKey::new("theirs");
        let body = Bytes::new();
        let call = Call {
            endpoint: Endpoint::ChatCompletions,
            body: &body,
            stream: false,
            timeout: Duration::from_secs(1),
            rename: None,
            caller: Some(&caller),
        };
        assert_eq!(call.key_for(&spec).map(ApiKey::expose), Some("own"));
        spec.forward_client_key = true;
        assert_eq!(call.key_for(&spec).map(ApiKey::expose), Some("theirs"));
        let anonymous = Call {
            caller: None,
            ..call
        };
        assert_eq!(anonymous.key_for(&spec).map(ApiKey::expose), Some("own"));
    }
}
