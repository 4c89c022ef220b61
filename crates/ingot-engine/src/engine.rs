//! The [`ChatEngine`] handle: loading, validation, prompt rendering and admission.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::mtmd::{
    MtmdBitmap, MtmdContext, MtmdContextParams, MtmdInputChunkType, MtmdInputChunks, MtmdInputText,
};
use llama_cpp_2::token::LlamaToken;

use crate::error::EngineError;
use crate::grammar::Guidance;
use crate::sampler::random_seed;
use crate::scheduler::{self, Request};
use crate::template::ChatTemplate;
use crate::tools::{ToolFormat, generic_messages};
use crate::types::{ChatEngineConfig, ChatJob, ImageInput, JobHandle, ModelInfo, RawPrompt};

/// Where an image goes in a prompt for a model with a projector: put it in the message text
/// once per entry of [`ChatJob::images`]. A string no tokenizer or user text is likely to hold
/// (the server removes it from user text).
pub const MEDIA_MARKER: &str = "<__ingot_media__>";

/// Most alternatives per token that `top_logprobs` may ask for (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: u32 = 20;
/// Events buffered per job before the scheduler keeps them in its own outbox.
const EVENT_CHANNEL_CAPACITY: usize = 256;
/// Bytes of text one token stands for at least in the prompt-length bound: more than any
/// special token's text (`<|begin_of_text|>`, `<｜fim▁begin｜>`).
const MIN_PIECE_BYTES: usize = 128;

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

/// llama.cpp's process-wide backend, initialised once.
///
/// Other llama.cpp users in the same process (and tests) must share it: llama.cpp can only be
/// initialised once.
///
/// # Errors
/// [`EngineError::Load`] if llama.cpp failed to initialise.
pub fn llama_backend() -> Result<&'static LlamaBackend, EngineError> {
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Load(format!("llama.cpp backend: {e}")))
}

/// State shared by the handle and the scheduler thread.
pub(crate) struct Shared {
    /// The multimodal projector, when configured. Declared before `model`: it points into
    /// the model's vocabulary, so it must be dropped first.
    pub(crate) mtmd: Option<std::sync::Mutex<MtmdContext>>,
    pub(crate) model: LlamaModel,
    pub(crate) info: ModelInfo,
    pub(crate) template: ChatTemplate,
    /// How the model writes tool calls.
    pub(crate) tool_format: ToolFormat,
    /// The template knows `<think>` blocks (a reasoning model).
    pub(crate) reasons: bool,
    /// Text bytes of every token (special tokens render empty), indexed by token id.
    pub(crate) token_bytes: Vec<Vec<u8>>,
    /// Bytes of text one token stands for at most (the longest piece, at least
    /// [`MIN_PIECE_BYTES`] for special tokens, whose text `token_bytes` leaves out).
    pub(crate) max_piece_bytes: usize,
    /// End-of-generation token ids (for `min_tokens`).
    pub(crate) eog_tokens: Arc<[u32]>,
    pub(crate) cfg: ChatEngineConfig,
    /// Jobs submitted but not yet taken by the scheduler.
    pub(crate) queued: AtomicUsize,
    /// Sequences (choices) of the jobs the scheduler is running.
    pub(crate) active: AtomicUsize,
    /// Moving average of job run time, for the `QueueFull` retry hint.
    pub(crate) avg_job_ms: AtomicU64,
    /// Prompt tokens decoded (prefilled) since load.
    pub(crate) prefilled_tokens: AtomicU64,
    /// Prompt tokens served from the prefix cache since load.
    pub(crate) cached_tokens: AtomicU64,
    /// See [`EngineStats::kv_copies`].
    pub(crate) kv_copies: AtomicU64,
    /// Output constraints: the token trie and compiled grammars.
    pub(crate) guidance: Guidance,
}

impl Shared {
    pub(crate) fn is_eog(&self, token: LlamaToken) -> bool {
        self.model.vocab().is_eog(token)
    }

