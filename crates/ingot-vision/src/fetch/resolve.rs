//! Name resolution: a pluggable [`HostResolver`] and the guard that checks every address it
//! returns before reqwest may connect to any of them.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::AddressPolicy;
use super::FetchError;
use super::policy;

/// The future a [`HostResolver`] returns.
pub type LookupFuture = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Turns a host name into addresses. Injectable so tests can map names to chosen addresses.
pub trait HostResolver: Send + Sync + 'static {
    /// All addresses of `host`.
    fn lookup(&self, host: &str) -> LookupFuture;
}

/// The operating system's resolver (`getaddrinfo` on a blocking thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl HostResolver for SystemResolver {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A fixed table of names; unknown names fail to resolve. For tests and pinned deployments.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    table: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `host` to `addrs`.
    #[must_use]
    pub fn with(mut self, host: &str, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.table
            .insert(policy::normalise_host(host), addrs.into_iter().collect());
        self
    }
}

impl HostResolver for StaticResolver {
    fn lookup(&self, host: &str) -> LookupFuture {
        let found = self.table.get(&policy::normalise_host(host)).cloned();
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "unknown host"))
        })
    }
}

/// The resolver reqwest uses: it refuses denylisted names, resolves once, refuses the whole
/// name if any address is not allowed, and hands reqwest only the checked addresses, so
/// there is no second lookup for a rebinding attack to race.
pub(crate) struct GuardedResolver {
    pub(crate) inner: Arc<dyn HostResolver>,
    pub(crate) policy: Arc<AddressPolicy>,
    pub(crate) timeout: Duration,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let inner = Arc::clone(&self.inner);
        let policy = Arc::clone(&self.policy);
        let timeout = self.timeout;
        Box::pin(async move {
            let checked = resolve_checked(&*inner, &policy, &host, timeout).await;
            match checked {
                Ok(addrs) => {
                    let addrs: Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
                    Ok(addrs)
                }
                Err(e) => Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

/// Resolves `host` and checks every address against `policy`.
pub(crate) async fn resolve_checked(
    resolver: &dyn HostResolver,
    policy: &AddressPolicy,
    host: &str,
    timeout: Duration,
) -> Result<Vec<IpAddr>, FetchError> {
    let trusted = policy.check_name(host)?;
    let addrs = tokio::time::timeout(timeout, resolver.lookup(host))
        .await
        .map_err(|_| FetchError::Dns {
            host: host.to_owned(),
            reason: format!("no answer within {:.1} s", timeout.as_secs_f64()),
        })?
        .map_err(|e| FetchError::Dns {
            host: host.to_owned(),
            reason: e.to_string(),
        })?;
    if addrs.is_empty() {
        return Err(FetchError::Dns {
            host: host.to_owned(),
            reason: "no addresses".to_owned(),
        });
    }
    if !trusted {
        for ip in &addrs {
            policy.check_ip(host, *ip)?;
        }
    }
    Ok(addrs)
}
