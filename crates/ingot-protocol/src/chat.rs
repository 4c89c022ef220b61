//! `POST /v1/chat/completions` requests (wire-spec §2.1–2.2).
//!
//! Fields follow openai-python's `completion_create_params` plus NIM/vLLM extras, accepted
//! both at the top level and under the NIM 1.x `nvext` object (top level wins). Unknown
//! fields are kept in `extra`, as vLLM ignores them rather than failing.

mod content;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use content::{ContentPart, ImageUrl, MediaUrl, MessageContent};
pub use validate::FieldError;

use crate::Extra;

/// A chat completion request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ChatCompletionRequest {
    /// Model id; unknown ids answer 404.
    #[cfg_attr(feature = "openapi", schemars(regex(pattern = r"\S")))]
    pub model: String,
    /// The conversation, at least one message.
    #[cfg_attr(feature = "openapi", schemars(length(min = 1)))]
    pub messages: Vec<ChatMessage>,
    /// Legacy output cap; LangChain always sends 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 1)))]
    pub max_tokens: Option<u32>,
    /// Output cap preferred by openai-python; wins over `max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 1)))]
    pub max_completion_tokens: Option<u32>,
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
    /// Number of choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 128)))]
    pub n: Option<u32>,
    /// Stop sequences; the stop text is not part of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Same seed, same output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Server-sent events instead of one JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Streaming options; accepted without `stream` too (LangChain sends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
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
    /// Return log-probabilities of the output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// Alternatives per token, 0–20; needs `logprobs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 0, max = 20)))]
    pub top_logprobs: Option<u32>,
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
    /// Output format constraint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Which tool, if any, must be called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether several tool calls may be returned at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
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
    /// vLLM's structured-output object (`json`, `choice`, `regex`, `grammar`, `json_object`),
    /// the successor of the `guided_*` fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_outputs: Option<StructuredOutputs>,
    /// Extra variables for the chat template, e.g. `{"enable_thinking":true}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template_kwargs: Option<Extra>,
    /// NIM 1.x extension object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvext: Option<NvExt>,
    /// Fields not modelled here (`metadata`, `store`, `reasoning_effort`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// NIM 1.x `nvext`: sampling and guided-decoding extras.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct NvExt {
    /// Top-k.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i32>,
    /// Repetition penalty.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::num::opt_f32"
    )]
    #[cfg_attr(
        feature = "openapi",
        schemars(range(max = 2), extend("exclusiveMinimum" = 0))
    )]
    pub repetition_penalty: Option<f32>,
    /// Ignore end-of-sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_eos: Option<bool>,
    /// Min-p.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::num::opt_f32"
    )]
    #[cfg_attr(feature = "openapi", schemars(range(min = 0, max = 1)))]
    pub min_p: Option<f32>,
    /// Guided JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided_json: Option<Value>,
    /// Guided choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided_choice: Option<Vec<String>>,
    /// Guided regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided_regex: Option<String>,
    /// Guided grammar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided_grammar: Option<String>,
    /// Guided decoding backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided_decoding_backend: Option<String>,
    /// Other `nvext` fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// vLLM's `structured_outputs`: one of its fields constrains the output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StructuredOutputs {
    /// A JSON schema (an object, or a JSON string holding one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// One of these strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<Vec<String>>,
    /// A regular expression the whole output matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// A grammar (Lark syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grammar: Option<String>,
    /// Any JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_object: Option<bool>,
    /// Other fields (`structural_tag`, `disable_fallback`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `stop`: one string or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Stop {
    /// A single stop sequence.
    One(String),
    /// Several stop sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The stop sequences as a list, empty strings dropped.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
    }
}

/// `stream_options`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StreamOptions {
    /// Send one usage chunk before `[DONE]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// OpenAI obfuscation padding; accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_obfuscation: Option<bool>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Message author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System prompt.
    System,
    /// OpenAI's newer name for system.
    Developer,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
    /// Legacy function result (LangChain `FunctionMessage`).
    Function,
}

