//! Every JSON example of the NIM API reference (`shared/seed/nim-api-reference.md`) and of
//! the wire spec (`shared/design/wire-spec.md`) parses into its type and serialises back to
//! the same JSON. Elided values (`…`) in the documents are filled with concrete ones here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly on purpose"
)]

use ingot_protocol::chat::ChatCompletionRequest;
use ingot_protocol::chat_response::{ChatCompletionChunk, ChatCompletionResponse};
use ingot_protocol::embeddings::{EmbeddingRequest, EmbeddingResponse};
use ingot_protocol::error::{ErrorBody, StreamError};
use ingot_protocol::health::HealthResponse;
use ingot_protocol::models::{Model, ModelList};
use ingot_protocol::trellis::{TrellisRequest, TrellisResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// JSON equality where numbers compare by value and `null` equals an absent key.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-6 * x.abs().max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x
                .iter()
                .chain(y.iter())
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k)
                .collect();
            keys.into_iter().all(|k| {
                same(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                )
            })
        }
        _ => a == b,
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(json: &str) -> T {
    let original: Value = serde_json::from_str(json).expect("example is JSON");
    let parsed: T = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let back = serde_json::to_value(&parsed).unwrap();
    assert!(
        same(&original, &back),
        "round trip changed it:\n{original}\n{back}"
    );
    parsed
}

#[test]
fn reference_chat_examples() {
    let r: ChatCompletionRequest = round_trip(
        r#"{"model":"meta/llama-3.3-70b-instruct","messages":[{"role":"user","content":"Hello"}],"max_tokens":1024}"#,
    );
    r.validate().unwrap();
    let r: ChatCompletionRequest = round_trip(
        r#"{"model":"nvidia/nemotron-nano-12b-v2-vl","messages":[{"role":"user","content":[{"type":"text","text":"Describe this image"},{"type":"image_url","image_url":{"url":"https://example.com/img.jpg"}}]}],"max_tokens":1024}"#,
    );
    assert!(r.messages[0].content.as_ref().unwrap().has_media());
    round_trip::<ChatCompletionRequest>(
        r#"{"model":"nvidia/nemotron-nano-12b-v2-vl","messages":[{"role":"user","content":[{"type":"text","text":"Describe this image"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo..."}}]}],"max_tokens":1024}"#,
    );
    let r: ChatCompletionRequest = round_trip(
        r#"{"model":"meta/llama-3.3-70b-instruct","messages":[{"role":"user","content":"Hello"}],"stream":true}"#,
    );
    assert!(r.is_stream());
    round_trip::<ChatCompletionRequest>(
        r#"{"model":"meta/llama-3.3-70b-instruct","messages":[{"role":"user","content":"Hello"}],"max_tokens":100}"#,
    );
}

