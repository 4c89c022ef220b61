//! A fast mock upstream for `bench/gateway`: `POST /v1/chat/completions` answers a fixed small
//! completion, or a short SSE stream (3 chunks and `[DONE]`) when the body asks for
//! `"stream": true`; `GET /v1/models` lists `bench/json`. One thread, so that it takes the
//! same share of the machine whatever is in front of it.
//!
//! `cargo run --release -p ingot-proxy --example mock_upstream -- PORT`

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

const JSON: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench/json","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14}}"#;

const SSE: &str = concat!(
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench/sse","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench/sse","choices":[{"index":0,"delta":{"content":" from the mock."},"finish_reason":null}]}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench/sse","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14}}"#,
    "\n\n",
    "data: [DONE]\n\n",
);

fn wants_stream(body: &[u8]) -> bool {
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    compact.windows(13).any(|w| w == b"\"stream\":true")
}

async fn chat(body: Bytes) -> Response {
    if wants_stream(&body) {
        ([(CONTENT_TYPE, "text/event-stream")], SSE).into_response()
    } else {
        ([(CONTENT_TYPE, "application/json")], JSON).into_response()
    }
}

async fn models() -> Response {
    (
        [(CONTENT_TYPE, "application/json")],
        r#"{"object":"list","data":[{"id":"bench/json","object":"model","owned_by":"bench"}]}"#,
    )
        .into_response()
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9100);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/models", get(models));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        eprintln!("mock upstream on {}", listener.local_addr()?);
        axum::serve(listener, app).await
    })
}
