//! [`Proxy`]: the upstream pool and its forwarding loop (retries, then failover).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::attempt::{self, Attempt, Call};
use crate::error::{FailureKind, ProxyError, UpstreamFailure};
use crate::replica::{Fault, Replica, ReplicaStats};
use crate::retry;
use crate::routing::{self, ModelPattern};
use crate::spec::{ApiKey, UpstreamSpec};
use crate::stats::{UpstreamStats, bump};
use crate::upstream::Upstream;
pub use crate::upstream::{Endpoint, Forwarded, ForwardedBody};

/// How long to wait for a connection before counting the attempt as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The upstreams serving one id, in failover order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upstream name and the id it is asked for, in order.
    pub targets: Vec<Target>,
    /// Whether a local engine may answer when all of them fail transiently (any of the
    /// upstreams enables it).
    pub local_fallback: bool,
}

/// One upstream of a [`Route`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The upstream's name.
    pub upstream: String,
    /// The id sent to it (after `rename`).
    pub model: String,
}

/// The upstream pool: routes ids, forwards requests, counts what happens.
pub struct Proxy {
    pub(crate) upstreams: Vec<Upstream>,
    table: Vec<Vec<ModelPattern>>,
    /// `None` only for [`Proxy::empty`], which routes nothing.
    pub(crate) client: Option<reqwest::Client>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field(
                "upstreams",
                &self
                    .upstreams
                    .iter()
                    .map(|u| u.spec.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Proxy {
    /// Validates the upstreams and builds the pool.
    ///
    /// # Errors
    /// [`ProxyError::Config`] naming the first invalid upstream and key,
    /// [`ProxyError::DuplicateName`], or [`ProxyError::Client`].
    pub fn new(specs: Vec<UpstreamSpec>) -> Result<Self, ProxyError> {
        let mut upstreams = Vec::with_capacity(specs.len());
        let mut table = Vec::with_capacity(specs.len());
        for spec in specs {
            if upstreams
                .iter()
                .any(|u: &Upstream| u.spec.name == spec.name)
            {
                return Err(ProxyError::DuplicateName { name: spec.name });
            }
            let (bases, patterns) = spec.check()?;
            let trellis_base = spec
                .trellis_base_url
                .as_deref()
                .and_then(|t| reqwest::Url::parse(t).ok());
            let mut replicas = Vec::with_capacity(bases.len());
            for (base, configured) in bases.iter().zip(&spec.base_urls) {
                let bad = |message: String| ProxyError::Config {
                    upstream: spec.name.clone(),
                    message,
                };
                let mut urls = Vec::with_capacity(Endpoint::ALL.len());
                for e in Endpoint::ALL {
                    let base = match (e, &trellis_base) {
                        (Endpoint::Trellis, Some(t)) => t,
                        _ => base,
                    };
                    urls.push(join_url(base, e.path(&spec).trim_start_matches('/')).map_err(bad)?);
                }
                let urls: [reqwest::Url; 5] = urls
                    .try_into()
                    .map_err(|_| bad("an endpoint URL is missing".to_owned()))?;
                let health = match spec.health_path.as_deref() {
                    Some(path) => Some(join_url(base, path).map_err(bad)?),
                    None => None,
                };
                let models = join_url(base, "models").map_err(bad)?;
                replicas.push(Arc::new(Replica::new(
                    configured.clone(),
                    urls,
                    health,
                    models,
                )));
            }
            table.push(patterns);
            upstreams.push(Upstream {
                spec,
                replicas,
                listed: RwLock::default(),
                counters: Arc::default(),
            });
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("ingot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProxyError::Client(e.to_string()))?;
        Ok(Self {
            upstreams,
            table,
            client: Some(client),
        })
    }

    /// A pool with no upstream; it routes nothing.
    pub fn empty() -> Self {
        Self {
            upstreams: Vec::new(),
            table: Vec::new(),
            client: None,
        }
    }

    /// Whether any upstream sends callers' own keys (`forward_client_key`).
    pub fn forwards_client_keys(&self) -> bool {
        self.upstreams.iter().any(|u| u.spec.forward_client_key)
    }

    /// Whether no upstream is configured.
    pub fn is_empty(&self) -> bool {
        self.upstreams.is_empty()
    }

    /// The upstreams serving `model`, in failover order; `None` when none does.
    pub fn route(&self, model: &str) -> Option<Route> {
        let order = self.order(model);
        if order.is_empty() {
            return None;
        }
        let ups: Vec<&Upstream> = order.iter().map(|&i| &self.upstreams[i]).collect();
        Some(Route {
            local_fallback: ups.iter().any(|u| u.spec.local_fallback),
            targets: ups
                .iter()
                .map(|u| Target {
                    upstream: u.spec.name.clone(),
                    model: u
                        .spec
                        .rename
                        .get(model)
                        .cloned()
                        .unwrap_or_else(|| model.to_owned()),
                })
                .collect(),
        })
    }

    /// The exact ids of every upstream's `models`, then the ids their own model lists name
    /// (`list_models`), each once with the first upstream that lists it, in configuration
    /// order (for `/v1/models`).
    pub fn listed_ids(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (u, patterns) in self.upstreams.iter().zip(&self.table) {
            for id in patterns.iter().filter_map(ModelPattern::exact) {
                if seen.insert(id.to_owned()) {
                    out.push((id.to_owned(), u.spec.name.clone()));
                }
            }
        }
        for u in &self.upstreams {
            for id in u.listed().iter() {
                if seen.insert(id.clone()) {
                    out.push((id.clone(), u.spec.name.clone()));
                }
            }
        }
        out
    }

    /// The upstreams serving `model`, in failover order, as indexes.
    fn order(&self, model: &str) -> Vec<usize> {
        routing::order_with(&self.table, model, |i| {
            self.upstreams[i].listed().iter().any(|id| id == model)
        })
    }

    /// Counters of every upstream, in configuration order.
    pub fn stats(&self) -> Vec<UpstreamStats> {
        self.upstreams
            .iter()
            .map(|u| u.counters.snapshot(&u.spec.name))
            .collect()
    }

    /// State and counters of every replica, upstreams in configuration order.
    pub fn replica_stats(&self) -> Vec<ReplicaStats> {
        let now = Instant::now();
        self.upstreams
            .iter()
            .flat_map(|u| u.replicas.iter().map(|r| r.snapshot(&u.spec.name, now)))
            .collect()
    }

    /// Forwards a JSON body for `model` to its upstreams: `model` is rewritten per
    /// `rename`, the upstream's key is sent, each upstream is retried on connection errors,
    /// timeouts, 408/409/429 and 5xx, then the next one is tried. A stream request is
    /// piped through from its first byte on; retries and failover happen only before it.
    ///
    /// # Errors
    /// [`ProxyError::NoRoute`] when no upstream serves `model`; [`ProxyError::AllFailed`]
    /// when every upstream failed. A 4xx client error from an upstream is not an error:
    /// it comes back in [`Forwarded`] to be passed on as is.
    pub async fn forward(
        &self,
        endpoint: Endpoint,
        model: &str,
        body: serde_json::Value,
        stream: bool,
    ) -> Result<Forwarded, ProxyError> {
        self.forward_for(endpoint, model, body, stream, None).await
    }

    /// [`forward`](Self::forward) for a caller who presented `caller_key`: upstreams with
    /// `forward_client_key` get that key instead of their own (bring-your-own-key), and
    /// pass back a 401 or 403 answered to it.
    ///
    /// # Errors
    /// As [`forward`](Self::forward).
    pub async fn forward_for(
        &self,
        endpoint: Endpoint,
        model: &str,
        mut body: serde_json::Value,
        stream: bool,
        caller_key: Option<&ApiKey>,
    ) -> Result<Forwarded, ProxyError> {
        let order = self.order(model);
        if order.is_empty() {
            return Err(ProxyError::NoRoute {
                model: model.to_owned(),
            });
        }
        let mut failures = Vec::new();
        let mut local_fallback = false;
        for (n, &i) in order.iter().enumerate() {
            let up = &self.upstreams[i];
            local_fallback |= up.spec.local_fallback;
            bump(&up.counters.requests);
            let upstream_model = up.spec.rename.get(model).map(String::as_str);
            if let Some(obj) = body.as_object_mut()
                && obj.contains_key("model")
            {
                obj.insert(
                    "model".to_owned(),
                    serde_json::Value::String(upstream_model.unwrap_or(model).to_owned()),
                );
            }
            let bytes = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
            let timeout = match endpoint {
                Endpoint::Trellis => up.spec.trellis_timeout,
                _ => up.spec.timeout,
            };
            let call = Call {
                endpoint,
                body: &bytes,
                stream,
                timeout,
                rename: upstream_model.map(|u| (u, model)),
                caller: caller_key,
            };
            match self.try_upstream(up, &call).await {
                Ok(fwd) => return Ok(fwd),
                Err(f) => {
                    bump(&up.counters.failures);
                    if n + 1 < order.len() {
                        tracing::warn!(
                            upstream = %up.spec.name,
                            model,
                            "failing over to the next upstream: {f}"
                        );
                    }
                    failures.push(f);
                }
            }
        }
        let local_fallback = local_fallback && failures.iter().all(UpstreamFailure::is_transient);
        Err(ProxyError::AllFailed {
            model: model.to_owned(),
            failures,
            local_fallback,
        })
    }

    async fn try_upstream(
        &self,
        up: &Upstream,
        call: &Call<'_>,
    ) -> Result<Forwarded, UpstreamFailure> {
        let mut attempt = 0u32;
        let mut tried: Vec<usize> = Vec::new();
        loop {
            attempt += 1;
            bump(&up.counters.attempts);
            if attempt > 1 {
                bump(&up.counters.retries);
            }
            let r = up.pick(&tried);
            tried.push(r);
            let replica = &up.replicas[r];
            let url = &replica.urls[call.endpoint.index()];
            let started = Instant::now();
            let outcome = attempt::attempt(self.client.as_ref(), up, replica, call).await;
            let (kind, hint, retryable) = match outcome {
                Attempt::Done(fwd) => {
                    replica.succeeded(started.elapsed());
                    if (200..300).contains(&fwd.status) {
                        bump(&up.counters.successes);
                    } else {
                        bump(&up.counters.passed_through);
                    }
                    return Ok(fwd);
                }
                Attempt::Retry(kind, hint) => (kind, hint, true),
                Attempt::FailOver(kind) => (kind, None, false),
            };
            self.note_fault(up, replica, &kind);
            let wait = if retryable && attempt <= up.spec.max_retries {
                if up.has_fresh_replica(&tried) && hint.is_none() {
                    // Another replica is up: no reason to wait before asking it.
                    Some(Duration::ZERO)
                } else {
                    retry::wait(up.spec.backoff, attempt, hint, retry::jitter())
                }
            } else {
                None
            };
            let Some(wait) = wait else {
                return Err(UpstreamFailure {
                    upstream: up.spec.name.clone(),
                    url: url.to_string(),
                    attempts: attempt,
                    last: kind,
                });
            };
            tracing::info!(
                upstream = %up.spec.name,
                replica = %replica.base,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying: {kind}"
            );
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Counts a failed attempt on its replica, and ejects the replica when the failure
    /// says it is sick (no connection, no answer in time, a broken body, a 5xx).
    fn note_fault(&self, up: &Upstream, replica: &Replica, kind: &FailureKind) {
        let (fault, sick) = match kind {
            FailureKind::Connect(_) | FailureKind::Body(_) => (Fault::Connect, true),
            FailureKind::Timeout { .. } => (Fault::Timeout, true),
            FailureKind::Status { status, .. } => (Fault::Status, *status >= 500),
        };
        replica.fault(fault);
        if sick && let Some(wait) = replica.eject(up.spec.eject, Instant::now()) {
            tracing::warn!(
                upstream = %up.spec.name,
                replica = %replica.base,
                cool_down_ms = wait.as_millis() as u64,
                "replica ejected: {kind}"
            );
        }
    }
}

/// `path` under `base` (appended to its path), or from its host's root when it starts
/// with `/`.
fn join_url(base: &reqwest::Url, path: &str) -> Result<reqwest::Url, String> {
    let s = match path.trim() {
        p if p.starts_with('/') => format!("{}{p}", base.origin().ascii_serialization()),
        p => format!("{}/{p}", base.as_str().trim_end_matches('/')),
    };
    reqwest::Url::parse(&s).map_err(|e| format!("cannot build the URL {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, models: &[&str]) -> UpstreamSpec {
        UpstreamSpec::new(
            name,
            "http://127.0.0.1:9/v1/",
            models.iter().map(|s| (*s).to_owned()).collect(),
        )
    }

    #[test]
    fn routes_with_rename_and_fallback() {
        let mut a = spec("a", &["meta/*"]);
        a.rename.insert("meta/x".into(), "llama-x".into());
        let mut b = spec("b", &["meta/x"]);
        b.local_fallback = true;
        let p = Proxy::new(vec![a, b]).unwrap();
        let r = p.route("meta/x").unwrap();
        assert_eq!(
            r.targets,
            vec![
                Target {
                    upstream: "b".into(),
                    model: "meta/x".into()
                },
                Target {
                    upstream: "a".into(),
                    model: "llama-x".into()
                },
            ]
        );
        assert!(r.local_fallback);
        assert!(!p.route("meta/y").unwrap().local_fallback);
        assert!(p.route("google/x").is_none());
        assert_eq!(p.listed_ids(), vec![("meta/x".into(), "b".into())]);
        let urls = &p.upstreams[0].replicas[0].urls;
        assert_eq!(
            urls[Endpoint::ChatCompletions.index()].as_str(),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert_eq!(
            urls[Endpoint::Trellis.index()].as_str(),
            "http://127.0.0.1:9/v1/genai/microsoft/trellis"
        );
    }

    #[test]
    fn replica_urls_health_and_trellis_hosts() {
        let mut s = spec("hosted", &["*"]);
        s.base_urls = vec!["http://a:1/v1".into(), "http://b:2/v1/".into()];
        s.health_path = Some("/health".into());
        s.trellis_base_url = Some("https://ai.example/v1".into());
        let p = Proxy::new(vec![s]).unwrap();
        let r = &p.upstreams[0].replicas;
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[1].urls[Endpoint::Embeddings.index()].as_str(),
            "http://b:2/v1/embeddings"
        );
        assert_eq!(
            r[0].urls[Endpoint::Trellis.index()].as_str(),
            "https://ai.example/v1/genai/microsoft/trellis"
        );
        assert_eq!(
            r[1].health_url.as_ref().unwrap().as_str(),
            "http://b:2/health"
        );
        let mut s = spec("nim", &["*"]);
        s.health_path = Some("health/ready".into());
        let p = Proxy::new(vec![s]).unwrap();
        assert_eq!(
            p.upstreams[0].replicas[0]
                .health_url
                .as_ref()
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/v1/health/ready"
        );
        assert_eq!(p.replica_stats().len(), 1);
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let e = Proxy::new(vec![spec("a", &["*"]), spec("a", &["x"])]).unwrap_err();
        assert!(e.to_string().contains("`a`"), "{e}");
    }

    #[tokio::test]
    async fn connection_refused_is_retried_then_reported() {
        let mut s = spec("down", &["*"]);
        s.max_retries = 1;
        s.backoff = Duration::from_millis(1);
        s.local_fallback = true;
        let p = Proxy::new(vec![s]).unwrap();
        let e = p
            .forward(
                Endpoint::Embeddings,
                "m",
                serde_json::json!({"model":"m"}),
                false,
            )
            .await
            .unwrap_err();
        match &e {
            ProxyError::AllFailed { failures, .. } => {
                assert_eq!(failures[0].attempts, 2);
                assert!(matches!(failures[0].last, FailureKind::Connect(_)));
                assert!(failures[0].url.ends_with("/v1/embeddings"));
            }
            other => panic!("{other:?}"),
        }
        assert!(e.local_fallback_allowed());
        let st = &p.stats()[0];
        assert_eq!(
            (st.requests, st.attempts, st.retries, st.failures),
            (1, 2, 1, 1)
        );
        assert_eq!(st.connect_errors, 2);
    }
}