#[test]
fn reference_embedding_and_trellis_examples() {
    round_trip::<EmbeddingRequest>(
        r#"{"model":"nvidia/nv-embed-v1","input":["text to embed"],"encoding_format":"float"}"#,
    )
    .validate()
    .unwrap();
    round_trip::<EmbeddingRequest>(r#"{"model":"nvidia/nv-embed-v1","input":["hello world"]}"#);
    for ex in [
        r#"{"prompt":"A wooden chair","seed":42,"output_format":"glb"}"#,
        r#"{"image":"data:image/png;base64,iVBORw0KGgo...","seed":42,"output_format":"glb"}"#,
        r#"{"prompt":"A red car","seed":42,"output_format":"glb"}"#,
    ] {
        round_trip::<TrellisRequest>(ex).validate().unwrap();
    }
    round_trip::<TrellisResponse>(r#"{"output":{"glb":"Z2xURgIAAAA="}}"#);
}

#[test]
fn wire_spec_error_examples() {
    for ex in [
        r#"{"status":404,"title":"Not Found","detail":"Function '2bef': Not found for account 'xvrF'"}"#,
        r#"{"status":429,"title":"Too Many Requests"}"#,
        r#"{"status":403,"title":"Forbidden","detail":"Authorization failed"}"#,
    ] {
        let mut v: Value = serde_json::from_str(ex).unwrap();
        v["type"] = "about:blank".into();
        round_trip::<ErrorBody>(&v.to_string());
    }
    let hybrid = r#"{"type":"about:blank","status":422,"title":"Unprocessable Entity",
        "detail":"body -> messages -> 0 -> role: Input should be 'system', 'user', 'assistant' or 'tool'",
        "requestId":"0b6c","error":{"message":"body -> messages -> 0 -> role: x","type":"invalid_request_error","param":"messages.0.role","code":"unprocessable_entity"}}"#;
    let e: ErrorBody = round_trip(hybrid);
    assert_eq!(e.request_id.as_deref(), Some("0b6c"));
    round_trip::<ErrorBody>(
        r#"{"type":"about:blank","status":400,"title":"Bad Request","error":{"message":"m","type":"BadRequestError","param":null,"code":400}}"#,
    );
    round_trip::<StreamError>(
        r#"{"error":{"object":"error","message":"boom","type":"InternalServerError","param":null,"code":500}}"#,
    );
}

#[test]
fn wire_spec_model_examples() {
    round_trip::<ModelList>(
        r#"{"object":"list","data":[{"id":"meta/llama-3.1-70b-instruct","object":"model","created":735790403,"owned_by":"meta"}]}"#,
    );
    let l: ModelList = round_trip(
        r#"{"object":"list","data":[{"id":"nvidia/nemotron-nano-12b-v2-vl","object":"model","created":1760745801,
  "owned_by":"system","root":"nvidia/nemotron-nano-12b-v2-vl","parent":null,"max_model_len":131072,
  "permission":[{"id":"modelperm-aad6","object":"model_permission","created":1760745801,"allow_create_engine":false,
    "allow_sampling":true,"allow_logprobs":true,"allow_search_indices":false,"allow_view":true,
    "allow_fine_tuning":false,"organization":"*","group":null,"is_blocking":false}]}]}"#,
    );
    assert_eq!(l.data[0].max_model_len, Some(131_072));
    round_trip::<Model>(
        r#"{"id":"minimaxai/minimax-m3","object":"model","created":735790403,"owned_by":"minimaxai"}"#,
    );
    round_trip::<HealthResponse>(r#"{"object":"health.response","message":"ready","ready":true}"#);
}

#[test]
fn wire_spec_chat_examples() {
    let msgs = r#"[{"role":"system","content":"You are terse."},
        {"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"https://x/a.jpg","detail":"auto"}}]},
        {"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR"}}]},
        {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
        {"role":"tool","tool_call_id":"call_1","content":"18C"}]"#;
    let req = format!(
        r#"{{"model":"m","messages":{msgs},"max_completion_tokens":50,"temperature":0.7,"top_p":0.9,"n":2,"stop":["\n"],"seed":1000,
        "stream":true,"stream_options":{{"include_usage":true}},"presence_penalty":0.5,"frequency_penalty":0.1,"logprobs":true,"top_logprobs":2,
        "logit_bias":{{"42":-100}},"response_format":{{"type":"json_schema","json_schema":{{"name":"response","schema":{{"type":"object"}},"strict":true}}}},
        "tools":[{{"type":"function","function":{{"name":"get_weather","description":"d","parameters":{{"type":"object"}}}}}}],"tool_choice":"required",
        "parallel_tool_calls":false,"user":"u1","metadata":{{"a":"b"}},"top_k":50,"min_p":0.05,"repetition_penalty":1.1,"chat_template_kwargs":{{"enable_thinking":true}},
        "nvext":{{"top_k":50,"repetition_penalty":1.1,"ignore_eos":false,"min_p":0.0,"guided_json":{{"type":"object"}},"guided_choice":["a","b"],"guided_regex":"x","guided_grammar":"g","guided_decoding_backend":"xgrammar"}}}}"#
    );
    let r: ChatCompletionRequest = round_trip(&req);
    r.validate().unwrap();
    assert_eq!(r.effective_max_tokens(), Some(50));
    assert_eq!(r.effective_top_k(), Some(50));
    assert!(r.include_usage());
    assert_eq!(r.extra["metadata"]["a"], "b");

    round_trip::<ChatCompletionResponse>(
        r#"{"id":"chatcmpl-9f1c","object":"chat.completion","created":1760745801,"model":"meta/llama-3.1-8b-instruct",
 "choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null,"tool_calls":null},"logprobs":null,"finish_reason":"stop"}],
 "usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11},"system_fingerprint":null}"#,
    );
    round_trip::<ChatCompletionResponse>(
        r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]},"finish_reason":"tool_calls",
        "logprobs":{"content":[{"token":"Hi","logprob":-0.01,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.01,"bytes":[72,105]}]}],"refusal":null}}]}"#,
    );
    for chunk in [
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1760745801,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1760745801,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1760745801,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1760745801,"model":"m","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":"}}]},"finish_reason":null}]}"#,
    ] {
        round_trip::<ChatCompletionChunk>(chunk);
    }
}

