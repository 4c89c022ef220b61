//! Real-world chat templates render exactly as Python Jinja2 with transformers' settings does
//! (expected files generated that way; object keys sorted, see `template.rs`).

use ingot_engine::ChatMessage;
use ingot_engine::template::ChatTemplate;
use serde_json::json;

const QWEN25: &str = include_str!("../fixtures/qwen2.5-instruct.jinja");
const QWEN3_STYLE: &str = include_str!("../fixtures/qwen3-style.jinja");

fn conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::new("system", "Be brief."),
        ChatMessage::new("user", "Weather in Paris?"),
        ChatMessage {
            role: "assistant".into(),
            content: None,
            tool_calls: Some(json!([{"id": "c1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}])),
            ..ChatMessage::default()
        },
        ChatMessage {
            tool_call_id: Some("c1".into()),
            ..ChatMessage::new("tool", "18C")
        },
        ChatMessage {
            tool_call_id: Some("c1".into()),
            ..ChatMessage::new("tool", "sunny")
        },
        ChatMessage::new("assistant", "18C and sunny."),
        ChatMessage::new("user", "Thanks"),
    ]
}

#[test]
fn qwen25_with_tools_and_tool_calls() {
    let t = ChatTemplate::new(QWEN25, "", "<|im_end|>").unwrap();
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let out = t.render(&conversation(), Some(&tools), None).unwrap();
    assert_eq!(
        out,
        include_str!("../fixtures/qwen2.5-instruct.tools.expected")
    );
}

#[test]
fn qwen25_default_system_prompt_without_tools() {
    let t = ChatTemplate::new(QWEN25, "", "<|im_end|>").unwrap();
    let out = t
        .render(&[ChatMessage::new("user", "Weather in Paris?")], None, None)
        .unwrap();
    assert_eq!(
        out,
        include_str!("../fixtures/qwen2.5-instruct.plain.expected")
    );
}

#[test]
fn qwen3_style_namespace_slicing_string_methods_and_kwargs() {
    let t = ChatTemplate::new(QWEN3_STYLE, "", "").unwrap();
    let msgs = vec![
        ChatMessage::new("user", "Hi"),
        ChatMessage::new("assistant", "<think>\nhmm\n</think>\n\n Hello! "),
        ChatMessage::new("user", "<tool_response>x</tool_response>"),
    ];
    let out = t
        .render(&msgs, None, Some(&json!({"enable_thinking": false})))
        .unwrap();
    assert_eq!(out, include_str!("../fixtures/qwen3-style.expected"));
}
