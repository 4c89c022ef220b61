//! Tool calls in the model's own format: which format a chat template uses, the grammar that
//! makes a call come out well formed, and the parser that reads calls back out of the text.
//!
//! Formats, by template family:
//! - [`ToolFormat::Hermes`] (Qwen 2/2.5/3, Hermes, many fine-tunes):
//!   `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`, one block per call;
//! - [`ToolFormat::Llama3Json`] (Llama 3.1–3.3): one JSON object
//!   `{"name": …, "parameters": {…}}`;
//! - [`ToolFormat::Mistral`]: `[TOOL_CALLS][{"name": …, "arguments": {…}}, …]`;
//! - [`ToolFormat::Generic`] for templates that cannot show tools: ingot describes the tools
//!   in the system message and asks for the Hermes markup, and shows earlier calls that way.

use serde_json::{Value, json};

use crate::types::ChatMessage;

/// How a model writes tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolFormat {
    /// `<tool_call>` blocks holding `{"name", "arguments"}`.
    Hermes,
    /// A bare `{"name", "parameters"}` object.
    Llama3Json,
    /// `[TOOL_CALLS]` and a JSON list of `{"name", "arguments"}`.
    Mistral,
    /// The template cannot show tools: ingot's own prompt, Hermes markup.
    Generic,
}

/// Which calls a job may or must produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolMode {
    /// Text or calls, the model's choice; a call, once started, is well formed.
    Auto,
    /// At least one call (exactly one without parallel calls).
    Required,
    /// Exactly one call of this function.
    Named(String),
}

/// One function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Function name.
    pub name: String,
    /// JSON schema of its arguments (`None`: any object).
    pub parameters: Option<Value>,
}

/// A call read from the model's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCall {
    /// Function name.
    pub name: String,
    /// Arguments as JSON text.
    pub arguments: String,
}

const HERMES_OPEN: &str = "<tool_call>";
const HERMES_CLOSE: &str = "</tool_call>";
const MISTRAL_OPEN: &str = "[TOOL_CALLS]";

impl ToolFormat {
    /// The format of a template, from its source and whether it shows a tool it is given.
    #[must_use]
    pub fn detect(source: &str, shows_tools: bool) -> Self {
        if !shows_tools {
            Self::Generic
        } else if source.contains(HERMES_OPEN) {
            Self::Hermes
        } else if source.contains(MISTRAL_OPEN) {
            Self::Mistral
        } else if source.contains("<|python_tag|>") || source.contains("\"parameters\": ") {
            Self::Llama3Json
        } else {
            Self::Generic
        }
    }

