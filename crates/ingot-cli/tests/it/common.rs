use std::process::{Command, Output};

pub use ingot_test_support::have_models;
use ingot_test_support::{TestServer, bare_config, model_dir};

/// An in-process server and its `/v1` base URL.
pub struct Server {
    pub base_url: String,
    _server: TestServer,
}

/// Starts the server in-process on 127.0.0.1:0; `models` loads the local chat and embedding
/// models, `keys` turns authentication on.
pub async fn spawn(models: bool, keys: &[&str]) -> Server {
    let mut config = bare_config();
    config.model_dir = model_dir();
    config.chat.enabled = models;
    config.chat.max_slots = 2;
    config.chat.ctx_per_slot = 1024;
    config.embeddings.enabled = models;
    config.api_keys = keys.iter().map(|k| (*k).to_owned()).collect();
    let server = ingot_test_support::spawn(config, models).await;
    Server {
        base_url: format!("{}/v1", server.base),
        _server: server,
    }
}

/// `ingot ARGS` with the environment cleared of the client's variables, and the client's
/// settings file and kept conversations in a folder of the test run, not the user's.
pub fn ingot(args: &[&str]) -> Command {
    let home = std::env::temp_dir().join(format!("ingot-cli-it-{}", std::process::id()));
    let mut c = Command::new(env!("CARGO_BIN_EXE_ingot"));
    c.args(args)
        .env_remove("NVIDIA_API_KEY")
        .env_remove("NVIDIA_BASE_URL")
        .env_remove("INGOT_CLIENT_CONFIG")
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"));
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
