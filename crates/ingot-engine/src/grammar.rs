//! Grammar-constrained decoding: a job's output constraint (JSON Schema, regular expression,
//! Lark grammar or a list of choices) compiled once by llguidance into a matcher that masks
//! every step's logits, so the output always matches.
//!
//! The token trie (every token's bytes) is built once per model, on the first constrained
//! job; compiled grammars are kept by hash, so a schema sent again is not compiled again
//! (each sequence gets a clone of the compiled matcher).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock};

use llama_cpp_2::model::LlamaModel;
use llguidance::api::TopLevelGrammar;
use llguidance::{Matcher, ParserFactory};
use serde_json::Value;

use crate::error::EngineError;

/// Compiled grammars kept per model.
const CACHE_CAPACITY: usize = 64;

/// What the output must match.
#[derive(Debug, Clone, PartialEq)]
pub enum Grammar {
    /// A JSON document valid against this JSON Schema (`true` or `{}`: any JSON value).
    /// Objects take no properties beyond those listed unless the schema says
    /// `additionalProperties` (as vLLM's guided decoding does), and the document is written
    /// with `", "` and `": "` separators and no other whitespace.
    JsonSchema(Value),
    /// A string fully matching this regular expression (Rust `regex` syntax).
    Regex(String),
    /// A Lark grammar (llguidance's dialect: `start:` rule, `%json {…}` for embedded schemas).
    Lark(String),
    /// Exactly one of these strings.
    Choice(Vec<String>),
}

/// A job's output constraint and the request field it came from (named in errors).
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// What the output must match.
    pub grammar: Grammar,
    /// The request field that asked for it, e.g. `response_format` or `nvext.guided_json`.
    pub param: String,
}

impl Constraint {
    /// A constraint from `param`.
    #[must_use]
    pub fn new(grammar: Grammar, param: impl Into<String>) -> Self {
        Self {
            grammar,
            param: param.into(),
        }
    }
}

/// One model's llguidance state: the parser factory (over the model's token trie) and the
/// compiled-grammar cache.
#[derive(Default)]
pub(crate) struct Guidance {
    factory: OnceLock<Result<ParserFactory, String>>,
    cache: Mutex<HashMap<u64, (u64, Matcher)>>,
    tick: std::sync::atomic::AtomicU64,
}

impl Guidance {
    /// A matcher for `constraint`, ready for the first token.
    pub(crate) fn compile(
        &self,
        model: &LlamaModel,
        constraint: &Constraint,
    ) -> Result<Matcher, EngineError> {
        let factory = self
            .factory
            .get_or_init(|| {
                let env = llama_cpp_2::sampling::LlamaSampler::llguidance_tok_env(model);
                let mut factory = ParserFactory::new_simple(&env).map_err(|e| e.to_string())?;
                factory.quiet();
                Ok(factory)
            })
            .as_ref()
            .map_err(|e| EngineError::Internal(format!("grammar engine: {e}")))?;
        let key = cache_key(&constraint.grammar);
        let tick = self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut cache) = self.cache.lock()
            && let Some((used, m)) = cache.get_mut(&key)
        {
            *used = tick;
            return Ok(m.deep_clone());
        }
        let invalid = |message: String| EngineError::Grammar {
            param: constraint.param.clone(),
            message,
        };
        let top = to_top_level(&constraint.grammar).map_err(invalid)?;
        let matcher = Matcher::new(factory.create_parser(top));
        if let Some(e) = matcher.get_error() {
            return Err(invalid(describe(&constraint.grammar, &e)));
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY
                && let Some(oldest) = cache.iter().min_by_key(|(_, (t, _))| *t).map(|(k, _)| *k)
            {
                cache.remove(&oldest);
            }
            cache.insert(key, (tick, matcher.deep_clone()));
        }
        Ok(matcher)
    }
}

