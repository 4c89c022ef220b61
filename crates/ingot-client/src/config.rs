//! [`ClientConfig`]: where to send requests, with which key, and how patiently.

use std::fmt;
use std::time::Duration;

/// Base URL of NVIDIA's hosted chat, embeddings and models API.
pub const DEFAULT_BASE_URL: &str = "https://integrate.api.nvidia.com/v1";
/// Base URL of NVIDIA's hosted generative endpoints (`/genai/microsoft/trellis`, …).
pub const DEFAULT_GENAI_BASE_URL: &str = "https://ai.api.nvidia.com/v1";
/// Retries after the first attempt, as openai-python does.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Timeout of one request (openai-python's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Timeout of a TRELLIS request: generation takes tens of seconds to minutes.
pub const DEFAULT_TRELLIS_TIMEOUT: Duration = Duration::from_secs(900);
/// The longest server-requested wait (`Retry-After`) that is honoured as is.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Environment variable holding the API key.
pub const ENV_API_KEY: &str = "NVIDIA_API_KEY";
/// Environment variable holding the base URL (as LangChain's `ChatNVIDIA` reads it).
pub const ENV_BASE_URL: &str = "NVIDIA_BASE_URL";

/// Settings of a [`Client`](crate::Client).
///
/// `Debug` never shows the API key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Base of `/models`, `/chat/completions` and `/embeddings`, including `/v1`
    /// (e.g. `http://127.0.0.1:8000/v1`). A trailing `/` is ignored.
    pub base_url: String,
    /// Base of `/genai/microsoft/trellis`. The hosted API serves it from another host than
    /// chat; a self-hosted ingot serves it from the same base as everything else.
    pub genai_base_url: String,
    /// Sent as `Authorization: Bearer <key>`; with `None` no header is sent at all,
    /// as LangChain does for local servers.
    pub api_key: Option<String>,
    /// How many times a failed request is retried (connection errors, timeouts, 408, 409,
    /// 429, 5xx). `0` disables retries.
    pub max_retries: u32,
    /// Limit of one attempt. For non-stream calls it bounds the whole exchange; for
    /// streams it bounds the wait for the response head and for each following piece.
    pub timeout: Duration,
    /// Limit of one TRELLIS attempt, which runs much longer than a chat call.
    pub trellis_timeout: Duration,
    /// A `Retry-After` longer than this is ignored in favour of exponential backoff,
    /// so a misbehaving server cannot park the client for hours.
    pub max_retry_after: Duration,
}

impl ClientConfig {
    /// A config for `base_url`, used for every endpoint (a self-hosted server), without a key.
    pub fn new(base_url: impl Into<String>) -> Self {
        let base = trim_base(base_url.into());
        Self {
            genai_base_url: base.clone(),
            base_url: base,
            ..Self::default()
        }
    }

    /// The hosted defaults, overridden by `NVIDIA_API_KEY` and `NVIDIA_BASE_URL`.
    ///
    /// When `NVIDIA_BASE_URL` is set it is used for the generative endpoints too, since a
    /// self-hosted server serves `/v1/genai/microsoft/trellis` on the same base. Empty
    /// variables count as unset.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut config = match get(ENV_BASE_URL) {
            Some(base) => Self::new(base),
            None => Self::default(),
        };
        config.api_key = get(ENV_API_KEY);
        config
    }

    /// Sets the API key.
    #[must_use]
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets the base of every endpoint, generative ones included (a self-hosted server);
    /// call [`with_genai_base_url`](Self::with_genai_base_url) afterwards to split them.
    #[must_use]
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = trim_base(url.into());
        self.genai_base_url = self.base_url.clone();
        self
    }

    /// Sets the base of the generative endpoints.
    #[must_use]
    pub fn with_genai_base_url(mut self, url: impl Into<String>) -> Self {
        self.genai_base_url = trim_base(url.into());
        self
    }

    /// Sets the number of retries.
    #[must_use]
    pub fn with_max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets the per-attempt timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the TRELLIS per-attempt timeout.
    #[must_use]
    pub fn with_trellis_timeout(mut self, timeout: Duration) -> Self {
        self.trellis_timeout = timeout;
        self
    }

    /// Sets the cap on honoured `Retry-After` values.
    #[must_use]
    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }
}

impl Default for ClientConfig {
    /// NVIDIA's hosted API, no key.
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            genai_base_url: DEFAULT_GENAI_BASE_URL.to_owned(),
            api_key: None,
            max_retries: DEFAULT_MAX_RETRIES,
            timeout: DEFAULT_TIMEOUT,
            trellis_timeout: DEFAULT_TRELLIS_TIMEOUT,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("genai_base_url", &self.genai_base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("max_retries", &self.max_retries)
            .field("timeout", &self.timeout)
            .field("trellis_timeout", &self.trellis_timeout)
            .field("max_retry_after", &self.max_retry_after)
            .finish()
    }
}

fn trim_base(url: String) -> String {
    let trimmed = url.trim().trim_end_matches('/');
    trimmed.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn hosted_defaults_without_env() {
        let c = ClientConfig::from_lookup(env(&[]));
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.genai_base_url, DEFAULT_GENAI_BASE_URL);
        assert_eq!(c.api_key, None);
        assert_eq!(c.max_retries, 2);
        assert_eq!(c.max_retry_after, Duration::from_secs(60));
    }

    #[test]
    fn base_url_from_env_serves_genai_too() {
        let c = ClientConfig::from_lookup(env(&[
            (ENV_BASE_URL, "http://127.0.0.1:8000/v1/"),
            (ENV_API_KEY, "nvapi-secret"),
        ]));
        assert_eq!(c.base_url, "http://127.0.0.1:8000/v1");
        assert_eq!(c.genai_base_url, "http://127.0.0.1:8000/v1");
        assert_eq!(c.api_key.as_deref(), Some("nvapi-secret"));
    }

    #[test]
    fn empty_env_vars_count_as_unset() {
        let c = ClientConfig::from_lookup(env(&[(ENV_BASE_URL, " "), (ENV_API_KEY, "")]));
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.api_key, None);
    }

    #[test]
    fn with_base_url_moves_both_bases() {
        let c = ClientConfig::default().with_base_url("http://h:1/v1/");
        assert_eq!(
            (c.base_url.as_str(), c.genai_base_url.as_str()),
            ("http://h:1/v1", "http://h:1/v1")
        );
        let c = c.with_genai_base_url(DEFAULT_GENAI_BASE_URL);
        assert_eq!(c.genai_base_url, DEFAULT_GENAI_BASE_URL);
    }

    #[test]
    fn debug_hides_the_key() {
        let c = ClientConfig::new("http://x/v1").with_api_key("nvapi-secret");
        let s = format!("{c:?}");
        assert!(!s.contains("nvapi-secret"), "{s}");
        assert!(s.contains("<redacted>"), "{s}");
    }
}