    /// The text a call starts with (after optional whitespace).
    #[must_use]
    pub fn opening(self) -> &'static str {
        match self {
            Self::Hermes | Self::Generic => HERMES_OPEN,
            Self::Llama3Json => "{",
            Self::Mistral => MISTRAL_OPEN,
        }
    }

    /// The key the arguments go under.
    fn arguments_key(self) -> &'static str {
        match self {
            Self::Llama3Json => "parameters",
            _ => "arguments",
        }
    }

    /// A Lark grammar (llguidance dialect) for the output: calls as `mode` allows, each
    /// function's arguments valid against its schema. With [`ToolMode::Auto`] any text that
    /// does not start like a call is allowed too; `text` replaces that free text (a JSON
    /// schema for `response_format`, as a `%json` body) when given.
    ///
    /// # Errors
    /// A message when `mode` names a function that is not in `tools`, or `tools` is empty.
    pub fn grammar(
        self,
        tools: &[ToolSpec],
        mode: &ToolMode,
        parallel: bool,
        text: Option<&Value>,
    ) -> Result<String, String> {
        let chosen: Vec<&ToolSpec> = match mode {
            ToolMode::Named(name) => {
                let t = tools.iter().find(|t| &t.name == name).ok_or_else(|| {
                    format!("tool_choice names `{name}`, which is not among the tools")
                })?;
                vec![t]
            }
            _ => tools.iter().collect(),
        };
        if chosen.is_empty() {
            return Err("no tools were given".into());
        }
        let mut g = String::new();
        let many = parallel && !matches!(mode, ToolMode::Named(_));
        let calls = match self {
            Self::Hermes | Self::Generic => {
                g.push_str("call: \"<tool_call>\\n\" fn \"\\n</tool_call>\"\n");
                if many { "call (\"\\n\" call)*" } else { "call" }
            }
            Self::Llama3Json => "fn",
            Self::Mistral => {
                if many {
                    "\"[TOOL_CALLS][\" fn (\", \" fn)* \"]\""
                } else {
                    "\"[TOOL_CALLS][\" fn \"]\""
                }
            }
        };
        let fns: Vec<String> = (0..chosen.len()).map(|i| format!("fn_{i}")).collect();
        g.push_str(&format!("fn: {}\n", fns.join(" | ")));
        for (i, t) in chosen.iter().enumerate() {
            let schema = json!({
                "type": "object",
                "properties": {
                    "name": {"const": t.name},
                    self.arguments_key(): t.parameters.clone().unwrap_or_else(|| json!({"type": "object"})),
                },
                "required": ["name", self.arguments_key()],
                "additionalProperties": false,
            });
            let schema = crate::grammar::json_options(&schema)?;
            g.push_str(&format!("fn_{i}: %json {schema}\n"));
        }
        let start = match (mode, text) {
            (ToolMode::Auto, Some(schema)) => {
                let schema = crate::grammar::json_options(schema)?;
                g.push_str(&format!("answer: %json {schema}\n"));
                format!("start: answer | {calls}\n")
            }
            (ToolMode::Auto, None) => {
                // Free text that does not start like a call, or nothing at all.
                let open = regex_literal(self.opening());
                g.push_str(&format!("TEXT: /(?s:.+)/ & ~/(?s:[ \\t\\n]*{open}.*)/\n"));
                format!("start: TEXT | {calls}\n")
            }
            _ => format!("start: {calls}\n"),
        };
        Ok(start + &g)
    }

    /// Splits generated text into its content and the calls it makes. Text that does not hold
    /// well-formed calls is all content.
    #[must_use]
    pub fn parse(self, text: &str) -> (Option<String>, Vec<ParsedCall>) {
        let calls = match self {
            Self::Hermes | Self::Generic => return parse_hermes(text),
            Self::Llama3Json => {
                let body = text.trim().trim_start_matches("<|python_tag|>");
                serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| call_of(&v))
                    .map(|c| vec![c])
            }
            Self::Mistral => {
                let body = text.trim();
                let body = body.strip_prefix(MISTRAL_OPEN).unwrap_or(body).trim();
                serde_json::from_str::<Vec<Value>>(body)
                    .ok()
                    .and_then(|list| list.iter().map(call_of).collect::<Option<Vec<_>>>())
            }
        };
        match calls {
            Some(c) if !c.is_empty() => (None, c),
            _ => (Some(text.to_owned()), Vec::new()),
        }
    }
}

/// `<tool_call>` blocks anywhere in the text; the text around them is the content.
fn parse_hermes(text: &str) -> (Option<String>, Vec<ParsedCall>) {
    let mut calls = Vec::new();
    let mut content = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(HERMES_OPEN) {
        let after = &rest[at + HERMES_OPEN.len()..];
        let (body, next) = match after.find(HERMES_CLOSE) {
            Some(end) => (&after[..end], &after[end + HERMES_CLOSE.len()..]),
            None => (after, ""),
        };
        match serde_json::from_str::<Value>(body.trim())
            .ok()
            .and_then(|v| call_of(&v))
        {
            Some(call) => {
                content.push_str(&rest[..at]);
                calls.push(call);
            }
            None => return (Some(text.to_owned()), Vec::new()),
        }
        rest = next;
    }
    content.push_str(rest);
    let content = Some(content.trim().to_owned()).filter(|c| !c.is_empty());
    if calls.is_empty() {
        (Some(text.to_owned()), calls)
    } else {
        (content, calls)
    }
}

