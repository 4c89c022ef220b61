//! Server-sent-event framing: `data: <one-line JSON>\n\n`, ending in `data: [DONE]\n\n`.

use std::time::Duration;

use axum::body::Bytes;
use futures::{Stream, StreamExt as _};
use serde::Serialize;

/// The comment sent on a quiet stream, so that proxies with a read timeout keep it open.
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// One event carrying `value` as compact JSON.
pub fn event<T: Serialize>(value: &T) -> Bytes {
    let mut buf = b"data: ".to_vec();
    // Serialising plain data structs cannot fail; an empty object is sent if it ever does.
    if serde_json::to_writer(&mut buf, value).is_err() {
        buf.extend_from_slice(b"{}");
    }
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// The terminator.
pub fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// `body` with a [`KEEP_ALIVE`] comment whenever `period` passes without a byte (while a
/// request waits in the queue, a model thinks, or an upstream is slow). Comments go between
/// events only, never inside one an upstream sent in pieces.
pub fn keep_alive<S, E>(body: S, period: Duration) -> impl Stream<Item = Result<Bytes, E>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Send + 'static,
{
    struct State<S> {
        inner: std::pin::Pin<Box<S>>,
        /// The bytes sent so far end an event (or none were sent).
        at_boundary: bool,
        done: bool,
    }
    let state = State {
        inner: Box::pin(body),
        at_boundary: true,
        done: false,
    };
    futures::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match tokio::time::timeout(period, st.inner.next()).await {
                Ok(Some(Ok(bytes))) => {
                    if !bytes.is_empty() {
                        st.at_boundary = bytes.ends_with(b"\n\n");
                    }
                    return Some((Ok(bytes), st));
                }
                Ok(Some(Err(e))) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                Ok(None) => return None,
                Err(_) if st.at_boundary => {
                    return Some((Ok(Bytes::from_static(KEEP_ALIVE)), st));
                }
                Err(_) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quiet_streams_get_comments_between_events_only() {
        let pieces: Vec<(u64, &'static [u8])> = vec![
            (0, b"data: {\"a\""),
            (250, b":1}\n\n"),
            (250, b"data: [DONE]\n\n"),
        ];
        let body = futures::stream::iter(pieces).then(|(wait, b)| async move {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            Ok::<_, std::convert::Infallible>(Bytes::from_static(b))
        });
        let out: Vec<Bytes> = keep_alive(body, Duration::from_millis(100))
            .map(|r| r.unwrap())
            .collect()
            .await;
        // None inside the first event (sent in two pieces), some while waiting after it.
        assert_eq!(&out[0][..], b"data: {\"a\"");
        assert_eq!(&out[1][..], b":1}\n\n");
        assert_eq!(&out[out.len() - 1][..], b"data: [DONE]\n\n");
        let between = &out[2..out.len() - 1];
        assert!(!between.is_empty() && between.iter().all(|b| &b[..] == KEEP_ALIVE));
    }

    #[test]
    fn framing_is_exact() {
        assert_eq!(
            &event(&serde_json::json!({"a":"x\ny"}))[..],
            b"data: {\"a\":\"x\\ny\"}\n\n"
        );
        assert_eq!(&done()[..], b"data: [DONE]\n\n");
    }
}
