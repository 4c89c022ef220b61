//! A backend's [`Reply`] as an HTTP response, and the one path by which its usage reaches
//! the metrics and the ledger (through the request's [`Tally`]), for local and upstream
//! answers alike.
//!
//! - A typed body is sent as JSON; its `usage` is recorded.
//! - Typed chunks are sent as server-sent events ending in `data: [DONE]`; the usage chunk
//!   is sent only when the client asked for it, and recorded either way.
//! - An upstream's answer is passed through byte for byte; a stream is read as it passes
//!   (each content delta is a token for the latency metrics, the last `usage` event is the
//!   usage).
//!
//! A stream the client leaves early records what it had: the prompt tokens and the content
//! deltas sent so far.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use ingot_core::{ChunkStream, RawBody, Reply, Upstreamed};
use ingot_protocol::chat_response::{ChatCompletionChunk, ChatCompletionResponse, Usage};
use ingot_protocol::completions::CompletionResponse;
use ingot_protocol::embeddings::EmbeddingResponse;
use ingot_protocol::ranking::RankingResponse;
use ingot_protocol::trellis::TrellisResponse;
use serde::Serialize;

use crate::observe::Tally;
use crate::sse;

/// Response header naming the upstream that answered.
pub const UPSTREAM_HEADER: &str = "x-ingot-upstream";

/// What a reply says about its usage.
pub trait Metered {
    /// Prompt and completion tokens, when this body or chunk carries them.
    fn usage(&self) -> Option<(u64, u64)>;

    /// Whether this chunk carries generated text.
    fn has_text(&self) -> bool {
        false
    }

    /// Whether this chunk only carries the usage (sent only when asked for).
    fn usage_only(&self) -> bool {
        false
    }
}

fn tokens(u: &Usage) -> (u64, u64) {
    (u64::from(u.prompt_tokens), u64::from(u.completion_tokens))
}

impl Metered for ChatCompletionResponse {
    fn usage(&self) -> Option<(u64, u64)> {
        self.usage.as_ref().map(tokens)
    }
}

impl Metered for ChatCompletionChunk {
    fn usage(&self) -> Option<(u64, u64)> {
        self.usage.as_ref().map(tokens)
    }

    fn has_text(&self) -> bool {
        self.choices
            .iter()
            .any(|c| c.delta.content.as_ref().is_some_and(|t| !t.is_empty()))
    }

    fn usage_only(&self) -> bool {
        self.choices.is_empty() && self.usage.is_some()
    }
}

impl Metered for CompletionResponse {
    fn usage(&self) -> Option<(u64, u64)> {
        self.usage.as_ref().map(tokens)
    }

    fn has_text(&self) -> bool {
        self.choices.iter().any(|c| !c.text.is_empty())
    }

    fn usage_only(&self) -> bool {
        self.choices.is_empty() && self.usage.is_some()
    }
}

impl Metered for RankingResponse {
    fn usage(&self) -> Option<(u64, u64)> {
        Some((self.usage.map_or(0, |u| u64::from(u.prompt_tokens)), 0))
    }
}

impl Metered for EmbeddingResponse {
    fn usage(&self) -> Option<(u64, u64)> {
        Some((u64::from(self.usage.prompt_tokens), 0))
    }
}

impl Metered for TrellisResponse {
    fn usage(&self) -> Option<(u64, u64)> {
        Some((0, 0))
    }
}

impl Metered for ingot_core::NoChunks {
    fn usage(&self) -> Option<(u64, u64)> {
        match *self {}
    }
}

impl Metered for serde_json::Value {
    fn usage(&self) -> Option<(u64, u64)> {
        let u = self.get("usage")?.as_object()?;
        let n = |k: &str| u.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
        Some((n("prompt_tokens"), n("completion_tokens")))
    }

    fn has_text(&self) -> bool {
        // Chat chunks carry `delta.content`, completion chunks `text`.
        self["choices"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["delta"]["content"]
                    .as_str()
                    .or_else(|| c["text"].as_str())
                    .is_some_and(|t| !t.is_empty())
            })
        })
    }
}

/// The response for `reply`; `include_usage`: send a stream's usage chunk.
pub fn render<B, C>(reply: Reply<B, C>, tally: Option<Arc<Tally>>, include_usage: bool) -> Response
where
    B: Serialize + Metered,
    C: Serialize + Metered + Send + 'static,
{
    match reply {
        Reply::Body(body) => {
            if let (Some(t), Some((p, c))) = (&tally, body.usage()) {
                t.usage(p, c);
            }
            axum::Json(body).into_response()
        }
        Reply::Stream(chunks) => typed_stream(chunks, tally, include_usage),
        Reply::Upstream(up) => upstream(up, tally),
    }
}

