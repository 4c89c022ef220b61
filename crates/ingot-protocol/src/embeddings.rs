//! `POST /v1/embeddings` (wire-spec §3).

use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;
use crate::chat::FieldError;

/// Most inputs accepted in one request (OpenAI's limit).
pub const MAX_INPUTS: usize = 2048;

/// An embeddings request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EmbeddingRequest {
    /// Model id; NIM 1.x also accepts a `-query`/`-passage` suffix.
    #[cfg_attr(feature = "openapi", schemars(regex(pattern = r"\S")))]
    pub model: String,
    /// Text(s) or token ids.
    pub input: EmbeddingInput,
    /// `float` or `base64`; openai-python sends `base64` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<EncodingFormat>,
    /// Output size, for models that support it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 1)))]
    pub dimensions: Option<u32>,
    /// NVIDIA: `query` or `passage`; required by asymmetric models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_type: Option<InputType>,
    /// NVIDIA: what to do with inputs longer than the model's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<Truncate>,
    /// End-user id; ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Fields not modelled (`modality`, `embedding_type`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `input`: a string, strings, token ids, or lists of token ids.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingInput {
    /// One text.
    Text(String),
    /// Several texts.
    Texts(Vec<String>),
    /// One pre-tokenised input.
    Tokens(Vec<u32>),
    /// Several pre-tokenised inputs.
    TokenBatches(Vec<Vec<u32>>),
}

impl EmbeddingInput {
    /// Number of inputs.
    pub fn len(&self) -> usize {
        match self {
            EmbeddingInput::Text(_) | EmbeddingInput::Tokens(_) => 1,
            EmbeddingInput::Texts(v) => v.len(),
            EmbeddingInput::TokenBatches(v) => v.len(),
        }
    }

    /// Whether there is no input at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Serialize for EmbeddingInput {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EmbeddingInput::Text(t) => t.serialize(s),
            EmbeddingInput::Texts(t) => t.serialize(s),
            EmbeddingInput::Tokens(t) => t.serialize(s),
            EmbeddingInput::TokenBatches(t) => t.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for EmbeddingInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SHAPE: &str = "input must be a string, an array of strings, an array of token ids, or an array of arrays of token ids";
        let v = Value::deserialize(d)?;
        let bad = || de::Error::custom(SHAPE);
        match v {
            Value::String(s) => Ok(EmbeddingInput::Text(s)),
            Value::Array(items) => {
                if items.is_empty() {
                    return Ok(EmbeddingInput::Texts(Vec::new()));
                }
                match &items[0] {
                    Value::String(_) => items
                        .into_iter()
                        .map(|i| match i {
                            Value::String(s) => Ok(s),
                            _ => Err(bad()),
                        })
                        .collect::<Result<_, _>>()
                        .map(EmbeddingInput::Texts),
                    Value::Number(_) => token_ids(&items).map(EmbeddingInput::Tokens),
                    Value::Array(_) => items
                        .iter()
                        .map(|i| match i {
                            Value::Array(ids) => token_ids(ids),
                            _ => Err(bad()),
                        })
                        .collect::<Result<_, _>>()
                        .map(EmbeddingInput::TokenBatches),
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }
}

fn token_ids<E: de::Error>(items: &[Value]) -> Result<Vec<u32>, E> {
    items
        .iter()
        .map(|i| {
            i.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| E::custom("token ids must be non-negative integers"))
        })
        .collect()
}

/// Encoding of the returned vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    /// JSON numbers.
    Float,
    /// Base64 of little-endian f32.
    Base64,
}

/// NVIDIA's `input_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    /// A search query.
    Query,
    /// A document to be searched.
    Passage,
}

impl fmt::Display for InputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputType::Query => "query",
            InputType::Passage => "passage",
        })
    }
}

/// NVIDIA's `truncate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Truncate {
    /// Too-long input is an error (the default).
    #[default]
    None,
    /// Drop tokens from the start.
    Start,
    /// Drop tokens from the end.
    End,
}

