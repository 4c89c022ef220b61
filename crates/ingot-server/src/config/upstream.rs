//! `[[upstreams]]`: servers that model ids are routed to, presets, and their specs for the
//! proxy.

use std::collections::BTreeMap;
use std::time::Duration;

use ingot_core::ModelKind;
use ingot_proxy::{ApiKey, UpstreamSpec};
use serde::{Deserialize, Serialize};

use super::Config;

/// `[[upstreams]]`: one OpenAI/NIM-compatible server (hosted NVIDIA API, NIM container,
/// vLLM, llama.cpp server, Ollama) and the ids routed to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// A known service whose URLs, paths and key variable fill what is not set here:
    /// `"nvidia"`, the hosted NVIDIA API.
    pub preset: Option<Preset>,
    /// Unique name, used in logs, errors and the `x-ingot-upstream` response header.
    pub name: String,
    /// Base URL with the API version, e.g. `https://integrate.api.nvidia.com/v1`; paths
    /// are appended to it as-is (nothing adds `/v1`).
    pub base_url: String,
    /// Several replicas of the same server, instead of `base_url`: each request goes to
    /// the one with the fewest outstanding requests, and a failing one is ejected.
    pub base_urls: Vec<String>,
    /// Key sent as `Authorization: Bearer`; never logged. Prefer `api_key_env`.
    pub api_key: Option<ApiKey>,
    /// Name of an environment variable holding the key, read once at start.
    pub api_key_env: Option<String>,
    /// Ids routed here: exact ids (listed in `/v1/models`), or `org/*` and `*` patterns.
    pub models: Vec<String>,
    /// Id clients send → id this upstream knows (e.g. an Ollama tag).
    pub rename: BTreeMap<String, String>,
    /// Kind of the exact ids the catalog does not know, for `/v1/models` and endpoint checks.
    pub kind: UpstreamKind,
    /// Seconds per chat or embeddings attempt (streams: until the first byte, then
    /// between chunks).
    pub timeout_secs: u64,
    /// Seconds per TRELLIS attempt; generation takes minutes.
    pub trellis_timeout_secs: u64,
    /// Retries on this upstream before the next one is tried.
    pub max_retries: u32,
    /// First backoff between retries in milliseconds; it doubles on each retry.
    pub backoff_ms: u64,
    /// TRELLIS path under `base_url`: `genai/microsoft/trellis` (hosted), `infer` (NIM).
    pub trellis_path: String,
    /// Overrides the top-level `local_fallback` for the ids this upstream serves.
    pub local_fallback: Option<bool>,
    /// Seconds a failing replica (no connection, timeout, 5xx) is left out at first; each
    /// ejection since its last success doubles it (at most 5 minutes).
    pub eject_secs: u64,
    /// Active health checks: this path is fetched on every replica each
    /// `health_interval_secs` (`/health` from the host's root, `health/ready` under
    /// `base_url`); a failing replica gets no traffic until a check passes.
    pub health_path: Option<String>,
    /// Seconds between health checks.
    pub health_interval_secs: u64,
    /// Bring-your-own-key: send the key the caller presented instead of `api_key` (the
    /// configured key is used when the caller sent none).
    pub forward_client_key: bool,
    /// Base URL of TRELLIS requests when it differs from `base_url`.
    pub trellis_base_url: Option<String>,
    /// Also route and list the ids the upstream's own `GET models` names (fetched at start,
    /// then every `models_refresh_secs`; a failed fetch keeps the last list).
    pub list_models: bool,
    /// Seconds between refreshes of the upstream's model list.
    pub models_refresh_secs: u64,
}

/// `preset`: a known service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Preset {
    /// The hosted NVIDIA API: chat, embeddings, ranking and the model list at
    /// `https://integrate.api.nvidia.com/v1`, TRELLIS at `https://ai.api.nvidia.com/v1`,
    /// the key from `NVIDIA_API_KEY`, every id (`*`).
    #[serde(rename = "nvidia")]
    Nvidia,
}

