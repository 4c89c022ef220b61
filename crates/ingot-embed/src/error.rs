//! The crate's error type.

/// Why an embedding request or a model load failed.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// An input is longer than the model accepts and `truncate` was `None`. The message follows
    /// NIM's wording ("Input length 548 exceeds maximum allowed token size 512").
    #[error("Input length {tokens} exceeds maximum allowed token size {max} (input {index})")]
    TooLong {
        /// Position of the input in the request.
        index: usize,
        /// Its token count, special tokens included.
        tokens: usize,
        /// The model's limit, special tokens included.
        max: usize,
    },
    /// A text input has more characters than the model's token limit can hold, found before
    /// tokenizing it (`truncate` was `None`): its cost is bounded by the limit, not the input.
    #[error(
        "Input length exceeds maximum allowed token size {max} (input {index}: more than {chars} non-space characters)"
    )]
    TooLongText {
        /// Position of the input in the request.
        index: usize,
        /// The most non-space characters `max` tokens can hold.
        chars: usize,
        /// The model's limit, special tokens included.
        max: usize,
    },
    /// An input is an empty string or an empty token list.
    #[error("input {index} is empty; inputs cannot be an empty string")]
    EmptyInput {
        /// Position of the input in the request.
        index: usize,
    },
    /// A request carried no inputs at all.
    #[error("no inputs given")]
    NoInputs,
    /// A request carried more inputs than one call accepts.
    #[error("too many inputs: {count} given, at most {max} per request")]
    TooManyInputs {
        /// Inputs in the request.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A token-id input names an id outside the model's vocabulary.
    #[error("input {index}: token id {token} is outside the vocabulary (size {vocab})")]
    InvalidToken {
        /// Position of the input in the request.
        index: usize,
        /// The offending id.
        token: u32,
        /// The vocabulary size.
        vocab: usize,
    },
    /// The worker's queue is full: the caller should answer 429 and retry later.
    #[error("embedding queue is full")]
    QueueFull,
    /// The model files could not be read or are not what the loader expects.
    #[error("cannot load model: {0}")]
    Load(String),
    /// A bug or an unexpected state inside the engine.
    #[error("internal embedding error: {0}")]
    Internal(String),
}

impl EmbedError {
    pub(crate) fn load(what: impl std::fmt::Display) -> Self {
        Self::Load(what.to_string())
    }
}
