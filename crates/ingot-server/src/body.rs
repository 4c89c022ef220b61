//! The request body's edges: a body announced over `body_limit` is refused before a byte of it
//! is read (413), a client that stops sending its body for `body_timeout_secs` gets a 408, and
//! an answer sent without reading the whole body (a 404, 405 or 415, a refusal by size) says
//! `Connection: close`, since the unread rest makes the connection unusable: without it, a
//! client reusing the connection finds it closed under its next request.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;
use crate::state::AppState;

/// The error a watched body yields when the client paused too long; [`ApiError::BodyTimeout`]
/// is made from it where the body is read.
#[derive(Debug, thiserror::Error)]
#[error("no part of the request body arrived for {secs} s")]
pub struct BodyTimeout {
    /// The pause allowed.
    pub secs: u64,
}

/// Whether `e` (a body-reading error, with its sources) is a [`BodyTimeout`].
pub fn timed_out(e: &(dyn std::error::Error + 'static)) -> Option<u64> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<BodyTimeout>() {
            return Some(t.secs);
        }
        cur = err.source();
    }
    None
}

/// The middleware: see the module's doc.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let cfg = state.config();
    let (limit, pause) = (cfg.body_limit, cfg.body_timeout_secs.max(1));
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let has_body =
        announced.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING);
    if announced.is_some_and(|n| n > limit as u64) {
        return close(ApiError::PayloadTooLarge { limit }.into_response());
    }
    if !has_body {
        // Nothing to read, nothing to watch: no timer for the many requests without a body.
        return next.run(req).await;
    }
    let done = Arc::new(AtomicBool::new(false));
    let req = req.map(|inner| {
        Body::new(Watched {
            inner,
            done: done.clone(),
            pause: Duration::from_secs(pause),
            deadline: Box::pin(tokio::time::sleep(Duration::from_secs(pause))),
        })
    });
    let resp = next.run(req).await;
    if done.load(Ordering::Acquire) {
        resp
    } else {
        close(resp)
    }
}

fn close(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// A request body that records when it was read to its end and fails when the client pauses
/// longer than `pause` between two pieces.
struct Watched {
    inner: Body,
    done: Arc<AtomicBool>,
    pause: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.done.store(true, Ordering::Release);
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => {
                if this.inner.is_end_stream() {
                    this.done.store(true, Ordering::Release);
                }
                this.deadline.as_mut().reset(Instant::now() + this.pause);
                Poll::Ready(Some(frame))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimeout {
                    secs: this.pause.as_secs(),
                })))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
