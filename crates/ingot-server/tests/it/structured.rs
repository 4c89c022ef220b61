//! Structured output and tool calls over HTTP on the default pack (SmolLM2 without tool
//! support in its template, Qwen2.5-Coder with Hermes-style tool calls).

use serde_json::{Value, json};

use crate::common::{bare_config, have_models, http, model_dir, post_json, spawn, sse_events};

const SMALL: &str = "meta/llama-3.1-8b-instruct";
const LARGE: &str = "meta/llama-3.3-70b-instruct";

fn pack() -> ingot_server::Config {
    let mut c = bare_config();
    c.model_dir = model_dir();
    c.chat.enabled = true;
    c.chat.max_slots = 2;
    c.chat.ctx_per_slot = 2048;
    c
}

async fn post(base: &str, body: Value) -> (u16, Value) {
    post_json(&format!("{base}/v1/chat/completions"), &body).await
}

async fn stream(base: &str, mut body: Value) -> Vec<Value> {
    body["stream"] = json!(true);
    let text = http()
        .post(format!("{base}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    sse_events(&text)
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 30},
            "unit": {"enum": ["celsius", "fahrenheit"]}
        }, "required": ["city", "unit"]}
    }}, {"type": "function", "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string", "maxLength": 20}},
            "required": ["zone"]}
    }}])
}

