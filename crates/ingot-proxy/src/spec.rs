//! What one upstream is: [`UpstreamSpec`], its defaults, the redacted [`ApiKey`], and the
//! validation that runs once at start.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ProxyError;
use crate::routing::ModelPattern;

/// Default timeout of a chat or embeddings request to an upstream, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;
/// Default timeout of a TRELLIS request, in seconds: generation takes minutes.
pub const DEFAULT_TRELLIS_TIMEOUT_SECS: u64 = 300;
/// Default retries on one upstream before failing over to the next.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Default first backoff between retries, in milliseconds; it doubles on each retry.
pub const DEFAULT_BACKOFF_MS: u64 = 250;
/// Default TRELLIS path under `base_url`: the hosted API's (`ai.api.nvidia.com/v1`).
/// A self-hosted NIM container serves `infer`.
pub const DEFAULT_TRELLIS_PATH: &str = "genai/microsoft/trellis";
/// Default first cool-down of an ejected replica, in seconds; it doubles with each
/// ejection since the replica's last success.
pub const DEFAULT_EJECT_SECS: u64 = 5;
/// Default interval of the refresh of an upstream's own model list, in seconds.
pub const DEFAULT_MODELS_REFRESH_SECS: u64 = 300;
/// Default interval of active health checks, in seconds (when a `health_path` is set).
pub const DEFAULT_HEALTH_INTERVAL_SECS: u64 = 10;

/// An upstream API key. `Debug` and `Serialize` never show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl Serialize for ApiKey {
    /// Writes `<redacted>`: a serialised configuration must not leak keys.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// One upstream server speaking the OpenAI/NIM API, with every value resolved (no
/// environment lookups happen in this crate).
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSpec {
    /// Name used in logs, errors and stats; unique.
    pub name: String,
    /// Base URL of each replica, including the API version, e.g.
    /// `https://integrate.api.nvidia.com/v1`; request paths (`chat/completions`,
    /// `embeddings`, the TRELLIS path) are appended as-is. Several replicas serve the same
    /// ids: each attempt goes to the one with the fewest requests outstanding.
    pub base_urls: Vec<String>,
    /// Sent as `Authorization: Bearer <key>`; `None` sends no header (local servers).
    pub api_key: Option<ApiKey>,
    /// Ids served: exact ids, or prefixes ending in `*` (`meta/*`, `*`).
    pub models: Vec<String>,
    /// Id clients send → id this upstream knows.
    pub rename: BTreeMap<String, String>,
    /// Timeout of a chat or embeddings attempt (for streams: until the first byte, then
    /// between chunks).
    pub timeout: Duration,
    /// Timeout of a TRELLIS attempt.
    pub trellis_timeout: Duration,
    /// Retries on this upstream (connection errors, timeouts, 408/409/429, 5xx) before the
    /// next upstream is tried.
    pub max_retries: u32,
    /// First backoff; doubled on each retry, capped at [`crate::retry::MAX_BACKOFF`].
    pub backoff: Duration,
    /// TRELLIS path under `base_url`.
    pub trellis_path: String,
    /// When every upstream of an id failed transiently, a local engine may answer instead.
    pub local_fallback: bool,
    /// First cool-down of a replica ejected after a connection error, timeout or 5xx.
    pub eject: Duration,
    /// Path of active health checks: under `base_url` like the request paths, or from the
    /// host's root when it starts with `/` (`/health`, `/v1/health/ready`). `None`: no
    /// active checks; ejected replicas come back when their cool-down ends.
    pub health_path: Option<String>,
    /// Interval of the active health checks.
    pub health_interval: Duration,
    /// Send the caller's own key (when it presented one) instead of `api_key`:
    /// bring-your-own-key. A 401 or 403 answered to it goes back to the caller.
    pub forward_client_key: bool,
    /// Base URL of TRELLIS requests when it is not the replicas' (the hosted API serves
    /// them from `ai.api.nvidia.com/v1`).
    pub trellis_base_url: Option<String>,
    /// Route (and list) the ids its own `GET models` names, refreshed every
    /// `models_refresh`, besides `models`.
    pub list_models: bool,
    /// Interval of the model list's refresh.
    pub models_refresh: Duration,
}

impl UpstreamSpec {
    /// An upstream with the default timeouts, retries and paths.
    pub fn new(name: impl Into<String>, base_url: impl Into<String>, models: Vec<String>) -> Self {
        Self {
            name: name.into(),
            base_urls: vec![base_url.into()],
            api_key: None,
            models,
            rename: BTreeMap::new(),
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            trellis_timeout: Duration::from_secs(DEFAULT_TRELLIS_TIMEOUT_SECS),
            max_retries: DEFAULT_MAX_RETRIES,
            backoff: Duration::from_millis(DEFAULT_BACKOFF_MS),
            trellis_path: DEFAULT_TRELLIS_PATH.to_owned(),
            local_fallback: false,
            eject: Duration::from_secs(DEFAULT_EJECT_SECS),
            health_path: None,
            health_interval: Duration::from_secs(DEFAULT_HEALTH_INTERVAL_SECS),
            forward_client_key: false,
            trellis_base_url: None,
            list_models: false,
            models_refresh: Duration::from_secs(DEFAULT_MODELS_REFRESH_SECS),
        }
    }