/// `{"name": …, "arguments" | "parameters": …}` as a call (arguments given as an object or
/// as a string holding JSON).
fn call_of(v: &Value) -> Option<ParsedCall> {
    let name = v.get("name")?.as_str()?.to_owned();
    let args = v
        .get("arguments")
        .or_else(|| v.get("parameters"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    let arguments = match args {
        Value::String(s) => s,
        other => other.to_string(),
    };
    Some(ParsedCall { name, arguments })
}

/// A regex matching `s` literally.
fn regex_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// For [`ToolFormat::Generic`]: the conversation with the tools described in the system
/// message and earlier calls written as `<tool_call>` text, since the template shows neither.
#[must_use]
pub fn generic_messages(messages: &[ChatMessage], tools: &Value) -> Vec<ChatMessage> {
    let mut listing = String::new();
    for t in tools.as_array().into_iter().flatten() {
        let f = t.get("function").unwrap_or(t);
        listing.push_str(&f.to_string());
        listing.push('\n');
    }
    let prompt = format!(
        "You can call these functions:\n{listing}\nTo call a function, reply with only \
         <tool_call>{{\"name\": <function name>, \"arguments\": <arguments object>}}</tool_call>. \
         Function results come back in messages from `tool`."
    );
    let mut out: Vec<ChatMessage> = Vec::with_capacity(messages.len() + 1);
    match messages.first() {
        Some(m) if m.role == "system" => {
            let mut m = m.clone();
            let text = m.content.take().unwrap_or_default();
            m.content = Some(format!("{text}\n\n{prompt}").trim_start().to_owned());
            out.push(m);
        }
        _ => out.push(ChatMessage::new("system", prompt)),
    }
    let skip = usize::from(messages.first().is_some_and(|m| m.role == "system"));
    for m in &messages[skip..] {
        let mut m = m.clone();
        if let Some(calls) = m.tool_calls.take() {
            let mut text = m.content.take().unwrap_or_default();
            for c in calls.as_array().into_iter().flatten() {
                let f = c.get("function").unwrap_or(c);
                let call = json!({
                    "name": f.get("name").cloned().unwrap_or(Value::Null),
                    "arguments": f.get("arguments").cloned().unwrap_or_else(|| json!({})),
                });
                text.push_str(&format!("{HERMES_OPEN}{call}{HERMES_CLOSE}"));
            }
            m.content = Some(text);
        }
        out.push(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weather() -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "get_weather".into(),
                parameters: Some(json!({"type": "object",
                    "properties": {"city": {"type": "string"}}, "required": ["city"]})),
            },
            ToolSpec {
                name: "get_time".into(),
                parameters: None,
            },
        ]
    }

    #[test]
    fn formats_are_told_apart() {
        assert_eq!(
            ToolFormat::detect("{{ '<tool_call>' }}", true),
            ToolFormat::Hermes
        );
        assert_eq!(
            ToolFormat::detect("[TOOL_CALLS] x", true),
            ToolFormat::Mistral
        );
        assert_eq!(
            ToolFormat::detect("<|python_tag|>{{ x }}", true),
            ToolFormat::Llama3Json
        );
        assert_eq!(
            ToolFormat::detect("<tool_call>", false),
            ToolFormat::Generic
        );
        assert_eq!(ToolFormat::detect("plain", true), ToolFormat::Generic);
    }

    #[test]
    fn hermes_calls_are_read_with_the_text_around_them() {
        let f = ToolFormat::Hermes;
        let (content, calls) = f.parse(
            "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>\n<tool_call>{\"name\": \"get_time\", \"arguments\": \"{}\"}</tool_call>",
        );
        assert_eq!(content.as_deref(), Some("Let me look."));
        assert_eq!(
            calls,
            vec![
                ParsedCall {
                    name: "get_weather".into(),
                    arguments: "{\"city\":\"Oslo\"}".into()
                },
                ParsedCall {
                    name: "get_time".into(),
                    arguments: "{}".into()
                },
            ]
        );
        // An unterminated last block still counts; broken JSON makes it all text.
        assert_eq!(f.parse("<tool_call>{\"name\": \"a\"}").1.len(), 1);
        let (c, calls) = f.parse("<tool_call>{\"name\": ");
        assert!(calls.is_empty());
        assert_eq!(c.as_deref(), Some("<tool_call>{\"name\": "));
        assert_eq!(f.parse("just text").0.as_deref(), Some("just text"));
    }

    #[test]
    fn llama_and_mistral_calls_are_read() {
        let (c, calls) = ToolFormat::Llama3Json
            .parse("<|python_tag|>{\"name\": \"get_time\", \"parameters\": {\"tz\": \"UTC\"}}");
        assert!(c.is_none());
        assert_eq!(calls[0].arguments, "{\"tz\":\"UTC\"}");
        let (_, calls) = ToolFormat::Mistral.parse(
            "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": {\"x\": 1}}]",
        );
        assert_eq!(calls.len(), 2);
        assert_eq!(ToolFormat::Llama3Json.parse("{\"no\": 1}").1.len(), 0);
    }

    #[test]
    fn grammars_name_functions_and_modes() {
        let g = ToolFormat::Hermes
            .grammar(&weather(), &ToolMode::Required, true, None)
            .unwrap();
        assert!(g.starts_with("start: call (\"\\n\" call)*\n"), "{g}");
        assert!(g.contains("fn: fn_0 | fn_1"));
        assert!(g.contains(r#""const":"get_weather""#), "{g}");
        let g = ToolFormat::Hermes
            .grammar(&weather(), &ToolMode::Named("get_time".into()), true, None)
            .unwrap();
        assert!(
            g.starts_with("start: call\n") && g.contains("fn: fn_0\n"),
            "{g}"
        );
        assert!(!g.contains("get_weather"));
        let g = ToolFormat::Hermes
            .grammar(&weather(), &ToolMode::Auto, false, None)
            .unwrap();
        assert!(g.starts_with("start: TEXT | call\n"), "{g}");
        assert!(g.contains(r"~/(?s:[ \t\n]*<tool_call>.*)/"), "{g}");
        assert!(
            ToolFormat::Hermes
                .grammar(&weather(), &ToolMode::Named("nope".into()), true, None)
                .unwrap_err()
                .contains("nope")
        );
        let g = ToolFormat::Llama3Json
            .grammar(&weather(), &ToolMode::Required, true, None)
            .unwrap();
        assert!(g.contains("\"parameters\""), "{g}");
    }

    /// Whether the grammar, compiled by llguidance over a byte-level vocabulary, accepts `text`
    /// as a whole output.
    fn accepts(grammar: &str, text: &str) -> bool {
        let env = toktrie::ApproximateTokEnv::single_byte_env();
        let mut factory = llguidance::ParserFactory::new_simple(&env).unwrap();
        factory.quiet();
        let top = llguidance::api::TopLevelGrammar::from_lark(grammar.to_owned());
        let mut m = llguidance::Matcher::new(factory.create_parser(top));
        assert!(m.get_error().is_none(), "{grammar}: {:?}", m.get_error());
        let tokens: Vec<u32> = text.bytes().map(u32::from).collect();
        m.consume_tokens(&tokens).is_ok() && m.is_accepting().unwrap_or(false)
    }

    #[test]
    fn grammars_accept_calls_and_free_text_as_the_mode_says() {
        let call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
        let other = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
        let auto = ToolFormat::Hermes
            .grammar(&weather(), &ToolMode::Auto, true, None)
            .unwrap();
        assert!(accepts(&auto, call));
        assert!(accepts(&auto, &format!("{call}\n{other}")));
        assert!(accepts(&auto, "It is sunny."));
        assert!(!accepts(
            &auto,
            "<tool_call>\n{\"name\": \"rm_rf\", \"arguments\": {}}\n</tool_call>"
        ));
        assert!(!accepts(&auto, "  <tool_call>free text"));
        let bad_args = call.replace("\"city\"", "\"town\"");
        assert!(!accepts(&auto, &bad_args));
        let required = ToolFormat::Hermes
            .grammar(&weather(), &ToolMode::Required, false, None)
            .unwrap();
        assert!(accepts(&required, call));
        assert!(!accepts(&required, "It is sunny."));
        assert!(
            !accepts(&required, &format!("{call}\n{other}")),
            "one call without parallel calls"
        );
        let answer = ToolFormat::Hermes
            .grammar(
                &weather(),
                &ToolMode::Auto,
                true,
                Some(&json!({"type": "object",
                "properties": {"a": {"type": "integer"}}, "required": ["a"]})),
            )
            .unwrap();
        assert!(accepts(&answer, "{\"a\": 1}"));
        assert!(accepts(&answer, call));
        assert!(!accepts(&answer, "It is sunny."));
        let llama = ToolFormat::Llama3Json
            .grammar(&weather(), &ToolMode::Required, true, None)
            .unwrap();
        assert!(accepts(
            &llama,
            "{\"name\": \"get_time\", \"parameters\": {}}"
        ));
        let mistral = ToolFormat::Mistral
            .grammar(&weather(), &ToolMode::Required, true, None)
            .unwrap();
        assert!(accepts(
            &mistral,
            "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}}, {\"name\": \"get_time\", \"arguments\": {}}]"
        ));
    }

    #[test]
    fn generic_prompts_describe_tools_and_show_old_calls() {
        let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]);
        let mut asst = ChatMessage::new("assistant", "");
        asst.content = None;
        asst.tool_calls = Some(json!([{"id": "c1", "type": "function",
            "function": {"name": "f", "arguments": {"x": 1}}}]));
        let msgs = vec![
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "hi"),
            asst,
        ];
        let out = generic_messages(&msgs, &tools);
        assert_eq!(out.len(), 3);
        let sys = out[0].content.as_deref().unwrap();
        assert!(
            sys.starts_with("Be brief.") && sys.contains("\"name\":\"f\""),
            "{sys}"
        );
        assert_eq!(
            out[2].content.as_deref(),
            Some("<tool_call>{\"name\":\"f\",\"arguments\":{\"x\":1}}</tool_call>")
        );
        assert!(out[2].tool_calls.is_none());
    }
}
