//! Models, embeddings and TRELLIS: paths, headers and response decoding.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ingot_client::protocol::embeddings::{EmbeddingInput, EmbeddingRequest, EncodingFormat};
use ingot_client::protocol::trellis::TrellisRequest;
use ingot_client::{Client, ClientConfig, ClientError};

use crate::support::{Canned, Server};

fn b64(v: &[f32]) -> String {
    STANDARD.encode(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
}

#[tokio::test]
async fn model_ids_are_percent_encoded() {
    let server = Server::start(vec![Canned::json(
        200,
        serde_json::json!({"id": "meta/llama-3.1-8b-instruct", "object": "model", "created": 735790403, "owned_by": "meta"}),
    )])
    .await;
    let model = server
        .client()
        .model("meta/llama-3.1-8b-instruct")
        .await
        .unwrap();
    assert_eq!(model.owned_by, "meta");
    let seen = &server.seen()[0];
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/v1/models/meta%2Fllama-3.1-8b-instruct");
}

#[tokio::test]
async fn model_list_without_a_key_sends_no_authorization() {
    let server = Server::start(vec![Canned::json(
        200,
        serde_json::json!({"object": "list", "data": [
            {"id": "a/b", "object": "model", "created": 1, "owned_by": "a", "root": "a/b", "max_model_len": 4096}
        ]}),
    )])
    .await;
    let client = Client::new(ClientConfig::new(format!("{}/", server.base))).unwrap();
    let list = client.models().await.unwrap();
    assert_eq!(list.data[0].max_model_len, Some(4096));
    let seen = &server.seen()[0];
    assert_eq!(seen.path, "/v1/models");
    assert!(seen.headers.get("authorization").is_none());
}

#[tokio::test]
async fn embeddings_base64_are_decoded_in_input_order() {
    let server = Server::start(vec![Canned::json(
        200,
        serde_json::json!({"object": "list", "model": "e", "usage": {"prompt_tokens": 2, "total_tokens": 2},
            "data": [
                {"object": "embedding", "index": 1, "embedding": b64(&[3.0, -4.5])},
                {"object": "embedding", "index": 0, "embedding": b64(&[10.0, 5.0])}
            ]}),
    )])
    .await;
    let req = EmbeddingRequest {
        model: "e".into(),
        input: EmbeddingInput::Texts(vec!["a".into(), "b".into()]),
        encoding_format: Some(EncodingFormat::Base64),
        dimensions: None,
        input_type: None,
        truncate: None,
        user: None,
        extra: Default::default(),
    };
    let vectors = server.client().embed(&req).await.unwrap();
    assert_eq!(vectors, vec![vec![10.0, 5.0], vec![3.0, -4.5]]);
    let seen = &server.seen()[0];
    assert_eq!(seen.path, "/v1/embeddings");
    assert_eq!(seen.json()["encoding_format"], "base64");
}

#[tokio::test]
async fn embeddings_as_floats_and_count_mismatch() {
    let body = serde_json::json!({"object": "list", "model": "e", "usage": {"prompt_tokens": 1, "total_tokens": 1},
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}]});
    let server = Server::start(vec![Canned::json(200, body)]).await;
    let mut req = EmbeddingRequest {
        model: "e".into(),
        input: EmbeddingInput::Text("a".into()),
        encoding_format: None,
        dimensions: None,
        input_type: None,
        truncate: None,
        user: None,
        extra: Default::default(),
    };
    assert_eq!(
        server.client().embed(&req).await.unwrap(),
        vec![vec![0.5, 0.25]]
    );
    req.input = EmbeddingInput::Texts(vec!["a".into(), "b".into()]);
    let err = server.client().embed(&req).await.unwrap_err();
    assert!(matches!(err, ClientError::Decode { .. }), "{err:?}");
}

fn trellis_req() -> TrellisRequest {
    TrellisRequest {
        prompt: Some("A small stone golem".into()),
        seed: Some(42),
        ..Default::default()
    }
}

#[tokio::test]
async fn trellis_reads_artifacts_then_output_glb() {
    let glb = b"glTF\x02\x00\x00\x00rest";
    let server = Server::start(vec![
        Canned::json(
            200,
            serde_json::json!({"artifacts": [{"base64": STANDARD.encode(glb), "finishReason": "SUCCESS", "seed": 42}]}),
        ),
        Canned::json(200, serde_json::json!({"output": {"glb": STANDARD.encode(glb)}})),
    ])
    .await;
    let client = server.client();
    assert_eq!(client.trellis(&trellis_req()).await.unwrap(), glb);
    assert_eq!(client.trellis(&trellis_req()).await.unwrap(), glb);
    let seen = server.seen();
    assert_eq!(seen[0].path, "/v1/genai/microsoft/trellis");
    assert_eq!(seen[0].json()["prompt"], "A small stone golem");
}

