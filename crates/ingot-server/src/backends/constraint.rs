//! The output constraint a chat request asks for, from whichever field carries it:
//! `response_format` (OpenAI), `guided_json` / `guided_choice` / `guided_regex` /
//! `guided_grammar` (NIM and vLLM, at the top level or under `nvext`) or `structured_outputs`
//! (vLLM). At most one may be given.

use ingot_core::BackendError;
use ingot_engine::{Constraint, Grammar};
use ingot_protocol::chat::{ChatCompletionRequest, ResponseFormat};
use serde_json::Value;

/// Names accepted in `guided_decoding_backend`. They pick an implementation, not a behaviour:
/// every one of them gets the same guarantee here (the output matches), from llguidance.
const BACKENDS: [&str; 7] = [
    "auto",
    "guidance",
    "llguidance",
    "xgrammar",
    "outlines",
    "lm-format-enforcer",
    "lm_format_enforcer",
];

/// The request's output constraint, or `None` for free text.
pub(crate) fn of(req: &ChatCompletionRequest) -> Result<Option<Constraint>, BackendError> {
    if let Some(b) = req.effective_guided_decoding_backend()
        && !BACKENDS.contains(&b)
    {
        return Err(BackendError::invalid(
            "guided_decoding_backend",
            format!(
                "unknown guided decoding backend `{b}`; one of: {}",
                BACKENDS.join(", ")
            ),
        ));
    }
    let mut found: Vec<Constraint> = Vec::new();
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => found.push(Constraint::new(
            Grammar::JsonSchema(serde_json::json!({"type": "object"})),
            "response_format",
        )),
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            let Some(schema) = &json_schema.schema else {
                return Err(BackendError::invalid(
                    "response_format.json_schema.schema",
                    "a `json_schema` response format needs its `schema`",
                ));
            };
            found.push(Constraint::new(
                Grammar::JsonSchema(schema.clone()),
                "response_format.json_schema.schema",
            ));
        }
    }
    let nv = req.nvext.as_ref();
    let guided = [
        (req.guided_json.as_ref(), "guided_json"),
        (nv.and_then(|n| n.guided_json.as_ref()), "nvext.guided_json"),
    ];
    for (v, param) in guided {
        if let Some(v) = v {
            found.push(Constraint::new(
                Grammar::JsonSchema(schema(v, param)?),
                param,
            ));
        }
    }
    let choices = [
        (req.guided_choice.as_ref(), "guided_choice"),
        (
            nv.and_then(|n| n.guided_choice.as_ref()),
            "nvext.guided_choice",
        ),
    ];
    for (c, param) in choices {
        if let Some(c) = c {
            found.push(Constraint::new(Grammar::Choice(c.clone()), param));
        }
    }
    let texts = [
        (req.guided_regex.as_ref(), "guided_regex", true),
        (
            nv.and_then(|n| n.guided_regex.as_ref()),
            "nvext.guided_regex",
            true,
        ),
        (req.guided_grammar.as_ref(), "guided_grammar", false),
        (
            nv.and_then(|n| n.guided_grammar.as_ref()),
            "nvext.guided_grammar",
            false,
        ),
    ];
    for (t, param, regex) in texts {
        if let Some(t) = t {
            let g = if regex {
                Grammar::Regex(t.clone())
            } else {
                Grammar::Lark(t.clone())
            };
            found.push(Constraint::new(g, param));
        }
    }
    if let Some(so) = &req.structured_outputs {
        if let Some(key) = so.extra.keys().next() {
            return Err(BackendError::invalid(
                format!("structured_outputs.{key}"),
                format!("`structured_outputs.{key}` is not supported by the local chat engine"),
            ));
        }
        if let Some(v) = &so.json {
            let param = "structured_outputs.json";
            found.push(Constraint::new(
                Grammar::JsonSchema(schema(v, param)?),
                param,
            ));
        }
        if let Some(c) = &so.choice {
            found.push(Constraint::new(
                Grammar::Choice(c.clone()),
                "structured_outputs.choice",
            ));
        }
        if let Some(r) = &so.regex {
            found.push(Constraint::new(
                Grammar::Regex(r.clone()),
                "structured_outputs.regex",
            ));
        }
        if let Some(g) = &so.grammar {
            found.push(Constraint::new(
                Grammar::Lark(g.clone()),
                "structured_outputs.grammar",
            ));
        }
        if so.json_object == Some(true) {
            found.push(Constraint::new(
                Grammar::JsonSchema(serde_json::json!({"type": "object"})),
                "structured_outputs.json_object",
            ));
        }
    }
    if found.len() > 1 {
        return Err(BackendError::BadRequest {
            message: format!(
                "only one output constraint per request; `{}` and `{}` were both given",
                found[0].param, found[1].param
            ),
            param: Some(found[1].param.clone()),
        });
    }
    Ok(found.pop())
}

