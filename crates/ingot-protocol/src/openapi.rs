//! JSON Schemas of the wire types (feature `openapi`), for the server's OpenAPI 3.1 document.
//!
//! The derived schemas follow the serde attributes. Requests are described as they are
//! *deserialised* (what the server accepts: optional fields, `null`, unknown fields kept),
//! responses as they are *serialised* (what the server sends). The types whose serde is
//! written by hand get their schemas here, next to the rules those impls follow.
//!
//! Every constraint a schema states is one the server enforces (it answers 422 when it is
//! broken), so a client can rely on the schema to predict rejections; some checks are not
//! expressible in JSON Schema (e.g. `top_logprobs` needs `logprobs`) and stay server-side.

use std::borrow::Cow;

use schemars::generate::{Contract, SchemaSettings};
use schemars::transform::{Transform, transform_subschemas};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value};

use crate::chat::{ContentPart, ImageUrl, MediaUrl, MessageContent};
use crate::completions::{MAX_PROMPTS, Prompt};
use crate::embeddings::{EmbeddingInput, MAX_INPUTS};

/// Where the component schemas live in the OpenAPI document.
pub const COMPONENTS_PATH: &str = "/components/schemas";

/// The schemas of every request, response and error type, keyed by their component name
/// (`ChatCompletionRequest`, `ErrorBody`, …), with references of the form
/// `#/components/schemas/<Name>`.
///
/// Requests: `ChatCompletionRequest`, `EmbeddingRequest`, `TrellisRequest`,
/// `CompletionRequest`, `RankingRequest`. Responses: `ModelList`, `Model`,
/// `ChatCompletionResponse`, `ChatCompletionChunk`, `StreamError`, `EmbeddingResponse`,
/// `TrellisResponse`, `HealthResponse`, `CompletionResponse`, `RankingResponse`, `ErrorBody`. Types on both sides
/// (`Role`, `ToolCall`, …) have the same schema under both contracts (this crate's tests
/// check it), so one entry serves both.
pub fn components() -> Map<String, Value> {
    let mut out = request_definitions();
    for (name, schema) in response_definitions() {
        out.entry(name).or_insert(schema);
    }
    out
}

fn request_definitions() -> Map<String, Value> {
    let mut g = generator(Contract::Deserialize);
    g.subschema_for::<crate::chat::ChatCompletionRequest>();
    g.subschema_for::<crate::embeddings::EmbeddingRequest>();
    g.subschema_for::<crate::trellis::TrellisRequest>();
    g.subschema_for::<crate::completions::CompletionRequest>();
    g.subschema_for::<crate::ranking::RankingRequest>();
    g.take_definitions(true)
}

fn response_definitions() -> Map<String, Value> {
    let mut g = generator(Contract::Serialize);
    g.subschema_for::<crate::models::ModelList>();
    g.subschema_for::<crate::models::Model>();
    g.subschema_for::<crate::chat_response::ChatCompletionResponse>();
    g.subschema_for::<crate::chat_response::ChatCompletionChunk>();
    g.subschema_for::<crate::error::StreamError>();
    g.subschema_for::<crate::embeddings::EmbeddingResponse>();
    g.subschema_for::<crate::trellis::TrellisResponse>();
    g.subschema_for::<crate::health::HealthResponse>();
    g.subschema_for::<crate::health::Metadata>();
    g.subschema_for::<crate::completions::CompletionResponse>();
    g.subschema_for::<crate::ranking::RankingResponse>();
    g.subschema_for::<crate::error::ErrorBody>();
    g.take_definitions(true)
}

fn generator(contract: Contract) -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = COMPONENTS_PATH.into();
    settings.meta_schema = None;
    settings.contract = contract;
    settings.transforms.push(Box::new(IntegerBounds));
    settings.into_generator()
}

/// Adds the bounds serde enforces to integers: `format: uint32` etc. say them only in words,
/// and schemars states `minimum` alone for unsigned types.
#[derive(Debug, Clone)]
struct IntegerBounds;

impl Transform for IntegerBounds {
    fn transform(&mut self, schema: &mut Schema) {
        let bounds: Option<(i64, u64)> = match schema.get("format").and_then(Value::as_str) {
            Some("uint32") => Some((0, u64::from(u32::MAX))),
            Some("int32") => Some((i64::from(i32::MIN), u64::from(i32::MAX.unsigned_abs()))),
            Some("uint64") => Some((0, u64::MAX)),
            Some("int64") => Some((i64::MIN, i64::MAX.unsigned_abs())),
            _ => None,
        };
        if let Some((lo, hi)) = bounds
            && let Some(obj) = schema.as_object_mut()
        {
            obj.entry("minimum").or_insert(lo.into());
            obj.entry("maximum").or_insert(hi.into());
        }
        transform_subschemas(self, schema);
    }
}

/// `logit_bias`: token ids (non-negative integers as strings) → a bias in [-100, 100].
pub fn logit_bias_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Token id (a non-negative integer, as a string) → bias added to its logit, in [-100, 100].",
        "type": ["object", "null"],
        "propertyNames": {"pattern": r"^\+?[0-9]+$"},
        "additionalProperties": {"type": "number", "minimum": -100, "maximum": 100}
    })
}

impl JsonSchema for MessageContent {
    fn schema_name() -> Cow<'static, str> {
        "MessageContent".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Plain text (which may embed `<img src=\"data:…\">` tags) or a list of typed parts.",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": generator.subschema_for::<ContentPart>()}
            ]
        })
    }
}

