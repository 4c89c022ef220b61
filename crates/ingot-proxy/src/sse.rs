//! Re-streaming an upstream's body: bytes go through unchanged as they arrive.
//!
//! When an SSE stream breaks off (connection lost, nothing for `timeout`), the client gets
//! an OpenAI-shaped error event followed by `data: [DONE]`, as a local stream would send
//! (wire-spec §2.4). A stream that ends cleanly without `[DONE]` (some servers omit it)
//! gets one appended. A non-SSE body that breaks off ends in an I/O error, which aborts the
//! response rather than handing over a truncated body that looks whole.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use ingot_protocol::error::StreamError;

use crate::stats::{Counters, bump};

/// A response body on its way to the client.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

type Upstream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

const TAIL: usize = 64;
const DONE: &[u8] = b"data: [DONE]\n\n";

struct Pipe {
    first: Option<Bytes>,
    inner: Upstream,
    idle: Duration,
    sse: bool,
    tail: Vec<u8>,
    finished: bool,
    upstream: String,
    counters: Arc<Counters>,
}

impl Pipe {
    fn remember(&mut self, b: &[u8]) {
        self.tail
            .extend_from_slice(&b[b.len().saturating_sub(TAIL)..]);
        let cut = self.tail.len().saturating_sub(TAIL);
        self.tail.drain(..cut);
    }

    fn saw_done(&self) -> bool {
        let t = self.tail.trim_ascii_end();
        t.ends_with(b"data: [DONE]") || t.ends_with(b"data:[DONE]")
    }

    fn at_boundary(&self) -> bool {
        self.tail.is_empty() || self.tail.ends_with(b"\n\n") || self.tail.ends_with(b"\r\n\r\n")
    }

    /// The bytes that close a broken stream: an error event and `[DONE]`.
    fn fail(&mut self, why: String) -> Result<Bytes, std::io::Error> {
        self.finished = true;
        bump(&self.counters.stream_errors);
        tracing::warn!(upstream = %self.upstream, "stream broke off: {why}");
        if !self.sse {
            return Err(std::io::Error::other(why));
        }
        let mut out = Vec::new();
        if !self.at_boundary() {
            out.extend_from_slice(b"\n\n");
        }
        out.extend_from_slice(b"data: ");
        let err = StreamError::new(why, "UpstreamError", 502);
        if serde_json::to_writer(&mut out, &err).is_err() {
            out.extend_from_slice(b"{}");
        }
        out.extend_from_slice(b"\n\n");
        out.extend_from_slice(DONE);
        Ok(Bytes::from(out))
    }
}

/// Pipes `first` (already received) and the rest of `inner` to the client.
pub(crate) fn pipe(
    first: Bytes,
    inner: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    idle: Duration,
    sse: bool,
    upstream: String,
    counters: Arc<Counters>,
) -> ByteStream {
    let p = Pipe {
        first: Some(first),
        inner: Box::pin(inner),
        idle,
        sse,
        tail: Vec::with_capacity(2 * TAIL),
        finished: false,
        upstream,
        counters,
    };
    Box::pin(futures::stream::unfold(p, |mut p| async move {
        if p.finished {
            return None;
        }
        if let Some(b) = p.first.take() {
            p.remember(&b);
            return Some((Ok(b), p));
        }
        let item = match tokio::time::timeout(p.idle, p.inner.next()).await {
            Ok(Some(Ok(b))) => {
                p.remember(&b);
                Ok(b)
            }
            Ok(None) => {
                p.finished = true;
                if !p.sse || p.saw_done() {
                    return None;
                }
                if !p.at_boundary() {
                    let why = format!("upstream `{}` ended the stream mid-event", p.upstream);
                    p.fail(why)
                } else {
                    Ok(Bytes::from_static(DONE))
                }
            }
            Ok(Some(Err(e))) => {
                let why = format!("upstream `{}` broke off the stream: {e}", p.upstream);
                p.fail(why)
            }
            Err(_) => {
                let why = format!(
                    "upstream `{}` sent nothing for {} s",
                    p.upstream,
                    p.idle.as_secs_f64()
                );
                p.fail(why)
            }
        };
        Some((item, p))
    }))
}

/// What the client receives from [`pipe`] when the upstream sends `pieces` and ends
/// cleanly: the re-streaming logic without a connection, for the fuzz targets
/// (`crates/ingot-fuzz`). Needs a Tokio runtime with time enabled.
#[doc(hidden)]
pub async fn pipe_pieces(pieces: Vec<Bytes>, sse: bool) -> Vec<Result<Bytes, std::io::Error>> {
    let mut it = pieces.into_iter();
    let first = it.next().unwrap_or_default();
    let rest: Vec<reqwest::Result<Bytes>> = it.map(Ok).collect();
    pipe(
        first,
        futures::stream::iter(rest),
        Duration::from_secs(3600),
        sse,
        "fuzz".into(),
        Arc::new(Counters::default()),
    )
    .collect()
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(chunks: Vec<reqwest::Result<Bytes>>, sse: bool) -> (Vec<u8>, bool, u64) {
        let counters = Arc::new(Counters::default());
        let mut it = chunks.into_iter();
        let first = match it.next() {
            Some(Ok(b)) => b,
            _ => Bytes::new(),
        };
        let s = pipe(
            first,
            futures::stream::iter(it.collect::<Vec<_>>()),
            Duration::from_secs(5),
            sse,
            "up".into(),
            counters.clone(),
        );
        let items: Vec<_> = s.collect().await;
        let mut out = Vec::new();
        let mut failed = false;
        for i in items {
            match i {
                Ok(b) => out.extend_from_slice(&b),
                Err(_) => failed = true,
            }
        }
        let errs = counters
            .stream_errors
            .load(std::sync::atomic::Ordering::Relaxed);
        (out, failed, errs)
    }

    fn ok(s: &'static str) -> reqwest::Result<Bytes> {
        Ok(Bytes::from_static(s.as_bytes()))
    }

    #[tokio::test]
    async fn passes_bytes_unchanged() {
        let (out, failed, errs) = run(
            vec![ok("data: {\"a\":1}\n"), ok("\ndata: [DO"), ok("NE]\n\n")],
            true,
        )
        .await;
        assert_eq!(out, b"data: {\"a\":1}\n\ndata: [DONE]\n\n");
        assert!(!failed);
        assert_eq!(errs, 0);
    }

    #[tokio::test]
    async fn appends_missing_done() {
        let (out, ..) = run(vec![ok("data: {}\n\n")], true).await;
        assert_eq!(out, b"data: {}\n\ndata: [DONE]\n\n");
    }

    #[tokio::test]
    async fn truncated_event_gets_error_and_done() {
        let (out, failed, errs) = run(vec![ok("data: {}\n\ndata: {\"x\"")], true).await;
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with("data: {}\n\ndata: {\"x\"\n\ndata: {\"error\":{\"object\":\"error\""),
            "{s}"
        );
        assert!(
            s.contains("mid-event") && s.ends_with("\n\ndata: [DONE]\n\n"),
            "{s}"
        );
        assert!(!failed);
        assert_eq!(errs, 1);
    }

    #[tokio::test]
    async fn non_sse_passes_through_without_additions() {
        let (out, failed, _) = run(vec![ok("{\"a\":"), ok("1}")], false).await;
        assert_eq!(out, b"{\"a\":1}");
        assert!(!failed);
    }
}
