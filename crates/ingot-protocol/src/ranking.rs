//! `POST /v1/ranking`: NVIDIA's retriever reranking API (NeMo Retriever reranking NIMs;
//! LangChain's `NVIDIARerank` calls it). A query and passages in, the passages' indices
//! ordered by relevance out.

use serde::{Deserialize, Serialize};

use crate::Extra;
use crate::chat::FieldError;

/// Most passages in one request (NIM's limit).
pub const MAX_PASSAGES: usize = 512;

/// A ranking request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RankingRequest {
    /// Model id.
    #[cfg_attr(feature = "openapi", schemars(regex(pattern = r"\S")))]
    pub model: String,
    /// What the passages are ranked for.
    pub query: RankingText,
    /// The passages, at least one.
    #[cfg_attr(feature = "openapi", schemars(length(min = 1)))]
    pub passages: Vec<RankingText>,
    /// What to do with a query–passage pair longer than the model's limit: `NONE` refuses
    /// it (400, the default), `END` cuts the passage's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<RankTruncate>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A query or passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RankingText {
    /// The text.
    pub text: String,
    /// Other fields (`image` for visual rerankers).
    #[serde(flatten)]
    pub extra: Extra,
}

impl RankingText {
    /// A text without other fields.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            extra: Extra::new(),
        }
    }
}

/// `truncate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum RankTruncate {
    /// Refuse a pair that is too long.
    #[default]
    None,
    /// Cut the end of the pair.
    End,
}

impl RankingRequest {
    /// Checks what the types cannot express.
    ///
    /// # Errors
    /// The first invalid field, with its path.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.model.trim().is_empty() {
            return Err(FieldError::new("model", "Field required (empty string)"));
        }
        if self.query.text.trim().is_empty() {
            return Err(FieldError::new("query.text", "the query cannot be empty"));
        }
        if self.passages.is_empty() {
            return Err(FieldError::new(
                "passages",
                "List should have at least 1 item",
            ));
        }
        if self.passages.len() > MAX_PASSAGES {
            return Err(FieldError::new(
                "passages",
                format!(
                    "List should have at most {MAX_PASSAGES} items, not {}",
                    self.passages.len()
                ),
            ));
        }
        if let Some(i) = self.passages.iter().position(|p| p.text.is_empty()) {
            return Err(FieldError::new(
                &format!("passages.{i}.text"),
                "a passage cannot be empty",
            ));
        }
        Ok(())
    }
}

/// The passages' indices ordered by relevance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RankingResponse {
    /// One per passage, most relevant first.
    pub rankings: Vec<Ranking>,
    /// Tokens read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<RankingUsage>,
}

/// One passage's place.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Ranking {
    /// The passage's position in the request.
    pub index: u32,
    /// Its relevance score (higher is more relevant; comparable within one request).
    pub logit: f32,
}

/// Tokens a ranking read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RankingUsage {
    /// Tokens of the query and passages.
    pub prompt_tokens: u32,
    /// The same.
    pub total_tokens: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nim_shape_parses_and_validates() {
        let r: RankingRequest = serde_json::from_str(
            r#"{"model":"nvidia/llama-3.2-nv-rerankqa-1b-v2","query":{"text":"q"},"passages":[{"text":"a"},{"text":"b"}],"truncate":"END"}"#,
        )
        .unwrap();
        r.validate().unwrap();
        assert_eq!(r.truncate, Some(RankTruncate::End));
        let bad = |json: &str, field: &str| {
            let r: RankingRequest = serde_json::from_str(json).unwrap();
            assert_eq!(r.validate().unwrap_err().param().as_deref(), Some(field));
        };
        bad(
            r#"{"model":"m","query":{"text":" "},"passages":[{"text":"a"}]}"#,
            "query.text",
        );
        bad(
            r#"{"model":"m","query":{"text":"q"},"passages":[]}"#,
            "passages",
        );
        bad(
            r#"{"model":"m","query":{"text":"q"},"passages":[{"text":"a"},{"text":""}]}"#,
            "passages.1.text",
        );
        assert!(
            serde_json::from_str::<RankingRequest>(
                r#"{"model":"m","query":{"text":"q"},"passages":[],"truncate":"START"}"#
            )
            .is_err()
        );
    }
}
