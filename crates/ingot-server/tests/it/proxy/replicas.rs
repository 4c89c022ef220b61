//! Replicas of one upstream: least-outstanding balancing (streams count until they end),
//! a replica killed mid-run ejected with no error seen by clients, and its return once its
//! health check passes. The replicas are small axum servers that can be killed outright:
//! their listener and every open connection are dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use futures::StreamExt as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{CHAT_ID, chat, completion, json_reply, upstream};
use crate::common::{bare_config, get_text, http, spawn};

/// A replica that can be killed (listener and connections dropped) and started again on
/// the same address.
struct Replica {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Replica {
    async fn start(addr: SocketAddr, app: axum::Router) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let conns = Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let svc = TowerToHyperService::new(app.clone());
                let conn = tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
                conns.lock().unwrap().push(conn.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        Self {
            addr,
            hits: Arc::new(AtomicUsize::new(0)),
            tasks,
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn kill(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// A replica answering chat with a completion and `/health` with 200; it counts chats.
async fn chat_replica(addr: SocketAddr) -> Replica {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            post(move || {
                let hits = Arc::clone(&counted);
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    json_reply(200, &completion(CHAT_ID))
                }
            }),
        )
        .route("/health", get(|| async { "ok" }));
    let mut r = Replica::start(addr, app).await;
    r.hits = hits;
    r
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Sends `n` chats, `at_once` at a time; returns their statuses.
async fn chats(base: &str, n: usize, at_once: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n.div_ceil(at_once) {
        let batch = (0..at_once).map(|_| async {
            http()
                .post(format!("{base}/v1/chat/completions"))
                .json(&chat(CHAT_ID))
                .send()
                .await
                .map_or(0, |r| r.status().as_u16())
        });
        out.extend(futures::future::join_all(batch).await);
    }
    out
}

/// The value of the metric line starting with `prefix` (labels included).
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_killed_replica_is_ejected_without_client_errors_and_returns_after_its_health_check() {
    let replicas = [
        chat_replica(any_port()).await,
        chat_replica(any_port()).await,
        chat_replica(any_port()).await,
    ];
    let mut cfg = bare_config();
    let mut u = upstream("pool", "", &["meta/*"]);
    u.base_url = String::new();
    u.base_urls = replicas.iter().map(Replica::base_url).collect();
    u.max_retries = 2;
    // A long cool-down: only a passed health check can bring the replica back in time.
    u.eject_secs = 600;
    u.health_path = Some("/health".into());
    u.health_interval_secs = 1;
    cfg.upstreams = vec![u];
    let s = spawn(cfg, false).await;

    let statuses = chats(&s.base, 30, 3).await;
    assert!(statuses.iter().all(|&c| c == 200), "{statuses:?}");
    for r in &replicas {
        assert!(r.hits() > 0, "every replica takes a share");
    }

    let dead = &replicas[0];
    dead.kill();
    let before = dead.hits();
    let statuses = chats(&s.base, 30, 3).await;
    assert!(
        statuses.iter().all(|&c| c == 200),
        "a dead replica is retried on another one: {statuses:?}"
    );
    assert_eq!(dead.hits(), before);
    let label = format!("{{upstream=\"pool\",replica=\"{}\"}}", dead.base_url());
    let m = get_text(&format!("{}/metrics", s.base)).await;
    assert_eq!(
        metric(&m, &format!("ingot_upstream_replica_up{label}")),
        Some(0.0),
        "{m}"
    );
    assert!(
        metric(
            &m,
            &format!("ingot_upstream_replica_ejections_total{label}")
        ) >= Some(1.0)
    );
    let errors = format!(
        "ingot_upstream_replica_errors_total{{upstream=\"pool\",replica=\"{}\",reason=\"connect\"}}",
        dead.base_url()
    );
    assert!(metric(&m, &errors) >= Some(1.0), "{m}");

    // Back on the same address: the next health check lets it in again.
    let back = chat_replica(dead.addr).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = get_text(&format!("{}/metrics", s.base)).await;
        if metric(&m, &format!("ingot_upstream_replica_up{label}")) == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never came back:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let statuses = chats(&s.base, 30, 3).await;
    assert!(statuses.iter().all(|&c| c == 200), "{statuses:?}");
    assert!(back.hits() > 0, "the returned replica takes traffic again");
    let st = &s.state.proxy().stats()[0];
    assert_eq!(st.successes, 90);
    assert_eq!(st.failures, 0);
}

#[tokio::test]
async fn streams_count_as_outstanding_until_they_end() {
    // Replica A holds a stream open until told; B answers at once.
    let (tx, rx) = mpsc::unbounded_channel::<Result<Bytes, std::io::Error>>();
    let rx = Arc::new(Mutex::new(Some(rx)));
    let a_app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |body: axum::Json<Value>| {
            let rx = rx.lock().unwrap().take();
            async move {
                match (body.0["stream"].as_bool(), rx) {
                    (Some(true), Some(rx)) => {
                        let s = futures::stream::unfold(rx, |mut rx| async move {
                            rx.recv().await.map(|c| (c, rx))
                        });
                        (
                            [("content-type", "text/event-stream")],
                            Body::from_stream(s),
                        )
                            .into_response()
                    }
                    _ => json_reply(200, &completion(CHAT_ID)),
                }
            }
        }),
    );
    let a = Replica::start(any_port(), a_app).await;
    let b = chat_replica(any_port()).await;
    let mut cfg = bare_config();
    let mut u = upstream("pool", "", &["meta/*"]);
    u.base_url = String::new();
    // A first: with nothing outstanding anywhere, a tie; the stream is sent until it lands
    // on A.
    u.base_urls = vec![a.base_url(), b.base_url()];
    cfg.upstreams = vec![u];
    let s = spawn(cfg, false).await;

    tx.send(Ok(Bytes::from_static(
        b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
    )))
    .unwrap();
    let mut stream_body =
        json!({"model": CHAT_ID, "messages":[{"role":"user","content":"Hi"}], "stream": true});
    let mut stream = None;
    for _ in 0..40 {
        let resp = http()
            .post(format!("{}/v1/chat/completions", s.base))
            .json(&stream_body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        if b.hits() == 0 {
            stream = Some(resp);
            break;
        }
        // B took it (a tie broken its way): B's answer is whole; ask again.
        let _ = resp.bytes().await;
        b.hits.store(0, Ordering::SeqCst);
    }
    let resp = stream.expect("one stream lands on replica A");
    stream_body["stream"] = json!(false);
    let mut first = resp.bytes_stream();
    let chunk = first.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&chunk).contains("Hi"));

    let label = |r: &Replica| format!("{{upstream=\"pool\",replica=\"{}\"}}", r.base_url());
    let m = get_text(&format!("{}/metrics", s.base)).await;
    assert_eq!(
        metric(
            &m,
            &format!("ingot_upstream_replica_outstanding{}", label(&a))
        ),
        Some(1.0),
        "{m}"
    );
    // While A streams, every request goes to B, the replica with fewer outstanding.
    let statuses = chats(&s.base, 10, 1).await;
    assert!(statuses.iter().all(|&c| c == 200));
    assert_eq!(b.hits(), 10);

    tx.send(Ok(Bytes::from_static(b"data: [DONE]\n\n")))
        .unwrap();
    drop(tx);
    let rest: Vec<_> = first.collect().await;
    assert!(rest.iter().all(Result::is_ok));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = get_text(&format!("{}/metrics", s.base)).await;
        if metric(
            &m,
            &format!("ingot_upstream_replica_outstanding{}", label(&a)),
        ) == Some(0.0)
        {
            break;
        }
        assert!(Instant::now() < deadline, "the stream still counts:\n{m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