    pub(crate) fn record_job_time(&self, ms: u64) {
        let old = self.avg_job_ms.load(Ordering::Relaxed);
        let new = if old == 0 { ms } else { (old * 7 + ms) / 8 };
        self.avg_job_ms.store(new, Ordering::Relaxed);
    }
}

struct Inner {
    shared: Arc<Shared>,
    tx: SyncSender<Request>,
}

/// A snapshot of an engine's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineLoad {
    /// Jobs submitted and not yet started.
    pub queued: usize,
    /// Sequences being generated (a job with `n` choices counts `n`).
    pub active: usize,
}

/// Cumulative prompt-processing counters of an engine since it was loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Prompt tokens decoded by llama.cpp (prefill).
    pub prefilled_tokens: u64,
    /// Prompt tokens served from the prefix cache instead (not prefilled again).
    pub cached_tokens: u64,
    /// Sequences whose KV cells were copied into another slot: a prefix shared with a
    /// running or cached sequence, or a sequence moved into a gap to keep busy slots
    /// consecutive.
    pub kv_copies: u64,
}

/// A loaded chat model with its scheduler thread. Cheap to clone; `Send + Sync`.
///
/// The scheduler thread ends once every handle is dropped and the running jobs finish.
#[derive(Clone)]
pub struct ChatEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ChatEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatEngine")
            .field("info", &self.inner.shared.info)
            .finish_non_exhaustive()
    }
}

fn validate_config(cfg: &ChatEngineConfig) -> Result<(), EngineError> {
    let bad = |m: &str| Err(EngineError::Load(m.to_owned()));
    if cfg.max_slots == 0 {
        return bad("max_slots must be at least 1");
    }
    if cfg.ctx_per_slot < 2 {
        return bad("ctx_per_slot must be at least 2");
    }
    if cfg.batch_tokens < cfg.max_slots.max(1) {
        return bad("batch_tokens must be at least max_slots (one decode token per sequence)");
    }
    if cfg.ctx_per_slot.checked_mul(cfg.max_slots).is_none() {
        return bad("ctx_per_slot * max_slots overflows");
    }
    if cfg.queue_capacity == 0 {
        return bad("queue_capacity must be at least 1");
    }
    if cfg.threads == Some(0) {
        return bad("threads must be at least 1");
    }
    Ok(())
}

fn token_text(model: &LlamaModel, token: LlamaToken) -> String {
    String::from_utf8_lossy(&model.vocab().token_to_piece(token, true, None)).into_owned()
}

