//! Streamed chat completions: SSE framing, errors inside the stream, and `[DONE]`.

use futures::StreamExt;
use ingot_client::ClientError;

use crate::support::{Canned, Server, chat_req, chunk};

#[tokio::test]
async fn events_split_across_pieces_with_crlf() {
    let body = format!(
        ": keep-alive\r\n\r\ndata: {}\r\n\r\ndata: {}\r\n\r\ndata: {}\n\ndata: [DONE]\r\n\r\ndata: {}\n\n",
        chunk("Hel"),
        chunk("lo"),
        serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        }),
        chunk("after done"),
    );
    // Cut inside "data:", inside the JSON, between a '\r' and its '\n', and so on.
    let bytes = body.as_bytes();
    let between_cr_lf = body.find("\r\n\r\ndata").unwrap() + 1;
    let mut cuts = vec![3, 17, 60, between_cr_lf, bytes.len() / 2, bytes.len() - 40];
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut at = 0;
    for cut in cuts {
        pieces.push(std::str::from_utf8(&bytes[at..cut]).unwrap());
        at = cut;
    }
    pieces.push(std::str::from_utf8(&bytes[at..]).unwrap());
    let server = Server::start(vec![Canned::sse(&pieces)]).await;
    let chunks: Vec<_> = server
        .client()
        .chat_stream(&chat_req())
        .await
        .unwrap()
        .collect()
        .await;
    let chunks: Vec<_> = chunks.into_iter().map(Result::unwrap).collect();
    assert_eq!(chunks.len(), 3, "stops at [DONE]");
    let text: String = chunks
        .iter()
        .flat_map(|c| c.choices.iter().filter_map(|ch| ch.delta.content.clone()))
        .collect();
    assert_eq!(text, "Hello");
    assert_eq!(chunks[2].usage.unwrap().total_tokens, 5);

    let seen = &server.seen()[0];
    assert_eq!(seen.json()["stream"], serde_json::json!(true));
    assert_eq!(seen.headers["accept"], "text/event-stream");
}

#[tokio::test]
async fn cr_and_lf_in_separate_pieces() {
    let c = chunk("x");
    let server = Server::start(vec![Canned::sse(&[
        &format!("data: {c}\r"),
        "\n\r",
        &format!("\ndata: {c}\r\n\r\ndata: [DONE]\r"),
        "\n\r\n",
    ])])
    .await;
    let items: Vec<_> = server
        .client()
        .chat_stream(&chat_req())
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(Result::is_ok));
}

#[tokio::test]
async fn error_event_mid_stream_ends_the_stream() {
    let server = Server::start(vec![Canned::sse(&[
        &format!("data: {}\n\n", chunk("partial")),
        "data: {\"error\":{\"object\":\"error\",\"message\":\"CUDA out of memory\",\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}\n\n",
        &format!("data: {}\n\ndata: [DONE]\n\n", chunk("never")),
    ])])
    .await;
    let mut stream = server.client().chat_stream(&chat_req()).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.choices[0].delta.content.as_deref(), Some("partial"));
    let err = stream.next().await.unwrap().unwrap_err();
    let ClientError::Stream {
        ref message,
        ref kind,
        ref code,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(message, "CUDA out of memory");
    assert_eq!(kind.as_deref(), Some("InternalServerError"));
    assert_eq!(code.as_deref(), Some("500"));
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn body_ending_without_done_ends_the_stream() {
    let server = Server::start(vec![Canned::sse(&[&format!("data: {}", chunk("last"))])]).await;
    let items: Vec<_> = server
        .client()
        .chat_stream(&chat_req())
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.len(), 1);
    assert!(items[0].is_ok());
}

#[tokio::test]
async fn http_errors_come_before_the_stream() {
    let server = Server::start(vec![Canned::json(
        401,
        serde_json::json!({"status": 401, "title": "Unauthorized", "detail": "Invalid API key"}),
    )])
    .await;
    let err = server.client().chat_stream(&chat_req()).await.unwrap_err();
    assert_eq!(err.to_string(), "[401] Unauthorized: Invalid API key");
}

#[tokio::test]
async fn non_stream_chat_sends_stream_false() {
    let server = Server::start(vec![crate::support::chat_ok()]).await;
    let mut req = chat_req();
    req.stream = Some(true);
    server.client().chat(&req).await.unwrap();
    let seen = &server.seen()[0];
    assert_eq!(seen.json()["stream"], serde_json::json!(false));
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.headers["authorization"], "Bearer nvapi-test");
    assert_eq!(seen.headers["accept"], "application/json");
}
