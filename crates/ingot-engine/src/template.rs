//! Rendering the model's own Jinja chat template (`tokenizer.chat_template`) with minijinja,
//! configured like Hugging Face transformers (`trim_blocks`, `lstrip_blocks`, loop controls,
//! `raise_exception`, `strftime_now`, a Python-compatible `tojson`, Python string/dict methods).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};

use crate::error::EngineError;
use crate::types::ChatMessage;

const TEMPLATE_NAME: &str = "chat_template";

/// A compiled chat template plus the special-token strings templates refer to.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
    /// The template reads `content` as a list of typed parts (`[{"type": "text", ...}]`,
    /// as multimodal processors' templates such as SmolVLM's do) and drops plain strings.
    typed_content: bool,
    /// The template shows the `tools` it is given (it has tool support).
    shows_tools: bool,
}

/// Text of the probe message that tells plain-string templates from typed-part ones.
const PROBE: &str = "ingot-template-probe-7c1d";
/// Name of the probe tool that tells templates with tool support from those without.
const PROBE_TOOL: &str = "ingot_probe_tool_5e2a";

impl ChatTemplate {
    /// Compiles `source`.
    ///
    /// # Errors
    /// [`EngineError::Template`] if the template does not parse.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, EngineError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned(TEMPLATE_NAME, source.to_owned())
            .map_err(|e| EngineError::Template(describe(&e)))?;
        let mut t = Self {
            env,
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
            typed_content: false,
            shows_tools: false,
        };
        // Like llama.cpp's server: if a plain-string message does not come out but the same
        // text as one typed part does, messages are given to this template as typed parts.
        let probe = [ChatMessage::new("user", PROBE)];
        let shows = |t: &Self| {
            t.render(&probe, None, None)
                .is_ok_and(|s| s.contains(PROBE))
        };
        if !shows(&t) {
            t.typed_content = true;
            if !shows(&t) {
                t.typed_content = false;
            }
        }
        let tools = serde_json::json!([{"type": "function", "function": {
            "name": PROBE_TOOL, "description": "probe", "parameters": {"type": "object", "properties": {}}}}]);
        t.shows_tools = t
            .render(&probe, Some(&tools), None)
            .is_ok_and(|s| s.contains(PROBE_TOOL));
        Ok(t)
    }

    /// Whether the template shows the tools it is given.
    #[must_use]
    pub fn shows_tools(&self) -> bool {
        self.shows_tools
    }

    /// Whether messages are given to the template as typed parts (see the field).
    #[must_use]
    pub fn typed_content(&self) -> bool {
        self.typed_content
    }

    /// Renders the conversation with `add_generation_prompt = true`.
    ///
    /// # Errors
    /// [`EngineError::Template`] when rendering fails (including `raise_exception` calls);
    /// [`EngineError::Invalid`] when `kwargs` is not a JSON object.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        tools: Option<&serde_json::Value>,
        kwargs: Option<&serde_json::Value>,
    ) -> Result<String, EngineError> {
        let mut ctx: BTreeMap<String, Value> = BTreeMap::new();
        match kwargs {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(map)) => {
                for (k, v) in map {
                    ctx.insert(k.clone(), Value::from_serialize(v));
                }
            }
            Some(_) => {
                return Err(EngineError::invalid(
                    "chat_template_kwargs",
                    "chat_template_kwargs must be an object",
                ));
            }
        }
        let msgs: Vec<Value> = messages
            .iter()
            .map(|m| message_value(m, self.typed_content))
            .collect();
        ctx.insert("messages".into(), Value::from(msgs));
        let tools = match tools {
            None | Some(serde_json::Value::Null) => Value::from(()),
            Some(t) => Value::from_serialize(t),
        };
        ctx.insert("tools".into(), tools);
        ctx.insert("add_generation_prompt".into(), Value::from(true));
        ctx.insert("bos_token".into(), Value::from(self.bos_token.as_str()));
        ctx.insert("eos_token".into(), Value::from(self.eos_token.as_str()));
        let tmpl = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| EngineError::Template(describe(&e)))?;
        tmpl.render(Value::from(ctx))
            .map_err(|e| EngineError::Template(describe(&e)))
    }
}

fn describe(e: &Error) -> String {
    match e.kind() {
        // The template's own message, without minijinja's location decoration.
        ErrorKind::InvalidOperation => e.detail().unwrap_or("invalid operation").to_owned(),
        _ => e.to_string(),
    }
}

fn message_value(m: &ChatMessage, typed: bool) -> Value {
    let mut map: BTreeMap<&str, Value> = BTreeMap::new();
    map.insert("role", Value::from(m.role.as_str()));
    let content = match (&m.content, &m.tool_calls) {
        (Some(c), _) if typed => Value::from_serialize(serde_json::json!([
            {"type": "text", "text": c}
        ])),
        (Some(c), _) => Value::from(c.as_str()),
        (None, Some(_)) => Value::from(()),
        // Templates commonly concatenate content; an absent one renders as empty text.
        (None, None) => Value::from(""),
    };
    map.insert("content", content);
    if let Some(name) = &m.name {
        map.insert("name", Value::from(name.as_str()));
    }
    if let Some(calls) = &m.tool_calls {
        map.insert("tool_calls", Value::from_serialize(parse_arguments(calls)));
    }
    if let Some(id) = &m.tool_call_id {
        map.insert("tool_call_id", Value::from(id.as_str()));
    }
    Value::from(map)
}

