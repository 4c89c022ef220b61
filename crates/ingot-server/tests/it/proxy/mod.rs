//! Upstream routing through mock upstreams (small axum servers on 127.0.0.1): pass-through,
//! streaming, retries, failover, client errors, local fallback, rename; the other endpoints
//! in `endpoints`.

mod byok;
mod endpoints;
mod listing;
mod replicas;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ingot_proxy::ApiKey;
use ingot_server::config::UpstreamConfig;
use serde_json::{Value, json};

use crate::common::{bare_config, get_json, get_text, http, spawn};

/// One request a mock upstream received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Reply = Arc<dyn Fn(usize, &Seen) -> Response + Send + Sync>;

#[derive(Clone)]
struct MockState {
    seen: Arc<Mutex<Vec<Seen>>>,
    reply: Reply,
}

struct Mock {
    /// `http://127.0.0.1:PORT/v1`.
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn record(State(m): State<MockState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let seen = Seen {
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    let n = {
        let mut s = m.seen.lock().unwrap();
        s.push(seen.clone());
        s.len() - 1
    };
    (m.reply)(n, &seen)
}

/// A mock upstream answering the `n`-th request (0-based) with `reply`.
async fn mock(reply: impl Fn(usize, &Seen) -> Response + Send + Sync + 'static) -> Mock {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = MockState {
        seen: seen.clone(),
        reply: Arc::new(reply),
    };
    let app = axum::Router::new().fallback(record).with_state(state);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Mock {
        base_url: format!("http://{addr}/v1"),
        seen,
    }
}

/// A base URL where nothing listens.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/v1")
}

