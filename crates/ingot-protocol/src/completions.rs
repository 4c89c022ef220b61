//! `POST /v1/completions`: text completion, the legacy OpenAI endpoint that code editors use
//! for fill-in-the-middle (`prompt` + `suffix`).
//!
//! Generation fields (sampling, `stop`, `n`, `seed`, guided decoding, `nvext`) mean what they
//! mean for chat; [`CompletionRequest::generation`] gives them as a chat request without
//! messages, so one piece of code reads them for both endpoints.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;
use crate::chat::{
    ChatCompletionRequest, FieldError, NvExt, ResponseFormat, Stop, StreamOptions,
    StructuredOutputs,
};
use crate::chat_response::{FinishReason, Usage};

/// Most prompts in one request.
pub const MAX_PROMPTS: usize = 128;
/// Most alternatives per token for `logprobs`.
pub const MAX_LOGPROBS: u32 = 20;
/// `max_tokens` when the request gives none (OpenAI's and vLLM's default).
pub const DEFAULT_MAX_TOKENS: u32 = 16;

/// A text completion request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CompletionRequest {
    /// Model id; unknown ids answer 404.
    #[cfg_attr(feature = "openapi", schemars(regex(pattern = r"\S")))]
    pub model: String,
    /// The prompt(s): a string, strings, token ids, or lists of token ids. Several prompts
    /// give `n` choices each, numbered prompt by prompt.
    pub prompt: Prompt,
    /// Text after the gap: the model fills in the middle between `prompt` and `suffix` with
    /// its fill-in-the-middle tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// Output cap per choice; 16 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 1)))]
    pub max_tokens: Option<u32>,
    /// Sampling temperature in [0, 2]; 0 is greedy.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::num::opt_f32"
    )]
    #[cfg_attr(feature = "openapi", schemars(range(min = 0, max = 2)))]
    pub temperature: Option<f32>,
    /// Nucleus sampling mass in (0, 1].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::num::opt_f32"
    )]
    #[cfg_attr(feature = "openapi", schemars(range(max = 1), extend("exclusiveMinimum" = 0)))]
    pub top_p: Option<f32>,
    /// Choices per prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 128)))]
    pub n: Option<u32>,
    /// Candidates per prompt to pick the `n` best from; only `best_of == n` is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_of: Option<u32>,
    /// Server-sent events instead of one JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Streaming options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Log probabilities of each generated token and this many alternatives (0–20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 0, max = 20)))]
    pub logprobs: Option<u32>,
    /// Put the prompt before the completion in each choice's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<bool>,
    /// Stop sequences; the stop text is not part of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// In [-2, 2].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::num::opt_f32"
    )]
    #[cfg_attr(feature = "openapi", schemars(range(min = -2, max = 2)))]
    pub presence_penalty: Option<f32>,
    /// In [-2, 2].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::num::opt_f32"
    )]
    #[cfg_attr(feature = "openapi", schemars(range(min = -2, max = 2)))]
    pub frequency_penalty: Option<f32>,
    /// Token id (as a string) → bias added to its logit.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::num::opt_f32_map"
    )]
    #[cfg_attr(
        feature = "openapi",
        schemars(schema_with = "crate::openapi::logit_bias_schema")
    )]
    pub logit_bias: Option<BTreeMap<String, f32>>,
    /// Same seed, same output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// End-user id; ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// NIM/vLLM: top-k sampling, -1 = off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i32>,
    /// NIM/vLLM: min-p sampling in [0, 1].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::num::opt_f32"
    )]
    #[cfg_attr(feature = "openapi", schemars(range(min = 0, max = 1)))]
    pub min_p: Option<f32>,
    /// NIM/vLLM: multiplicative repetition penalty, > 0.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::num::opt_f32"
    )]
    #[cfg_attr(feature = "openapi", schemars(range(max = 2), extend("exclusiveMinimum" = 0)))]
    pub repetition_penalty: Option<f32>,
    /// NIM/vLLM: keep generating past end-of-sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_eos: Option<bool>,
    /// NIM/vLLM: minimum number of generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tokens: Option<u32>,
    /// vLLM: output format constraint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// NIM/vLLM guided decoding: JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided_json: Option<Value>,
    /// NIM/vLLM guided decoding: one of these strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided_choice: Option<Vec<String>>,
    /// NIM/vLLM guided decoding: a regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided_regex: Option<String>,
    /// NIM/vLLM guided decoding: a grammar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided_grammar: Option<String>,
    /// NIM/vLLM guided decoding backend name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided_decoding_backend: Option<String>,
    /// vLLM's structured-output object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_outputs: Option<StructuredOutputs>,
    /// NIM 1.x extension object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvext: Option<NvExt>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `prompt`: a string, strings, token ids, or lists of token ids.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// One text.
    Text(String),
    /// Several texts.
    Texts(Vec<String>),
    /// One pre-tokenised prompt.
    Tokens(Vec<u32>),
    /// Several pre-tokenised prompts.
    TokenBatches(Vec<Vec<u32>>),
}

