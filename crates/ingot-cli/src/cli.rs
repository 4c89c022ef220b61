//! Command-line definitions only.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// ingot: the NVIDIA NIM API, self-hosted, in one binary.
#[derive(Debug, Parser)]
#[command(name = "ingot", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the NIM API (chat, embeddings, 3D, model list) with the local models.
    ///
    /// Settings come from, in order of precedence: flags, environment variables, the TOML
    /// file given by --config, built-in defaults. Unknown keys in the file are rejected.
    Serve(ServeArgs),
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
pub struct ServeArgs {
    /// TOML configuration file (keys: host, port, model_dir, api_keys, body_limit, [chat],
    /// [embeddings]; see docs/configuration.md).
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
    /// Largest request body in bytes; larger bodies get 413 [default: 67108864 (64 MiB)].
    #[arg(long, env = "INGOT_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Context of each concurrent chat sequence, in tokens [default: 4096].
    #[arg(long, env = "INGOT_CHAT_CTX_PER_SLOT")]
    pub chat_ctx_per_slot: Option<u32>,
    /// Chat sequences decoded together [default: 4].
    #[arg(long, env = "INGOT_CHAT_MAX_SLOTS")]
    pub chat_max_slots: Option<u32>,
    /// Chat requests that may wait for a slot before 429 [default: 64].
    #[arg(long, env = "INGOT_CHAT_QUEUE")]
    pub chat_queue: Option<usize>,
    /// Do not load the local chat model.
    #[arg(long)]
    pub no_chat: bool,
    /// Do not load the local embedding models.
    #[arg(long)]
    pub no_embeddings: bool,
    /// Log format.
    #[arg(long, env = "INGOT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}
