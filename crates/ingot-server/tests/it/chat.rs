//! Chat over HTTP with the real SmolLM2 model: SSE framing, limits, queueing, disconnects.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::common::{bare_config, have_models, http, model_dir, spawn, sse_usage};

fn chat_config(slots: u32, queue: usize, ctx: u32) -> ingot_server::Config {
    let mut c = bare_config();
    c.model_dir = model_dir();
    c.chat.enabled = true;
    c.chat.max_slots = slots;
    c.chat.queue_capacity = queue;
    c.chat.ctx_per_slot = ctx;
    c
}

fn events(body: &str) -> Vec<&str> {
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    body.split_terminator("\n\n").collect()
}

#[tokio::test]
async fn sse_framing_byte_by_byte() {
    if !have_models() {
        return;
    }
    let s = spawn(chat_config(2, 8, 1024), true).await;
    let url = format!("{}/v1/chat/completions", s.base);
    for include_usage in [true, false] {
        let resp = http()
            .post(&url)
            .json(&json!({"model":"meta/llama-3.1-8b-instruct","messages":[{"role":"user","content":"Hi"}],
                "max_tokens":4,"temperature":0,"stream":true,"stream_options":{"include_usage":include_usage}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        assert_eq!(resp.headers()["cache-control"], "no-cache");
        let body = resp.text().await.unwrap();
        let ev = events(&body);
        assert!(
            ev.iter()
                .all(|e| e.starts_with("data: ") && !e[6..].contains('\n'))
        );
        let chunks: Vec<Value> = ev[..ev.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(&e[6..]).unwrap())
            .collect();
        assert_eq!(
            chunks[0]["choices"][0]["delta"],
            json!({"role":"assistant","content":""})
        );
        let id = &chunks[0]["id"];
        assert!(
            chunks
                .iter()
                .all(|c| &c["id"] == id && c["object"] == "chat.completion.chunk")
        );
        assert!(
            chunks
                .iter()
                .all(|c| c["model"] == "meta/llama-3.1-8b-instruct")
        );
        let usage: Vec<&Value> = chunks.iter().filter(|c| c.get("usage").is_some()).collect();
        let finish_at = chunks
            .iter()
            .position(|c| c["choices"][0]["finish_reason"].is_string())
            .unwrap();
        assert_eq!(chunks[finish_at]["choices"][0]["finish_reason"], "length");
        if include_usage {
            assert_eq!(usage.len(), 1);
            assert_eq!(finish_at, chunks.len() - 2);
            let last = chunks.last().unwrap();
            assert_eq!(last["choices"], json!([]));
            assert_eq!(last["usage"]["completion_tokens"], 4);
        } else {
            assert!(usage.is_empty());
            assert_eq!(finish_at, chunks.len() - 1);
        }
    }
}

#[tokio::test]
async fn prompt_too_long_states_both_counts_and_max_tokens_is_clamped() {
    if !have_models() {
        return;
    }
    let s = spawn(chat_config(1, 4, 64), true).await;
    let url = format!("{}/v1/chat/completions", s.base);
    let long = "word ".repeat(200);
    let r = http()
        .post(&url)
        .json(&json!({"model":"meta/llama-3.1-8b-instruct","messages":[{"role":"user","content":long}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    let d = e["detail"].as_str().unwrap();
    assert!(d.contains("64") && d.contains("tokens"), "{d}");
    let r: Value = http()
        .post(&url)
        .json(&json!({"model":"meta/llama-3.1-8b-instruct","messages":[{"role":"user","content":"Hi"}],
            "max_tokens":5000,"ignore_eos":true,"temperature":0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["choices"][0]["finish_reason"], "length");
    let u = &r["usage"];
    assert!(u["total_tokens"].as_u64().unwrap() <= 64, "{u}");
}

#[tokio::test]
async fn full_queue_answers_429_with_retry_after_and_disconnect_frees_the_slot() {
    if !have_models() {
        return;
    }
    let s = spawn(chat_config(1, 1, 4096), true).await;
    let url = format!("{}/v1/chat/completions", s.base);
    let long_job = json!({"model":"meta/llama-3.1-8b-instruct","messages":[{"role":"user","content":"Count."}],
        "max_tokens":3000,"ignore_eos":true,"stream":true});
    // Occupy the only slot, then fill the one queue place.
    let first = http().post(&url).json(&long_job).send().await.unwrap();
    let mut first_body = first.bytes_stream();
    // The role chunk comes at once; a content chunk means the job holds the slot.
    first_body.next().await.unwrap().unwrap();
    first_body.next().await.unwrap().unwrap();
    let queued = tokio::spawn({
        let url = url.clone();
        let job = long_job.clone();
        async move { http().post(&url).json(&job).send().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = http().post(&url).json(&long_job).send().await.unwrap();
    let status = r.status();
    if status != 429 {
        panic!(
            "expected 429, got {status}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    // Dropping both streams must free the slot within a step: a short request then finishes.
    drop(first_body);
    drop(queued.await.unwrap());
    let short = json!({"model":"meta/llama-3.1-8b-instruct","messages":[{"role":"user","content":"Hi"}],"max_tokens":3});
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let r = http().post(&url).json(&short).send().await.unwrap();
            if r.status() == 200 {
                return r.json::<Value>().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the slot was not freed after the client disconnected");
    assert_eq!(done["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn text_only_model_rejects_images_with_422() {
    if !have_models() {
        return;
    }
    let s = spawn(chat_config(1, 4, 512), true).await;
    let r = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&json!({"model":"meta/llama-3.1-8b-instruct","messages":[{"role":"user","content":[
            {"type":"text","text":"what?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "messages.0.content");
}

#[tokio::test]
async fn tool_call_conversations_render_and_engine_errors_name_their_field() {
    if !have_models() {
        return;
    }
    let s = spawn(chat_config(2, 4, 1024), true).await;
    let url = format!("{}/v1/chat/completions", s.base);
    // An assistant turn with `content: null` and tool calls, then the tool's answer.
    let r = http()
        .post(&url)
        .json(&json!({"model":"meta/llama-3.1-8b-instruct","max_tokens":8,"messages":[
            {"role":"user","content":"What is the weather in Paris?"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
                "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"18C and sunny"}],
            "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    // More choices than the engine has slots: 422 about `n`.
    let r = http()
        .post(&url)
        .json(
            &json!({"model":"meta/llama-3.1-8b-instruct","max_tokens":2,"n":3,
            "messages":[{"role":"user","content":"Hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "n");
}

#[tokio::test]
async fn a_repeated_prompt_reports_its_cached_tokens() {
    if !have_models() {
        return;
    }
    let s = spawn(chat_config(2, 4, 1024), true).await;
    let url = format!("{}/v1/chat/completions", s.base);
    let body = json!({"model":"meta/llama-3.1-8b-instruct","max_tokens":4,"temperature":0,
        "messages":[{"role":"system","content":"You answer in one word."},
                    {"role":"user","content":"Name a colour."}]});
    let first: Value = http()
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let text = http()
        .post(&url)
        .json(&streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let usage = sse_usage(&text);
    let prompt = first["usage"]["prompt_tokens"].as_u64().unwrap();
    // Everything but the last prompt token came from the cache.
    assert_eq!(usage["prompt_tokens"].as_u64().unwrap(), prompt);
    assert_eq!(
        usage["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap(),
        prompt - 1
    );
}
