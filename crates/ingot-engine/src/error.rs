//! The engine's error type.

/// Everything that can go wrong between a caller and the chat engine.
///
/// Errors returned by [`crate::ChatEngine::submit`] are detected before any token is generated,
/// so a server can map them onto a plain 4xx/5xx response. Failures after generation started
/// arrive as [`crate::ChatEvent::Error`] instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The rendered prompt does not fit in one sequence's context. Never truncated.
    #[error(
        "prompt is too long: it has {prompt_tokens} tokens, but the context of one sequence holds \
         {max_context} tokens and at least one must remain for the completion"
    )]
    PromptTooLong {
        /// Tokens in the rendered prompt.
        prompt_tokens: u32,
        /// Context size of one sequence (`ctx_per_slot`).
        max_context: u32,
    },
    /// The prompt's text is longer than one sequence's context can hold, found before it was
    /// rendered or tokenized (so refusing it costs what the limit allows, not what was sent).
    #[error(
        "prompt is too long: its {bytes} bytes of text are more than the {max_context} tokens of \
         one sequence's context can hold"
    )]
    PromptTooLongText {
        /// Bytes of text in the prompt (message contents, or the raw prompt).
        bytes: usize,
        /// Context size of one sequence (`ctx_per_slot`).
        max_context: u32,
    },
    /// The bounded wait queue is full; the caller should retry later.
    #[error("the engine's request queue is full; retry in {retry_after_secs} s")]
    QueueFull {
        /// Suggested wait before retrying, in whole seconds (at least 1).
        retry_after_secs: u64,
    },
    /// The model's chat template failed to render these messages.
    #[error("chat template error: {0}")]
    Template(String),
    /// The model or its context could not be loaded.
    #[error("failed to load model: {0}")]
    Load(String),
    /// The job is invalid (bad parameter values, empty messages, too many choices…).
    #[error("invalid request: {message}")]
    Invalid {
        /// The request field at fault (`n`, `top_p`, `messages`, …).
        param: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The output constraint (JSON schema, regex, grammar, choices) does not compile.
    #[error("{message}")]
    Grammar {
        /// The request field that carried it (`response_format`, `nvext.guided_json`, …).
        param: String,
        /// What is wrong, and where.
        message: String,
    },
    /// An internal failure (scheduler thread gone, llama.cpp error).
    #[error("internal engine error: {0}")]
    Internal(String),
}

impl EngineError {
    /// [`EngineError::Invalid`] for `param`.
    pub fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            param,
            message: message.into(),
        }
    }
}
