//! Command-line definitions only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ingot: the NVIDIA NIM API, self-hosted, in one binary.
#[derive(Debug, Parser)]
#[command(
    name = "ingot",
    version,
    about = "The NVIDIA NIM API, self-hosted, in one binary: `ingot serve` answers it with local models \
             or routes to upstreams; the other commands are its client."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the NIM API (chat, vision, embeddings, 3D, model list) with the local models,
    /// and route model ids to upstreams when the config file says so.
    ///
    /// Settings come from, in order of precedence: flags, environment variables, the TOML
    /// file given by --config, built-in defaults. Unknown keys in the file are rejected.
    Serve(ServeArgs),
    /// Chat with a text model (streams to the terminal). An attached --image picks a vision model.
    Chat(ChatArgs),
    /// Ask a vision model about images (files or URLs) or a video.
    Vision(VisionArgs),
    /// Embed texts and print the vectors.
    Embed(EmbedArgs),
    /// Complete text or code (`/v1/completions`); --suffix fills in the middle.
    Complete(CompleteArgs),
    /// Rank passages by relevance to a query and print them, most relevant first.
    Rerank(RerankArgs),
    /// Generate a 3D asset (GLB or STL) from a prompt or an image with microsoft/trellis;
    /// --preview also renders a PNG picture of it.
    #[command(name = "3d")]
    Gen3d(Gen3dArgs),
    /// List the models the server offers.
    Models(ModelsArgs),
    /// Manage the API keys stored (hashed) in the key database.
    Keys {
        /// What to do.
        #[command(subcommand)]
        action: KeysAction,
        /// Key database [default: $HOME/.local/share/ingot/keys.db].
        #[arg(long, env = "INGOT_KEYS_DB", global = true)]
        db: Option<PathBuf>,
        /// The keys in PostgreSQL instead (`[state] postgres_url` of the servers).
        #[arg(long, env = "INGOT_POSTGRES_URL", global = true, conflicts_with = "db")]
        postgres_url: Option<String>,
    },
    /// Show the per-key usage ledger (requests and tokens by key, model and UTC day).
    Usage(UsageArgs),
    /// Print a shell completion script (e.g. `ingot completions bash > /etc/bash_completion.d/ingot`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Where the client commands send requests.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Base URL of the API, e.g. http://127.0.0.1:8000/v1 for a local `ingot serve`
    /// [default: https://integrate.api.nvidia.com/v1; 3D: https://ai.api.nvidia.com/v1].
    #[arg(long, env = "NVIDIA_BASE_URL")]
    pub base_url: Option<String>,
    /// API key sent as `Authorization: Bearer KEY`.
    #[arg(long, env = "NVIDIA_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Retries on connection errors, 408, 409, 429 and 5xx.
    #[arg(long, default_value_t = 2)]
    pub max_retries: u32,
    /// Print the raw JSON responses (stream chunks as JSON lines).
    #[arg(long)]
    pub json: bool,
}

/// Use-case flags: each picks a model from the reference's selection tables when --model is absent.
#[derive(Debug, Clone, Copy, Args)]
pub struct UseCaseArgs {
    /// Fast, cost-effective model.
    #[arg(long)]
    pub fast: bool,
    /// Highest-quality model.
    #[arg(long)]
    pub quality: bool,
    /// Model for complex reasoning.
    #[arg(long)]
    pub reasoning: bool,
    /// Model for code generation.
    #[arg(long)]
    pub code: bool,
    /// Vision model for OCR, documents and several images.
    #[arg(long)]
    pub ocr: bool,
}