impl Preset {
    /// `base_url` of the preset.
    pub fn base_url(self) -> &'static str {
        match self {
            Preset::Nvidia => "https://integrate.api.nvidia.com/v1",
        }
    }

    /// Base URL of its TRELLIS endpoint.
    pub fn trellis_base_url(self) -> &'static str {
        match self {
            Preset::Nvidia => "https://ai.api.nvidia.com/v1",
        }
    }

    /// The environment variable its key is read from.
    pub fn key_env(self) -> &'static str {
        match self {
            Preset::Nvidia => "NVIDIA_API_KEY",
        }
    }

    /// The name an upstream of this preset gets when it has none.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Nvidia => "nvidia",
        }
    }

    /// This preset's values wherever `u` leaves them unset.
    pub fn fill(self, u: &UpstreamConfig) -> UpstreamConfig {
        let mut u = u.clone();
        if u.name.is_empty() {
            u.name = self.name().to_owned();
        }
        if u.base_url.is_empty() && u.base_urls.is_empty() {
            u.base_url = self.base_url().to_owned();
        }
        if u.trellis_base_url.is_none() {
            u.trellis_base_url = Some(self.trellis_base_url().to_owned());
        }
        if u.api_key.is_none() && u.api_key_env.is_none() {
            u.api_key_env = Some(self.key_env().to_owned());
        }
        if u.models.is_empty() && !u.list_models {
            u.models = vec!["*".to_owned()];
        }
        u
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            base_url: String::new(),
            api_key: None,
            api_key_env: None,
            models: Vec::new(),
            rename: BTreeMap::new(),
            kind: UpstreamKind::Chat,
            timeout_secs: ingot_proxy::spec::DEFAULT_TIMEOUT_SECS,
            trellis_timeout_secs: ingot_proxy::spec::DEFAULT_TRELLIS_TIMEOUT_SECS,
            max_retries: ingot_proxy::spec::DEFAULT_MAX_RETRIES,
            backoff_ms: ingot_proxy::spec::DEFAULT_BACKOFF_MS,
            trellis_path: ingot_proxy::spec::DEFAULT_TRELLIS_PATH.to_owned(),
            local_fallback: None,
            eject_secs: ingot_proxy::spec::DEFAULT_EJECT_SECS,
            health_path: None,
            health_interval_secs: ingot_proxy::spec::DEFAULT_HEALTH_INTERVAL_SECS,
            base_urls: Vec::new(),
            preset: None,
            forward_client_key: false,
            trellis_base_url: None,
            list_models: false,
            models_refresh_secs: ingot_proxy::spec::DEFAULT_MODELS_REFRESH_SECS,
        }
    }
}

/// What the exact ids of an upstream are, when the catalog does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum UpstreamKind {
    /// Chat completions.
    #[default]
    #[serde(rename = "chat")]
    Chat,
    /// Chat completions with images and video.
    #[serde(rename = "vision-chat")]
    VisionChat,
    /// Embeddings.
    #[serde(rename = "embedding")]
    Embedding,
    /// TRELLIS 3D generation.
    #[serde(rename = "3d")]
    Gen3d,
    /// Text completion only (`/v1/completions`).
    #[serde(rename = "completion")]
    Completion,
    /// Reranking (`/v1/ranking`).
    #[serde(rename = "ranking")]
    Ranking,
}

impl UpstreamKind {
    /// The catalog kind.
    pub fn model_kind(self) -> ModelKind {
        match self {
            UpstreamKind::Chat => ModelKind::Chat,
            UpstreamKind::VisionChat => ModelKind::VisionChat,
            UpstreamKind::Embedding => ModelKind::Embedding,
            UpstreamKind::Gen3d => ModelKind::Gen3d,
            UpstreamKind::Completion => ModelKind::Completion,
            UpstreamKind::Ranking => ModelKind::Ranking,
        }
    }
}

