//! llama.cpp's own server (`llama-server`, built by `scripts/llama-server.sh`) as a peer for
//! tests. Skipped (`None`) when `INGOT_LLAMA_SERVER` is unset, unless `INGOT_REQUIRE_TOOLS=1`
//! (as in `scripts/test.sh`), which makes a missing binary or model a failure.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `llama-server`; killed on drop.
pub struct LlamaServer {
    child: Child,
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn required() -> bool {
    std::env::var("INGOT_REQUIRE_TOOLS").as_deref() == Ok("1")
}

/// Starts `llama-server -m MODEL` on a free loopback port with `args` (2 threads, no web
/// UI) and waits until it is healthy.
pub async fn start(model: &Path, args: &[&str]) -> Option<LlamaServer> {
    let Some(bin) = std::env::var_os("INGOT_LLAMA_SERVER") else {
        assert!(
            !required(),
            "INGOT_LLAMA_SERVER is not set: run scripts/llama-server.sh"
        );
        eprintln!("SKIPPED: INGOT_LLAMA_SERVER is not set");
        return None;
    };
    if !model.exists() {
        assert!(
            !required(),
            "{} is missing: run scripts/setup-models.sh",
            model.display()
        );
        eprintln!("SKIPPED: {} is missing", model.display());
        return None;
    }
    // A free port: bind, read, release (llama-server takes no port 0).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .arg("-m")
        .arg(model)
        .args(["--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["-t", "2", "--no-webui"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = LlamaServer {
        child,
        base_url: format!("http://127.0.0.1:{port}/v1"),
    };
    let health = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(60);
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(&health).send().await
            && r.status().is_success()
        {
            return Some(server);
        }
        assert!(
            Instant::now() < deadline,
            "llama-server did not become healthy"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