fn json_reply(status: u16, body: &Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn upstream(name: &str, base_url: &str, models: &[&str]) -> UpstreamConfig {
    UpstreamConfig {
        name: name.to_owned(),
        base_url: base_url.to_owned(),
        api_key: Some(ApiKey::new(format!("key-of-{name}"))),
        models: models.iter().map(|m| (*m).to_owned()).collect(),
        max_retries: 1,
        backoff_ms: 1,
        ..UpstreamConfig::default()
    }
}

fn completion(model: &str) -> Value {
    json!({"id":"chatcmpl-up","object":"chat.completion","created":1,"model":model,
        "choices":[{"index":0,"message":{"role":"assistant","content":"from upstream"},"finish_reason":"stop"}],
        "usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})
}

fn chat(model: &str) -> Value {
    json!({"model":model,"messages":[{"role":"user","content":"Hi"}],"max_tokens":8})
}

const CHAT_ID: &str = "meta/llama-3.1-8b-instruct";

#[tokio::test]
async fn chat_passes_through_with_the_upstream_key_only() {
    let up = mock(|_, _| json_reply(200, &completion(CHAT_ID))).await;
    let mut cfg = bare_config();
    cfg.api_keys = vec!["client-secret".into()];
    cfg.upstreams = vec![upstream("hosted", &up.base_url, &["meta/*"])];
    let s = spawn(cfg, false).await;
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .bearer_auth("client-secret")
        .header("x-custom", "client-secret")
        .json(&chat(CHAT_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["x-ingot-upstream"], "hosted");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, completion(CHAT_ID));

    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer key-of-hosted")
    );
    for (name, v) in &seen[0].headers {
        assert!(
            !v.to_str().unwrap_or("").contains("client-secret"),
            "client key forwarded in {name}"
        );
    }
    assert_eq!(seen[0].body["model"], CHAT_ID);
    assert_eq!(seen[0].body["messages"][0]["content"], "Hi");
    assert_eq!(seen[0].body["max_tokens"], 8);
    // Without the client key the server still answers 401 itself.
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&chat(CHAT_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(up.seen().len(), 1);
    let st = &s.state.proxy().stats()[0];
    assert_eq!((st.requests, st.attempts, st.successes), (1, 1, 1));
}

const SSE: [&str; 4] = [
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel",
    "lo\"},\"finish_reason\":null}]}\n\ndata: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: [DONE]\n\n",
];

fn sse_reply(chunks: Vec<Result<Bytes, std::io::Error>>) -> Response {
    let stream = futures::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        c
    });
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

use futures::StreamExt as _;

#[tokio::test]
async fn streamed_chat_is_piped_byte_for_byte() {
    let up = mock(|_, _| {
        sse_reply(
            SSE.iter()
                .map(|s| Ok(Bytes::from_static(s.as_bytes())))
                .collect(),
        )
    })
    .await;
    let mut cfg = bare_config();
    cfg.upstreams = vec![upstream("vllm", &up.base_url, &[CHAT_ID])];
    let s = spawn(cfg, false).await;
    let mut req = chat(CHAT_ID);
    req["stream"] = json!(true);
    req["stream_options"] = json!({"include_usage": true});
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    let body = resp.bytes().await.unwrap();
    assert_eq!(&body[..], SSE.concat().as_bytes());
    let seen = up.seen();
    assert_eq!(seen[0].body["stream"], true);
    assert_eq!(seen[0].body["stream_options"]["include_usage"], true);
    assert_eq!(seen[0].header("accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn stream_that_breaks_off_ends_with_an_error_event_and_done() {
    let up = mock(|_, _| {
        sse_reply(vec![
            Ok(Bytes::from_static(SSE[0].as_bytes())),
            Ok(Bytes::from_static(SSE[1].as_bytes())),
            Err(std::io::Error::other("upstream crashed")),
        ])
    })
    .await;
    let mut cfg = bare_config();
    cfg.upstreams = vec![upstream("flaky", &up.base_url, &[CHAT_ID])];
    let s = spawn(cfg, false).await;
    let mut req = chat(CHAT_ID);
    req["stream"] = json!(true);
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    let prefix = format!("{}{}\n\n", SSE[0], SSE[1]);
    assert!(body.starts_with(&prefix), "{body}");
    let rest: Vec<&str> = body[prefix.len()..].split_terminator("\n\n").collect();
    assert_eq!(rest.len(), 2, "{body}");
    let err: Value = serde_json::from_str(rest[0].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(err["error"]["object"], "error");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("flaky"),
        "{err}"
    );
    assert_eq!(rest[1], "data: [DONE]");
    // Nothing is retried once bytes have gone to the client.
    assert_eq!(up.seen().len(), 1);
    assert_eq!(s.state.proxy().stats()[0].stream_errors, 1);
}

#[tokio::test]
async fn fails_over_from_500_to_a_healthy_upstream() {
    let bad = mock(|_, _| json_reply(500, &json!({"detail":"boom"}))).await;
    let good = mock(|_, _| json_reply(200, &completion(CHAT_ID))).await;
    let mut cfg = bare_config();
    cfg.upstreams = vec![
        upstream("primary", &bad.base_url, &["meta/*"]),
        upstream("secondary", &good.base_url, &["*"]),
    ];
    let s = spawn(cfg, false).await;
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&chat(CHAT_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ingot-upstream"], "secondary");
    // One attempt plus max_retries = 1 on the primary, then the secondary.
    assert_eq!(bad.seen().len(), 2);
    assert_eq!(good.seen().len(), 1);
    assert_eq!(
        good.seen()[0].header("authorization"),
        Some("Bearer key-of-secondary")
    );
    let stats = s.state.proxy().stats();
    assert_eq!(
        (stats[0].attempts, stats[0].retries, stats[0].failures),
        (2, 1, 1)
    );
    assert_eq!(stats[0].status_errors, 2);
    assert_eq!(stats[1].successes, 1);
}

#[tokio::test]
async fn rate_limit_is_retried_after_retry_after() {
    let up = mock(|n, _| {
        if n == 0 {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1"), ("content-type", "application/json")],
                r#"{"status":429,"title":"Too Many Requests"}"#,
            )
                .into_response()
        } else {
            json_reply(200, &completion(CHAT_ID))
        }
    })
    .await;
    let mut cfg = bare_config();
    cfg.upstreams = vec![upstream("hosted", &up.base_url, &["meta/*"])];
    let s = spawn(cfg, false).await;
    let t = Instant::now();
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&chat(CHAT_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(up.seen().len(), 2);
    let st = &s.state.proxy().stats()[0];
    assert_eq!((st.rate_limited, st.retries, st.successes), (1, 1, 1));
}

#[tokio::test]
async fn rate_limits_everywhere_answer_429_with_the_longest_wait() {
    // A wait above the cap is not slept through: the next upstream is tried at once.
    let limited = |secs: &'static str| {
        move |_: usize, _: &Seen| {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs)],
                "slow down",
            )
                .into_response()
        }
    };
    let a = mock(limited("60")).await;
    let b = mock(limited("90")).await;
    let mut cfg = bare_config();
    cfg.upstreams = vec![
        upstream("a", &a.base_url, &["meta/*"]),
        upstream("b", &b.base_url, &["meta/*"]),
    ];
    let s = spawn(cfg, false).await;
    let t = Instant::now();
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&chat(CHAT_ID))
        .send()
        .await
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "90");
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["code"], "upstream_rate_limited");
    assert_eq!((a.seen().len(), b.seen().len()), (1, 1));
}

