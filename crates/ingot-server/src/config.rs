//! Server configuration: one typed tree, read from TOML (unknown keys rejected, naming the
//! key), with every default written once here. Flags and environment variables are applied
//! on top by the binary (precedence: flags > env > file > defaults).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default bind host.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default port.
pub const DEFAULT_PORT: u16 = 8000;
/// Default body limit: 64 MiB, as base64 images and videos exceed axum's 2 MB default.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024 * 1024;

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
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// The local chat engine.
    pub chat: ChatConfig,
    /// The local embedding engines.
    pub embeddings: EmbeddingsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            model_dir: PathBuf::from("models"),
            api_keys: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            chat: ChatConfig::default(),
            embeddings: EmbeddingsConfig::default(),
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
}

impl Default for EmbeddingsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            general: PathBuf::from("all-minilm-l6-v2"),
            multilingual: PathBuf::from("multilingual-e5-small"),
            queue_capacity: 256,
        }
    }
}

impl Config {
    /// Parses TOML; unknown keys are errors that name the key.
    ///
    /// # Errors
    /// The TOML error, e.g. "unknown field `prot`, expected one of …".
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
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
    fn unknown_keys_are_named() {
        let e = Config::from_toml("prot = 1").unwrap_err();
        assert!(e.contains("prot"), "{e}");
        let e = Config::from_toml("[chat]\nctx = 5").unwrap_err();
        assert!(e.contains("ctx"), "{e}");
    }

    #[test]
    fn partial_file_keeps_defaults() {
        let c = Config::from_toml("port = 9\n[chat]\nmax_slots = 2").unwrap();
        assert_eq!(c.port, 9);
        assert_eq!(c.chat.max_slots, 2);
        assert_eq!(c.chat.ctx_per_slot, ChatConfig::default().ctx_per_slot);
        assert_eq!(c.host, DEFAULT_HOST);
    }
}
