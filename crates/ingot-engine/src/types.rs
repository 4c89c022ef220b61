//! Public request, event and configuration types of the chat engine.

use std::path::PathBuf;

/// How to load one chat model and size its scheduler.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatEngineConfig {
    /// Path of the GGUF file (weights, tokenizer and chat template).
    pub model_path: PathBuf,
    /// Context (prompt + completion tokens) of each sequence. Explicit so that memory use is
    /// predictable: the KV cache holds `ctx_per_slot * max_slots` cells.
    pub ctx_per_slot: u32,
    /// Sequences decoded concurrently (continuous batching width). A job with `n` choices
    /// occupies `n` slots.
    pub max_slots: u32,
    /// Jobs that may wait for a free slot before `submit` answers `QueueFull`.
    pub queue_capacity: usize,
    /// CPU threads for llama.cpp; `None` = all available cores.
    pub threads: Option<u32>,
    /// Most tokens per decode step: bounds the prefill chunk, so a long prompt is interleaved
    /// with the decode steps of running sequences instead of stalling them.
    pub batch_tokens: u32,
    /// Jinja chat template overriding the GGUF's `tokenizer.chat_template`.
    pub chat_template: Option<String>,
    /// One KV cache shared by all sequences instead of one per sequence: attention then runs
    /// over the shared cells, and prefix copies only mark cells as shared. Off by default.
    ///
    /// Neither layout makes a request's output independent of what runs beside it: llama.cpp's
    /// CPU kernels round differently for different batch shapes, so a prompt prefilled beside
    /// others (or in other chunks) can flip a near-tie between two tokens. Measured with
    /// `bench/chat/determinism.sh` (docs/benchmarks.md): with a 200-token system prompt, most
    /// seeded texts sent at once differ from their text alone in every layout; only
    /// `max_slots = 1` keeps them identical, at about 3x the wall time.
    pub unified_kv: bool,
    /// Keep a finished sequence's KV cells until its slot is reused, so that a new prompt
    /// sharing a prefix with them (a resent system prompt, the history of a conversation)
    /// prefills only the rest; and let prompts that arrive together share the prefix they
    /// have in common, prefilled once (the `slots` module). The reused cells hold the values
    /// a fresh prefill computes up to float rounding (see [`Self::unified_kv`]). Off: every
    /// prompt is prefilled in full and a slot's cells are cleared when its job ends.
    pub prefix_cache: bool,
    /// A llama.cpp multimodal projector (`mmproj` GGUF) matching the model: with it the
    /// engine takes images ([`ChatJob::images`]) through llama.cpp's `mtmd` library
    /// (SmolVLM, Qwen2.5-VL, Gemma 3, LLaVA-style models, …).
    pub mmproj_path: Option<PathBuf>,
    /// Most tokens one image may become, for projectors with dynamic resolution (Qwen2/2.5-VL
    /// and the like scale a large image down to fit); `None` keeps the projector's default.
    pub image_max_tokens: Option<u32>,
}

impl ChatEngineConfig {
    /// A config with the defaults below for everything but the model path.
    #[must_use]
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        Self {
            model_path: model_path.into(),
            ctx_per_slot: Self::DEFAULT_CTX_PER_SLOT,
            max_slots: Self::DEFAULT_MAX_SLOTS,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            threads: None,
            batch_tokens: Self::DEFAULT_BATCH_TOKENS,
            chat_template: None,
            unified_kv: false,
            prefix_cache: true,
            mmproj_path: None,
            image_max_tokens: None,
        }
    }

    /// Default context per sequence.
    pub const DEFAULT_CTX_PER_SLOT: u32 = 4096;
    /// Default number of concurrent sequences.
    pub const DEFAULT_MAX_SLOTS: u32 = 4;
    /// Default wait-queue length.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 64;
    /// Default tokens per decode step.
    pub const DEFAULT_BATCH_TOKENS: u32 = 512;
}

/// What the engine knows about its loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// `general.name` from the GGUF, or the file stem when absent.
    pub name: String,
    /// Context length the model was trained with.
    pub n_ctx_train: u32,
    /// Context available to one sequence.
    pub ctx_per_slot: u32,
    /// Concurrent sequences.
    pub max_slots: u32,
    /// Vocabulary size (valid token ids are `0..n_vocab`).
    pub n_vocab: u32,
    /// The GGUF file.
    pub path: PathBuf,
    /// File name of the multimodal projector, when one is loaded (the engine takes images).
    pub projector: Option<String>,
    /// Bytes of the model's tensors.
    pub weights_bytes: u64,
    /// Bytes of the KV cache (f16 keys and values for `max_slots × ctx_per_slot` cells).
    pub kv_cache_bytes: u64,
}