#[tokio::test]
async fn trellis_uses_the_genai_base_and_its_own_timeout() {
    let glb = b"glTF";
    let server = Server::start(vec![
        Canned::json(200, serde_json::json!({"artifacts": [{"base64": STANDARD.encode(glb), "finishReason": "SUCCESS", "seed": 1}]}))
            .delay(Duration::from_millis(400)),
    ])
    .await;
    let config = ClientConfig::new("http://127.0.0.1:9/v1")
        .with_genai_base_url(&server.base)
        .with_timeout(Duration::from_millis(100))
        .with_trellis_timeout(Duration::from_secs(5));
    assert_eq!(
        Client::new(config)
            .unwrap()
            .trellis(&trellis_req())
            .await
            .unwrap(),
        glb
    );
}

#[tokio::test]
async fn trellis_polls_nvcf_after_202() {
    let glb = b"glTF";
    let server = Server::start(vec![
        Canned::new(202, "").header("nvcf-reqid", "req-1"),
        Canned::json(200, serde_json::json!({"artifacts": [{"base64": STANDARD.encode(glb), "finishReason": "SUCCESS", "seed": 1}]})),
    ])
    .await;
    assert_eq!(server.client().trellis(&trellis_req()).await.unwrap(), glb);
    let seen = server.seen();
    assert_eq!(seen[1].method, "GET");
    assert_eq!(seen[1].path, "/v2/nvcf/pexec/status/req-1");
}

#[tokio::test]
async fn trellis_content_filtered_is_an_error() {
    let server = Server::start(vec![Canned::json(
        200,
        serde_json::json!({"artifacts": [{"base64": "", "finishReason": "CONTENT_FILTERED", "seed": 1}]}),
    )])
    .await;
    let err = server.client().trellis(&trellis_req()).await.unwrap_err();
    assert!(err.to_string().contains("CONTENT_FILTERED"), "{err}");
}

#[tokio::test]
async fn completions_body_and_stream() {
    use ingot_client::protocol::completions::{CompletionRequest, Prompt};
    let chunk = |text: &str| {
        serde_json::json!({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": null}]})
        .to_string()
    };
    let body = format!(
        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        chunk("re"),
        chunk("turn")
    );
    let server = Server::start(vec![
        Canned::json(
            200,
            serde_json::json!({"id": "cmpl-2", "object": "text_completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "text": "return x", "logprobs": null, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}),
        ),
        Canned::sse(&[&body]),
    ])
    .await;
    let req = CompletionRequest {
        model: "bigcode/starcoder2-7b".into(),
        prompt: Prompt::Text("def f(x):\n    ".into()),
        suffix: Some("\n".into()),
        stream: Some(true),
        ..CompletionRequest::default()
    };
    let resp = server.client().completions(&req).await.unwrap();
    assert_eq!(resp.choices[0].text, "return x");
    let sent = server.seen()[0].json();
    assert_eq!(server.seen()[0].path, "/v1/completions");
    assert_eq!(sent["stream"], false);
    assert_eq!(sent["suffix"], "\n");
    let texts: Vec<String> = futures::StreamExt::collect::<Vec<_>>(
        server.client().completions_stream(&req).await.unwrap(),
    )
    .await
    .into_iter()
    .map(|c| c.unwrap().choices[0].text.clone())
    .collect();
    assert_eq!(texts, ["re", "turn"]);
    assert_eq!(server.seen()[1].json()["stream"], true);
}

#[tokio::test]
async fn ranking_checks_the_indices_it_gets() {
    use ingot_client::protocol::ranking::{RankingRequest, RankingText};
    let server = Server::start(vec![
        Canned::json(
            200,
            serde_json::json!({"rankings": [{"index": 1, "logit": 2.5}, {"index": 0, "logit": -1.0}]}),
        ),
        Canned::json(200, serde_json::json!({"rankings": [{"index": 7, "logit": 2.5}]})),
    ])
    .await;
    let req = RankingRequest {
        model: "nvidia/llama-3.2-nv-rerankqa-1b-v2".into(),
        query: RankingText::new("q"),
        passages: vec![RankingText::new("a"), RankingText::new("b")],
        truncate: None,
        extra: Default::default(),
    };
    let resp = server.client().ranking(&req).await.unwrap();
    assert_eq!(resp.rankings[0].index, 1);
    assert_eq!(server.seen()[0].path, "/v1/ranking");
    assert_eq!(
        server.seen()[0].json()["passages"],
        serde_json::json!([{"text": "a"}, {"text": "b"}])
    );
    let err = server.client().ranking(&req).await.unwrap_err();
    assert!(matches!(err, ClientError::Decode { .. }), "{err}");
}
