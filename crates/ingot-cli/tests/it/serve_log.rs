//! `ingot serve`'s own log, as an operator reads it.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use crate::common::ingot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_injection_is_escaped() {
    let mut child = ingot(&["serve", "--port", "0", "--log-format", "text"])
        .env(
            "INGOT_KEYS_DB",
            std::env::temp_dir().join("ingot-log-injection.db"),
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
