//! [`EventStream`]: the chunks of a streamed chat completion ([`ChatStream`]) or text
//! completion ([`CompletionStream`]).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use ingot_protocol::chat_response::ChatCompletionChunk;
use ingot_protocol::completions::CompletionResponse;
use serde::de::DeserializeOwned;

use crate::ClientError;
use crate::sse::{Parsed, SseDecoder, SseEvent, parse_data};

/// The chunks of a streamed chat completion, as returned by
/// [`Client::chat_stream`](crate::Client::chat_stream).
pub type ChatStream = EventStream<ChatCompletionChunk>;

/// The chunks of a streamed text completion, as returned by
/// [`Client::completions_stream`](crate::Client::completions_stream).
pub type CompletionStream = EventStream<CompletionResponse>;

/// The typed chunks of a server-sent event stream.
///
/// The stream ends after `data: [DONE]` or when the body ends. An error (an `error` event
/// from the server, a chunk that does not parse, a broken connection, or no data for longer
/// than the configured timeout) is yielded once and ends the stream.
pub struct EventStream<T> {
    inner: BoxStream<'static, Result<T, ClientError>>,
    retries: u32,
}

impl<T: DeserializeOwned + Send + 'static> EventStream<T> {
    /// Reads `body` as SSE; `idle` bounds the wait for each piece.
    pub(crate) fn new(
        body: BoxStream<'static, reqwest::Result<Bytes>>,
        idle: Duration,
        retries: u32,
    ) -> Self {
        let state = State {
            body: Some(body),
            decoder: SseDecoder::default(),
            pending: VecDeque::new(),
            done: false,
        };
        let inner = futures::stream::unfold(state, move |mut st| async move {
            let item = st.next(idle, retries).await?;
            Some((item, st))
        })
        .boxed();
        Self { inner, retries }
    }

    /// Reads a body that arrives in `pieces` and then ends: the whole SSE reader without a
    /// connection, for the fuzz targets (`crates/ingot-fuzz`). Poll it inside a Tokio
    /// runtime with time enabled.
    #[doc(hidden)]
    pub fn from_pieces(pieces: Vec<Bytes>) -> Self {
        let body = futures::stream::iter(pieces.into_iter().map(Ok)).boxed();
        Self::new(body, Duration::from_secs(3600), 0)
    }

    /// How many times the request was retried before the stream started.
    pub fn retries(&self) -> u32 {
        self.retries
    }
}

impl<T> std::fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl<T> Stream for EventStream<T> {
    type Item = Result<T, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

struct State<T> {
    /// `None` once the body has ended.
    body: Option<BoxStream<'static, reqwest::Result<Bytes>>>,
    decoder: SseDecoder,
    pending: VecDeque<Parsed<T>>,
    done: bool,
}

impl<T: DeserializeOwned> State<T> {
    async fn next(&mut self, idle: Duration, retries: u32) -> Option<Result<T, ClientError>> {
        loop {
            if self.done {
                return None;
            }
            match self.pending.pop_front() {
                Some(Parsed::Chunk(chunk)) => return Some(Ok(*chunk)),
                Some(Parsed::Done) => {
                    self.done = true;
                    return None;
                }
                Some(Parsed::Error(e)) => return Some(Err(self.fail(e))),
                None => {}
            }
            let Some(body) = self.body.as_mut() else {
                self.done = true;
                return None;
            };
            let mut events = Vec::new();
            match tokio::time::timeout(idle, body.next()).await {
                Err(_) => {
                    return Some(Err(self.fail(ClientError::Timeout {
                        after: idle,
                        retries,
                    })));
                }
                Ok(Some(Err(e))) => {
                    let err = ClientError::transport(&e, idle).with_retries(retries);
                    return Some(Err(self.fail(err)));
                }
                Ok(Some(Ok(piece))) => self.decoder.push(&piece, &mut events),
                Ok(None) => {
                    self.body = None;
                    self.decoder.finish(&mut events);
                }
            }
            self.queue(events);
        }
    }

    fn queue(&mut self, events: Vec<SseEvent>) {
        let mut parsed = Vec::new();
        for event in events {
            parse_data(&event.data, &mut parsed);
        }
        self.pending.extend(parsed);
    }

    /// Ends the stream after `err`, dropping the connection.
    fn fail(&mut self, err: ClientError) -> ClientError {
        self.done = true;
        self.body = None;
        self.pending.clear();
        err
    }
}