/// Sampling and output options shared by `chat` and `vision`.
#[derive(Debug, Clone, Args)]
pub struct GenerationArgs {
    /// Model id [default: picked by the use-case flags and attachments].
    #[arg(long, short)]
    pub model: Option<String>,
    /// System prompt.
    #[arg(long)]
    pub system: Option<String>,
    /// Largest number of tokens to generate.
    #[arg(long, default_value_t = 1024)]
    pub max_tokens: u32,
    /// Sampling temperature, 0 to 2 (0 = greedy).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Nucleus sampling mass, (0, 1].
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Same seed, same output.
    #[arg(long)]
    pub seed: Option<i64>,
    /// Wait for the whole answer instead of streaming it.
    #[arg(long)]
    pub no_stream: bool,
    /// The use case.
    #[command(flatten)]
    pub use_case: UseCaseArgs,
}

/// `ingot chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Where requests go.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The prompt; read from standard input when absent. Standard input piped beside a
    /// prompt is its context. With neither on a terminal, an interactive session starts.
    pub prompt: Option<String>,
    /// Attach an image (file or URL); a vision model answers.
    #[arg(long)]
    pub image: Vec<String>,
    /// A multi-turn session: /system, /model, /clear, /save, /help; Ctrl-C stops an answer.
    #[arg(long, short)]
    pub interactive: bool,
    /// Resume the last conversation (kept under $XDG_DATA_HOME/ingot/conversations).
    #[arg(long = "continue", short = 'c')]
    pub resume: bool,
    /// Do not keep this conversation for --continue.
    #[arg(long, conflicts_with = "resume")]
    pub no_save: bool,
    /// Generation options.
    #[command(flatten)]
    pub generation: GenerationArgs,
}

/// `ingot vision`.
#[derive(Debug, Args)]
pub struct VisionArgs {
    /// Where requests go.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Images (files, http(s) or data: URLs), then optionally the question
    /// [default question: "Describe this image."].
    #[arg(required_unless_present = "video")]
    pub inputs: Vec<String>,
    /// A video (file or URL) instead of images; one per request.
    #[arg(long)]
    pub video: Option<String>,
    /// Largest size of an image sent inline, in bytes; larger images are downscaled.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_image_bytes: usize,
    /// Generation options.
    #[command(flatten)]
    pub generation: GenerationArgs,
}

/// Output format of `ingot embed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmbedFormat {
    /// One JSON array of vectors.
    Json,
    /// One JSON object per input: {"index","text","embedding"}.
    Jsonl,
    /// One row of numbers per input.
    Csv,
}

/// `input_type` of asymmetric embedding models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputTypeArg {
    /// Search queries.
    Query,
    /// Documents to search.
    Passage,
}

/// `ingot embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Where requests go.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Texts to embed; `-` (or nothing) reads one text per line from standard input.
    pub texts: Vec<String>,
    /// Model id [default: nvidia/nv-embed-v1; --multilingual: baai/bge-m3].
    #[arg(long, short)]
    pub model: Option<String>,
    /// Multilingual model.
    #[arg(long)]
    pub multilingual: bool,
    /// query or passage (required by asymmetric models such as nvidia/nv-embed-v1).
    #[arg(long, value_enum, default_value_t = InputTypeArg::Query)]
    pub input_type: InputTypeArg,
    /// Output length, where the model supports it.
    #[arg(long)]
    pub dimensions: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EmbedFormat::Json)]
    pub format: EmbedFormat,
}

/// `ingot complete`.
#[derive(Debug, Args)]
pub struct CompleteArgs {
    /// Where requests go.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The text to continue (with --suffix: the code before the gap); read from standard
    /// input when absent.
    pub prompt: Option<String>,
    /// The code after the gap: the model writes what goes between the prompt and it.
    #[arg(long)]
    pub suffix: Option<String>,
    /// Model id [default: bigcode/starcoder2-7b].
    #[arg(long, short)]
    pub model: Option<String>,
    /// Largest number of tokens to generate.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// Sampling temperature, 0 to 2 (0 = greedy).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Same seed, same output.
    #[arg(long)]
    pub seed: Option<i64>,
    /// Stop before this text (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Wait for the whole answer instead of streaming it.
    #[arg(long)]
    pub no_stream: bool,
}