impl Config {
    /// The upstreams as the proxy takes them, with keys resolved through `env`.
    ///
    /// # Errors
    /// Both `api_key` and `api_key_env` set, or `api_key_env` naming an unset variable.
    pub fn upstream_specs(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<UpstreamSpec>, String> {
        self.upstreams
            .iter()
            .map(|u| {
                let filled;
                let u = match u.preset {
                    Some(p) => {
                        filled = p.fill(u);
                        &filled
                    }
                    None => u,
                };
                let api_key = match (&u.api_key, &u.api_key_env) {
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "upstream `{}`: set `api_key` or `api_key_env`, not both",
                            u.name
                        ));
                    }
                    (Some(k), None) => Some(k.clone()),
                    (None, Some(var)) => match env(var).filter(|v| !v.trim().is_empty()) {
                        Some(v) => Some(ApiKey::new(v.trim())),
                        // Callers bring their own key; none is needed here.
                        None if u.forward_client_key && u.preset.is_some() => None,
                        None => {
                            return Err(format!(
                                "upstream `{}`: `api_key_env` names {var:?}, which is not set",
                                u.name
                            ));
                        }
                    },
                    (None, None) => None,
                };
                let mut s = UpstreamSpec::new(&u.name, &u.base_url, u.models.clone());
                s.base_urls = match (u.base_url.is_empty(), u.base_urls.is_empty()) {
                    (false, true) => vec![u.base_url.clone()],
                    (true, false) => u.base_urls.clone(),
                    (false, false) => {
                        return Err(format!(
                            "upstream `{}`: set `base_url` or `base_urls`, not both",
                            u.name
                        ));
                    }
                    (true, true) => {
                        return Err(format!(
                            "upstream `{}`: `base_url` is missing (or `base_urls` for replicas)",
                            u.name
                        ));
                    }
                };
                s.api_key = api_key;
                s.rename = u.rename.clone();
                s.timeout = Duration::from_secs(u.timeout_secs);
                s.trellis_timeout = Duration::from_secs(u.trellis_timeout_secs);
                s.max_retries = u.max_retries;
                s.backoff = Duration::from_millis(u.backoff_ms);
                s.trellis_path = u.trellis_path.clone();
                s.local_fallback = u.local_fallback.unwrap_or(self.local_fallback);
                s.eject = Duration::from_secs(u.eject_secs);
                s.health_path.clone_from(&u.health_path);
                s.health_interval = Duration::from_secs(u.health_interval_secs);
                s.forward_client_key = u.forward_client_key;
                s.trellis_base_url.clone_from(&u.trellis_base_url);
                s.list_models = u.list_models;
                s.models_refresh = Duration::from_secs(u.models_refresh_secs);
                Ok(s)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use ingot_proxy::Proxy;

    use super::*;

    const UPSTREAMS: &str = r#"
local_fallback = true

[[upstreams]]
name = "nvidia"
base_url = "https://integrate.api.nvidia.com/v1"
api_key_env = "INGOT_TEST_KEY"
models = ["meta/*", "nvidia/nemotron-nano-12b-v2-vl"]

[[upstreams]]
name = "llama-cpp"
base_url = "http://127.0.0.1:8080/v1"
models = ["meta/llama-3.1-8b-instruct", "qwen2.5-coder"]
rename = { "meta/llama-3.1-8b-instruct" = "llama-3.1-8b" }
kind = "chat"
local_fallback = false

[[upstreams]]
name = "trellis-nim"
base_url = "http://gpu-box:8000/v1"
models = ["microsoft/trellis"]
trellis_path = "infer"
trellis_timeout_secs = 600
"#;

    #[test]
    fn upstreams_parse_with_defaults_and_env_keys() {
        let c: Config = toml::from_str(UPSTREAMS).unwrap();
        assert_eq!(c.upstreams.len(), 3);
        let env = |v: &str| (v == "INGOT_TEST_KEY").then(|| "nvapi-x".to_owned());
        let s = c.upstream_specs(env).unwrap();
        assert_eq!(s[0].api_key.as_ref().unwrap().expose(), "nvapi-x");
        assert!(!format!("{:?}", s[0]).contains("nvapi-x"));
        assert_eq!(s[0].timeout, Duration::from_secs(120));
        assert_eq!(s[0].max_retries, 2);
        assert!(s[0].local_fallback && !s[1].local_fallback && s[2].local_fallback);
        assert_eq!(s[1].rename["meta/llama-3.1-8b-instruct"], "llama-3.1-8b");
        assert_eq!(s[2].trellis_path, "infer");
        assert_eq!(s[2].trellis_timeout, Duration::from_secs(600));
        assert_eq!(s[0].trellis_path, "genai/microsoft/trellis");
        assert!(Proxy::new(s).is_ok());
        let e = c.upstream_specs(|_| None).unwrap_err();
        assert!(e.contains("nvidia") && e.contains("INGOT_TEST_KEY"), "{e}");
    }

    #[test]
    fn the_nvidia_preset_fills_what_is_unset() {
        let c = Config::from_toml("[[upstreams]]\npreset = \"nvidia\"\n").unwrap_or_else(|e| {
            // Validation reads NVIDIA_API_KEY from this process's environment.
            assert!(e.contains("NVIDIA_API_KEY"), "{e}");
            toml::from_str("[[upstreams]]\npreset = \"nvidia\"\n").unwrap()
        });
        let env = |v: &str| (v == "NVIDIA_API_KEY").then(|| "nvapi-x".to_owned());
        let s = &c.upstream_specs(env).unwrap()[0];
        assert_eq!(s.name, "nvidia");
        assert_eq!(s.base_urls, ["https://integrate.api.nvidia.com/v1"]);
        assert_eq!(
            s.trellis_base_url.as_deref(),
            Some("https://ai.api.nvidia.com/v1")
        );
        assert_eq!(s.trellis_path, "genai/microsoft/trellis");
        assert_eq!(s.api_key.as_ref().map(ApiKey::expose), Some("nvapi-x"));
        assert_eq!(s.models, ["*"]);
        let proxy = Proxy::new(vec![s.clone()]).unwrap();
        assert_eq!(
            proxy.route("microsoft/trellis").unwrap().targets[0].upstream,
            "nvidia"
        );
        // Without the variable it is an error, unless callers bring their own keys.
        let e = c.upstream_specs(|_| None).unwrap_err();
        assert!(e.contains("NVIDIA_API_KEY"), "{e}");
        let byok: Config = toml::from_str(
            "[[upstreams]]\npreset = \"nvidia\"\nforward_client_key = true\nmodels = [\"meta/*\"]\n",
        )
        .unwrap();
        let s = &byok.upstream_specs(|_| None).unwrap()[0];
        assert!(s.api_key.is_none() && s.forward_client_key);
        assert_eq!(s.models, ["meta/*"], "what is set stays");
    }

    #[test]
    fn bad_upstreams_are_named_at_load() {
        for (toml, needle) in [
            (
                "[[upstreams]]\nname = \"a\"\nbase_url = \"nope\"\nmodels = [\"*\"]",
                "base_url",
            ),
            (
                "[[upstreams]]\nname = \"a\"\nbase_url = \"http://h/v1\"",
                "models",
            ),
            (
                "[[upstreams]]\nname = \"a\"\nbase_url = \"http://h/v1\"\nmodels = [\"*\"]\nkind = \"audio\"",
                "kind",
            ),
            (
                "[[upstreams]]\nname = \"a\"\nbase_url = \"http://h/v1\"\nmodels = [\"*\"]\napi_key = \"k\"\napi_key_env = \"K\"",
                "not both",
            ),
            (
                "[[upstreams]]\nname = \"a\"\nbase_url = \"http://h/v1\"\nmodels = [\"*\"]\nretries = 1",
                "retries",
            ),
            (
                "[[upstreams]]\nname = \"a\"\nbase_url = \"http://h/v1\"\nbase_urls = [\"http://i/v1\"]\nmodels = [\"*\"]",
                "not both",
            ),
            ("[[upstreams]]\nname = \"a\"\nmodels = [\"*\"]", "base_url"),
            (
                "[[upstreams]]\nname = \"a\"\nbase_urls = [\"http://h/v1\", \"h2\"]\nmodels = [\"*\"]",
                "\"h2\"",
            ),
            (
                "[[upstreams]]\nname = \"a\"\nbase_url = \"http://h/v1\"\nmodels = [\"*\"]\nhealth_path = \"/health\"\nhealth_interval_secs = 0",
                "health_interval_secs",
            ),
        ] {
            let e = Config::from_toml(toml).unwrap_err();
            assert!(e.contains(needle), "{toml}: {e}");
            if needle != "kind" && needle != "retries" {
                assert!(e.contains("`a`"), "{e}");
            }
        }
    }
}
