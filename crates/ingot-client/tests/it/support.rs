//! A scripted HTTP server on 127.0.0.1:0 that answers canned responses in order and records
//! what it received.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use ingot_client::{Client, ClientConfig};

/// One canned response.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// Sent as separate body pieces with a short pause between them.
    pub pieces: Vec<Vec<u8>>,
    /// Wait before answering.
    pub delay: Duration,
}

impl Canned {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        let body = body.into();
        let mut c = Self {
            status,
            headers: Vec::new(),
            pieces: vec![body.clone()],
            delay: Duration::ZERO,
        };
        if body.first() == Some(&b'{') {
            c = c.header("content-type", "application/json");
        }
        c
    }

    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self::new(status, body.to_string())
    }

    /// An SSE body sent in the given pieces.
    pub fn sse(pieces: &[&str]) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "text/event-stream".to_owned())],
            pieces: pieces.iter().map(|p| p.as_bytes().to_vec()).collect(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    /// Path and query exactly as sent (still percent-encoded).
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

struct Script {
    responses: Vec<Canned>,
    hits: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
}

/// A running scripted server.
pub struct Server {
    /// `http://127.0.0.1:PORT/v1`.
    pub base: String,
    script: Arc<Script>,
}

impl Server {
    /// Serves `responses` in order; the last one repeats.
    pub async fn start(responses: Vec<Canned>) -> Self {
        assert!(!responses.is_empty());
        let script = Arc::new(Script {
            responses,
            hits: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(answer).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base: format!("http://{addr}/v1"),
            script,
        }
    }

    pub fn hits(&self) -> usize {
        self.script.hits.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }

    /// A config for this server: a key, fast connection, default retries.
    pub fn config(&self) -> ClientConfig {
        ClientConfig::new(&self.base).with_api_key("nvapi-test")
    }

    pub fn client(&self) -> Client {
        Client::new(self.config()).unwrap()
    }
}

async fn answer(State(script): State<Arc<Script>>, req: Request) -> Response {
    let n = script.hits.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    script.seen.lock().unwrap().push(Seen {
        method: parts.method,
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
    });
    let canned = script.responses[n.min(script.responses.len() - 1)].clone();
    tokio::time::sleep(canned.delay).await;
    let mut builder = Response::builder().status(canned.status);
    for (k, v) in &canned.headers {
        builder = builder.header(*k, v);
    }
    let body = if canned.pieces.len() == 1 {
        Body::from(canned.pieces[0].clone())
    } else {
        let pieces = canned.pieces.clone();
        Body::from_stream(futures::stream::unfold(0, move |i| {
            let pieces = pieces.clone();
            async move {
                let piece = pieces.get(i)?.clone();
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Some((Ok::<_, std::io::Error>(Bytes::from(piece)), i + 1))
            }
        }))
    };
    builder.body(body).unwrap()
}

/// A minimal valid chat completion.
pub fn chat_ok() -> Canned {
    Canned::json(
        200,
        serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        }),
    )
}

/// A chat request for model `m`.
pub fn chat_req() -> ingot_client::protocol::chat::ChatCompletionRequest {
    use ingot_client::protocol::chat::{ChatCompletionRequest, ChatMessage, Role};
    ChatCompletionRequest {
        model: "m".into(),
        messages: vec![ChatMessage::text(Role::User, "hello")],
        ..Default::default()
    }
}

/// A stream chunk carrying `content`.
pub fn chunk(content: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]
    })
    .to_string()
}
