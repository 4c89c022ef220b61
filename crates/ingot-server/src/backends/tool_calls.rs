//! Tools on the local chat engine: the constraint a request's `tools` and `tool_choice` ask
//! for, and the calls read back out of the model's text, whole or as stream pieces.

use ingot_core::BackendError;
use ingot_engine::{Constraint, Grammar, ParsedCall, ToolFormat, ToolMode, ToolSpec};
use ingot_protocol::chat::{ChatCompletionRequest, FunctionCall, ToolCall, ToolChoice};
use ingot_protocol::chat_response::{FunctionCallDelta, ToolCallDelta};

/// Argument text per stream piece.
const ARGUMENT_PIECE: usize = 24;

/// The tool mode of a request, or `None` when no call can come out (no tools, or
/// `tool_choice: "none"`).
fn mode(req: &ChatCompletionRequest) -> Result<Option<ToolMode>, BackendError> {
    let has_tools = req.tools.as_ref().is_some_and(|t| !t.is_empty());
    let mode = match &req.tool_choice {
        None => ToolMode::Auto,
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "none" => return Ok(None),
            "auto" => ToolMode::Auto,
            "required" => ToolMode::Required,
            other => {
                return Err(BackendError::invalid(
                    "tool_choice",
                    format!(
                        "`{other}` is not a tool choice; use none, auto, required or a named function"
                    ),
                ));
            }
        },
        Some(ToolChoice::Named(n)) => ToolMode::Named(n.function.name.clone()),
    };
    if !has_tools {
        return match mode {
            ToolMode::Auto => Ok(None),
            _ => Err(BackendError::BadRequest {
                message: "`tool_choice` asks for a tool call but no `tools` were given".into(),
                param: Some("tool_choice".into()),
            }),
        };
    }
    Ok(Some(mode))
}

/// The constraint for a request with tools (calls well formed, functions and arguments as
/// declared), combined with `base` (what the rest of the request asks for); the format to
/// read calls back with, or `None` when the request has no tools.
pub(crate) fn plan(
    req: &ChatCompletionRequest,
    format: ToolFormat,
    base: Option<Constraint>,
) -> Result<(Option<Constraint>, Option<ToolFormat>), BackendError> {
    let Some(mode) = mode(req)? else {
        return Ok((base, None));
    };
    let mut specs = Vec::new();
    for (i, t) in req.tools.iter().flatten().enumerate() {
        if t.kind != "function" {
            return Err(BackendError::invalid(
                format!("tools.{i}.type"),
                format!("tool type `{}` is not supported; use `function`", t.kind),
            ));
        }
        specs.push(ToolSpec {
            name: t.function.name.clone(),
            parameters: t.function.parameters.clone(),
        });
    }
    let text = match (&mode, &base) {
        (_, None) => None,
        (
            ToolMode::Auto,
            Some(Constraint {
                grammar: Grammar::JsonSchema(s),
                ..
            }),
        ) => Some(s),
        (_, Some(other)) => {
            return Err(BackendError::BadRequest {
                message: format!(
                    "`{}` cannot be combined with tool calls (`tool_choice`)",
                    other.param
                ),
                param: Some(other.param.clone()),
            });
        }
    };
    let grammar = format
        .grammar(&specs, &mode, req.parallel_tool_calls.unwrap_or(true), text)
        .map_err(|message| BackendError::BadRequest {
            message,
            param: Some("tool_choice".into()),
        })?;
    Ok((
        Some(Constraint::new(Grammar::Lark(grammar), "tools")),
        Some(format),
    ))
}

/// Wire calls with fresh ids.
pub(crate) fn to_wire(calls: Vec<ParsedCall>) -> Vec<ToolCall> {
    calls
        .into_iter()
        .map(|c| ToolCall {
            id: format!("call_{}", &uuid::Uuid::new_v4().simple().to_string()[..24]),
            kind: "function".into(),
            function: FunctionCall {
                name: c.name,
                arguments: c.arguments,
            },
        })
        .collect()
}

/// What a stream splitter lets out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    /// Plain text.
    Content(String),
    /// Tool-call pieces: per call, its id, type and name first, then its arguments.
    Calls(Vec<ToolCallDelta>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The text so far could still be the start of a call.
    Undecided,
    /// Plain text: passed through.
    Text,
    /// A call has started: kept until the end, then read.
    Calls,
}

/// Splits one choice's streamed text into content and tool calls. Text is held back only
/// while it could be the start of a call.
#[derive(Debug)]
pub(crate) struct Splitter {
    format: ToolFormat,
    state: State,
    buf: String,
    /// Calls let out so far.
    pub(crate) calls: u32,
}

impl Splitter {
    pub(crate) fn new(format: ToolFormat) -> Self {
        Self {
            format,
            state: State::Undecided,
            buf: String::new(),
            calls: 0,
        }
    }