/// One prompt of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnePrompt<'a> {
    /// Text.
    Text(&'a str),
    /// Token ids.
    Tokens(&'a [u32]),
}

impl Default for Prompt {
    fn default() -> Self {
        Prompt::Text(String::new())
    }
}

impl Prompt {
    /// The prompts, in order.
    pub fn each(&self) -> Vec<OnePrompt<'_>> {
        match self {
            Prompt::Text(t) => vec![OnePrompt::Text(t)],
            Prompt::Texts(v) => v.iter().map(|t| OnePrompt::Text(t)).collect(),
            Prompt::Tokens(t) => vec![OnePrompt::Tokens(t)],
            Prompt::TokenBatches(v) => v.iter().map(|t| OnePrompt::Tokens(t)).collect(),
        }
    }
}

impl Serialize for Prompt {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Prompt::Text(t) => t.serialize(s),
            Prompt::Texts(t) => t.serialize(s),
            Prompt::Tokens(t) => t.serialize(s),
            Prompt::TokenBatches(t) => t.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Prompt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SHAPE: &str = "prompt must be a string, an array of strings, an array of token ids, or an array of arrays of token ids";
        let bad = || de::Error::custom(SHAPE);
        let ids = |items: &[Value]| -> Result<Vec<u32>, D::Error> {
            items
                .iter()
                .map(|i| {
                    i.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| de::Error::custom("token ids must be integers ≥ 0"))
                })
                .collect()
        };
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Prompt::Text(s)),
            Value::Array(items) => match items.first() {
                None => Ok(Prompt::Texts(Vec::new())),
                Some(Value::String(_)) => items
                    .into_iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s),
                        _ => Err(bad()),
                    })
                    .collect::<Result<_, _>>()
                    .map(Prompt::Texts),
                Some(Value::Number(_)) => ids(&items).map(Prompt::Tokens),
                Some(Value::Array(_)) => items
                    .iter()
                    .map(|i| match i {
                        Value::Array(v) => ids(v),
                        _ => Err(bad()),
                    })
                    .collect::<Result<_, _>>()
                    .map(Prompt::TokenBatches),
                Some(_) => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

impl CompletionRequest {
    /// Whether the response is streamed.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether a stream ends with a usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The generation fields as a chat request without messages: sampling, limits
    /// (`max_tokens` defaulted to 16), `stop`, `n`, `seed`, guided decoding, `nvext`.
    /// `logprobs: k` becomes `logprobs: true, top_logprobs: k`.
    pub fn generation(&self) -> ChatCompletionRequest {
        ChatCompletionRequest {
            model: self.model.clone(),
            messages: Vec::new(),
            max_tokens: Some(self.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
            temperature: self.temperature,
            top_p: self.top_p,
            n: self.n,
            stop: self.stop.clone(),
            seed: self.seed,
            stream: self.stream,
            stream_options: self.stream_options.clone(),
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            logprobs: self.logprobs.map(|_| true),
            top_logprobs: self.logprobs,
            logit_bias: self.logit_bias.clone(),
            response_format: self.response_format.clone(),
            user: self.user.clone(),
            top_k: self.top_k,
            min_p: self.min_p,
            repetition_penalty: self.repetition_penalty,
            ignore_eos: self.ignore_eos,
            min_tokens: self.min_tokens,
            guided_json: self.guided_json.clone(),
            guided_choice: self.guided_choice.clone(),
            guided_regex: self.guided_regex.clone(),
            guided_grammar: self.guided_grammar.clone(),
            guided_decoding_backend: self.guided_decoding_backend.clone(),
            structured_outputs: self.structured_outputs.clone(),
            nvext: self.nvext.clone(),
            ..ChatCompletionRequest::default()
        }
    }

    /// Checks what the types cannot express.
    ///
    /// # Errors
    /// The first invalid field, with its path.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.model.trim().is_empty() {
            return Err(FieldError::new("model", "Field required (empty string)"));
        }
        let prompts = self.prompt.each();
        if prompts.is_empty() {
            return Err(FieldError::new(
                "prompt",
                "List should have at least 1 item",
            ));
        }
        if prompts.len() > MAX_PROMPTS {
            return Err(FieldError::new(
                "prompt",
                format!(
                    "List should have at most {MAX_PROMPTS} items, not {}",
                    prompts.len()
                ),
            ));
        }
        let several = prompts.len() > 1;
        for (i, p) in prompts.iter().enumerate() {
            let loc = if several {
                format!("prompt.{i}")
            } else {
                "prompt".to_owned()
            };
            match p {
                OnePrompt::Text("") if self.suffix.is_none() => {
                    return Err(FieldError::new(&loc, "prompt cannot be an empty string"));
                }
                OnePrompt::Tokens([]) => {
                    return Err(FieldError::new(&loc, "token list cannot be empty"));
                }
                _ => {}
            }
        }
        if self.logprobs.is_some_and(|k| k > MAX_LOGPROBS) {
            return Err(FieldError::new(
                "logprobs",
                format!("Input should be less than or equal to {MAX_LOGPROBS}"),
            ));
        }
        if let Some(best) = self.best_of
            && best != self.n.unwrap_or(1)
        {
            return Err(FieldError::new(
                "best_of",
                "only best_of equal to n is served (each candidate is returned)",
            ));
        }
        self.generation().validate_generation()
    }
}