/// OpenAI sends `function.arguments` as a JSON string; templates expect an object.
fn parse_arguments(calls: &serde_json::Value) -> serde_json::Value {
    let mut calls = calls.clone();
    if let serde_json::Value::Array(items) = &mut calls {
        for item in items {
            if let Some(args) = item.pointer_mut("/function/arguments")
                && let serde_json::Value::String(s) = args
                && let Ok(parsed @ serde_json::Value::Object(_)) = serde_json::from_str(s)
            {
                *args = parsed;
            }
        }
    }
    calls
}

fn raise_exception(msg: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg))
}

/// `strftime_now(format)`: the current UTC time, with the common strftime directives.
fn strftime_now(format: String) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    strftime(&format, secs)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Formats unix time `secs` (UTC).
pub(crate) fn strftime(format: &str, secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (non-negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let weekday = usize::try_from((days + 3) % 7).unwrap_or(0); // 1970-01-01 was a Thursday
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0) % 12];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let _ = match chars.next() {
            Some('Y') => write!(out, "{year}"),
            Some('y') => write!(out, "{:02}", year % 100),
            Some('m') => write!(out, "{month:02}"),
            Some('d') => write!(out, "{day:02}"),
            Some('-') => match chars.next() {
                Some('d') => write!(out, "{day}"),
                Some('m') => write!(out, "{month}"),
                Some(o) => write!(out, "%-{o}"),
                None => write!(out, "%-"),
            },
            Some('B') => write!(out, "{month_name}"),
            Some('b') => write!(out, "{}", &month_name[..3]),
            Some('A') => write!(out, "{}", DAYS[weekday]),
            Some('a') => write!(out, "{}", &DAYS[weekday][..3]),
            Some('H') => write!(out, "{hour:02}"),
            Some('M') => write!(out, "{minute:02}"),
            Some('S') => write!(out, "{second:02}"),
            Some('%') => write!(out, "%"),
            Some(o) => write!(out, "%{o}"),
            None => write!(out, "%"),
        };
    }
    out
}

/// Python's `json.dumps(value, ensure_ascii=False, indent=indent)` as transformers' `tojson`.
fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    // Accepted for compatibility; non-ASCII is always written as is, keys in their order.
    let _: Option<bool> = kwargs.get("ensure_ascii")?;
    let _: Option<bool> = kwargs.get("sort_keys")?;
    let _: Option<Value> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&mut out, value, indent, 0)?;
    Ok(Value::from_safe_string(out))
}

fn newline(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(n) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', n * level));
    }
}

fn write_json(
    out: &mut String,
    v: &Value,
    indent: Option<usize>,
    level: usize,
) -> Result<(), Error> {
    let item_sep = if indent.is_some() { "," } else { ", " };
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            let n: serde_json::Value = serde_json::to_value(v)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
            out.push_str(&n.to_string());
        }
        ValueKind::String | ValueKind::Bytes => {
            let s = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            out.push_str(&serde_json::Value::String(s).to_string());
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            let mut first = true;
            for item in v.try_iter()? {
                if !first {
                    out.push_str(item_sep);
                }
                first = false;
                newline(out, indent, level + 1);
                write_json(out, &item, indent, level + 1)?;
            }
            if !first {
                newline(out, indent, level);
            }
            out.push(']');
        }
        ValueKind::Map | ValueKind::Plain => {
            out.push('{');
            let mut first = true;
            for key in v.try_iter()? {
                if !first {
                    out.push_str(item_sep);
                }
                first = false;
                newline(out, indent, level + 1);
                let k = key.as_str().map_or_else(|| key.to_string(), str::to_owned);
                out.push_str(&serde_json::Value::String(k).to_string());
                out.push_str(": ");
                write_json(out, &v.get_item(&key)?, indent, level + 1)?;
            }
            if !first {
                newline(out, indent, level);
            }
            out.push('}');
        }
        ValueKind::Invalid => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "cannot serialize invalid value",
            ));
        }
        _ => out.push_str(&serde_json::Value::String(v.to_string()).to_string()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// SmolVLM's template (Hugging Face processor style): `content` must be a list of parts.
    const TYPED_PARTS: &str = "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

    #[test]
    fn templates_that_read_typed_parts_get_them() {
        let t = ChatTemplate::new(TYPED_PARTS, "", "").unwrap();
        assert!(t.typed_content());
        let msgs = [
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "<__ingot_media__>\nWhat is it?"),
        ];
        assert_eq!(
            t.render(&msgs, None, None).unwrap(),
            "<|im_start|>System: Be brief.<end_of_utterance>\nUser: <__ingot_media__>\nWhat is it?<end_of_utterance>\nAssistant:"
        );
        // Templates that take plain strings keep getting them (and handle both forms).
        let plain = ChatTemplate::new(
            "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}LIST{% endif %}{% endfor %}",
            "",
            "",
        )
        .unwrap();
        assert!(!plain.typed_content());
        assert_eq!(
            plain.render(&msgs[1..], None, None).unwrap(),
            "<__ingot_media__>\nWhat is it?"
        );
    }

    const CHATML_TOOLS: &str = "{%- if tools %}<|im_start|>system\n{% if messages[0].role == 'system' %}{{ messages[0].content }}{% endif %}\n# Tools\n{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}<|im_end|>\n{% elif messages[0].role == 'system' %}<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{% endif %}
{%- for message in messages %}
  {%- if message.role == 'system' and loop.first %}{% continue %}{% endif %}
  {%- if message.role == 'assistant' and message.tool_calls %}