/// One chat message, already flattened to text by the caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant`, `tool`…, passed to the template as is.
    pub role: String,
    /// Text content; `None` for an assistant message that only carries tool calls.
    pub content: Option<String>,
    /// Optional participant name.
    pub name: Option<String>,
    /// OpenAI-shaped tool calls of an assistant message. String `arguments` holding JSON are
    /// parsed into objects before rendering (as vLLM does), since templates `tojson` them.
    pub tool_calls: Option<serde_json::Value>,
    /// For `tool` messages: the call this result answers.
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A plain text message.
    #[must_use]
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: Some(content.into()),
            ..Self::default()
        }
    }
}

/// Sampling policy, applied by ingot's own sampler to the logits llama.cpp returns.
///
/// Order: logit bias → repetition penalty (prompt + output tokens) → presence/frequency
/// penalties (output tokens, OpenAI semantics) → greedy argmax if `temperature == 0`, else
/// temperature → top-k → top-p → min-p → random draw with the sequence's own RNG.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 = greedy (argmax). Otherwise divides the logits.
    pub temperature: f32,
    /// Nucleus sampling mass in (0, 1]; 1 = off.
    pub top_p: f32,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: u32,
    /// Drop tokens whose probability is below `min_p` × the top probability; 0 = off.
    pub min_p: f32,
    /// vLLM/HF multiplicative penalty on tokens seen in prompt or output; 1 = off.
    pub repetition_penalty: f32,
    /// OpenAI additive penalty on tokens present in the output; 0 = off.
    pub presence_penalty: f32,
    /// OpenAI penalty × count of the token in the output; 0 = off.
    pub frequency_penalty: f32,
    /// Added to the logit of each token id.
    pub logit_bias: Vec<(u32, f32)>,
    /// End-of-generation tokens are not drawn before this many tokens were generated (NIM and
    /// vLLM `min_tokens`; stop strings still apply). 0 = off.
    pub min_tokens: u32,
    /// Per-sequence RNG seed: the sequence draws the same numbers whatever else runs (its
    /// logits may still round differently beside other prompts: see
    /// [`ChatEngineConfig::unified_kv`]). `None` = random.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            logit_bias: Vec::new(),
            min_tokens: 0,
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding (temperature 0, no penalties).
    #[must_use]
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }
}

/// A prompt given as is, for text completions (no chat template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawPrompt {
    /// Text, tokenized as the engine tokenizes rendered prompts (special tokens parsed, BOS
    /// added when the model asks for it).
    Text(String),
    /// Token ids, used as they are (each must be below the vocabulary size).
    Tokens(Vec<u32>),
    /// Fill in the middle: the model writes what goes between `prefix` and `suffix`, in the
    /// model's own FIM layout (`<fim_prefix>…<fim_suffix>…<fim_middle>`); see
    /// [`crate::ChatEngine::fills_middle`]. Both texts are tokenized without parsing special
    /// tokens.
    Fim {
        /// The code before the gap.
        prefix: String,
        /// The code after it.
        suffix: String,
    },
}

/// One chat completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatJob {
    /// The conversation, rendered with the model's chat template. Ignored (and may be empty)
    /// when [`ChatJob::prompt`] is set.
    pub messages: Vec<ChatMessage>,
    /// A raw prompt instead of `messages` (text completions); `tools` and `template_kwargs`
    /// do not apply to it.
    pub prompt: Option<RawPrompt>,
    /// OpenAI-shaped tool list, passed to the template as `tools`.
    pub tools: Option<serde_json::Value>,
    /// Sampling policy.
    pub sampling: SamplingParams,
    /// Completion token limit; clamped to the room left in the sequence's context. `None` =
    /// until the context is full.
    pub max_tokens: Option<u32>,
    /// Stop strings: generation ends before the first occurrence, which is not emitted.
    pub stop: Vec<String>,
    /// Number of choices (sequences), each with its own slot.
    pub n: u32,
    /// `Some(k)`: report each token's logprob with `k` alternatives.
    pub top_logprobs: Option<u32>,
    /// Extra template variables (`chat_template_kwargs`, e.g. `{"enable_thinking": false}`).
    pub template_kwargs: Option<serde_json::Value>,
    /// Keep generating through end-of-generation tokens (NIM/vLLM `ignore_eos`; benchmarks).
    pub ignore_eos: bool,
    /// What the output must match (JSON Schema, regex, grammar, choices); `None` = free text.
    pub constraint: Option<crate::grammar::Constraint>,
    /// Images for a model with a projector, in order: the rendered prompt must hold
    /// [`crate::MEDIA_MARKER`] once per image, where each image goes (put it in the message
    /// text). Without images the marker is plain text.
    pub images: Vec<ImageInput>,
}

