//! Fetching http(s) media without becoming an SSRF proxy.
//!
//! Every destination must be a public unicast address unless the [`Allowlist`] names it.
//! Host names go through [`resolve::GuardedResolver`]: resolved once, every address checked,
//! and reqwest connects only to those checked addresses. IP-literal URLs never reach a
//! resolver, so they are checked before the request and, for each redirect hop, in the
//! redirect policy (which also limits hops and schemes). System proxies are disabled, since
//! a proxy would resolve names itself.

pub mod policy;
pub mod resolve;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::redirect::Policy;

pub use policy::{Allowlist, BlockReason, Cidr};
pub use resolve::{HostResolver, LookupFuture, StaticResolver, SystemResolver};

/// Limits for fetching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Time to resolve and connect.
    pub connect_timeout: Duration,
    /// Time for the whole fetch, body included.
    pub total_timeout: Duration,
    /// Largest body read; the read stops at the cap.
    pub max_bytes: usize,
    /// Redirect hops followed.
    pub max_redirects: usize,
    /// Non-public destinations that are allowed anyway.
    pub allowlist: Allowlist,
    /// `User-Agent` sent.
    pub user_agent: String,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(30),
            max_bytes: 64 * 1024 * 1024,
            max_redirects: 3,
            allowlist: Allowlist::default(),
            user_agent: concat!("ingot-vision/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Why a fetch failed. The messages are safe to return to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The destination is not allowed; nothing was connected to.
    #[error("refused to connect to `{host}`{}: it is {reason}", addr.map(|a| format!(" ({a})")).unwrap_or_default())]
    Blocked {
        /// Host as written in the URL.
        host: String,
        /// The refused address, when the refusal is about an address.
        addr: Option<IpAddr>,
        /// Why.
        reason: BlockReason,
    },
    /// Only http and https are fetched (also for redirect targets).
    #[error("unsupported URL scheme `{scheme}`; only http and https URLs are fetched")]
    UnsupportedScheme {
        /// The scheme.
        scheme: String,
    },
    /// The redirect chain is too long.
    #[error("more than {max} redirects")]
    TooManyRedirects {
        /// The limit.
        max: usize,
    },
    /// The body exceeds the cap.
    #[error("the response is larger than the limit of {max_bytes} bytes")]
    TooLarge {
        /// The cap.
        max_bytes: usize,
    },
    /// The fetch took too long.
    #[error("no complete response within {:.1} s", after.as_secs_f64())]
    Timeout {
        /// The limit.
        after: Duration,
    },
    /// A non-2xx status.
    #[error("the server answered HTTP {status}")]
    Status {
        /// The status code.
        status: u16,
    },
    /// The name does not resolve.
    #[error("could not resolve `{host}`: {reason}")]
    Dns {
        /// The name.
        host: String,
        /// Why.
        reason: String,
    },
    /// Connecting or reading failed.
    #[error("{reason}")]
    Network {
        /// The transport error.
        reason: String,
    },
}

/// The allowlist plus the public-address rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    allow: Allowlist,
}

impl AddressPolicy {
    /// A policy that allows public addresses and `allow`.
    pub fn new(allow: Allowlist) -> Self {
        Self { allow }
    }

    /// `Ok(true)` for an allowlisted name (its addresses are not checked), `Ok(false)` for a
    /// name whose addresses must be checked.
    ///
    /// # Errors
    /// Local and metadata names.
    pub fn check_name(&self, host: &str) -> Result<bool, FetchError> {
        if self.allow.allows_host(host) {
            return Ok(true);
        }
        match policy::classify_name(host) {
            Some(reason) => Err(FetchError::Blocked {
                host: host.to_owned(),
                addr: None,
                reason,
            }),
            None => Ok(false),
        }
    }

    /// # Errors
    /// A non-public address that is not allowlisted.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), FetchError> {
        if self.allow.allows_ip(ip) {
            return Ok(());
        }
        match policy::classify(ip) {
            Some(reason) => Err(FetchError::Blocked {
                host: host.to_owned(),
                addr: Some(ip),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Scheme, IP-literal and name checks that need no resolution.
    ///
    /// # Errors
    /// A scheme other than http(s), a refused IP literal or a refused name.
    pub fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(FetchError::UnsupportedScheme {
                    scheme: other.to_owned(),
                });
            }
        }
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(FetchError::Network {
                reason: "the URL has no host".to_owned(),
            });
        };
        // `Url` has already normalised IP literals (`2130706433` → `127.0.0.1`).
        let literal = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
            None => host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
        };
        match literal {
            Some(ip) => self.check_ip(host, ip),
            None => self.check_name(host).map(|_| ()),
        }
    }
}

/// A fetched body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The body.
    pub bytes: Vec<u8>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The URL after redirects.
    pub final_url: Url,
}

