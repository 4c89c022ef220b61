//! Every other endpoint through upstreams: embeddings, TRELLIS, ranking and text
//! completions (paths, bodies, failover, metering).

use std::time::{Duration, Instant};

use axum::response::IntoResponse;
use ingot_server::config::UpstreamKind;
use serde_json::{Value, json};

use super::{chat, json_reply, mock, upstream};
use crate::common::{bare_config, get_json, get_text, http, spawn};

#[tokio::test]
async fn embeddings_are_forwarded_and_listed() {
    const EMB: &str = "nvidia/llama-3.2-nv-embedqa-1b-v2";
    let up = mock(|_, seen| {
        json_reply(
            200,
            &json!({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,0.25]}],
                "model":seen.body["model"],"usage":{"prompt_tokens":2,"total_tokens":2}}),
        )
    })
    .await;
    let mut cfg = bare_config();
    let mut u = upstream("retriever", &up.base_url, &[EMB, "baai/bge-m3"]);
    u.kind = UpstreamKind::Embedding;
    cfg.upstreams = vec![u];
    let s = spawn(cfg, false).await;
    let resp = http()
        .post(format!("{}/v1/embeddings", s.base))
        .json(&json!({"model":EMB,"input":["hello"],"input_type":"query","truncate":"END","dimensions":2}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let b: Value = resp.json().await.unwrap();
    assert_eq!(b["data"][0]["embedding"], json!([0.5, 0.25]));
    let seen = up.seen();
    assert_eq!(seen[0].path, "/v1/embeddings");
    assert_eq!(
        seen[0].body,
        json!({"model":EMB,"input":["hello"],"input_type":"query","truncate":"END","dimensions":2})
    );
    // NIM 1.x suffix: the upstream gets the plain id and `input_type`.
    let resp = http()
        .post(format!("{}/v1/embeddings", s.base))
        .json(&json!({"model":"baai/bge-m3-passage","input":"x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(up.seen()[1].body["model"], "baai/bge-m3");
    assert_eq!(up.seen()[1].body["input_type"], "passage");
    // Listed with its kind; the wrong endpoint is refused before forwarding.
    let models: Value = get_json(&format!("{}/v1/models", s.base)).await;
    let data = models["data"].as_array().unwrap();
    let m = data.iter().find(|m| m["id"] == EMB).unwrap();
    assert_eq!(
        (&m["owned_by"], &m["root"]),
        (&json!("nvidia"), &json!(EMB))
    );
    // Reference ids keep their order; upstream-only ids come after them.
    let pos = |id: &str| data.iter().position(|m| m["id"] == id).unwrap();
    assert!(pos("microsoft/trellis") < pos(EMB));
    assert!(pos("meta/llama-3.3-70b-instruct") < pos("baai/bge-m3"));
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&chat(EMB))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn trellis_is_forwarded_to_the_trellis_path() {
    let artifacts =
        json!({"artifacts":[{"base64":"Z2xURgIAAAA=","finishReason":"SUCCESS","seed":7}]});
    let reply = artifacts.clone();
    let up = mock(move |_, _| json_reply(200, &reply)).await;
    let mut cfg = bare_config();
    let mut u = upstream("trellis-nim", &up.base_url, &["microsoft/trellis"]);
    u.trellis_path = "infer".into();
    u.kind = UpstreamKind::Gen3d;
    cfg.upstreams = vec![u];
    let s = spawn(cfg, false).await;
    for path in ["/v1/genai/microsoft/trellis", "/v1/infer"] {
        let resp = http()
            .post(format!("{}{path}", s.base))
            .json(&json!({"prompt":"A small stone golem","seed":7,"ss_sampling_steps":25}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let b: Value = resp.json().await.unwrap();
        // The upstream's `artifacts`, and the reference's `output.glb` added beside them.
        assert_eq!(b["artifacts"], artifacts["artifacts"]);
        assert_eq!(b["output"]["glb"], "Z2xURgIAAAA=");
    }
    let seen = up.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.path == "/v1/infer"));
    assert_eq!(
        seen[0].body,
        json!({"prompt":"A small stone golem","seed":7,"ss_sampling_steps":25})
    );
    // Validation still happens here first.
    let resp = http()
        .post(format!("{}/v1/infer", s.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn ranking_is_forwarded_and_falls_over_to_a_second_reranker() {
    const RANK: &str = "nvidia/llama-3.2-nv-rerankqa-1b-v2";
    let down = mock(|_, _| json_reply(503, &json!({"detail": "warming up"}))).await;
    let up = mock(|_, _| {
        json_reply(
            200,
            &json!({"rankings":[{"index":1,"logit":3.5},{"index":0,"logit":-2.0}],
                "usage":{"prompt_tokens":9,"total_tokens":9}}),
        )
    })
    .await;
    let mut cfg = bare_config();
    cfg.upstreams = vec![
        upstream("nim-a", &down.base_url, &[RANK, "acme/reranker"]),
        upstream("nim-b", &up.base_url, &[RANK, "acme/reranker"]),
    ];
    cfg.upstreams[1].kind = UpstreamKind::Ranking;
    cfg.upstreams[0].kind = UpstreamKind::Ranking;
    let s = spawn(cfg, false).await;
    let body = json!({"model":RANK,"query":{"text":"q"},"passages":[{"text":"a"},{"text":"b"}],"truncate":"END"});
    let resp = http()
        .post(format!("{}/v1/ranking", s.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["x-ingot-upstream"].to_str().unwrap(),
        "nim-b"
    );
    let b: Value = resp.json().await.unwrap();
    assert_eq!(b["rankings"][0], json!({"index":1,"logit":3.5}));
    assert_eq!(up.seen()[0].path, "/v1/ranking");
    assert_eq!(up.seen()[0].body, body);
    assert!(!down.seen().is_empty());
    // An upstream-only id takes its upstream's kind: ranking, refused on chat.
    let models: Value = get_json(&format!("{}/v1/models", s.base)).await;
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "acme/reranker")
    );
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&chat("acme/reranker"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/ranking"),
        "{err}"
    );
}

#[tokio::test]
async fn completions_are_forwarded_streamed_and_metered() {
    const CODE: &str = "bigcode/starcoder2-7b";
    let sse = "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\"def\",\"logprobs\":null,\"finish_reason\":null}]}\n\n\
               data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":1,\"total_tokens\":5}}\n\n\
               data: [DONE]\n\n";
    let up = mock(move |_, seen| {
        if seen.body["stream"] == true {
            ([("content-type", "text/event-stream")], sse).into_response()
        } else {
            json_reply(
                200,
                &json!({"id":"cmpl-2","object":"text_completion","created":1,"model":seen.body["model"],
                    "choices":[{"index":0,"text":" world","logprobs":null,"finish_reason":"stop"}],
                    "usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}),
            )
        }
    })
    .await;
    let mut cfg = bare_config();
    let mut u = upstream("vllm", &up.base_url, &[CODE]);
    u.rename = [(CODE.to_owned(), "starcoder2".to_owned())].into();
    cfg.upstreams = vec![u];
    let s = spawn(cfg, false).await;
    let body = json!({"model":CODE,"prompt":"hello","suffix":"!","max_tokens":3});
    let resp = http()
        .post(format!("{}/v1/completions", s.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let b: Value = resp.json().await.unwrap();
    assert_eq!(b["choices"][0]["text"], " world");
    assert_eq!(up.seen()[0].path, "/v1/completions");
    assert_eq!(up.seen()[0].body["model"], "starcoder2");
    assert_eq!(up.seen()[0].body["suffix"], "!");
    let text = http()
        .post(format!("{}/v1/completions", s.base))
        .json(&json!({"model":CODE,"prompt":"x","stream":true}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, sse);
    // Both answers' usage reaches the metrics (the stream's when its body ends).
    let tokens = |metrics: &str, kind: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("ingot_tokens_total")
                    && l.contains(&format!("kind=\"{kind}\""))
                    && l.contains(CODE)
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = get_text(&format!("{}/metrics", s.base)).await;
        if tokens(&metrics, "prompt") == 6.0 {
            assert_eq!(tokens(&metrics, "completion"), 2.0, "{metrics}");
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