/// Decoded RGB pixels of one image.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageInput {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes, row-major RGB.
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for ImageInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageInput")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl ChatJob {
    /// A text-completion job on `prompt`, with one choice, default sampling and no limits.
    #[must_use]
    pub fn raw(prompt: RawPrompt) -> Self {
        Self {
            prompt: Some(prompt),
            ..Self::new(Vec::new())
        }
    }

    /// A job with one choice, default sampling and no limits.
    #[must_use]
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self {
            messages,
            prompt: None,
            tools: None,
            sampling: SamplingParams::default(),
            max_tokens: None,
            stop: Vec::new(),
            n: 1,
            top_logprobs: None,
            template_kwargs: None,
            ignore_eos: false,
            constraint: None,
            images: Vec::new(),
        }
    }
}

/// Why a choice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End-of-generation token or stop string.
    Stop,
    /// `max_tokens` or the sequence's context was reached.
    Length,
}

/// Log probability of one generated token.
///
/// Logprobs are the log-softmax of the model's **raw** logits (before bias, penalties,
/// temperature and truncation), as vLLM reports by default.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    /// The token's text (lossy UTF-8 of `bytes`).
    pub token: String,
    /// The token's raw bytes (may be part of a multi-byte character).
    pub bytes: Vec<u8>,
    /// Its log probability.
    pub logprob: f32,
    /// The `k` most likely tokens at this step: (text, bytes, logprob), most likely first.
    pub top: Vec<(String, Vec<u8>, f32)>,
}

/// One streamed event of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// New text for a choice (whole UTF-8 characters, never part of a stop string).
    Delta {
        /// Choice index, `0..n`.
        choice: u32,
        /// The text.
        text: String,
        /// Logprobs of the tokens this text completes (empty unless requested).
        logprobs: Vec<TokenLogprob>,
    },
    /// A choice ended. Each choice gets exactly one.
    Finished {
        /// Choice index.
        choice: u32,
        /// Why it ended.
        reason: FinishReason,
        /// Tokens generated for this choice (the end-of-generation token not counted).
        completion_tokens: u32,
    },
    /// The job failed after submission; no more events follow.
    Error(String),
}

/// The caller's side of a submitted job.
#[derive(Debug)]
pub struct JobHandle {
    /// Tokens in the rendered prompt.
    pub prompt_tokens: u32,
    /// Events in order; the channel closes after the last `Finished` (or after `Error`).
    /// A channel that closes before every choice finished means the engine stopped (treat it
    /// as an internal error). Dropping this receiver cancels the job: the scheduler frees its
    /// sequences within one decode step.
    pub events: tokio::sync::mpsc::Receiver<ChatEvent>,
    /// Set by the scheduler when the job starts; see [`JobHandle::cached_tokens`].
    pub(crate) cached: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl JobHandle {
    /// Prompt tokens served from the prompt-prefix cache (not prefilled again), for OpenAI's
    /// `usage.prompt_tokens_details.cached_tokens`. Known once the job has started, i.e. after
    /// its first event arrived; 0 before.
    #[must_use]
    pub fn cached_tokens(&self) -> u32 {
        self.cached.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A handle on [`JobHandle::cached_tokens`] that outlives the handle (whose `events` the
    /// caller usually moves out).
    #[must_use]
    pub fn cached_tokens_probe(&self) -> CachedTokens {
        CachedTokens(std::sync::Arc::clone(&self.cached))
    }
}

/// See [`JobHandle::cached_tokens_probe`].
#[derive(Debug, Clone)]
pub struct CachedTokens(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl CachedTokens {
    /// Prompt tokens of the job served from the prefix cache (0 until the job has started).
    #[must_use]
    pub fn get(&self) -> u32 {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}