/// An http(s) client that refuses internal destinations. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    config: Arc<FetchConfig>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher using the system resolver.
    ///
    /// # Errors
    /// The TLS backend failed to initialise.
    pub fn new(config: FetchConfig) -> Result<Self, FetchError> {
        Self::with_resolver(config, Arc::new(SystemResolver))
    }

    /// A fetcher resolving names with `resolver` (e.g. a [`StaticResolver`] in tests).
    ///
    /// # Errors
    /// The TLS backend failed to initialise.
    pub fn with_resolver(
        config: FetchConfig,
        resolver: Arc<dyn HostResolver>,
    ) -> Result<Self, FetchError> {
        let policy = Arc::new(AddressPolicy::new(config.allowlist.clone()));
        let guard = resolve::GuardedResolver {
            inner: resolver,
            policy: Arc::clone(&policy),
            timeout: config.connect_timeout,
        };
        let redirect_policy = Arc::clone(&policy);
        let max = config.max_redirects;
        let redirect = Policy::custom(move |attempt| {
            if attempt.previous().len() > max {
                return attempt.error(FetchError::TooManyRedirects { max });
            }
            match redirect_policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(guard))
            .redirect(redirect)
            .connect_timeout(config.connect_timeout)
            .timeout(config.total_timeout)
            .user_agent(config.user_agent.clone())
            .referer(false)
            .build()
            .map_err(|e| FetchError::Network {
                reason: format!("HTTP client setup failed: {e}"),
            })?;
        Ok(Self {
            client,
            policy,
            config: Arc::new(config),
        })
    }

    /// The limits in force.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Fetches `url`, reading at most `max_bytes` (and at most the configured cap).
    ///
    /// # Errors
    /// A refused destination (before any connection), too many redirects, a body over the
    /// cap, a timeout, a non-2xx status or a network failure.
    pub async fn fetch(&self, url: &Url, max_bytes: usize) -> Result<Fetched, FetchError> {
        self.policy.check_url(url)?;
        let cap = max_bytes.min(self.config.max_bytes);
        let after = self.config.total_timeout;
        tokio::time::timeout(after, self.fetch_inner(url, cap))
            .await
            .map_err(|_| FetchError::Timeout { after })?
    }

    async fn fetch_inner(&self, url: &Url, cap: usize) -> Result<Fetched, FetchError> {
        let mut resp = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| self.map_error(&e))?;
        let status = resp.status();
        // reqwest hands back, unfollowed, redirects to schemes it does not speak.
        if status.is_redirection() {
            let target = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| resp.url().join(l).ok());
            if let Some(target) = target.filter(|t| !matches!(t.scheme(), "http" | "https")) {
                return Err(FetchError::UnsupportedScheme {
                    scheme: target.scheme().to_owned(),
                });
            }
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
            });
        }
        let too_large = FetchError::TooLarge { max_bytes: cap };
        if resp
            .content_length()
            .is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX))
        {
            return Err(too_large);
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let final_url = resp.url().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.map_error(&e))? {
            if bytes.len() + chunk.len() > cap {
                return Err(too_large);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            bytes,
            content_type,
            final_url,
        })
    }

    /// Finds our own error in reqwest's source chain (refusals come from the resolver and the
    /// redirect policy), else describes the transport failure.
    fn map_error(&self, e: &reqwest::Error) -> FetchError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(f) = s.downcast_ref::<FetchError>() {
                return f.clone();
            }
            source = s.source();
        }
        if e.is_timeout() {
            return FetchError::Timeout {
                after: self.config.total_timeout,
            };
        }
        let mut reason = if e.is_connect() {
            "could not connect".to_owned()
        } else {
            "transfer failed".to_owned()
        };
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        FetchError::Network { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_and_names_are_checked_before_connecting() {
        let p = AddressPolicy::default();
        for (u, needle) in [
            ("http://127.0.0.1/a.png", "loopback"),
            ("http://[::1]:8080/a.png", "loopback"),
            (
                "http://10.0.0.1/a.png",
                "private-network address (10.0.0.0/8)",
            ),
            (
                "http://169.254.169.254/latest/meta-data/",
                "instance-metadata",
            ),
            ("http://2130706433/", "loopback"),
            ("http://0/", "unspecified"),
            ("http://[::ffff:7f00:1]/", "IPv4-mapped"),
            (
                "http://metadata.google.internal/computeMetadata/v1/",
                "metadata host name",
            ),
            ("http://localhost:9000/", "local host name"),
        ] {
            let e = p.check_url(&Url::parse(u).unwrap()).unwrap_err();
            assert!(e.to_string().contains(needle), "{u}: {e}");
        }
        let e = p
            .check_url(&Url::parse("ftp://example.com/x").unwrap())
            .unwrap_err();
        assert!(matches!(e, FetchError::UnsupportedScheme { .. }));
        p.check_url(&Url::parse("https://example.com/a.png").unwrap())
            .unwrap();
        p.check_url(&Url::parse("https://8.8.8.8/a.png").unwrap())
            .unwrap();
    }

    #[test]
    fn refusal_names_the_address() {
        let p = AddressPolicy::default();
        let e = p
            .check_url(&Url::parse("http://10.0.0.1/x").unwrap())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "refused to connect to `10.0.0.1` (10.0.0.1): it is a private-network address (10.0.0.0/8)"
        );
    }
}