    /// Takes the next piece of text.
    pub(crate) fn push(&mut self, text: &str) -> Vec<Piece> {
        match self.state {
            State::Text => return vec![Piece::Content(text.to_owned())],
            State::Calls => {
                self.buf.push_str(text);
                return Vec::new();
            }
            State::Undecided => self.buf.push_str(text),
        }
        let open = self.format.opening();
        let lead = self.buf.trim_start();
        if lead.starts_with(open) {
            self.state = State::Calls;
            Vec::new()
        } else if open.starts_with(lead) {
            Vec::new()
        } else {
            self.state = State::Text;
            vec![Piece::Content(std::mem::take(&mut self.buf))]
        }
    }

    /// The end of the choice: what was held back, read.
    pub(crate) fn finish(&mut self) -> Vec<Piece> {
        let text = std::mem::take(&mut self.buf);
        if text.is_empty() {
            return Vec::new();
        }
        if self.state == State::Undecided {
            return vec![Piece::Content(text)];
        }
        let (content, calls) = self.format.parse(&text);
        let mut out = Vec::new();
        if let Some(c) = content {
            out.push(Piece::Content(c));
        }
        for call in to_wire(calls) {
            let index = self.calls;
            self.calls += 1;
            let mut deltas = vec![ToolCallDelta {
                index,
                id: Some(call.id),
                kind: Some(call.kind),
                function: Some(FunctionCallDelta {
                    name: Some(call.function.name),
                    arguments: Some(String::new()),
                }),
            }];
            for piece in pieces(&call.function.arguments, ARGUMENT_PIECE) {
                deltas.push(ToolCallDelta {
                    index,
                    id: None,
                    kind: None,
                    function: Some(FunctionCallDelta {
                        name: None,
                        arguments: Some(piece.to_owned()),
                    }),
                });
            }
            out.push(Piece::Calls(deltas));
        }
        out
    }
}

/// `s` cut into pieces of at most `n` bytes, at character boundaries.
fn pieces(s: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let mut cut = n.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(extra: serde_json::Value) -> ChatCompletionRequest {
        let mut base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f",
                "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}}]});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn choices_become_grammars_or_errors() {
        let (c, t) = plan(&req(json!({})), ToolFormat::Hermes, None).unwrap();
        assert!(t.is_some());
        assert!(matches!(c.unwrap().grammar, Grammar::Lark(ref g) if g.starts_with("start: TEXT")));
        let (c, t) = plan(
            &req(json!({"tool_choice": "none"})),
            ToolFormat::Hermes,
            None,
        )
        .unwrap();
        assert!(c.is_none() && t.is_none());
        let named = json!({"tool_choice": {"type": "function", "function": {"name": "g"}}});
        assert!(matches!(
            plan(&req(named), ToolFormat::Hermes, None),
            Err(BackendError::BadRequest { param: Some(ref p), .. }) if p == "tool_choice"
        ));
        let mut no_tools = req(json!({"tool_choice": "required"}));
        no_tools.tools = None;
        assert!(plan(&no_tools, ToolFormat::Hermes, None).is_err());
        let regex = Constraint::new(Grammar::Regex("a".into()), "guided_regex");
        assert!(matches!(
            plan(&req(json!({})), ToolFormat::Hermes, Some(regex)),
            Err(BackendError::BadRequest { param: Some(ref p), .. }) if p == "guided_regex"
        ));
        let schema = Constraint::new(
            Grammar::JsonSchema(json!({"type": "object"})),
            "response_format",
        );
        let (c, _) = plan(&req(json!({})), ToolFormat::Hermes, Some(schema)).unwrap();
        assert!(
            matches!(c.unwrap().grammar, Grammar::Lark(ref g) if g.starts_with("start: answer"))
        );
    }

    #[test]
    fn text_streams_through_and_calls_come_out_whole() {
        let mut s = Splitter::new(ToolFormat::Hermes);
        assert_eq!(s.push("<tool"), vec![]);
        assert_eq!(
            s.push("ing is fun"),
            vec![Piece::Content("<tooling is fun".into())]
        );
        assert_eq!(s.push("!"), vec![Piece::Content("!".into())]);
        assert!(s.finish().is_empty());

        let mut s = Splitter::new(ToolFormat::Hermes);
        for t in [
            "\n<tool_",
            "call>\n{\"name\": \"f\", ",
            "\"arguments\": {\"x\": 1234567890123456789}}\n</tool_call>",
        ] {
            assert!(s.push(t).is_empty());
        }
        let out = s.finish();
        let Piece::Calls(d) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(d[0].function.as_ref().unwrap().name.as_deref(), Some("f"));
        assert!(d[0].id.as_ref().unwrap().starts_with("call_"));
        let args: String = d[1..]
            .iter()
            .filter_map(|x| x.function.as_ref()?.arguments.clone())
            .collect();
        assert_eq!(args, "{\"x\":1234567890123456789}");
        assert!(d.len() > 2, "arguments in pieces");
        assert_eq!(s.calls, 1);

        let mut s = Splitter::new(ToolFormat::Hermes);
        s.push("<tool_call>{broken");
        assert_eq!(
            s.finish(),
            vec![Piece::Content("<tool_call>{broken".into())]
        );
    }

    #[test]
    fn pieces_keep_characters_whole() {
        assert_eq!(pieces("ééé", 3), vec!["éé", "é"]);
        assert!(pieces("", 4).is_empty());
    }
}