impl Role {
    /// The role as the chat template expects it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Function => "function",
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ChatMessage {
    /// Author.
    pub role: Role,
    /// Text, parts, or null (assistant with tool calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// Optional author name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls made by the assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Fields not modelled (`reasoning_content`, legacy `function_call`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatMessage {
    /// A message with plain text content.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(MessageContent::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Extra::new(),
        }
    }
}

/// A tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Tool {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: FunctionDef,
}

/// A callable function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct FunctionDef {
    /// Function name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON schema of its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// A tool call made by the assistant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ToolCall {
    /// Call id, echoed by the tool message.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Function and arguments.
    pub function: FunctionCall,
}

/// Function name and its arguments as a JSON string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct FunctionCall {
    /// Function name.
    pub name: String,
    /// Arguments, a JSON document as a string.
    pub arguments: String,
}

/// `tool_choice`: a mode or a named function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum ToolChoice {
    /// `none`, `auto` or `required`.
    Mode(String),
    /// `{"type":"function","function":{"name":…}}`.
    Named(NamedToolChoice),
}

/// A forced function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct NamedToolChoice {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function to call.
    pub function: NamedFunction,
}

/// A function name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct NamedFunction {
    /// Function name.
    pub name: String,
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaFormat,
    },
}

/// The schema of a `json_schema` response format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct JsonSchemaFormat {
    /// Schema name (required by OpenAI; LangChain sends `response`).
    pub name: String,
    /// The JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Strict adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ChatCompletionRequest {
    /// `max_completion_tokens` if present, else `max_tokens`.
    pub fn effective_max_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

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

    /// Top-k, top level first, then `nvext`; `None` when off.
    pub fn effective_top_k(&self) -> Option<u32> {
        let k = self
            .top_k
            .or_else(|| self.nvext.as_ref().and_then(|n| n.top_k))?;
        u32::try_from(k).ok().filter(|k| *k > 0)
    }

    /// Min-p, top level first, then `nvext`.
    pub fn effective_min_p(&self) -> Option<f32> {
        self.min_p
            .or_else(|| self.nvext.as_ref().and_then(|n| n.min_p))
    }

    /// Repetition penalty, top level first, then `nvext`.
    pub fn effective_repetition_penalty(&self) -> Option<f32> {
        self.repetition_penalty
            .or_else(|| self.nvext.as_ref().and_then(|n| n.repetition_penalty))
    }

    /// Ignore-EOS, top level first, then `nvext`.
    pub fn effective_ignore_eos(&self) -> bool {
        self.ignore_eos
            .or_else(|| self.nvext.as_ref().and_then(|n| n.ignore_eos))
            .unwrap_or(false)
    }

    /// Guided JSON schema, top level first, then `nvext`.
    pub fn effective_guided_json(&self) -> Option<&Value> {
        self.guided_json
            .as_ref()
            .or_else(|| self.nvext.as_ref().and_then(|n| n.guided_json.as_ref()))
    }

    /// Guided choice, top level first, then `nvext`.
    pub fn effective_guided_choice(&self) -> Option<&[String]> {
        self.guided_choice
            .as_deref()
            .or_else(|| self.nvext.as_ref().and_then(|n| n.guided_choice.as_deref()))
    }

    /// Guided regex, top level first, then `nvext`.
    pub fn effective_guided_regex(&self) -> Option<&str> {
        self.guided_regex
            .as_deref()
            .or_else(|| self.nvext.as_ref().and_then(|n| n.guided_regex.as_deref()))
    }

    /// Guided grammar, top level first, then `nvext`.
    pub fn effective_guided_grammar(&self) -> Option<&str> {
        self.guided_grammar.as_deref().or_else(|| {
            self.nvext
                .as_ref()
                .and_then(|n| n.guided_grammar.as_deref())
        })
    }

    /// Guided decoding backend, top level first, then `nvext`.
    pub fn effective_guided_decoding_backend(&self) -> Option<&str> {
        self.guided_decoding_backend.as_deref().or_else(|| {
            self.nvext
                .as_ref()
                .and_then(|n| n.guided_decoding_backend.as_deref())
        })
    }

    /// The stop sequences, empty when none.
    pub fn stop_sequences(&self) -> Vec<String> {
        self.stop.as_ref().map(Stop::to_vec).unwrap_or_default()
    }
}