fn cache_key(g: &Grammar) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match g {
        Grammar::JsonSchema(v) => {
            0u8.hash(&mut h);
            v.to_string().hash(&mut h);
        }
        Grammar::Regex(r) => {
            1u8.hash(&mut h);
            r.hash(&mut h);
        }
        Grammar::Lark(l) => {
            2u8.hash(&mut h);
            l.hash(&mut h);
        }
        Grammar::Choice(c) => {
            3u8.hash(&mut h);
            c.hash(&mut h);
        }
    }
    h.finish()
}

fn describe(g: &Grammar, err: &str) -> String {
    let what = match g {
        Grammar::JsonSchema(_) => "invalid or unsupported JSON schema",
        Grammar::Regex(_) => "invalid regular expression",
        Grammar::Lark(_) => "invalid grammar (Lark syntax expected)",
        Grammar::Choice(_) => "invalid choice list",
    };
    format!("{what}: {err}")
}

/// The llguidance grammar for a constraint.
fn to_top_level(g: &Grammar) -> Result<TopLevelGrammar, String> {
    Ok(match g {
        Grammar::JsonSchema(schema) => TopLevelGrammar::from_json_schema(json_options(schema)?),
        Grammar::Regex(rx) => TopLevelGrammar::from_regex(rx),
        Grammar::Lark(src) => {
            if src.trim().is_empty() {
                return Err("the grammar is empty".into());
            }
            if src.contains("::=") {
                return Err(
                    "GBNF (`::=`) is not accepted; write the grammar in Lark syntax \
                     (`start: …`)"
                        .into(),
                );
            }
            TopLevelGrammar::from_lark(src.clone())
        }
        Grammar::Choice(choices) => {
            if choices.is_empty() {
                return Err("the list of choices is empty".into());
            }
            let alts: Vec<String> = choices
                .iter()
                .map(|c| serde_json::to_string(c).unwrap_or_default())
                .collect();
            TopLevelGrammar::from_lark(format!("start: {}", alts.join(" | ")))
        }
    })
}

/// The schema with ingot's output options: no extra properties unless asked for, and one
/// fixed layout (so a model cannot pad the document with whitespace forever).
pub(crate) fn json_options(schema: &Value) -> Result<Value, String> {
    let mut schema = match schema {
        Value::Bool(true) => serde_json::json!({}),
        Value::Object(_) => schema.clone(),
        Value::Bool(false) => return Err("the schema `false` matches nothing".into()),
        _ => return Err("a JSON schema must be an object or a boolean".into()),
    };
    close_objects(&mut schema);
    if let Value::Object(map) = &mut schema {
        map.insert(
            "x-guidance".into(),
            serde_json::json!({
                "whitespace_flexible": false,
                "item_separator": ", ",
                "key_separator": ": ",
            }),
        );
    }
    Ok(schema)
}

/// A calendar date: days per month, and 29 February in leap years only.
const DATE: &str = concat!(
    r"(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])",
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))",
    r"|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
);
/// RFC 3339 time of day with an offset, at most nanosecond fractions.
const TIME: &str = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?(?:[zZ]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])";
/// RFC 5321's limit on a mailbox (the 256-octet path less its angle brackets).
const EMAIL_MAX: u64 = 254;

/// Makes a schema's string formats exact and bounded: `date` and `date-time` only name real
/// days (llguidance's own formats allow 30 February and endless fractions of a second), and
/// an `email` is at most 254 characters.
fn tighten_formats(map: &mut serde_json::Map<String, Value>) {
    let format = map.get("format").and_then(Value::as_str).map(str::to_owned);
    match format.as_deref() {
        Some("date") if !map.contains_key("pattern") => {
            map.remove("format");
            map.insert("pattern".into(), Value::String(format!("^{DATE}$")));
        }
        Some("date-time") if !map.contains_key("pattern") => {
            map.remove("format");
            map.insert(
                "pattern".into(),
                Value::String(format!("^{DATE}[tT]{TIME}$")),
            );
        }
        Some("email") if !map.contains_key("maxLength") => {
            map.insert("maxLength".into(), Value::from(EMAIL_MAX));
        }
        _ => {}
    }
}