    /// Checks the spec and returns its parsed base URL and model patterns.
    ///
    /// # Errors
    /// [`ProxyError::Config`] naming this upstream and the bad key.
    pub(crate) fn check(&self) -> Result<(Vec<reqwest::Url>, Vec<ModelPattern>), ProxyError> {
        let bad = |message: String| ProxyError::Config {
            upstream: self.name.clone(),
            message,
        };
        if self.name.trim().is_empty() {
            return Err(bad("`name` must not be empty".to_owned()));
        }
        if self.base_urls.is_empty() {
            return Err(bad("`base_url` is missing".to_owned()));
        }
        let mut urls = Vec::with_capacity(self.base_urls.len());
        for base in &self.base_urls {
            let url = check_base_url(base).map_err(bad)?;
            if urls.contains(&url) {
                return Err(bad(format!("`base_urls` lists {base:?} twice")));
            }
            urls.push(url);
        }
        if self.models.is_empty() && !self.list_models {
            return Err(bad(
                "`models` is empty: list the ids it serves (exact ids, `org/*` or `*`), or set `list_models`".to_owned(),
            ));
        }
        if self.list_models && self.models_refresh.is_zero() {
            return Err(bad("`models_refresh_secs` must be at least 1".to_owned()));
        }
        let patterns = self
            .models
            .iter()
            .map(|m| ModelPattern::parse(m).map_err(|e| bad(format!("`models`: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        for (from, to) in &self.rename {
            if to.trim().is_empty() {
                return Err(bad(format!("`rename.{from:?}` is empty")));
            }
            if !patterns.iter().any(|p| p.matches(from)) {
                return Err(bad(format!(
                    "`rename` has {from:?}, which none of its `models` matches"
                )));
            }
        }
        if self.timeout.is_zero() || self.trellis_timeout.is_zero() {
            return Err(bad("timeouts must be at least 1 second".to_owned()));
        }
        if let Some(base) = &self.trellis_base_url {
            check_base_url(base).map_err(|e| bad(e.replace("`base_url`", "`trellis_base_url`")))?;
        }
        if self.eject.is_zero() {
            return Err(bad("`eject_secs` must be at least 1".to_owned()));
        }
        if let Some(path) = &self.health_path {
            let p = path.trim();
            if p.is_empty() || p.contains("://") || p.contains('?') {
                return Err(bad(format!(
                    "`health_path` {path:?} must be a path, e.g. `/health` or `health/ready`"
                )));
            }
            if self.health_interval.is_zero() {
                return Err(bad("`health_interval_secs` must be at least 1".to_owned()));
            }
        }
        let path = self.trellis_path.trim();
        if path.is_empty() || path.contains("://") || path.contains('?') {
            return Err(bad(format!(
                "`trellis_path` {:?} must be a path under base_url, e.g. `infer`",
                self.trellis_path
            )));
        }
        if self
            .api_key
            .as_ref()
            .is_some_and(|k| k.expose().trim().is_empty() || k.expose().contains(['\r', '\n']))
        {
            return Err(bad("the API key is empty or spans lines".to_owned()));
        }
        Ok((urls, patterns))
    }
}

/// A base URL parsed, or why it cannot be one.
fn check_base_url(base: &str) -> Result<reqwest::Url, String> {
    let url =
        reqwest::Url::parse(base).map_err(|e| format!("`base_url` {base:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`base_url` {base:?} must start with http:// or https://"
        ));
    }
    if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`base_url` {base:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "`base_url` must not carry credentials; use `api_key` or `api_key_env`".to_owned(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`base_url` {base:?} must not have a query or fragment"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> UpstreamSpec {
        UpstreamSpec::new(
            "hosted",
            "https://integrate.api.nvidia.com/v1",
            vec!["meta/*".into()],
        )
    }

    #[test]
    fn keys_are_redacted() {
        let mut s = spec();
        s.api_key = Some(ApiKey::new("nvapi-secret"));
        assert!(!format!("{s:?}").contains("secret"));
        assert_eq!(serde_json::to_string(&s.api_key).unwrap(), "\"<redacted>\"");
    }

    #[test]
    fn validation_names_the_upstream_and_key() {
        assert!(spec().check().is_ok());
        type Edit = fn(&mut UpstreamSpec);
        let cases: Vec<(Edit, &str)> = vec![
            (
                |s| s.base_urls = vec!["integrate.api.nvidia.com/v1".into()],
                "base_url",
            ),
            (|s| s.base_urls = vec!["ftp://x/v1".into()], "http"),
            (
                |s| s.base_urls = vec!["https://u:p@x/v1".into()],
                "credentials",
            ),
            (|s| s.base_urls.clear(), "base_url"),
            (|s| s.base_urls.push(s.base_urls[0].clone()), "twice"),
            (|s| s.eject = Duration::ZERO, "eject_secs"),
            (
                |s| s.health_path = Some("http://x/health".into()),
                "health_path",
            ),
            (|s| s.models.clear(), "models"),
            (|s| s.models = vec!["me*ta/x".into()], "models"),
            (
                |s| {
                    s.rename.insert("mistralai/x".into(), "y".into());
                },
                "rename",
            ),
            (|s| s.timeout = Duration::ZERO, "timeout"),
            (
                |s| s.trellis_path = "https://x/infer".into(),
                "trellis_path",
            ),
            (|s| s.api_key = Some(ApiKey::new(" ")), "API key"),
        ];
        for (edit, needle) in cases {
            let mut s = spec();
            edit(&mut s);
            let e = s.check().unwrap_err().to_string();
            assert!(e.contains("hosted") && e.contains(needle), "{e}");
        }
    }
}
