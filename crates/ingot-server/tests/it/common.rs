use std::path::PathBuf;

use ingot_server::{AppState, Config};
use tokio::sync::oneshot;

pub struct TestServer {
    pub base: String,
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

/// A config with no local models (the contract does not depend on them).
pub fn bare_config() -> Config {
    let mut c = Config::default();
    c.port = 0;
    c.chat.enabled = false;
    c.embeddings.enabled = false;
    c
}

pub fn model_dir() -> PathBuf {
    std::env::var_os("INGOT_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/ingot/models")
        })
}

/// Whether the real model files are present; panics when they are required but missing.
pub fn have_models() -> bool {
    let ok = model_dir()
        .join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
        .exists();
    if !ok {
        assert!(
            std::env::var("INGOT_REQUIRE_MODELS").as_deref() != Ok("1"),
            "model files missing from {}: run scripts/setup-models.sh",
            model_dir().display()
        );
        eprintln!(
            "SKIPPED: model files missing from {}",
            model_dir().display()
        );
    }
    ok
}

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

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}