/// A text completion, or one chunk of a streamed one (the same shape; a chunk's choices
/// carry the new text, the last chunk only the usage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CompletionResponse {
    /// `cmpl-…`.
    pub id: String,
    /// Always `text_completion`.
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    /// The id asked for.
    pub model: String,
    /// One per prompt and `n`: index `prompt × n + choice`.
    pub choices: Vec<CompletionChoice>,
    /// Token counts (in a stream: the last chunk, when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

/// One choice of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CompletionChoice {
    /// Position in `choices`.
    pub index: u32,
    /// The text (with the prompt first when `echo`).
    pub text: String,
    /// Per-token log probabilities when asked for.
    pub logprobs: Option<CompletionLogprobs>,
    /// Why it ended; `null` in stream chunks before the end.
    pub finish_reason: Option<FinishReason>,
}

/// The legacy log-probability shape: parallel lists, one entry per token.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CompletionLogprobs {
    /// Character offset of each token in the choice's text.
    pub text_offset: Vec<u32>,
    /// Log probability of each token.
    pub token_logprobs: Vec<Option<f32>>,
    /// Each token's text.
    pub tokens: Vec<String>,
    /// The most likely tokens at each step, token text → log probability.
    pub top_logprobs: Vec<Option<BTreeMap<String, f32>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> CompletionRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn prompts_take_every_openai_shape() {
        assert_eq!(req(r#"{"model":"m","prompt":"a"}"#).prompt.each().len(), 1);
        assert_eq!(
            req(r#"{"model":"m","prompt":["a","b"]}"#).prompt.each(),
            vec![OnePrompt::Text("a"), OnePrompt::Text("b")]
        );
        assert_eq!(
            req(r#"{"model":"m","prompt":[1,2]}"#).prompt,
            Prompt::Tokens(vec![1, 2])
        );
        assert_eq!(
            req(r#"{"model":"m","prompt":[[1],[2,3]]}"#)
                .prompt
                .each()
                .len(),
            2
        );
        assert!(
            serde_json::from_str::<CompletionRequest>(r#"{"model":"m","prompt":[-1]}"#).is_err()
        );
        assert!(serde_json::from_str::<CompletionRequest>(r#"{"model":"m","prompt":{}}"#).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |json: &str, field: &str| {
            let e = req(json).validate().unwrap_err();
            assert_eq!(e.param().as_deref(), Some(field), "{json}: {e}");
        };
        bad(r#"{"model":"m","prompt":[]}"#, "prompt");
        bad(r#"{"model":"m","prompt":""}"#, "prompt");
        bad(r#"{"model":"m","prompt":["a",""]}"#, "prompt.1");
        bad(r#"{"model":"m","prompt":"a","logprobs":21}"#, "logprobs");
        bad(r#"{"model":"m","prompt":"a","best_of":3}"#, "best_of");
        bad(
            r#"{"model":"m","prompt":"a","temperature":5}"#,
            "temperature",
        );
        req(r#"{"model":"m","prompt":"","suffix":"x"}"#)
            .validate()
            .unwrap();
        let g = req(r#"{"model":"m","prompt":"a","logprobs":2,"n":2,"best_of":2}"#);
        g.validate().unwrap();
        let chat = g.generation();
        assert_eq!(chat.max_tokens, Some(DEFAULT_MAX_TOKENS));
        assert_eq!((chat.logprobs, chat.top_logprobs), (Some(true), Some(2)));
    }
}
