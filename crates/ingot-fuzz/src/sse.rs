//! The SSE readers: the SDK's (`ingot_client::EventStream`, hand-written line splitting and
//! chunk parsing) and the proxy's re-streamer (`ingot_proxy::sse`, which passes an
//! upstream's bytes through and closes broken streams with an error event and `[DONE]`).
//!
//! Input: the first byte seeds how the rest is cut into network pieces (and, for the proxy,
//! its lowest bit says whether the body is SSE); the rest is the response body.

use bytes::Bytes;
use futures::StreamExt as _;
use ingot_client::EventStream;
use ingot_protocol::chat_response::ChatCompletionChunk;
use ingot_protocol::completions::CompletionResponse;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{block_on, pieces};

/// The SDK's stream reader, for chat and text completion chunks. Invariants: it ends, an
/// error is its last item, and it reads the same items whatever the piece boundaries.
pub fn sse_client(data: &[u8]) {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    read::<ChatCompletionChunk>(body, seed);
    read::<CompletionResponse>(body, seed);
}

/// What a reader yielded: each chunk as JSON, each error as its message.
type Items = Vec<Result<serde_json::Value, String>>;

fn read<T: DeserializeOwned + Serialize + Send + 'static>(body: &[u8], seed: u8) {
    let collect = |pieces: Vec<Bytes>| {
        block_on(async move {
            EventStream::<T>::from_pieces(pieces)
                .map(|item| {
                    item.map(|c| serde_json::to_value(&c).unwrap_or_default())
                        .map_err(|e| e.to_string())
                })
                .collect::<Items>()
                .await
        })
    };
    let Some(split) = collect(pieces(body, seed)) else {
        return;
    };
    if let Some(i) = split.iter().position(Result::is_err) {
        assert_eq!(i + 1, split.len(), "the stream went on after an error");
    }
    let whole = collect(vec![Bytes::copy_from_slice(body)]);
    assert_eq!(
        whole.as_ref(),
        Some(&split),
        "piece boundaries changed what was read"
    );
}

/// The proxy's re-streamer. Invariants: the upstream's bytes reach the client unchanged and
/// first; a non-SSE body is passed as is; an SSE body ends in `[DONE]` (the upstream's own,
/// or one added, after an error event when the upstream stopped mid-event); the outcome
/// does not depend on the piece boundaries.
pub fn sse_proxy(data: &[u8]) {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let sse = seed & 1 == 1;
    let run = |pieces: Vec<Bytes>| block_on(ingot_proxy::sse::pipe_pieces(pieces, sse));
    let Some(split) = run(pieces(body, seed >> 1)) else {
        return;
    };
    let mut out = Vec::new();
    for item in &split {
        assert!(item.is_ok(), "a clean end became an error: {item:?}");
        if let Ok(b) = item {
            out.extend_from_slice(b);
        }
    }
    assert!(out.starts_with(body), "the upstream's bytes were changed");
    let added = &out[body.len()..];
    if !sse {
        assert!(added.is_empty(), "bytes added to a non-SSE body");
    } else if added.is_empty() {
        let t = body.trim_ascii_end();
        assert!(
            t.ends_with(b"data: [DONE]") || t.ends_with(b"data:[DONE]"),
            "an SSE body without [DONE] got none"
        );
    } else {
        assert!(
            added.ends_with(b"data: [DONE]\n\n"),
            "what was added does not end in [DONE]"
        );
    }
    let whole = run(vec![Bytes::copy_from_slice(body)]).unwrap_or_default();
    let whole: Vec<u8> = whole.into_iter().flatten().flatten().collect();
    assert_eq!(whole, out, "piece boundaries changed the output");
}