impl ChatEngine {
    /// Loads the GGUF model and its chat template, creates the llama.cpp context and starts
    /// this model's scheduler thread.
    ///
    /// # Errors
    /// [`EngineError::Load`] for a bad config, missing/unsupported file or context failure;
    /// [`EngineError::Template`] when the chat template is missing or does not parse.
    pub fn load(cfg: ChatEngineConfig) -> Result<Self, EngineError> {
        validate_config(&cfg)?;
        if !cfg.model_path.is_file() {
            return Err(EngineError::Load(format!(
                "no model file at {}",
                cfg.model_path.display()
            )));
        }
        let backend = llama_backend()?;
        let model =
            LlamaModel::load_from_file(backend, &cfg.model_path, &LlamaModelParams::default())
                .map_err(|e| EngineError::Load(format!("{}: {e}", cfg.model_path.display())))?;
        let vocab = model.vocab();
        let n_vocab = u32::try_from(vocab.n_tokens()).unwrap_or(0);
        let token_bytes: Vec<Vec<u8>> = (0..vocab.n_tokens())
            .map(|i| vocab.token_to_piece(LlamaToken::new(i), false, None))
            .collect();
        let eog_tokens: Arc<[u32]> = (0..vocab.n_tokens())
            .filter(|&i| vocab.is_eog(LlamaToken::new(i)))
            .filter_map(|i| u32::try_from(i).ok())
            .collect();
        let source = match &cfg.chat_template {
            Some(t) => t.clone(),
            None => model
                .chat_template(None)
                .ok()
                .and_then(|t| t.to_string().ok())
                .ok_or_else(|| {
                    EngineError::Template(
                        "the model has no tokenizer.chat_template; configure one".into(),
                    )
                })?,
        };
        let template = ChatTemplate::new(
            &source,
            &token_text(&model, vocab.bos()),
            &token_text(&model, vocab.eos()),
        )?;
        let tool_format = ToolFormat::detect(&source, template.shows_tools());
        let name = model
            .meta_val_str("general.name")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| {
                cfg.model_path
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
            });
        let mtmd = match &cfg.mmproj_path {
            Some(path) => Some(std::sync::Mutex::new(load_projector(path, &model, &cfg)?)),
            None => None,
        };
        // K and V, f16, per layer, for every cell; grouped-query attention shares heads.
        let head_dim =
            u64::try_from(model.n_embd()).unwrap_or(0) / u64::from(model.n_head().max(1));
        let kv_cache_bytes = 2
            * 2
            * u64::from(model.n_layer())
            * u64::from(cfg.max_slots)
            * u64::from(cfg.ctx_per_slot)
            * head_dim
            * u64::from(model.n_head_kv());
        let info = ModelInfo {
            weights_bytes: model.size(),
            kv_cache_bytes,
            name,
            n_ctx_train: model.n_ctx_train(),
            ctx_per_slot: cfg.ctx_per_slot,
            max_slots: cfg.max_slots,
            n_vocab,
            path: cfg.model_path.clone(),
            // `mtmd` is loaded exactly when a path is configured (or `load` has failed).
            projector: cfg
                .mmproj_path
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned()),
        };
        let shared = Arc::new(Shared {
            mtmd,
            model,
            info,
            template,
            tool_format,
            reasons: source.contains("<think>") || source.contains("</think>"),
            max_piece_bytes: token_bytes
                .iter()
                .map(Vec::len)
                .max()
                .unwrap_or(0)
                .max(MIN_PIECE_BYTES),
            token_bytes,
            eog_tokens,
            cfg: cfg.clone(),
            queued: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            avg_job_ms: AtomicU64::new(0),
            prefilled_tokens: AtomicU64::new(0),
            cached_tokens: AtomicU64::new(0),
            kv_copies: AtomicU64::new(0),
            guidance: Guidance::default(),
        });
        let tx = scheduler::spawn(Arc::clone(&shared))?;
        tracing::info!(model = %shared.info.name, ctx_per_slot = cfg.ctx_per_slot,
            max_slots = cfg.max_slots, "chat model loaded");
        Ok(Self {
            inner: Arc::new(Inner { shared, tx }),
        })
    }

    /// What was loaded.
    #[must_use]
    pub fn info(&self) -> &ModelInfo {
        &self.inner.shared.info
    }

    /// Renders the job's messages with the model's chat template (what `submit` tokenizes).
    ///
    /// # Errors
    /// [`EngineError::Template`] / [`EngineError::Invalid`] as for `submit`.
    pub fn render_prompt(&self, job: &ChatJob) -> Result<String, EngineError> {
        let shared = &self.inner.shared;
        match (&job.tools, shared.tool_format) {
            (Some(tools), ToolFormat::Generic) => shared.template.render(
                &generic_messages(&job.messages, tools),
                None,
                job.template_kwargs.as_ref(),
            ),
            _ => shared.template.render(
                &job.messages,
                job.tools.as_ref(),
                job.template_kwargs.as_ref(),
            ),
        }
    }

    /// Whether the model writes its reasoning in a `<think>…</think>` block (its template
    /// knows the markers).
    #[must_use]
    pub fn writes_reasoning(&self) -> bool {
        self.inner.shared.reasons
    }

    /// How this model writes tool calls (see [`ToolFormat`]).
    #[must_use]
    pub fn tool_format(&self) -> ToolFormat {
        self.inner.shared.tool_format
    }

    /// Tokenizes text as the engine tokenizes rendered prompts (special tokens parsed, BOS
    /// added when the model asks for it, never doubled).
    #[must_use]
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        self.tokenize_raw(text)
            .into_iter()
            .map(|t| u32::try_from(t.0).unwrap_or(0))
            .collect()
    }

    /// The text of token ids (lossy UTF-8; ids outside the vocabulary are skipped).
    #[must_use]
    pub fn detokenize(&self, ids: &[u32]) -> String {
        let bytes = &self.inner.shared.token_bytes;
        let out: Vec<u8> = ids
            .iter()
            .filter_map(|&i| bytes.get(i as usize))
            .flatten()
            .copied()
            .collect();
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Whether the model has fill-in-the-middle tokens (prefix, suffix and middle), so that
    /// it takes [`RawPrompt::Fim`].
    #[must_use]
    pub fn fills_middle(&self) -> bool {
        self.fim_tokens().is_some()
    }

    fn fim_tokens(&self) -> Option<[LlamaToken; 3]> {
        let vocab = self.inner.shared.model.vocab();
        let t = [vocab.fim_pre(), vocab.fim_suf(), vocab.fim_mid()];
        let n = vocab.n_tokens();
        t.iter().all(|t| (0..n).contains(&t.0)).then_some(t)
    }

    /// The tokens of a raw prompt.
    fn raw_tokens(&self, raw: &RawPrompt) -> Result<Vec<LlamaToken>, EngineError> {
        let shared = &self.inner.shared;
        match raw {
            RawPrompt::Text(text) => Ok(self.tokenize_raw(text)),
            RawPrompt::Tokens(ids) => ids
                .iter()
                .enumerate()
                .map(|(i, &id)| match i32::try_from(id) {
                    Ok(t) if id < shared.info.n_vocab => Ok(LlamaToken::new(t)),
                    _ => Err(EngineError::invalid(
                        "prompt",
                        format!(
                            "token {i} of the prompt, {id}, is outside the vocabulary (0..{})",
                            shared.info.n_vocab
                        ),
                    )),
                })
                .collect(),
            RawPrompt::Fim { prefix, suffix } => {
                let [pre, suf, mid] = self.fim_tokens().ok_or_else(|| {
                    EngineError::invalid(
                        "suffix",
                        format!(
                            "model {} has no fill-in-the-middle tokens",
                            shared.info.name
                        ),
                    )
                })?;
                let vocab = shared.model.vocab();
                let mut out = Vec::new();
                if vocab.should_add_bos() {
                    out.push(vocab.bos());
                }
                out.push(pre);
                out.extend(vocab.tokenize(prefix.as_bytes(), false, false));
                out.push(suf);
                out.extend(vocab.tokenize(suffix.as_bytes(), false, false));
                out.push(mid);
                Ok(out)
            }
        }
    }

    fn tokenize_raw(&self, text: &str) -> Vec<LlamaToken> {
        let vocab = self.inner.shared.model.vocab();
        let mut tokens = vocab.tokenize(text.as_bytes(), true, true);
        let bos = vocab.bos();
        if tokens.len() >= 2 && tokens[0] == bos && tokens[1] == bos {
            tokens.remove(0);
        }
        tokens
    }

    /// Jobs waiting for the scheduler and sequences it is running, for metrics.
    pub fn current_load(&self) -> EngineLoad {
        let shared = &self.inner.shared;
        EngineLoad {
            queued: shared.queued.load(Ordering::Relaxed),
            active: shared.active.load(Ordering::Relaxed),
        }
    }

    /// Prompt tokens prefilled and served from the prefix cache since load.
    pub fn stats(&self) -> EngineStats {
        let shared = &self.inner.shared;
        EngineStats {
            prefilled_tokens: shared.prefilled_tokens.load(Ordering::Relaxed),
            cached_tokens: shared.cached_tokens.load(Ordering::Relaxed),
            kv_copies: shared.kv_copies.load(Ordering::Relaxed),
        }
    }

    /// Validates, renders and tokenizes the job, compiles its output constraint, then queues
    /// it for the scheduler. A constraint's first use builds the model's token trie (a walk
    /// over the vocabulary); call this off the async runtime when the job has one.
    ///
    /// # Errors
    /// [`EngineError::Invalid`], [`EngineError::Template`], [`EngineError::PromptTooLong`],
    /// [`EngineError::QueueFull`], or [`EngineError::Internal`] if the scheduler has stopped.
    pub fn submit(&self, job: ChatJob) -> Result<JobHandle, EngineError> {
        let shared = &self.inner.shared;
        validate_job(&job, &shared.info)?;
        // A token holds at most `max_piece_bytes` bytes of text: a longer prompt cannot fit,
        // and is refused before the template and the tokenizer see it.
        let bytes = text_bytes(&job);
        let max_context = shared.info.ctx_per_slot;
        if bytes > (max_context as usize).saturating_mul(shared.max_piece_bytes) {
            return Err(EngineError::PromptTooLongText { bytes, max_context });
        }
        let matcher = job
            .constraint
            .as_ref()
            .map(|c| shared.guidance.compile(&shared.model, c))
            .transpose()?;
        let (prompt, media, prompt_tokens) = match &job.prompt {
            Some(_) if !job.images.is_empty() => {
                return Err(EngineError::invalid(
                    "prompt",
                    "a raw prompt takes no images",
                ));
            }
            Some(raw) => {
                let prompt = self.raw_tokens(raw)?;
                let n = u32::try_from(prompt.len()).unwrap_or(u32::MAX);
                (prompt, None, n)
            }
            None if job.images.is_empty() => {
                let prompt = self.tokenize_raw(&self.render_prompt(&job)?);
                let n = u32::try_from(prompt.len()).unwrap_or(u32::MAX);
                (prompt, None, n)
            }
            None => {
                let media = self.tokenize_media(&self.render_prompt(&job)?, &job.images)?;
                (media.text_tokens, Some(media.chunks), media.cells)
            }
        };
        if prompt_tokens == 0 {
            let param = if job.prompt.is_some() {
                "prompt"
            } else {
                "messages"
            };
            return Err(EngineError::invalid(param, "the prompt is empty"));
        }
        if prompt_tokens >= max_context {
            return Err(EngineError::PromptTooLong {
                prompt_tokens,
                max_context,
            });
        }
        let room = max_context - prompt_tokens;
        let max_new = job.max_tokens.map_or(room, |m| m.min(room));
        let (tx, events) = tokio::sync::mpsc::channel(EVENT_CHANNEL_CAPACITY);
        let seed = job.sampling.seed.unwrap_or_else(random_seed);
        let cached = Arc::new(AtomicU32::new(0));
        let request = Request {
            cached: Arc::clone(&cached),
            matcher,
            media,
            prompt,
            max_new,
            seed,
            job,
            tx,
            submitted: std::time::Instant::now(),
        };
        // `queued` counts jobs submitted but not yet started (including the one the scheduler
        // holds while waiting for slots), so the bound is exact.
        let queued = shared.queued.fetch_add(1, Ordering::AcqRel);
        if queued >= shared.cfg.queue_capacity {
            shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(EngineError::QueueFull {
                retry_after_secs: self.retry_hint(queued),
            });
        }
        tracing::trace!("job queued");
        match self.inner.tx.try_send(request) {
            Ok(()) => Ok(JobHandle {
                prompt_tokens,
                events,
                cached,
            }),
            Err(TrySendError::Full(_)) => {
                let queued = shared.queued.fetch_sub(1, Ordering::AcqRel);
                Err(EngineError::QueueFull {
                    retry_after_secs: self.retry_hint(queued),
                })
            }
            Err(TrySendError::Disconnected(_)) => {
                shared.queued.fetch_sub(1, Ordering::AcqRel);
                Err(EngineError::Internal(
                    "the scheduler thread has stopped".into(),
                ))
            }
        }
    }

    /// Tokenizes a prompt holding images through the projector: text and image chunks.
    fn tokenize_media(
        &self,
        prompt_text: &str,
        images: &[ImageInput],
    ) -> Result<MediaPrompt, EngineError> {
        let shared = &self.inner.shared;
        let invalid = |m: String| EngineError::invalid("messages", m);
        let Some(mtmd) = &shared.mtmd else {
            return Err(invalid(format!(
                "model {} takes no images (no multimodal projector is configured)",
                shared.info.name
            )));
        };
        let markers = prompt_text.matches(MEDIA_MARKER).count();
        if markers != images.len() {
            return Err(invalid(format!(
                "the prompt places {markers} images but {} were given",
                images.len()
            )));
        }
        let mut bitmaps = Vec::with_capacity(images.len());
        for (i, img) in images.iter().enumerate() {
            let expected = u64::from(img.width) * u64::from(img.height) * 3;
            if img.width == 0 || img.height == 0 || expected != img.rgb.len() as u64 {
                return Err(invalid(format!(
                    "image {}: {} bytes for {}x{} RGB",
                    i + 1,
                    img.rgb.len(),
                    img.width,
                    img.height
                )));
            }
            bitmaps.push(
                MtmdBitmap::from_image_data(img.width, img.height, &img.rgb)
                    .map_err(|e| invalid(format!("image {}: {e}", i + 1)))?,
            );
        }
        let refs: Vec<&MtmdBitmap> = bitmaps.iter().collect();
        // The template may already begin with the BOS text; do not add a second one.
        let bos = token_text(&shared.model, shared.model.vocab().bos());
        let add_special = bos.is_empty() || !prompt_text.starts_with(&bos);
        let ctx = mtmd
            .lock()
            .map_err(|_| EngineError::Internal("projector lock poisoned".into()))?;
        let chunks = ctx
            .tokenize(
                MtmdInputText {
                    text: prompt_text.to_owned(),
                    add_special,
                    parse_special: true,
                },
                &refs,
            )
            .map_err(|e| invalid(format!("cannot prepare the images: {e}")))?;
        let non_causal = ctx.decode_use_non_causal();
        drop(ctx);
        let mut text_tokens = Vec::new();
        let mut last_is_text = false;
        for i in 0..chunks.len() {
            let Some(chunk) = chunks.get(i) else { continue };
            last_is_text = chunk.chunk_type() == MtmdInputChunkType::Text;
            if let Some(t) = chunk.text_tokens() {
                text_tokens.extend_from_slice(t);
            } else if non_causal && chunk.n_tokens() > shared.cfg.batch_tokens as usize {
                return Err(invalid(format!(
                    "an image takes {} tokens, more than the engine's batch of {} (raise batch_tokens)",
                    chunk.n_tokens(),
                    shared.cfg.batch_tokens
                )));
            }
        }
        if !last_is_text {
            return Err(invalid(
                "the prompt must end with text after the last image".into(),
            ));
        }
        let cells = chunks
            .total_tokens()
            .max(usize::try_from(chunks.total_positions()).unwrap_or(0));
        Ok(MediaPrompt {
            chunks,
            text_tokens,
            cells: u32::try_from(cells).unwrap_or(u32::MAX),
        })
    }

    /// Seconds until a queue slot is likely free: queued jobs × average job time / slots.
    fn retry_hint(&self, queued: usize) -> u64 {
        let shared = &self.inner.shared;
        let avg_ms = shared.avg_job_ms.load(Ordering::Relaxed).max(1000);
        let slots = u64::from(shared.info.max_slots.max(1));
        let queued = u64::try_from(queued).unwrap_or(u64::MAX);
        (queued.saturating_mul(avg_ms) / slots)
            .div_ceil(1000)
            .clamp(1, 120)
    }
}

