use std::path::PathBuf;
use std::process::{Command, Output};

use ingot_server::{AppState, Config};
use tokio::sync::oneshot;

pub struct TestServer {
    pub base_url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
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
        .exists()
        && model_dir()
            .join("all-minilm-l6-v2/model.safetensors")
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

/// Starts the server in-process on 127.0.0.1:0; `models` loads the local chat and embedding
/// models, `keys` turns authentication on.
pub async fn spawn(models: bool, keys: &[&str]) -> TestServer {
    let mut config = Config {
        port: 0,
        model_dir: model_dir(),
        ..Config::default()
    };
    config.chat.enabled = models;
    config.chat.max_slots = 2;
    config.chat.ctx_per_slot = 1024;
    config.embeddings.enabled = models;
    config.api_keys = keys.iter().map(|k| (*k).to_owned()).collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(config);
    if models {
        ingot_server::load_engines(state.clone()).await;
        state.readiness().unwrap();
    }
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        ingot_server::serve(listener, state, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    TestServer {
        base_url: format!("http://{addr}/v1"),
        stop: Some(tx),
    }
}

/// `ingot ARGS` with the environment cleared of the client's variables.
pub fn ingot(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ingot"));
    c.args(args)
        .env_remove("NVIDIA_API_KEY")
        .env_remove("NVIDIA_BASE_URL");
    c
}

/// Runs the command on a blocking thread (the server runs on the test's runtime).
pub async fn output(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