/// A schema given as JSON, or as a string holding JSON (vLLM accepts both).
fn schema(v: &Value, param: &str) -> Result<Value, BackendError> {
    match v {
        Value::String(s) => serde_json::from_str(s).map_err(|e| BackendError::BadRequest {
            message: format!("`{param}` is a string but not a JSON schema: {e}"),
            param: Some(param.to_owned()),
        }),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(extra: Value) -> ChatCompletionRequest {
        let mut base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    fn param(extra: Value) -> String {
        of(&req(extra)).unwrap().unwrap().param
    }

    #[test]
    fn every_field_is_read_and_named() {
        assert_eq!(
            param(json!({"response_format": {"type": "json_object"}})),
            "response_format"
        );
        assert_eq!(
            param(json!({"response_format": {"type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": "object"}}}})),
            "response_format.json_schema.schema"
        );
        assert_eq!(param(json!({"guided_json": "{}"})), "guided_json");
        assert_eq!(
            param(json!({"nvext": {"guided_choice": ["a"]}})),
            "nvext.guided_choice"
        );
        assert_eq!(param(json!({"guided_regex": "a+"})), "guided_regex");
        assert_eq!(
            param(json!({"nvext": {"guided_grammar": "start: \"a\""}})),
            "nvext.guided_grammar"
        );
        assert_eq!(
            param(json!({"structured_outputs": {"choice": ["x"]}})),
            "structured_outputs.choice"
        );
        assert_eq!(
            param(json!({"structured_outputs": {"json_object": true}})),
            "structured_outputs.json_object"
        );
        assert!(
            of(&req(json!({"response_format": {"type": "text"}})))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_string_schema_is_parsed() {
        let c = of(&req(json!({"guided_json": "{\"type\": \"integer\"}"})))
            .unwrap()
            .unwrap();
        assert_eq!(c.grammar, Grammar::JsonSchema(json!({"type": "integer"})));
        assert!(matches!(
            of(&req(json!({"guided_json": "{nope"}))),
            Err(BackendError::BadRequest { .. })
        ));
    }

    #[test]
    fn conflicts_and_unknowns_are_refused() {
        match of(&req(json!({"guided_regex": "a", "guided_choice": ["b"]}))) {
            Err(BackendError::BadRequest { message, .. }) => {
                assert!(message.contains("guided_choice"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            of(&req(json!({"structured_outputs": {"structural_tag": {}}}))),
            Err(BackendError::Invalid { ref param, .. }) if param == "structured_outputs.structural_tag"
        ));
        assert!(matches!(
            of(&req(json!({"guided_decoding_backend": "magic", "guided_regex": "a"}))),
            Err(BackendError::Invalid { ref param, .. }) if param == "guided_decoding_backend"
        ));
        assert!(
            of(&req(
                json!({"nvext": {"guided_decoding_backend": "xgrammar"}})
            ))
            .is_ok()
        );
        assert!(matches!(
            of(&req(
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}})
            )),
            Err(BackendError::Invalid { .. })
        ));
    }
}
