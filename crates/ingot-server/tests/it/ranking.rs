//! `POST /v1/ranking` over HTTP with the default embedding model, on the project's relevance
//! set (`bench/ranking/relevance.json`: questions, each with one passage that answers it and
//! five on the same topic that do not).

use serde_json::{Value, json};

use crate::common::{bare_config, have_models, model_dir, post_json, spawn};

const RANK: &str = "nvidia/llama-3.2-nv-rerankqa-1b-v2";

fn config() -> ingot_server::Config {
    let mut c = bare_config();
    c.model_dir = model_dir();
    c.embeddings.enabled = true;
    c
}

fn relevance_set() -> Vec<Value> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/ranking/relevance.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn rank(base: &str, body: &Value) -> (u16, Value) {
    post_json(&format!("{base}/v1/ranking"), body).await
}

#[tokio::test]
async fn relevant_passages_come_first_on_the_relevance_set() {
    if !have_models() {
        return;
    }
    let s = spawn(config(), true).await;
    let set = relevance_set();
    assert!(set.len() >= 40);
    let mut reciprocal = 0.0;
    let mut first = 0;
    for (q, item) in set.iter().enumerate() {
        // The relevant passage goes to a different place each time.
        let mut passages: Vec<String> = item["distractors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect();
        let at = q % (passages.len() + 1);
        passages.insert(at, item["relevant"].as_str().unwrap().to_owned());
        let body = json!({"model": RANK, "query": {"text": item["query"]},
            "passages": passages.iter().map(|p| json!({"text": p})).collect::<Vec<_>>()});
        let (status, v) = rank(&s.base, &body).await;
        assert_eq!(status, 200, "{v}");
        let rankings = v["rankings"].as_array().unwrap();
        // Every passage once, sorted by logit, descending.
        let mut seen: Vec<u64> = rankings
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..passages.len() as u64).collect::<Vec<_>>());
        let logits: Vec<f64> = rankings
            .iter()
            .map(|r| r["logit"].as_f64().unwrap())
            .collect();
        assert!(logits.windows(2).all(|w| w[0] >= w[1]), "{v}");
        let place = rankings.iter().position(|r| r["index"] == at).unwrap();
        reciprocal += 1.0 / (place as f64 + 1.0);
        first += usize::from(place == 0);
        assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    }
    let mrr = reciprocal / set.len() as f64;
    let r1 = first as f64 / set.len() as f64;
    // all-MiniLM-L6-v2 measures MRR@10 0.90, R@1 0.85 on this set (docs/benchmarks.md);
    // pointwise yes/no scoring with the local chat models 0.50 and 0.64.
    assert!(mrr >= 0.85 && r1 >= 0.75, "MRR@10 {mrr:.3}, R@1 {r1:.3}");
}

#[tokio::test]
async fn truncate_empty_inputs_and_wrong_endpoints() {
    if !have_models() {
        return;
    }
    let s = spawn(config(), true).await;
    let long = "word ".repeat(2000);
    let body = |truncate: Option<&str>| {
        let mut b = json!({"model": RANK, "query": {"text": "a question"},
            "passages": [{"text": "short"}, {"text": long}]});
        if let Some(t) = truncate {
            b["truncate"] = json!(t);
        }
        b
    };
    // NIM's default is NONE: a too-long passage is a 400 naming it and the limit.
    for t in [None, Some("NONE")] {
        let (status, v) = rank(&s.base, &body(t)).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["param"], "passages.1.text");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("maximum"),
            "{v}"
        );
    }
    let (status, v) = rank(&s.base, &body(Some("END"))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rankings"].as_array().unwrap().len(), 2);
    for (bad, param) in [
        (
            json!({"model": RANK, "query": {"text": ""}, "passages": [{"text": "a"}]}),
            "query.text",
        ),
        (
            json!({"model": RANK, "query": {"text": "q"}, "passages": []}),
            "passages",
        ),
        (
            json!({"model": RANK, "query": {"text": "q"}, "passages": [{"text": "a", "image": "data:x"}]}),
            "passages.0.image",
        ),
    ] {
        let (status, v) = rank(&s.base, &bad).await;
        assert_eq!(status, 422, "{bad}: {v}");
        assert_eq!(v["error"]["param"], param, "{v}");
    }
    // A ranking id is not an embedding id, and the other way round.
    let (status, _) = post_json(
        &format!("{}/v1/embeddings", s.base),
        &json!({"model": RANK, "input": "x"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = rank(
        &s.base,
        &json!({"model": "nvidia/nv-embed-v1", "query": {"text": "q"}, "passages": [{"text": "a"}]}),
    )
    .await;
    assert_eq!(status, 400);
}
