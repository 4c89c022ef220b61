//! `ingot serve` as a process, as an operator runs it: its log, its shutdown.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::ingot;

/// Starts `ingot serve ARGS` on a free port; its stderr lines arrive on the receiver.
fn start(args: &[&str]) -> (Child, mpsc::Receiver<String>, String) {
    let mut all = vec!["serve", "--port", "0", "--log-format", "text"];
    all.extend_from_slice(args);
    let mut child = ingot(&all)
        .env(
            "INGOT_KEYS_DB",
            std::env::temp_dir().join(format!("ingot-serve-{}.db", std::process::id())),
        )
        .env("RUST_LOG", "info")
        .env_remove("INGOT_API_KEYS")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let addr = loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        if let Some(a) = line.split("listening on ").nth(1) {
            break a.trim().to_owned();
        }
    };
    (child, rx, addr)
}

/// An upstream that answers every request with one SSE event, then never another byte.
async fn hanging_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|| async {
        let first = futures::stream::once(async {
            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(
                b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n",
            ))
        });
        let body = futures::StreamExt::chain(first, futures::stream::pending());
        (
            [("content-type", "text/event-stream")],
            axum::body::Body::from_stream(body),
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

/// A config routing every id to `upstream`.
fn config_for(upstream: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "ingot-serve-{}-{}.toml",
        std::process::id(),
        upstream.rsplit(':').next().unwrap().trim_end_matches("/v1")
    ));
    std::fs::write(
        &path,
        format!(
            "[chat]\nenabled = false\n[embeddings]\nenabled = false\n\n[[upstreams]]\nname = \"slow\"\nbase_url = \"{upstream}\"\nmodels = [\"*\"]\n"
        ),
    )
    .unwrap();
    path
}

/// Opens a stream through the server and reads its first event.
async fn open_stream(addr: &str) -> reqwest::Response {
    let mut resp = reqwest::Client::new()
        .post(format!("http://{addr}/v1/chat/completions"))
        .json(
            &serde_json::json!({"model": "meta/llama-3.1-8b-instruct", "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    resp
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// Waits for the child to exit, at most `limit`.
async fn exit_within(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "still running after {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_an_open_stream_ends_within_the_deadline() {
    let upstream = hanging_upstream().await;
    let cfg = config_for(&upstream);
    let (mut child, _log, addr) =
        start(&["--config", cfg.to_str().unwrap(), "--shutdown-timeout", "1"]);
    let _stream = open_stream(&addr).await;
    let started = Instant::now();
    signal(&child, "-TERM");
    let status = exit_within(&mut child, Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let upstream = hanging_upstream().await;
    let cfg = config_for(&upstream);
    let (mut child, _log, addr) = start(&[
        "--config",
        cfg.to_str().unwrap(),
        "--shutdown-timeout",
        "600",
    ]);
    let _stream = open_stream(&addr).await;
    signal(&child, "-INT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited on the first signal"
    );
    signal(&child, "-INT");
    let status = exit_within(&mut child, Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(130));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_stream_gets_keep_alive_comments() {
    let upstream = hanging_upstream().await;
    let cfg = config_for(&upstream);
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("sse_keep_alive_secs = 1\n{text}")).unwrap();
    let (mut child, _log, addr) = start(&["--config", cfg.to_str().unwrap()]);
    let mut stream = open_stream(&addr).await;
    let next = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&next[..], b": keep-alive\n\n");
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_injection_is_escaped() {
    let (mut child, rx, addr) = start(&["--no-chat", "--no-embeddings"]);
    let forged = "x\n2026-01-01T00:00:00Z ERROR ingot_server: forged";
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/v1/chat/completions"))
        .json(
            &serde_json::json!({"model": forged, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // A NUL byte in a path.
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/v1/models/a%00b"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    let _ = child.wait();
    let lines: Vec<String> = rx.try_iter().collect();
    let all = lines.join("\n");
    assert!(
        !lines.iter().any(|l| l.starts_with("2026-01-01T00:00:00Z")),
        "a forged line:\n{all}"
    );
    assert!(all.contains("x\\n2026-01-01T00:00:00Z ERROR"), "{all}");
    assert!(!all.contains('\0'), "{all}");
}

#[tokio::test]
async fn check_config_prints_the_effective_configuration_and_exits() {
    let cfg = std::env::temp_dir().join(format!("ingot-check-{}.toml", std::process::id()));
    std::fs::write(
        &cfg,
        "port = 9100\napi_keys = [\"sk-secret\"]\n[chat]\nmax_slots = 2\n",
    )
    .unwrap();
    let o = crate::common::output({
        let mut c = ingot(&[
            "serve",
            "--check-config",
            "--config",
            cfg.to_str().unwrap(),
            "--port",
            "9200",
        ]);
        c.env_remove("INGOT_API_KEYS");
        c
    })
    .await;
    assert!(o.status.success(), "{}", crate::common::stderr(&o));
    let text = crate::common::stdout(&o);
    assert!(!text.contains("sk-secret"), "{text}");
    // Flags over the file, the file over the defaults; and it loads back.
    let back = ingot_server::Config::from_toml(&text).unwrap();
    assert_eq!(back.port, 9200);
    assert_eq!(back.chat.max_slots, 2);
    assert_eq!(back.api_keys, vec!["<redacted>".to_owned()]);
    std::fs::write(&cfg, "prot = 1\n").unwrap();
    let o = crate::common::output(ingot(&[
        "serve",
        "--check-config",
        "--config",
        cfg.to_str().unwrap(),
    ]))
    .await;
    assert!(!o.status.success());
    assert!(
        crate::common::stderr(&o).contains("prot"),
        "{}",
        crate::common::stderr(&o)
    );
    std::fs::remove_file(&cfg).unwrap();
}