#[tokio::test]
async fn json_schema_answers_parse_on_both_models_streamed_or_not() {
    if !have_models() {
        return;
    }
    let s = spawn(pack(), true).await;
    let schema = json!({"type": "object", "properties": {
        "answer": {"type": "integer"}, "sure": {"type": "boolean"}}, "required": ["answer", "sure"]});
    for model in [SMALL, LARGE] {
        let body = json!({"model": model, "max_tokens": 60, "temperature": 1.0, "seed": 4,
            "messages": [{"role": "user", "content": "What is 3 + 4?"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}});
        let (status, v) = post(&s.base, body.clone()).await;
        assert_eq!(status, 200, "{v}");
        let text = v["choices"][0]["message"]["content"].as_str().unwrap();
        let parsed: Value = serde_json::from_str(text).unwrap();
        assert!(
            parsed["answer"].is_i64() && parsed["sure"].is_boolean(),
            "{parsed}"
        );
        let chunks = stream(&s.base, body).await;
        let streamed: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(streamed, text, "{model}");
    }
    let (status, v) = post(
        &s.base,
        json!({"model": SMALL, "messages": [{"role": "user", "content": "hi"}],
            "guided_json": {"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}}}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "guided_json", "{v}");
}

#[tokio::test]
async fn required_and_named_tool_choices_always_call() {
    if !have_models() {
        return;
    }
    let s = spawn(pack(), true).await;
    for model in [LARGE, SMALL] {
        for (choice, want) in [
            (json!("required"), None),
            (
                json!({"type": "function", "function": {"name": "get_time"}}),
                Some("get_time"),
            ),
        ] {
            let body = json!({"model": model, "max_tokens": 120, "temperature": 1.0, "seed": 2,
                "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
                "tools": weather_tools(), "tool_choice": choice});
            let (status, v) = post(&s.base, body.clone()).await;
            assert_eq!(status, 200, "{v}");
            let c = &v["choices"][0];
            assert_eq!(c["finish_reason"], "tool_calls", "{model}: {v}");
            let calls = c["message"]["tool_calls"].as_array().unwrap();
            assert!(!calls.is_empty());
            for call in calls {
                assert!(call["id"].as_str().unwrap().starts_with("call_"));
                assert_eq!(call["type"], "function");
                let name = call["function"]["name"].as_str().unwrap();
                if let Some(w) = want {
                    assert_eq!(name, w);
                }
                let args: Value =
                    serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
                match name {
                    "get_weather" => {
                        assert!(args["city"].is_string(), "{args}");
                        assert!(
                            ["celsius", "fahrenheit"].contains(&args["unit"].as_str().unwrap())
                        );
                    }
                    "get_time" => assert!(args["zone"].is_string(), "{args}"),
                    other => panic!("unknown function {other}"),
                }
            }
            // Streamed: the id, type and name come first, then the arguments in pieces.
            let chunks = stream(&s.base, body).await;
            let deltas: Vec<&Value> = chunks
                .iter()
                .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
                .flatten()
                .collect();
            assert!(deltas[0]["id"].is_string() && deltas[0]["function"]["name"].is_string());
            let args: String = deltas
                .iter()
                .filter(|d| d["index"] == 0)
                .filter_map(|d| d["function"]["arguments"].as_str())
                .collect();
            assert_eq!(
                args,
                calls[0]["function"]["arguments"].as_str().unwrap(),
                "same seed, same call"
            );
            let finish: Vec<&Value> = chunks
                .iter()
                .filter_map(|c| c["choices"][0].get("finish_reason"))
                .filter(|f| !f.is_null())
                .collect();
            assert_eq!(finish, vec![&json!("tool_calls")]);
        }
    }
}

#[tokio::test]
async fn tool_choice_errors_name_the_field() {
    if !have_models() {
        return;
    }
    let s = spawn(pack(), true).await;
    let cases = [
        (
            json!({"tools": weather_tools(), "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
            400,
            "tool_choice",
        ),
        (json!({"tool_choice": "required"}), 400, "tool_choice"),
        (
            json!({"tools": weather_tools(), "tool_choice": "required", "guided_regex": "a"}),
            400,
            "guided_regex",
        ),
    ];
    for (extra, status, field) in cases {
        let mut body = json!({"model": LARGE, "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (got, v) = post(&s.base, body).await;
        assert_eq!(got, status, "{v}");
        assert_eq!(v["error"]["param"], field, "{v}");
    }
}

/// A request sent to llama-server directly and through ingot (an id routed to it): the
/// structured-output and tool fields reach it unchanged and its answer comes back unchanged.
#[tokio::test]
async fn constraints_and_tools_pass_through_an_upstream_unchanged() {
    if !have_models() {
        return;
    }
    let Some(peer) = ingot_test_support::llama_server::start(
        &ingot_test_support::chat_model_path(),
        &["--jinja", "-c", "2048"],
    )
    .await
    else {
        return;
    };
    let mut c = bare_config();
    c.upstreams = vec![ingot_server::config::UpstreamConfig {
        name: "llama".into(),
        base_url: peer.base_url.clone(),
        models: vec![SMALL.into()],
        // A loaded CI machine can make llama-server slower than the default timeout; the
        // test is about what passes through, not how fast.
        timeout_secs: 600,
        ..ingot_server::config::UpstreamConfig::default()
    }];
    let s = spawn(c, false).await;
    let schema =
        json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
    let bodies = [
        json!({"model": SMALL, "max_tokens": 40, "temperature": 0,
            "messages": [{"role": "user", "content": "A number, as JSON."}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}}),
        json!({"model": SMALL, "max_tokens": 80, "temperature": 0,
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": weather_tools(), "tool_choice": "required"}),
    ];
    for body in bodies {
        let (_, direct) = post_json(&format!("{}/chat/completions", peer.base_url), &body).await;
        let r = http()
            .post(format!("{}/v1/chat/completions", s.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let upstream = r.headers().get("x-ingot-upstream").cloned();
        let routed: Value = r.json().await.unwrap();
        assert_eq!(
            upstream.as_ref().and_then(|v| v.to_str().ok()),
            Some("llama"),
            "{routed}"
        );
        let strip = |v: &Value| {
            let mut m = v["choices"][0]["message"].clone();
            for call in m["tool_calls"].as_array_mut().into_iter().flatten() {
                call["id"] = Value::Null; // fresh per answer
            }
            // Token counts; `cached_tokens` differs, the second request met llama-server's cache.
            let u = &v["usage"];
            let counts = (u["prompt_tokens"].clone(), u["completion_tokens"].clone());
            (m, v["choices"][0]["finish_reason"].clone(), counts)
        };
        assert_eq!(strip(&routed), strip(&direct), "{body}");
    }
}

/// A model whose template knows `<think>` blocks (here SmolLM2 with such a template, and a
/// grammar that makes it write one): the block goes to `reasoning_content`.
#[tokio::test]
async fn think_blocks_become_reasoning_content() {
    if !have_models() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ingot-think-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir.join("think.jinja");
    std::fs::write(
        &template,
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
         {% if add_generation_prompt %}<|im_start|>assistant\n\
         {% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}",
    )
    .unwrap();
    let mut c = pack();
    let mut entry = crate::registry::model_entry(
        "thinker",
        ingot_server::config::LocalKind::Chat,
        "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
        &["deepseek-ai/deepseek-r1"],
    );
    entry.chat_template = Some(template);
    c.models = vec![entry];
    c.validate().unwrap();
    let s = spawn(c, true).await;
    let body = json!({"model": "deepseek-ai/deepseek-r1", "max_tokens": 60, "temperature": 1.0,
        "seed": 5, "messages": [{"role": "user", "content": "Is water wet?"}],
        "guided_regex": "<think>\n[a-z ]{3,30}\n</think>\n\n[A-Z][a-z ]{2,20}\\."});
    let (status, v) = post(&s.base, body.clone()).await;
    assert_eq!(status, 200, "{v}");
    let m = &v["choices"][0]["message"];
    let reasoning = m["reasoning_content"].as_str().unwrap();
    let content = m["content"].as_str().unwrap();
    assert!(
        !reasoning.is_empty() && !reasoning.contains("think>"),
        "{v}"
    );
    assert!(content.ends_with('.') && !content.contains("think"), "{v}");
    let chunks = stream(&s.base, body).await;
    let field = |k: &str| -> String {
        chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"][k].as_str())
            .collect()
    };
    assert_eq!(field("reasoning_content"), reasoning);
    assert_eq!(field("content"), content);
}