#[tokio::test]
async fn an_upstream_client_error_is_passed_back_as_is() {
    let err = r#"{"error":{"message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}}"#;
    let up = mock(move |_, _| {
        (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            err,
        )
            .into_response()
    })
    .await;
    let other = mock(|_, _| json_reply(200, &completion(CHAT_ID))).await;
    let mut cfg = bare_config();
    cfg.upstreams = vec![
        upstream("vllm", &up.base_url, &[CHAT_ID]),
        upstream("spare", &other.base_url, &[CHAT_ID]),
    ];
    let s = spawn(cfg, false).await;
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&chat(CHAT_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().await.unwrap(), err);
    // Neither retried nor failed over: the request itself is wrong.
    assert_eq!((up.seen().len(), other.seen().len()), (1, 0));
    assert_eq!(s.state.proxy().stats()[0].passed_through, 1);
}

#[tokio::test]
async fn all_upstreams_failing_gives_502_naming_each() {
    let down = dead_url().await;
    let rejects = mock(|_, _| {
        json_reply(
            401,
            &json!({"status":401,"title":"Unauthorized","detail":"Bearer token is malformed"}),
        )
    })
    .await;
    let mut cfg = bare_config();
    cfg.upstreams = vec![
        upstream("nim-a", &down, &["meta/*"]),
        upstream("nim-b", &rejects.base_url, &["meta/*"]),
    ];
    let s = spawn(cfg, false).await;
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&chat(CHAT_ID))
        .send()
        .await
        .unwrap();
    // The upstream's 401 is about our key for it, not the client's: 502.
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["status"], 502);
    assert_eq!(e["title"], "Bad Gateway");
    assert_eq!(e["error"]["code"], "upstream_failed");
    assert!(e["requestId"].is_string());
    let detail = e["detail"].as_str().unwrap();
    assert!(
        detail.contains("`nim-a`") && detail.contains("connection"),
        "{detail}"
    );
    assert!(
        detail.contains("`nim-b`") && detail.contains("401"),
        "{detail}"
    );
    assert!(detail.contains("api_key"), "{detail}");
    assert!(!detail.contains("key-of-"), "{detail}");
    // The 401 is not retried; the dead one is (1 + max_retries).
    assert_eq!(rejects.seen().len(), 1);
    let stats = s.state.proxy().stats();
    assert_eq!((stats[0].attempts, stats[0].connect_errors), (2, 2));
}

