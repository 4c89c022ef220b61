//! The SDK against a real llama.cpp server (`llama-server`, built by `scripts/llama-server.sh`)
//! serving the local SmolLM2 GGUF. Skipped when `INGOT_LLAMA_SERVER` is unset, unless
//! `INGOT_REQUIRE_TOOLS=1` (as in `scripts/test.sh`).

use futures::StreamExt as _;
use ingot_client::protocol::chat::{ChatCompletionRequest, ChatMessage, Role};
use ingot_client::{Client, ClientConfig, ClientError};
use ingot_test_support::chat_model_path;
use ingot_test_support::llama_server::{LlamaServer, start as start_llama_server};

async fn start() -> Option<LlamaServer> {
    start_llama_server(&chat_model_path(), &["-c", "2048", "--parallel", "2"]).await
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

    // llama.cpp's error envelope is OpenAI's with an int code; a 400 is not retried. A fresh
    // client, so that a pooled connection the server has since closed cannot add a
    // (legitimate) connection retry to the count.
    let mut bad = req(8);
    bad.extra.insert(
        "response_format".into(),
        serde_json::json!({"type": "bogus"}),
    );
    let client = Client::new(ClientConfig::new(&server.base_url)).unwrap();
    let err = client.chat(bad).await.unwrap_err();
    let ClientError::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 400, "{err}");
    assert_eq!(api.code.as_deref(), Some("400"));
    assert!(api.message.contains("response_format"), "{err}");
    assert_eq!(api.retries, 0);
}