/// `ingot rerank`.
#[derive(Debug, Args)]
pub struct RerankArgs {
    /// Where requests go.
    #[command(flatten)]
    pub client: ClientArgs,
    /// What the passages are ranked for.
    pub query: String,
    /// The passages; `-` (or nothing) reads one passage per line from standard input.
    pub passages: Vec<String>,
    /// Model id [default: nvidia/llama-3.2-nv-rerankqa-1b-v2].
    #[arg(long, short)]
    pub model: Option<String>,
    /// Print only the best N.
    #[arg(long)]
    pub top: Option<usize>,
    /// Cut passages that are too long instead of refusing them.
    #[arg(long)]
    pub truncate: bool,
}

/// 3D output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Gen3dFormat {
    /// Binary glTF with texture.
    Glb,
    /// Binary STL (geometry only).
    Stl,
}

/// `ingot 3d`.
#[derive(Debug, Args)]
pub struct Gen3dArgs {
    /// Where requests go.
    #[command(flatten)]
    pub client: ClientArgs,
    /// What to make (at most 77 characters).
    #[arg(required_unless_present = "image")]
    pub prompt: Option<String>,
    /// Make it from this image (a file) instead.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Output file [default: out.glb or out.stl].
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Gen3dFormat::Glb)]
    pub format: Gen3dFormat,
    /// Seed; 0 picks a random one.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sampling steps, 10-50 (more = more detail, slower).
    #[arg(long)]
    pub steps: Option<u32>,
    /// Skip texturing.
    #[arg(long)]
    pub no_texture: bool,
    /// Also render a picture of the asset (front, three-quarter and side views) to this PNG.
    #[arg(long, value_name = "PNG")]
    pub preview: Option<PathBuf>,
    /// Overwrite the output file (and the --preview file) if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `ingot models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Where requests go.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `ingot serve` flags.
