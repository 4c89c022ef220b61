//! The SDK against a real llama.cpp server (`llama-server`, built by `scripts/llama-server.sh`)
//! serving the local SmolLM2 GGUF. Skipped when `INGOT_LLAMA_SERVER` is unset, unless
//! `INGOT_REQUIRE_TOOLS=1` (as in `scripts/test.sh`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use ingot_client::protocol::chat::{ChatCompletionRequest, ChatMessage, Role};
use ingot_client::{Client, ClientConfig, ClientError};

struct LlamaServer {
    child: Child,
    base_url: String,
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

fn model() -> PathBuf {
    std::env::var_os("INGOT_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/ingot/models")
        })
        .join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

async fn start() -> Option<LlamaServer> {
    let Some(bin) = std::env::var_os("INGOT_LLAMA_SERVER") else {
        assert!(
            !required(),
            "INGOT_LLAMA_SERVER is not set: run scripts/llama-server.sh"
        );
        eprintln!("SKIPPED: INGOT_LLAMA_SERVER is not set");
        return None;
    };
    let model = model();
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
        .args([
            "-m",
            model.to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
        ])
        .arg(port.to_string())
        .args(["-c", "2048", "--parallel", "2", "-t", "2", "--no-webui"])
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

fn req(max_tokens: u32) -> ChatCompletionRequest {
    ChatCompletionRequest {
        model: "smollm2".into(),
        messages: vec![ChatMessage::text(Role::User, "Name three colours.")],
        max_tokens: Some(max_tokens),
        temperature: Some(0.0),
        ..ChatCompletionRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_against_llama_server() {
    let Some(server) = start().await else {
        return;
    };
    let client = Client::new(ClientConfig::new(&server.base_url)).unwrap();

    let models = client.models().await.unwrap();
    assert!(!models.data.is_empty());

    let full = client.chat(req(24)).await.unwrap();
    let text = full.choices[0].message.content.clone().unwrap();
    assert!(!text.is_empty());
    let usage = full.usage.unwrap();
    assert!(usage.completion_tokens > 0 && usage.completion_tokens <= 24);

    let mut stream = client.chat_stream(req(24)).await.unwrap();
    let mut streamed = String::new();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        chunks += 1;
        for c in &chunk.choices {
            streamed.push_str(c.delta.content.as_deref().unwrap_or(""));
        }
    }
    assert!(chunks > 2, "{chunks} chunks");
    assert_eq!(streamed, text, "greedy stream and non-stream differ");

    // llama.cpp's error envelope is OpenAI's with an int code; a 400 is not retried.
    let mut bad = req(8);
    bad.extra.insert(
        "response_format".into(),
        serde_json::json!({"type": "bogus"}),
    );
    let err = client.chat(bad).await.unwrap_err();
    let ClientError::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 400, "{err}");
    assert_eq!(api.code.as_deref(), Some("400"));
    assert!(api.message.contains("response_format"), "{err}");
    assert_eq!(api.retries, 0);
}