<|im_start|>assistant
{% for tc in message.tool_calls %}{% set tc = tc.function %}<tool_call>{\"name\": \"{{ tc.name }}\", \"arguments\": {{ tc.arguments | tojson }}}</tool_call>{% endfor %}<|im_end|>
  {%- elif message.role == 'tool' %}
<|im_start|>user\n<tool_response>{{ message.content.strip() }}</tool_response><|im_end|>
  {%- else %}
<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}\n<|im_start|>assistant\n{% endif %}";

    #[test]
    fn renders_system_multi_turn_and_generation_prompt() {
        let t = ChatTemplate::new(CHATML_TOOLS, "<s>", "</s>").unwrap();
        let msgs = vec![
            ChatMessage::new("system", "Be terse."),
            ChatMessage::new("user", "Hi"),
            ChatMessage::new("assistant", "Hello."),
            ChatMessage::new("user", "Bye"),
        ];
        let out = t.render(&msgs, None, None).unwrap();
        // Expected = Python Jinja2 with transformers' settings (trim/lstrip blocks).
        assert_eq!(
            out,
            "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\
             <|im_start|>assistant\nHello.<|im_end|><|im_start|>user\nBye<|im_end|>\
             <|im_start|>assistant\n"
        );
    }

    #[test]
    fn renders_tools_and_tool_calls_python_style_json() {
        let t = ChatTemplate::new(CHATML_TOOLS, "", "").unwrap();
        let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"city": "é"}}}]);
        let msgs = vec![
            ChatMessage::new("user", "Weather?"),
            ChatMessage {
                role: "assistant".into(),
                content: None,
                tool_calls: Some(json!([{"id": "c1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])),
                ..ChatMessage::default()
            },
            ChatMessage {
                tool_call_id: Some("c1".into()),
                ..ChatMessage::new("tool", " 18C ")
            },
        ];
        let out = t.render(&msgs, Some(&tools), None).unwrap();
        // Expected = Python Jinja2 + transformers' tojson, except that object keys come out
        // sorted: serde_json (without `preserve_order`) does not keep insertion order.
        assert_eq!(
            out,
            "<|im_start|>system\n# Tools\n{\"function\": {\"name\": \"get_weather\", \
             \"parameters\": {\"city\": \"é\"}}, \"type\": \"function\"}\n<|im_end|>\n\
             <|im_start|>user\nWeather?<|im_end|><|im_start|>assistant\n<tool_call>{\"name\": \
             \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call><|im_end|>\
             <|im_start|>user\n<tool_response>18C</tool_response><|im_end|><|im_start|>assistant\n"
        );
    }

    #[test]
    fn helpers_and_kwargs() {
        let src = "{{ bos_token }}{% if enable_thinking is defined and not enable_thinking %}nothink{% endif %}|{{ strftime_now('%Y') | length }}|{{ {'a': [1, 2.5, none]} | tojson(indent=2) }}{{ eos_token }}";
        let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
        let out = t
            .render(&[], None, Some(&json!({"enable_thinking": false})))
            .unwrap();
        assert_eq!(
            out,
            "<s>nothink|4|{\n  \"a\": [\n    1,\n    2.5,\n    null\n  ]\n}</s>"
        );
    }

    #[test]
    fn raise_exception_becomes_template_error() {
        let t = ChatTemplate::new("{{ raise_exception('roles must alternate') }}", "", "").unwrap();
        let err = t
            .render(&[ChatMessage::new("user", "x")], None, None)
            .unwrap_err();
        assert_eq!(err, EngineError::Template("roles must alternate".into()));
        assert!(matches!(
            ChatTemplate::new("{% if %}", "", ""),
            Err(EngineError::Template(_))
        ));
    }

    #[test]
    fn strftime_known_dates() {
        assert_eq!(
            strftime("%d %b %Y %A %H:%M:%S", 0),
            "01 Jan 1970 Thursday 00:00:00"
        );
        // 2024-02-29 12:34:56 UTC
        assert_eq!(
            strftime("%Y-%m-%d %-d %B %a %H:%M:%S", 1_709_210_096),
            "2024-02-29 29 February Thu 12:34:56"
        );
    }
}