impl JsonSchema for ContentPart {
    fn schema_name() -> Cow<'static, str> {
        "ContentPart".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let part = |kind: &str, field: &str, value: Schema| {
            json_schema!({
                "type": "object",
                "properties": {"type": {"const": kind}, field: value},
                "required": ["type", field]
            })
        };
        let image = generator.subschema_for::<ImageUrl>();
        let media = generator.subschema_for::<MediaUrl>();
        json_schema!({
            "description": "One content part, chosen by `type`. Other `type`s (e.g. LangChain v1 `image` blocks) are accepted here and refused by engines that cannot use them.",
            "anyOf": [
                part("text", "text", json_schema!({"type": "string"})),
                part("image_url", "image_url", image),
                part("video_url", "video_url", media.clone()),
                part("input_audio", "input_audio", json_schema!({"description": "`{\"data\": base64, \"format\": \"wav\"|\"mp3\"}`"})),
                part("audio_url", "audio_url", media),
                {
                    "type": "object",
                    "properties": {"type": {
                        "type": "string",
                        "not": {"enum": ["text", "image_url", "video_url", "input_audio", "audio_url"]}
                    }},
                    "required": ["type"]
                }
            ]
        })
    }
}

fn url_schema(what: &str) -> Schema {
    json_schema!({
        "description": format!("{what}: an `https://` or `data:` URL, as an object or (NVIDIA's legacy shape) a bare string."),
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {
                    "url": {"type": "string"},
                    "detail": {"type": ["string", "null"], "description": "`auto`, `low` or `high`."}
                },
                "required": ["url"]
            }
        ]
    })
}

impl JsonSchema for ImageUrl {
    fn schema_name() -> Cow<'static, str> {
        "ImageUrl".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        url_schema("An image")
    }
}

impl JsonSchema for MediaUrl {
    fn schema_name() -> Cow<'static, str> {
        "MediaUrl".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        url_schema("A video or audio clip")
    }
}

impl JsonSchema for EmbeddingInput {
    fn schema_name() -> Cow<'static, str> {
        "EmbeddingInput".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let token = json_schema!({"type": "integer", "minimum": 0, "maximum": u32::MAX});
        let tokens = json_schema!({"type": "array", "items": token, "minItems": 1});
        json_schema!({
            "description": "A text, texts, token ids, or lists of token ids; no input may be empty.",
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "maxItems": MAX_INPUTS},
                tokens.clone(),
                {"type": "array", "items": tokens, "minItems": 1, "maxItems": MAX_INPUTS}
            ]
        })
    }
}

impl JsonSchema for Prompt {
    fn schema_name() -> Cow<'static, str> {
        "Prompt".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let token = json_schema!({"type": "integer", "minimum": 0, "maximum": u32::MAX});
        let tokens = json_schema!({"type": "array", "items": token, "minItems": 1});
        json_schema!({
            "description": "A text, texts, token ids, or lists of token ids. A text may be empty only with a `suffix`.",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_PROMPTS},
                tokens.clone(),
                {"type": "array", "items": tokens, "minItems": 1, "maxItems": MAX_PROMPTS}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let c = components();
        for name in [
            "ChatCompletionRequest",
            "EmbeddingRequest",
            "TrellisRequest",
            "ChatCompletionResponse",
            "ErrorBody",
            "MessageContent",
        ] {
            assert!(c.contains_key(name), "{name} missing");
        }
        let mut all = Vec::new();
        refs(&Value::Object(c.clone()), &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected ref {r}"));
            assert!(c.contains_key(name), "dangling {r}");
        }
    }

    #[test]
    fn shared_types_have_one_schema() {
        let req = request_definitions();
        let mut shared = 0;
        for (name, schema) in response_definitions() {
            if let Some(r) = req.get(&name) {
                assert_eq!(
                    *r, schema,
                    "`{name}` differs between requests and responses"
                );
                shared += 1;
            }
        }
        assert!(shared >= 2, "Role and ToolCall are shared");
    }

    #[test]
    fn constraints_follow_validation() {
        let c = components();
        let req = &c["ChatCompletionRequest"]["properties"];
        assert_eq!(req["temperature"]["maximum"], 2);
        assert_eq!(req["messages"]["minItems"], 1);
        assert_eq!(req["max_tokens"]["minimum"], 1);
        assert_eq!(req["max_tokens"]["maximum"], u32::MAX);
        assert_eq!(
            c["ChatCompletionRequest"]["additionalProperties"],
            Value::Bool(true),
            "unknown fields are kept, so allowed"
        );
        let required = c["ChatCompletionRequest"]["required"].as_array().unwrap();
        assert_eq!(required.len(), 2, "{required:?}");
        let tr = &c["TrellisRequest"]["properties"];
        assert_eq!(tr["prompt"]["maxLength"], 77);
        assert_eq!(tr["ss_sampling_steps"]["minimum"], 10);
        // Responses are described as serialised: `finish_reason` is always sent.
        let choice = &c["ChatChoice"];
        assert!(
            choice["required"]
                .as_array()
                .unwrap()
                .contains(&Value::from("finish_reason"))
        );
        let err = &c["ErrorBody"]["required"];
        for f in ["type", "status", "title"] {
            assert!(err.as_array().unwrap().contains(&Value::from(f)), "{f}");
        }
    }
}
