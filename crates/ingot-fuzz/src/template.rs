//! Chat template rendering (`ingot_engine::template::ChatTemplate`) with hostile messages,
//! tools and `chat_template_kwargs`, through real templates of the families ingot serves.
//!
//! Input: the first byte picks the template; the rest is split at NUL bytes into fields. A
//! field starting with byte 1 is `chat_template_kwargs` (JSON), with byte 2 `tools` (JSON),
//! with byte 3 the `tool_calls` of an assistant message (JSON); any other field is a
//! message, `role<US>content` (US = byte 0x1f) or just content with the roles taking turns.

use std::sync::LazyLock;

use ingot_engine::template::ChatTemplate;
use ingot_engine::{ChatMessage, EngineError};

/// SmolLM2-Instruct's template (ChatML with a default system prompt).
pub const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Qwen2.5's template (ChatML with tools, tool calls and tool responses).
pub const QWEN25: &str = r#"{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"#;

/// Llama 3.1's template, shortened (date from `strftime_now`, `tojson(indent=4)` tools,
/// `raise_exception`, system message split off with a slice).
pub const LLAMA31: &str = r#"{{- bos_token }}
{%- if not date_string is defined %}
    {%- set date_string = strftime_now("%d %b %Y") %}
{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"#;

/// Mistral-Instruct v0.1's template: roles must alternate, else `raise_exception`.
pub const MISTRAL: &str = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

/// SmolVLM's template: `content` is a list of typed parts.
pub const SMOLVLM: &str = "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

/// The templates, in the order the first input byte picks them.
pub const TEMPLATES: [&str; 5] = [SMOLLM2, QWEN25, LLAMA31, MISTRAL, SMOLVLM];

static COMPILED: LazyLock<Vec<Result<ChatTemplate, EngineError>>> = LazyLock::new(|| {
    TEMPLATES
        .iter()
        .map(|src| ChatTemplate::new(src, "<s>", "</s>"))
        .collect()
});

/// The compiled templates (for the test that checks they all compile).
pub fn compiled() -> &'static [Result<ChatTemplate, EngineError>] {
    &COMPILED
}

const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];

/// See the module documentation. Invariants: rendering returns (an error for what the
/// template refuses), and SmolLM2's template, which concatenates, shows every message's
/// content as it was sent.
pub fn chat_template(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let index = usize::from(pick) % TEMPLATES.len();
    let Some(Ok(template)) = COMPILED.get(index) else {
        return;
    };
    let mut messages: Vec<ChatMessage> = Vec::new();
    let mut kwargs = None;
    let mut tools = None;
    for field in rest.split(|&b| b == 0) {
        let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).ok();
        match field.split_first() {
            Some((1, j)) => kwargs = json(j),
            Some((2, j)) => tools = json(j),
            Some((3, j)) => messages.push(ChatMessage {
                role: "assistant".into(),
                content: None,
                tool_calls: json(j),
                ..ChatMessage::default()
            }),
            _ => {
                let text = String::from_utf8_lossy(field);
                let (role, content) = match text.split_once('\u{1f}') {
                    Some((role, content)) => (role.to_owned(), content.to_owned()),
                    None => (
                        ROLES[(messages.len() + 1) % ROLES.len()].to_owned(),
                        text.into_owned(),
                    ),
                };
                let tool = role == "tool";
                messages.push(ChatMessage {
                    tool_call_id: tool.then(|| "call_0".to_owned()),
                    ..ChatMessage::new(role, content)
                });
            }
        }
    }
    let out = template.render(&messages, tools.as_ref(), kwargs.as_ref());
    if TEMPLATES[index] == SMOLLM2 && messages.iter().all(|m| m.content.is_some()) {
        let kwargs_ok = matches!(
            kwargs,
            None | Some(serde_json::Value::Null | serde_json::Value::Object(_))
        );
        match out {
            Ok(text) => {
                for m in &messages {
                    let content = m.content.as_deref().unwrap_or_default();
                    assert!(
                        text.contains(content) && text.contains(&m.role),
                        "a message is missing from the prompt"
                    );
                }
            }
            Err(e) => assert!(!kwargs_ok, "SmolLM2's template failed: {e}"),
        }
    }
}