/// Counts a stream's tokens as they pass and records its usage once, when it ends or is
/// dropped.
struct Recorder {
    tally: Option<Arc<Tally>>,
    prompt: u64,
    deltas: u64,
    usage: Option<(u64, u64)>,
}

impl Recorder {
    fn new(tally: Option<Arc<Tally>>, prompt: u64) -> Self {
        if let Some(t) = &tally {
            t.expect_usage();
        }
        Self {
            tally,
            prompt,
            deltas: 0,
            usage: None,
        }
    }

    fn see(&mut self, item: &impl Metered) {
        if item.has_text() {
            self.deltas += 1;
            if let Some(t) = &self.tally {
                t.token();
            }
        }
        if let Some(u) = item.usage() {
            self.usage = Some(u);
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(t) = &self.tally {
            let (p, c) = self.usage.unwrap_or((self.prompt, self.deltas));
            t.usage(p, c);
        }
    }
}

fn typed_stream<C>(
    chunks: ChunkStream<C>,
    tally: Option<Arc<Tally>>,
    include_usage: bool,
) -> Response
where
    C: Serialize + Metered + Send + 'static,
{
    let period = keep_alive_period(tally.as_deref());
    let mut rec = Recorder::new(tally, u64::from(chunks.prompt_tokens));
    let mut ended = false;
    let body = chunks
        .chunks
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .filter_map(move |item| {
            let out = if ended {
                None
            } else {
                match item {
                    Some(Ok(chunk)) => {
                        rec.see(&chunk);
                        (include_usage || !chunk.usage_only()).then(|| sse::event(&chunk))
                    }
                    Some(Err(e)) => {
                        ended = true;
                        let mut out = sse::event(&e).to_vec();
                        out.extend_from_slice(&sse::done());
                        Some(Bytes::from(out))
                    }
                    None => Some(sse::done()),
                }
            };
            futures::future::ready(out.map(Ok::<_, Infallible>))
        });
    event_stream(Response::new(Body::from_stream(sse::keep_alive(
        body, period,
    ))))
}

fn keep_alive_period(tally: Option<&Tally>) -> std::time::Duration {
    tally.map_or(
        std::time::Duration::from_secs(crate::config::DEFAULT_SSE_KEEP_ALIVE_SECS),
        Tally::sse_keep_alive,
    )
}

fn event_stream(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

fn upstream(up: Upstreamed, tally: Option<Arc<Tally>>) -> Response {
    let period = keep_alive_period(tally.as_deref());
    let ok = (200..300).contains(&up.status);
    let stream = matches!(up.body, RawBody::Stream(_));
    let mut resp = match up.body {
        RawBody::Full(b) => {
            if let Some(t) = tally.as_ref().filter(|_| ok)
                && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b)
                && let Some((p, c)) = v.usage()
            {
                t.usage(p, c);
            }
            Response::new(Body::from(b))
        }
        RawBody::Stream(s) => {
            let tally = tally.filter(|_| ok);
            Response::new(Body::from_stream(sse::keep_alive(tap(s, tally), period)))
        }
    };
    *resp.status_mut() = StatusCode::from_u16(up.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = resp.headers_mut();
    let content_type = up
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
        .unwrap_or(HeaderValue::from_static("application/json"));
    h.insert(header::CONTENT_TYPE, content_type);
    if stream {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    if let Ok(v) = HeaderValue::from_str(&up.upstream) {
        h.insert(UPSTREAM_HEADER, v);
    }
    resp
}

/// Reads a piped SSE stream line by line as it passes, without changing a byte.
fn tap(
    inner: ingot_core::backend::ByteStream,
    tally: Option<Arc<Tally>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let mut rec = tally.map(|t| Recorder::new(Some(t), 0));
    let mut line: Vec<u8> = Vec::new();
    inner.map(move |chunk| {
        if let (Ok(bytes), Some(rec)) = (&chunk, rec.as_mut()) {
            for &b in bytes.iter() {
                if b != b'\n' {
                    line.push(b);
                    continue;
                }
                let l = std::mem::take(&mut line);
                if let Some(data) = l.strip_prefix(b"data:")
                    && let Ok(v) = serde_json::from_slice::<serde_json::Value>(data.trim_ascii())
                {
                    rec.see(&v);
                }
            }
        }
        chunk
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_chunks_are_read_for_text_and_usage() {
        let delta: serde_json::Value = serde_json::json!({"choices":[{"delta":{"content":"hi"}}]});
        assert!(delta.has_text());
        assert_eq!(delta.usage(), None);
        let text: serde_json::Value = serde_json::json!({"choices":[{"index":0,"text":"def"}]});
        assert!(text.has_text());
        let usage: serde_json::Value =
            serde_json::json!({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}});
        assert!(!usage.has_text());
        assert_eq!(usage.usage(), Some((3, 2)));
    }
}