impl EmbeddingRequest {
    /// Checks the input count and emptiness.
    ///
    /// # Errors
    /// The first invalid field, with its path.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.model.trim().is_empty() {
            return Err(FieldError::new("model", "Field required (empty string)"));
        }
        let n = self.input.len();
        if n == 0 {
            return Err(FieldError::new("input", "List should have at least 1 item"));
        }
        if n > MAX_INPUTS {
            return Err(FieldError::new(
                "input",
                format!("List should have at most {MAX_INPUTS} items, not {n}"),
            ));
        }
        match &self.input {
            EmbeddingInput::Text(s) if s.is_empty() => {
                return Err(FieldError::new("input", "input cannot be an empty string"));
            }
            EmbeddingInput::Texts(v) => {
                if let Some(i) = v.iter().position(String::is_empty) {
                    return Err(FieldError::new(
                        &format!("input.{i}"),
                        "input cannot be an empty string",
                    ));
                }
            }
            EmbeddingInput::Tokens(t) if t.is_empty() => {
                return Err(FieldError::new("input", "token list cannot be empty"));
            }
            EmbeddingInput::TokenBatches(v) => {
                if let Some(i) = v.iter().position(Vec::is_empty) {
                    return Err(FieldError::new(
                        &format!("input.{i}"),
                        "token list cannot be empty",
                    ));
                }
            }
            _ => {}
        }
        if self.dimensions == Some(0) {
            return Err(FieldError::new(
                "dimensions",
                "Input should be greater than or equal to 1",
            ));
        }
        Ok(())
    }
}

/// The embeddings response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EmbeddingResponse {
    /// Always `list`.
    pub object: String,
    /// One item per input, in input order.
    pub data: Vec<Embedding>,
    /// The requested model id.
    pub model: String,
    /// Token counts.
    pub usage: EmbeddingUsage,
}

/// One vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Embedding {
    /// Always `embedding`.
    pub object: String,
    /// Position of the input (LangChain sorts by it).
    pub index: u32,
    /// The vector.
    pub embedding: EmbeddingVector,
}

/// A vector as floats or as base64 of little-endian f32.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum EmbeddingVector {
    /// JSON numbers.
    Float(Vec<f32>),
    /// Standard base64 (with padding) of little-endian f32.
    Base64(String),
}

impl EmbeddingVector {
    /// Encodes a vector in the requested format.
    pub fn encode(v: &[f32], format: EncodingFormat) -> Self {
        match format {
            EncodingFormat::Float => EmbeddingVector::Float(v.to_vec()),
            EncodingFormat::Base64 => {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    }

    /// The floats, decoding base64 if needed; `None` on malformed base64.
    pub fn to_floats(&self) -> Option<Vec<f32>> {
        match self {
            EmbeddingVector::Float(v) => Some(v.clone()),
            EmbeddingVector::Base64(s) => {
                let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
                if bytes.len() % 4 != 0 {
                    return None;
                }
                Some(
                    bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                )
            }
        }
    }
}

/// Embedding token counts; both fields are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EmbeddingUsage {
    /// Tokens embedded.
    pub prompt_tokens: u32,
    /// Same as `prompt_tokens`.
    pub total_tokens: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shapes() {
        let p = |s: &str| serde_json::from_str::<EmbeddingInput>(s);
        assert_eq!(p(r#""a""#).unwrap(), EmbeddingInput::Text("a".into()));
        assert_eq!(p(r#"["a","b"]"#).unwrap().len(), 2);
        assert_eq!(p("[1,2,3]").unwrap(), EmbeddingInput::Tokens(vec![1, 2, 3]));
        assert_eq!(p("[[1],[2,3]]").unwrap().len(), 2);
        for bad in ["1", r#"["a",1]"#, "[-1]", "[[1],\"a\"]", "{}"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_is_little_endian_f32() {
        let v = [10.0_f32, 5.0];
        let EmbeddingVector::Base64(s) = EmbeddingVector::encode(&v, EncodingFormat::Base64) else {
            panic!()
        };
        assert_eq!(s, "AAAgQQAAoEA=");
        assert_eq!(EmbeddingVector::Base64(s).to_floats().unwrap(), v);
    }

    #[test]
    fn validation() {
        let r = |s: &str| {
            serde_json::from_str::<EmbeddingRequest>(s)
                .unwrap()
                .validate()
        };
        assert!(r(r#"{"model":"m","input":""}"#).is_err());
        assert_eq!(
            r(r#"{"model":"m","input":["a",""]}"#)
                .unwrap_err()
                .param()
                .as_deref(),
            Some("input.1")
        );
        assert!(r(r#"{"model":"m","input":[]}"#).is_err());
        let many = format!(
            r#"{{"model":"m","input":[{}]}}"#,
            vec!["\"x\""; 2049].join(",")
        );
        assert!(r(&many).is_err());
        assert!(r(r#"{"model":"m","input":["a"],"input_type":"query","truncate":"END"}"#).is_ok());
        assert!(
            serde_json::from_str::<EmbeddingRequest>(r#"{"model":"m","input":"a","truncate":"x"}"#)
                .is_err()
        );
    }
}