/// A prompt with images, tokenized through the projector.
struct MediaPrompt {
    chunks: MtmdInputChunks,
    /// The text chunks' tokens (the sampler's penalty history).
    text_tokens: Vec<LlamaToken>,
    /// KV cells (and positions) the prompt takes.
    cells: u32,
}

/// Loads the multimodal projector for `model`.
fn load_projector(
    path: &std::path::Path,
    model: &LlamaModel,
    cfg: &ChatEngineConfig,
) -> Result<MtmdContext, EngineError> {
    let load = |m: String| EngineError::Load(format!("{}: {m}", path.display()));
    if !path.is_file() {
        return Err(load("no projector file there".into()));
    }
    let path_str = path
        .to_str()
        .ok_or_else(|| load("path is not UTF-8".into()))?;
    let params = MtmdContextParams {
        use_gpu: cfg!(feature = "cuda"),
        print_timings: false,
        n_threads: i32::try_from(cfg.threads.unwrap_or_else(default_threads)).unwrap_or(1),
        media_marker: std::ffi::CString::new(MEDIA_MARKER).map_err(|e| load(e.to_string()))?,
        image_min_tokens: -1,
        image_max_tokens: cfg
            .image_max_tokens
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(-1),
    };
    let ctx = MtmdContext::init_from_file(path_str, model, &params).map_err(|e| {
        load(format!(
            "not a multimodal projector llama.cpp can use with this model ({e}; the log says why)"
        ))
    })?;
    if !ctx.support_vision() {
        return Err(load("the projector has no vision encoder".into()));
    }
    Ok(ctx)
}