#[derive(Debug, Parser)]
// A flag given twice takes its last value (wrapper scripts add defaults before "$@").
#[command(args_override_self = true)]
pub struct ServeArgs {
    /// TOML configuration file (keys: host, port, model_dir, api_keys, keys_db, body_limit,
    /// header_timeout_secs, body_timeout_secs, max_connections, sse_keep_alive_secs,
    /// shutdown_timeout_secs, local_fallback, upstream_max_in_flight, [chat], [embeddings],
    /// [vision], [gen3d], [ui], [state], [[upstreams]], [[models]]; see docs/configuration.md).
    #[arg(long, env = "INGOT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to bind [default: 127.0.0.1].
    #[arg(long, env = "INGOT_HOST")]
    pub host: Option<String>,
    /// Port to bind; 0 picks a free port and the log says which [default: 8000].
    #[arg(long, env = "INGOT_PORT")]
    pub port: Option<u16>,
    /// Directory of the model files made by scripts/setup-models.sh
    /// [default: $HOME/.cache/ingot/models].
    #[arg(long, env = "INGOT_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
    /// Comma-separated API keys; when set, every /v1 route needs `Authorization: Bearer KEY`.
    /// Without keys the server accepts every request (and warns at start).
    #[arg(
        long,
        env = "INGOT_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Option<Vec<String>>,
    /// Key database of `ingot keys` (managed keys, per-key limits, usage ledger); when it
    /// holds any key, every /v1 route requires a key
    /// [default: $HOME/.local/share/ingot/keys.db, when that file exists].
    #[arg(long, env = "INGOT_KEYS_DB")]
    pub keys_db: Option<PathBuf>,
    /// Redis shared by several instances: managed keys' limits hold across all of them
    /// (`[state] redis_url`).
    #[arg(long, env = "INGOT_REDIS_URL")]
    pub redis_url: Option<String>,
    /// PostgreSQL shared by several instances: managed keys and the usage ledger live there
    /// instead of the key database (`[state] postgres_url`).
    #[arg(long, env = "INGOT_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Largest request body in bytes; larger bodies get 413 [default: 67108864 (64 MiB)].
    #[arg(long, env = "INGOT_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Seconds open requests get to finish after SIGINT/SIGTERM; a second signal exits at
    /// once [default: 30].
    #[arg(long, env = "INGOT_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<u64>,
    /// Context of each concurrent chat sequence, in tokens [default: 4096].
    #[arg(long, env = "INGOT_CHAT_CTX_PER_SLOT")]
    pub chat_ctx_per_slot: Option<u32>,
    /// Chat sequences decoded together [default: 4].
    #[arg(long, env = "INGOT_CHAT_MAX_SLOTS")]
    pub chat_max_slots: Option<u32>,
    /// Chat requests that may wait for a slot before 429 [default: 64].
    #[arg(long, env = "INGOT_CHAT_QUEUE")]
    pub chat_queue: Option<usize>,
    /// Internal destinations (CIDRs or host names, comma-separated) that image and video
    /// URLs may point to; loopback, private and link-local addresses are refused otherwise.
    #[arg(long, env = "INGOT_VISION_ALLOW", value_delimiter = ',')]
    pub vision_allow: Option<Vec<String>>,
    /// A llama.cpp multimodal projector (mmproj GGUF): the vision-chat ids are then answered
    /// by a vision-language model that sees the pixels (the chat model, or --vision-model).
    #[arg(long, env = "INGOT_VISION_MMPROJ")]
    pub vision_mmproj: Option<PathBuf>,
    /// The vision-language model's GGUF, when it is not the chat model (needs --vision-mmproj).
    #[arg(long, env = "INGOT_VISION_MODEL", requires = "vision_mmproj")]
    pub vision_model: Option<PathBuf>,
    /// Share one KV cache among the chat slots instead of one per slot (see "Output under
    /// concurrency" in docs/configuration.md).
    #[arg(long, env = "INGOT_CHAT_UNIFIED_KV")]
    pub chat_unified_kv: bool,
    /// Do not load the local chat model.
    #[arg(long)]
    pub no_chat: bool,
    /// Do not load the local embedding models.
    #[arg(long)]
    pub no_embeddings: bool,
    /// Do not serve the web playground at `/` (the API is unchanged).
    #[arg(long, env = "INGOT_NO_UI")]
    pub no_ui: bool,
    /// Print the effective configuration (file, environment and flags resolved; API keys
    /// redacted) as TOML, check it, and exit without serving.
    #[arg(long)]
    pub check_config: bool,
    /// Log format.
    #[arg(long, env = "INGOT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `ingot keys` actions.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key and print its secret (shown only this once).
    Create {
        /// A label for the key.
        #[arg(long, default_value = "default")]
        name: String,
        /// Requests per minute (unlimited when absent).
        #[arg(long)]
        rpm: Option<u32>,
        /// Tokens (prompt + completion) per minute.
        #[arg(long)]
        tpm: Option<u32>,
        /// Requests in flight at once.
        #[arg(long)]
        concurrency: Option<u32>,
        /// Print the key as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the keys (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id or prefix; requests with it get 401 from then on.
    Revoke {
        /// The key's id (`key_…`) or the prefix shown by `list`.
        key: String,
    },
}

/// `ingot usage`.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Only this key (id or prefix).
    #[arg(long)]
    pub key: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Key database [default: $HOME/.local/share/ingot/keys.db].
    #[arg(long, env = "INGOT_KEYS_DB")]
    pub db: Option<PathBuf>,
    /// The ledger in PostgreSQL instead (`[state] postgres_url` of the servers).
    #[arg(long, env = "INGOT_POSTGRES_URL", conflicts_with = "db")]
    pub postgres_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[test]
    fn serve_flags_given_twice_take_the_last_value() {
        let cli =
            Cli::try_parse_from(["ingot", "serve", "--port", "8000", "--port", "9000"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.port, Some(9000));
    }
}
