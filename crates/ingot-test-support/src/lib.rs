//! Helpers shared by ingot's integration tests: [`spawn`] starts the real server in-process
//! on `127.0.0.1:0` (tests then talk HTTP to it), [`have_models`] says whether the real model
//! files are installed (and fails the test when `INGOT_REQUIRE_MODELS=1` and they are not).
//!
//! Test helpers fail loudly: a broken fixture is a failed test, not a skipped one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test on purpose"
)]

pub mod gguf;
pub mod llama_server;

use std::path::PathBuf;

use ingot_server::{AppState, Config};
use tokio::sync::oneshot;

/// A server running on the test's runtime; dropping it shuts the server down.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The server's state (engines, proxy, metrics).
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A config with no local models (most of the contract does not depend on them).
pub fn bare_config() -> Config {
    let mut c = Config {
        port: 0,
        ..Config::default()
    };
    c.chat.enabled = false;
    c.embeddings.enabled = false;
    c
}

/// `$INGOT_MODEL_DIR`, else `$HOME/.cache/ingot/models` (where `scripts/setup-models.sh`
/// puts the files).
pub fn model_dir() -> PathBuf {
    std::env::var_os("INGOT_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/ingot/models")
        })
}

/// The default chat model (SmolLM2-135M-Instruct, llama architecture, 576 wide).
pub fn chat_model_path() -> PathBuf {
    model_dir().join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// The default pack's larger chat model (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M).
pub fn large_chat_model_path() -> PathBuf {
    model_dir().join("qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
}

/// Whether the default pack's chat and embedding model files are present; panics when they
/// are required (`INGOT_REQUIRE_MODELS=1`) but missing.
pub fn have_models() -> bool {
    let dir = model_dir();
    let ok = chat_model_path().exists()
        && large_chat_model_path().exists()
        && dir.join("all-minilm-l6-v2/model.safetensors").exists();
    if !ok {
        assert!(
            std::env::var("INGOT_REQUIRE_MODELS").as_deref() != Ok("1"),
            "model files missing from {}: run scripts/setup-models.sh",
            dir.display()
        );
        eprintln!("SKIPPED: model files missing from {}", dir.display());
    }
    ok
}

/// Starts the server for `config` on `127.0.0.1:0`; with `load`, first loads the configured
/// local models and waits until the server is ready.
pub async fn spawn(config: Config, load: bool) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(config);
    if load {
        ingot_server::load_engines(state.clone()).await;
        state.readiness().unwrap();
    }
    let (tx, rx) = oneshot::channel();
    let st = state.clone();
    tokio::spawn(async move {
        ingot_server::serve(listener, st, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    TestServer {
        base: format!("http://{addr}"),
        state,
        stop: Some(tx),
    }
}

/// The JSON events of an SSE body (`data:` lines, `[DONE]` left out).
pub fn sse_events(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap())
        .collect()
}

/// The `usage` object of an SSE chat stream's body (the one event that carries it).
pub fn sse_usage(body: &str) -> serde_json::Value {
    sse_events(body)
        .into_iter()
        .find(|v| v["usage"].is_object())
        .expect("the stream has no usage event")["usage"]
        .clone()
}

/// `GET url` with a plain client, its body as JSON (panics on failure).
pub async fn get_json(url: &str) -> serde_json::Value {
    http().get(url).send().await.unwrap().json().await.unwrap()
}

/// `GET url` with a plain client, its body as text (panics on failure).
pub async fn get_text(url: &str) -> String {
    http().get(url).send().await.unwrap().text().await.unwrap()
}

/// `POST url` with a JSON body: the status and the body as JSON (panics on failure).
pub async fn post_json(url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let r = http().post(url).json(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A plain HTTP client.
pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}