/// Bytes of text a job's prompt is made of (message contents and tool calls, or the raw
/// prompt); token-id prompts count none (their length is checked as it is).
fn text_bytes(job: &ChatJob) -> usize {
    match &job.prompt {
        Some(RawPrompt::Text(t)) => t.len(),
        Some(RawPrompt::Fim { prefix, suffix }) => prefix.len() + suffix.len(),
        Some(RawPrompt::Tokens(_)) => 0,
        None => job
            .messages
            .iter()
            .map(|m| {
                m.content.as_ref().map_or(0, String::len)
                    + m.tool_calls.as_ref().map_or(0, |c| c.to_string().len())
            })
            .sum(),
    }
}

fn validate_job(job: &ChatJob, info: &ModelInfo) -> Result<(), EngineError> {
    let invalid = |param: &'static str, m: String| Err(EngineError::invalid(param, m));
    let s = &job.sampling;
    if job.messages.is_empty() && job.prompt.is_none() {
        return invalid("messages", "messages must not be empty".into());
    }
    if job.n == 0 || job.n > info.max_slots {
        return invalid(
            "n",
            format!(
                "n must be between 1 and {} (the engine's slots)",
                info.max_slots
            ),
        );
    }
    if job.max_tokens == Some(0) {
        return invalid("max_tokens", "max_tokens must be at least 1".into());
    }
    if !(s.temperature.is_finite() && s.temperature >= 0.0) {
        return invalid(
            "temperature",
            format!(
                "temperature must be a finite number ≥ 0, got {}",
                s.temperature
            ),
        );
    }
    if !(s.top_p > 0.0 && s.top_p <= 1.0) {
        return invalid("top_p", format!("top_p must be in (0, 1], got {}", s.top_p));
    }
    if !(0.0..=1.0).contains(&s.min_p) {
        return invalid("min_p", format!("min_p must be in [0, 1], got {}", s.min_p));
    }
    if !(s.repetition_penalty.is_finite() && s.repetition_penalty > 0.0) {
        return invalid(
            "repetition_penalty",
            format!(
                "repetition_penalty must be > 0, got {}",
                s.repetition_penalty
            ),
        );
    }
    if !(s.presence_penalty.is_finite() && s.frequency_penalty.is_finite()) {
        return invalid(
            "presence_penalty",
            "presence_penalty and frequency_penalty must be finite".into(),
        );
    }
    if let Some((tok, _)) = s
        .logit_bias
        .iter()
        .find(|(t, b)| *t >= info.n_vocab || !b.is_finite())
    {
        return invalid(
            "logit_bias",
            format!(
                "logit_bias token {tok} is not in the vocabulary (size {}) or its bias is not finite",
                info.n_vocab
            ),
        );
    }
    if job.top_logprobs.is_some_and(|k| k > MAX_TOP_LOGPROBS) {
        return invalid(
            "top_logprobs",
            format!("top_logprobs must be at most {MAX_TOP_LOGPROBS}"),
        );
    }
    Ok(())
}

/// CPU threads to use when the config does not say.
pub(crate) fn default_threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
}

/// `n_ctx` for the llama context: one `ctx_per_slot` region per slot.
pub(crate) fn total_ctx(cfg: &ChatEngineConfig) -> Option<NonZeroU32> {
    NonZeroU32::new(cfg.ctx_per_slot.saturating_mul(cfg.max_slots))
}