/// Sets `additionalProperties: false` on every object schema that lists `properties` and
/// says nothing about extra ones, and tightens string formats.
fn close_objects(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.contains_key("properties")
                && !map.contains_key("additionalProperties")
                && !map.contains_key("patternProperties")
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            tighten_formats(map);
            for (k, child) in map.iter_mut() {
                // `const`, `enum`, `default` and `examples` hold values, not schemas.
                if !matches!(k.as_str(), "const" | "enum" | "default" | "examples") {
                    close_objects(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_are_closed_unless_the_schema_opens_them() {
        let out = json_options(&json!({
            "type": "object",
            "properties": {"a": {"type": "object", "properties": {"b": {}}}},
            "$defs": {"o": {"properties": {}, "additionalProperties": true}},
            "default": {"properties": 1}
        }))
        .unwrap();
        assert_eq!(out["additionalProperties"], json!(false));
        assert_eq!(out["properties"]["a"]["additionalProperties"], json!(false));
        assert_eq!(out["$defs"]["o"]["additionalProperties"], json!(true));
        assert_eq!(out["default"], json!({"properties": 1}));
        assert_eq!(out["x-guidance"]["whitespace_flexible"], json!(false));
    }

    #[test]
    fn dates_are_real_days() {
        let out = json_options(&json!({"type": "string", "format": "date"})).unwrap();
        let pattern = out["pattern"].as_str().unwrap();
        assert!(out.get("format").is_none());
        // The pattern is anchored; check it with llguidance over a byte-level vocabulary.
        let rx = &pattern[1..pattern.len() - 1];
        let env = toktrie::ApproximateTokEnv::single_byte_env();
        let factory = ParserFactory::new_simple(&env).unwrap();
        let matches = |text: &str| {
            let mut m = Matcher::new(factory.create_parser(TopLevelGrammar::from_regex(rx)));
            let tokens: Vec<u32> = text.bytes().map(u32::from).collect();
            m.consume_tokens(&tokens).is_ok() && m.is_accepting().unwrap_or(false)
        };
        for (d, ok) in [
            ("2024-02-29", true),
            ("2000-02-29", true),
            ("2023-02-29", false),
            ("1900-02-29", false),
            ("2023-04-31", false),
            ("2023-12-31", true),
            ("2023-13-01", false),
        ] {
            assert_eq!(matches(d), ok, "{d}");
        }
        let dt = json_options(&json!({"type": "string", "format": "date-time"})).unwrap();
        assert!(dt["pattern"].as_str().unwrap().contains("{1,9}"));
        let email = json_options(&json!({"type": "string", "format": "email"})).unwrap();
        assert_eq!(email["maxLength"], json!(254));
    }

    #[test]
    fn bad_constraints_are_refused_before_compiling() {
        assert!(json_options(&json!(false)).is_err());
        assert!(json_options(&json!([1])).is_err());
        assert!(to_top_level(&Grammar::Choice(vec![])).is_err());
        assert!(to_top_level(&Grammar::Lark("root ::= \"a\"".into())).is_err());
        assert!(to_top_level(&Grammar::Lark("  ".into())).is_err());
        assert!(json_options(&json!(true)).is_ok());
    }

    #[test]
    fn choices_become_escaped_lark_literals() {
        let g = to_top_level(&Grammar::Choice(vec!["a \"b\"".into(), "c\nd".into()])).unwrap();
        let s = serde_json::to_string(&g).unwrap();
        assert!(s.contains(r#"start: \"a \\\"b\\\"\" | \"c\\nd\""#), "{s}");
    }

    #[test]
    fn the_cache_key_tells_kinds_apart() {
        assert_ne!(
            cache_key(&Grammar::Regex("a".into())),
            cache_key(&Grammar::Lark("a".into()))
        );
        assert_eq!(
            cache_key(&Grammar::JsonSchema(json!({"a": 1}))),
            cache_key(&Grammar::JsonSchema(json!({"a": 1})))
        );
    }
}