#[tokio::test]
async fn local_fallback_answers_when_the_upstream_is_down() {
    let down = dead_url().await;
    for fallback in [true, false] {
        let mut cfg = bare_config();
        cfg.local_fallback = fallback;
        cfg.upstreams = vec![upstream("trellis-nim", &down, &["microsoft/trellis"])];
        let s = spawn(cfg, false).await;
        let resp = http()
            .post(format!("{}/v1/genai/microsoft/trellis", s.base))
            .json(&json!({"prompt":"a mug","seed":3,"output_format":"stl"}))
            .send()
            .await
            .unwrap();
        if fallback {
            assert_eq!(resp.status(), 200);
            assert!(resp.headers().get("x-ingot-upstream").is_none());
            let b: Value = resp.json().await.unwrap();
            assert_eq!(b["artifacts"][0]["seed"], 3);
            assert_eq!(b["output"]["stl"], b["artifacts"][0]["base64"]);
        } else {
            assert_eq!(resp.status(), 502);
        }
    }
    // Per-upstream setting overrides the top-level one; no local engine means no fallback.
    let mut cfg = bare_config();
    let mut u = upstream("hosted", &down, &["nvidia/nemotron-nano-12b-v2-vl"]);
    u.local_fallback = Some(true);
    cfg.upstreams = vec![u];
    let s = spawn(cfg, false).await;
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&chat("nvidia/nemotron-nano-12b-v2-vl"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
}

#[tokio::test]
async fn rename_is_applied_and_shown_as_root() {
    const VLM: &str = "nvidia/nemotron-nano-12b-v2-vl";
    let up =
        mock(|_, seen| json_reply(200, &completion(seen.body["model"].as_str().unwrap()))).await;
    let mut cfg = bare_config();
    let mut u = upstream("ollama", &up.base_url, &[VLM, CHAT_ID]);
    u.rename.insert(VLM.into(), "qwen2.5vl:3b".into());
    u.api_key = None;
    cfg.upstreams = vec![u];
    let s = spawn(cfg, false).await;
    // A vision id (no local engine) is served by the upstream.
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&json!({"model":VLM,"messages":[{"role":"user","content":[
            {"type":"text","text":"What is this?"},
            {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let b: Value = resp.json().await.unwrap();
    // The answer names the id the client asked for.
    assert_eq!(b["model"], VLM);
    let seen = up.seen();
    assert_eq!(seen[0].body["model"], "qwen2.5vl:3b");
    assert_eq!(
        seen[0].body["messages"][0]["content"][1]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );
    assert_eq!(seen[0].header("authorization"), None);
    let m: Value = get_json(&format!("{}/v1/models/{VLM}", s.base)).await;
    assert_eq!(m["root"], "qwen2.5vl:3b");
    let m: Value = get_json(&format!("{}/v1/models/{CHAT_ID}", s.base)).await;
    assert_eq!(m["root"], CHAT_ID);
}

#[tokio::test]
async fn invalid_upstream_config_is_refused_or_reported() {
    let mut cfg = bare_config();
    cfg.upstreams = vec![upstream("broken", "not a url", &["*"])];
    let e = ingot_server::AppState::try_new(cfg.clone()).err().unwrap();
    assert!(e.contains("broken") && e.contains("base_url"), "{e}");
    // Built anyway (unvalidated config in code): no upstream is used and readiness says why.
    let s = spawn(cfg, false).await;
    let resp = http()
        .get(format!("{}/v1/health/ready", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let b: Value = resp.json().await.unwrap();
    assert!(b["message"].as_str().unwrap().contains("broken"), "{b}");
}

#[tokio::test]
async fn forwarded_requests_in_flight_are_bounded_until_their_stream_ends() {
    // A stream that takes about half a second to finish.
    let up = mock(|_, _| {
        sse_reply(
            (0..100)
                .map(|_| Ok(Bytes::from_static(b": keep-alive\n\n")))
                .chain([Ok(Bytes::from_static(b"data: [DONE]\n\n"))])
                .collect(),
        )
    })
    .await;
    let mut cfg = bare_config();
    cfg.upstreams = vec![upstream("vllm", &up.base_url, &[CHAT_ID])];
    cfg.upstream_max_in_flight = 1;
    let s = spawn(cfg, false).await;
    let mut req = chat(CHAT_ID);
    req["stream"] = json!(true);
    let url = format!("{}/v1/chat/completions", s.base);
    let first = http().post(&url).json(&req).send().await.unwrap();
    assert_eq!(first.status(), 200);
    // The first stream is still open: the second request is refused.
    let second = http().post(&url).json(&chat(CHAT_ID)).send().await.unwrap();
    assert_eq!(second.status(), 429);
    assert_eq!(second.headers()["retry-after"], "1");
    // Once it has ended, the gate opens again.
    first.bytes().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = http().post(&url).json(&chat(CHAT_ID)).send().await.unwrap();
    assert_eq!(third.status(), 200);
}

#[tokio::test]
async fn a_piped_stream_is_metered_from_its_usage_event() {
    const USAGE: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":5,\"total_tokens\":16}}\n\n";
    let up = mock(|_, _| {
        let mut chunks: Vec<_> = SSE[..3]
            .iter()
            .map(|s| Ok(Bytes::from_static(s.as_bytes())))
            .collect();
        chunks.push(Ok(Bytes::from_static(USAGE.as_bytes())));
        chunks.push(Ok(Bytes::from_static(SSE[3].as_bytes())));
        sse_reply(chunks)
    })
    .await;
    let db = crate::keys::temp_db("proxy-stream");
    let (rec, secret) = ingot_keys::KeyStore::open(&db)
        .unwrap()
        .create("p", ingot_keys::Limits::default())
        .unwrap();
    let mut cfg = bare_config();
    cfg.upstreams = vec![upstream("vllm", &up.base_url, &[CHAT_ID])];
    cfg.keys_db = Some(db.clone());
    let s = spawn(cfg, false).await;
    let mut req = chat(CHAT_ID);
    req["stream"] = json!(true);
    let body = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .bearer_auth(&secret)
        .json(&req)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("\"completion_tokens\":5") && body.ends_with("data: [DONE]\n\n"));
    // The stream's end is recorded when its body is dropped, just after the last byte.
    let deadline = Instant::now() + Duration::from_secs(5);
    let row = loop {
        let rows = ingot_keys::KeyStore::open(&db)
            .unwrap()
            .usage(Some(&rec.id))
            .unwrap();
        if let Some(r) = rows.into_iter().find(|r| r.model == CHAT_ID) {
            break r;
        }
        assert!(Instant::now() < deadline, "no ledger row");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (row.requests, row.prompt_tokens, row.completion_tokens),
        (1, 11, 5)
    );
    let metrics = get_text(&format!("{}/metrics", s.base)).await;
    assert!(
        metrics.contains(&format!(
            "ingot_time_to_first_token_seconds_count{{model=\"{CHAT_ID}\"}} 1"
        )),
        "{metrics}"
    );
}
