//! Hostile and careless clients: each test is named after the defect it keeps fixed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::{bare_config, get_text, have_models, http, model_dir, post_json, spawn};

const SMALL: &str = "meta/llama-3.1-8b-instruct";

fn addr(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// A metric's value from the text exposition, 0 when absent.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The small chat model on one slot.
fn one_slot_chat() -> ingot_server::Config {
    let mut cfg = bare_config();
    cfg.model_dir = model_dir();
    cfg.chat.enabled = true;
    cfg.chat.max_slots = 1;
    cfg.chat.ctx_per_slot = 1024;
    cfg
}

/// Waits until `f(metrics)` holds (the server counts a request when its body is dropped).
async fn until(base: &str, f: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = get_text(&format!("{base}/metrics")).await;
        if f(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "{m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn oversized_inputs_are_refused_before_tokenizing() {
    if !have_models() {
        return;
    }
    let mut cfg = bare_config();
    cfg.model_dir = model_dir();
    cfg.embeddings.enabled = true;
    cfg.chat.enabled = true;
    cfg.chat.ctx_per_slot = 1024;
    cfg.chat.max_slots = 1;
    let s = spawn(cfg, true).await;
    let huge = "word ".repeat(2_000_000); // 10 MB
    let (status, v) = post_json(
        &format!("{}/v1/embeddings", s.base),
        &json!({"model": "nvidia/nv-embed-v1", "input": [huge.as_str()]}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "input.0");
    // Found by counting characters, not by tokenizing the 10 MB.
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("non-space characters"),
        "{v}"
    );
    // Cut before tokenizing with `truncate: END`, and answered.
    let (status, v) = post_json(
        &format!("{}/v1/embeddings", s.base),
        &json!({"model": "nvidia/nv-embed-v1", "input": huge.as_str(), "truncate": "END"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() <= 512);
    let (status, v) = post_json(
        &format!("{}/v1/ranking", s.base),
        &json!({"model": "nvidia/llama-3.2-nv-rerankqa-1b-v2", "query": {"text": "q"},
            "passages": [{"text": "short"}, {"text": huge.as_str()}]}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "passages.1.text");
    // Chat: refused before the template and the tokenizer see it.
    let (status, v) = post_json(
        &format!("{}/v1/chat/completions", s.base),
        &json!({"model": SMALL, "messages": [{"role": "user", "content": huge.as_str()}]}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bytes of text"),
        "{v}"
    );
    let (status, v) = post_json(
        &format!("{}/v1/completions", s.base),
        &json!({"model": SMALL, "prompt": huge.as_str()}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "prompt");
}

#[tokio::test]
async fn unbounded_echo_is_capped() {
    let s = spawn(bare_config(), false).await;
    let id = "m".repeat(1 << 20);
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&json!({"model": id, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body = resp.bytes().await.unwrap();
    assert!(body.len() < 4096, "{} bytes", body.len());
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more bytes)")
    );
}

#[tokio::test]
async fn tls_on_the_plain_port_gets_a_json_400() {
    let s = spawn(bare_config(), false).await;
    let mut c = TcpStream::connect(addr(&s.base)).await.unwrap();
    // The start of a TLS ClientHello.
    c.write_all(&[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00])
        .await
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    let body: Value = serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("plain HTTP")
    );
}

#[tokio::test]
async fn connections_over_the_cap_get_a_json_503() {
    let mut cfg = bare_config();
    cfg.max_connections = 2;
    let s = spawn(cfg, false).await;
    let a = TcpStream::connect(addr(&s.base)).await.unwrap();
    let b = TcpStream::connect(addr(&s.base)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = TcpStream::connect(addr(&s.base)).await.unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
    assert!(
        out.contains("\"status\":503") && out.contains("limit"),
        "{out}"
    );
    // A freed slot serves again.
    drop((a, b));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let v = get_text(&format!("{}/v1/health/live", s.base)).await;
    assert!(v.contains("live"), "{v}");
}

#[tokio::test]
async fn slow_header_senders_and_idle_connections_are_closed() {
    let mut cfg = bare_config();
    cfg.header_timeout_secs = 1;
    let s = spawn(cfg, false).await;
    // One header byte, then nothing: closed after the timeout.
    let mut slow = TcpStream::connect(addr(&s.base)).await.unwrap();
    slow.write_all(b"G").await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A keep-alive connection that answered one request and then sits idle: closed too.
    let mut idle = TcpStream::connect(addr(&s.base)).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), idle.read_to_end(&mut rest)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_non_stream_disconnect_does_not_leak_in_flight() {
    if !have_models() {
        return;
    }
    let s = spawn(one_slot_chat(), true).await;
    let body = json!({"model": SMALL, "max_tokens": 900, "ignore_eos": true,
        "messages": [{"role": "user", "content": "Tell a long story."}]});
    for _ in 0..3 {
        let req = http()
            .post(format!("{}/v1/chat/completions", s.base))
            .json(&body)
            .send();
        // The client gives up long before the answer.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), req)
                .await
                .is_err()
        );
    }
    let m = until(&s.base, |m| {
        metric(
            m,
            "ingot_requests_total",
            &["/v1/chat/completions", "status=\"499\""],
        ) == 3.0
    })
    .await;
    // Only the metrics request itself is in flight.
    assert_eq!(metric(&m, "ingot_requests_in_flight", &[]), 1.0, "{m}");
}

#[tokio::test]
async fn tokens_streamed_before_a_disconnect_are_counted() {
    if !have_models() {
        return;
    }
    let s = spawn(one_slot_chat(), true).await;
    let body = json!({"model": SMALL, "max_tokens": 900, "ignore_eos": true, "stream": true,
        "messages": [{"role": "user", "content": "Tell a long story."}]});
    let mut resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut seen = 0;
    while seen < 12 {
        let chunk = resp.chunk().await.unwrap().unwrap();
        seen += String::from_utf8_lossy(&chunk)
            .matches("\"content\"")
            .count();
    }
    drop(resp);
    let m = until(&s.base, |m| {
        metric(m, "ingot_tokens_total", &[SMALL, "kind=\"completion\""]) > 0.0
    })
    .await;
    let completion = metric(&m, "ingot_tokens_total", &[SMALL, "kind=\"completion\""]);
    assert!((10.0..900.0).contains(&completion), "{completion}\n{m}");
    assert!(
        metric(&m, "ingot_tokens_total", &[SMALL, "kind=\"prompt\""]) > 0.0,
        "{m}"
    );
}

/// Reads one response: its head (lowercased) and its body (by `content-length`).
async fn response(c: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut byte).await.unwrap();
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).await.unwrap();
    (head, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn unread_bodies_close_the_connection_and_say_so() {
    let s = spawn(bare_config(), false).await;
    let body = format!("{{\"x\":\"{}\"}}", "a".repeat(100_000));
    for (path, ctype, status) in [
        ("/v1/no-such-route", "application/json", "404"),
        ("/v1/chat/completions", "text/plain", "415"),
    ] {
        let mut c = TcpStream::connect(addr(&s.base)).await.unwrap();
        let req = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        c.write_all(req.as_bytes()).await.unwrap();
        let (head, json) = response(&mut c).await;
        assert!(head.starts_with(&format!("http/1.1 {status}")), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(json.contains(&format!("\"status\":{status}")), "{json}");
    }
    // A body that was read leaves the connection open for the next request.
    let mut c = TcpStream::connect(addr(&s.base)).await.unwrap();
    let req = "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
    c.write_all(req.as_bytes()).await.unwrap();
    let (head, _) = response(&mut c).await;
    assert!(head.starts_with("http/1.1 422"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    c.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = response(&mut c).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
}

#[tokio::test]
async fn announced_oversized_and_paused_bodies_are_refused() {
    let mut cfg = bare_config();
    cfg.body_limit = 1024;
    cfg.body_timeout_secs = 1;
    let s = spawn(cfg, false).await;
    // Announced over the limit: 413 before the body is sent at all.
    let mut c = TcpStream::connect(addr(&s.base)).await.unwrap();
    c.write_all(b"POST /v1/embeddings HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 70000000\r\n\r\n{\"input\"")
        .await
        .unwrap();
    let (head, json) = tokio::time::timeout(Duration::from_secs(5), response(&mut c))
        .await
        .unwrap();
    assert!(head.starts_with("http/1.1 413"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(json.contains("\"code\":\"payload_too_large\""), "{json}");
    // A body that stops arriving: 408 after the pause allowed, in the JSON envelope.
    let mut c = TcpStream::connect(addr(&s.base)).await.unwrap();
    c.write_all(b"POST /v1/embeddings HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"input\"")
        .await
        .unwrap();
    let started = Instant::now();
    let (head, json) = tokio::time::timeout(Duration::from_secs(10), response(&mut c))
        .await
        .unwrap();
    assert!(head.starts_with("http/1.1 408"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(json.contains("\"code\":\"request_timeout\""), "{json}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