#[test]
fn wire_spec_embedding_and_trellis_examples() {
    let r: EmbeddingRequest = round_trip(
        r#"{"model":"nvidia/nv-embedqa-e5-v5","input":["What is the population of Pittsburgh?"],
 "input_type":"query","truncate":"END","encoding_format":"float","dimensions":null,"user":"u1"}"#,
    );
    r.validate().unwrap();
    let resp: EmbeddingResponse = round_trip(
        r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0123,-0.0456,0.5]}],
 "model":"nvidia/nv-embedqa-e5-v5","usage":{"prompt_tokens":8,"total_tokens":8}}"#,
    );
    assert_eq!(resp.data[0].embedding.to_floats().unwrap().len(), 3);
    let b64: EmbeddingResponse = round_trip(
        r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AAAgQQAAoEA="}],"model":"m","usage":{"prompt_tokens":1,"total_tokens":1}}"#,
    );
    assert_eq!(b64.data[0].embedding.to_floats().unwrap(), vec![10.0, 5.0]);
    for ex in [
        r#"{"prompt":"A small stone golem","seed":0,"ss_cfg_scale":7.5,"slat_cfg_scale":3,"ss_sampling_steps":25,"slat_sampling_steps":25}"#,
        r#"{"image":"data:image/png;base64,iVBOR","seed":1,"ss_cfg_scale":7.5,"slat_cfg_scale":3,"ss_sampling_steps":25,"slat_sampling_steps":25,"output_format":"glb","no_texture":false}"#,
    ] {
        round_trip::<TrellisRequest>(ex).validate().unwrap();
    }
    let a: TrellisResponse = round_trip(
        r#"{"artifacts":[{"base64":"Z2xURgIAAAA=","finishReason":"SUCCESS","seed":42}]}"#,
    );
    assert_eq!(a.artifacts[0].seed, 42);
}

#[test]
fn absent_optionals_are_omitted() {
    let r: ChatCompletionRequest =
        serde_json::from_str(r#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#)
            .unwrap();
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#
    );
    let t = TrellisResponse::new("QQ==".into(), ingot_protocol::trellis::OutputFormat::Glb, 7);
    assert_eq!(
        serde_json::to_string(&t).unwrap(),
        r#"{"output":{"glb":"QQ=="},"artifacts":[{"base64":"QQ==","finishReason":"SUCCESS","seed":7}]}"#
    );
}

/// Fuzzing (issue 16, fuzz/regressions/chat_request/): serde_json's default float parser is
/// off by one ulp for many 16- and 17-digit numbers, so a request changed on its way through
/// ingot (a number in an unknown field, a tool's schema, `logit_bias`) and a proxied request
/// was not what the client sent. The workspace enables `float_roundtrip`.
#[test]
fn regression_issue_16_numbers_round_trip_exactly() {
    let json = r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0.7,
        "logit_bias":{"42":0.12356700979631688},"chat":1444444444444444444444444444444444444444444444444444444444444444444444444444444444444444,
        "nvext":{"x":247.93679340997514},"extra":[0.013626999212273323,14304.829660047977,-92000.06580250365]}"#;
    let first =
        serde_json::to_value(serde_json::from_str::<ChatCompletionRequest>(json).unwrap()).unwrap();
    let again: ChatCompletionRequest = serde_json::from_str(&first.to_string()).unwrap();
    assert_eq!(serde_json::to_value(again).unwrap(), first);
    for x in [
        0.013626999212273323f64,
        14304.829660047977,
        247.93679340997514,
        1.4444444444444446e86,
    ] {
        let back: f64 = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
        assert_eq!(back.to_bits(), x.to_bits(), "{x}");
    }
}
