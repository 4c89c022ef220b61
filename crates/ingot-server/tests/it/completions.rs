//! `POST /v1/completions` over HTTP on the default pack: SmolLM2 (no fill-in-the-middle
//! tokens) and Qwen2.5-Coder (FIM) behind the completion ids.

use serde_json::{Value, json};

use crate::common::{bare_config, have_models, http, model_dir, post_json, spawn, sse_events};

const SMALL: &str = "meta/llama-3.1-8b-instruct";
const CODE: &str = "bigcode/starcoder2-7b";

fn pack() -> ingot_server::Config {
    let mut c = bare_config();
    c.model_dir = model_dir();
    c.chat.enabled = true;
    c.chat.max_slots = 4;
    c.chat.ctx_per_slot = 1024;
    c
}

/// The small model's tokens for `text`, as the server tokenizes a text prompt.
fn tokenize(text: &str) -> Vec<u32> {
    let mut cfg = ingot_engine::ChatEngineConfig::new(crate::common::chat_model_path());
    cfg.ctx_per_slot = 256;
    cfg.max_slots = 1;
    ingot_engine::ChatEngine::load(cfg).unwrap().tokenize(text)
}

async fn post(base: &str, body: Value) -> (u16, Value) {
    post_json(&format!("{base}/v1/completions"), &body).await
}

#[tokio::test]
async fn prompts_choices_echo_and_logprobs_have_the_openai_shape() {
    if !have_models() {
        return;
    }
    let s = spawn(pack(), true).await;
    let (status, v) = post(
        &s.base,
        json!({"model": SMALL, "prompt": ["The capital of France is", "1, 2, 3,"],
            "n": 2, "max_tokens": 6, "temperature": 0, "logprobs": 2}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "text_completion");
    assert!(v["id"].as_str().unwrap().starts_with("cmpl-"));
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 4);
    for (i, c) in choices.iter().enumerate() {
        assert_eq!(c["index"], i);
        let lp = &c["logprobs"];
        let tokens: Vec<&str> = lp["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        // The tokens spell the text, and each offset is where its token starts.
        assert_eq!(tokens.concat(), c["text"].as_str().unwrap());
        let mut at = 0;
        for (t, off) in tokens.iter().zip(lp["text_offset"].as_array().unwrap()) {
            assert_eq!(off, at);
            at += t.chars().count();
        }
        assert_eq!(lp["token_logprobs"].as_array().unwrap().len(), tokens.len());
        for top in lp["top_logprobs"].as_array().unwrap() {
            assert!((2..=3).contains(&top.as_object().unwrap().len()), "{top}");
        }
    }
    // Greedy: both choices of a prompt agree; the prompts answer differently.
    assert_eq!(choices[0]["text"], choices[1]["text"]);
    assert_eq!(choices[2]["text"], choices[3]["text"]);
    assert!(choices[2]["text"].as_str().unwrap().contains('4'), "{v}");
    let usage = &v["usage"];
    assert_eq!(
        usage["total_tokens"],
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );

    // Echo puts the prompt first; token ids are a prompt too.
    let (status, v) = post(
        &s.base,
        json!({"model": SMALL, "prompt": "Once upon a time", "echo": true, "max_tokens": 4, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let echoed = v["choices"][0]["text"].as_str().unwrap();
    assert!(
        echoed.starts_with("Once upon a time") && echoed.len() > 16,
        "{echoed}"
    );
    let ids = tokenize("Once upon a time");
    let (status, by_ids) = post(
        &s.base,
        json!({"model": SMALL, "prompt": ids, "max_tokens": 4, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{by_ids}");
    assert_eq!(
        format!(
            "Once upon a time{}",
            by_ids["choices"][0]["text"].as_str().unwrap()
        ),
        echoed
    );

    // What the local engine cannot do, or the model cannot, is refused naming the field.
    for (body, status, param) in [
        (
            json!({"model": SMALL, "prompt": "x", "echo": true, "logprobs": 1}),
            422,
            "echo",
        ),
        (
            json!({"model": SMALL, "prompt": "x", "suffix": "y"}),
            400,
            "suffix",
        ),
        (
            json!({"model": SMALL, "prompt": [1, 99999999]}),
            422,
            "prompt",
        ),
        (
            json!({"model": SMALL, "prompt": "x", "best_of": 2}),
            422,
            "best_of",
        ),
        (json!({"model": SMALL, "prompt": ""}), 422, "prompt"),
    ] {
        let (got, v) = post(&s.base, body.clone()).await;
        assert_eq!(got, status, "{body}: {v}");
        assert_eq!(v["error"]["param"], param, "{body}: {v}");
    }
    // Ids of other kinds answer elsewhere, and completion ids are not chat ids.
    let (status, _) = post(&s.base, json!({"model": "nvidia/vila", "prompt": "x"})).await;
    assert_eq!(status, 400);
    let (status, v) = post_json(
        &format!("{}/v1/chat/completions", s.base),
        &json!({"model": CODE, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/completions")
    );
}

#[tokio::test]
async fn a_stream_matches_the_body_and_ends_with_usage_and_done() {
    if !have_models() {
        return;
    }
    let s = spawn(pack(), true).await;
    let body = json!({"model": SMALL, "prompt": ["Water boils at", "The sky is"],
        "max_tokens": 8, "temperature": 0});
    let (status, whole) = post(&s.base, body.clone()).await;
    assert_eq!(status, 200, "{whole}");
    let mut streamed = body;
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let text = http()
        .post(format!("{}/v1/completions", s.base))
        .json(&streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let events = sse_events(&text);
    let mut texts = [String::new(), String::new()];
    let mut finished = [None, None];
    for e in &events {
        assert_eq!(e["object"], "text_completion");
        for c in e["choices"].as_array().unwrap() {
            let i = c["index"].as_u64().unwrap() as usize;
            texts[i].push_str(c["text"].as_str().unwrap());
            if !c["finish_reason"].is_null() {
                finished[i] = Some(c["finish_reason"].clone());
            }
        }
    }
    for i in 0..2 {
        assert_eq!(texts[i], whole["choices"][i]["text"].as_str().unwrap());
        assert_eq!(
            finished[i].as_ref(),
            Some(&whole["choices"][i]["finish_reason"])
        );
    }
    let last = events.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"], whole["usage"]);
}

#[tokio::test]
async fn fill_in_the_middle_writes_the_gap_with_the_code_model() {
    if !have_models() {
        return;
    }
    let s = spawn(pack(), true).await;
    let prefix = "def is_even(n):\n    ";
    let suffix = "\n\nprint(is_even(4))\n";
    let (status, v) = post(
        &s.base,
        json!({"model": CODE, "prompt": prefix, "suffix": suffix, "max_tokens": 24, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let middle = v["choices"][0]["text"].as_str().unwrap();
    assert!(middle.contains("return"), "{middle:?}");
    assert!(!middle.contains("<|fim"), "{middle:?}");
    // The FIM layout is the model's own: prefix, suffix and middle markers, then the gap.
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() >= 3 + 10);
}
