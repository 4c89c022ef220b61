//! ingot's upstream router: model ids routed to OpenAI/NIM-compatible servers (the hosted
//! NVIDIA API, NIM containers, vLLM, the llama.cpp server, Ollama).
//!
//! A [`Proxy`] holds the configured upstreams. For a model id it finds the upstreams that
//! serve it (exact ids first, then `org/*` and `*` patterns, each in configuration order),
//! and forwards the request body: `model` is rewritten per the upstream's `rename`, the
//! upstream's own key is sent (never the client's), and each upstream is retried with
//! exponential backoff on connection errors, timeouts, 408/409/429 (honouring
//! `Retry-After` up to a cap) and 5xx before the next one is tried. A 4xx that describes the
//! client's mistake comes back as is. Streams are piped through byte for byte from their
//! first byte on; a stream that breaks off ends with an OpenAI-shaped error event and
//! `data: [DONE]`. Every attempt is counted per upstream ([`Proxy::stats`]).
//!
//! An upstream may have several replicas (`base_urls`): each attempt goes to the one with
//! the fewest outstanding requests, a retry prefers one not yet tried, and a replica that
//! fails (no connection, timeout, 5xx) is ejected for a cool-down that doubles with each
//! repeated ejection. Optional active health checks ([`Proxy::spawn_health_checks`]) take
//! replicas out and bring them back. Each replica is counted too ([`Proxy::replica_stats`]).
//! With `list_models`, the ids an upstream's own `GET models` names are routed to it as
//! exact ids ([`Proxy::spawn_model_listing`]).
//!
//! This crate reads no environment variables and logs no keys: it takes resolved values.
//!
//! # Layout
//! - [`spec`]: [`UpstreamSpec`], its defaults and validation, the redacted [`ApiKey`].
//! - [`routing`]: model patterns and the failover order.
//! - [`retry`]: which statuses are retried, passed back or failed over; backoff.
//! - [`replica`]: least-outstanding choice, ejection and cool-down, per-replica counters.
//! - [`health`]: active health checks.
//! - [`listing`]: upstreams' own model lists (`list_models`), refreshed in the background.
//! - [`proxy`]: [`Proxy`] and its forwarding loop (`forward` → `try_upstream` → `attempt`).
//! - [`upstream`]: one upstream of the pool, [`Endpoint`], [`Forwarded`].
//! - [`sse`]: the byte pipe for streams.
//! - [`error`]: [`ProxyError`] and what each upstream answered.
//! - [`stats`]: per-upstream counters.
//!
//! # Example
//! ```
//! use ingot_proxy::{ApiKey, Proxy, UpstreamSpec};
//!
//! let mut hosted = UpstreamSpec::new(
//!     "hosted",
//!     "https://integrate.api.nvidia.com/v1",
//!     vec!["meta/*".to_owned()],
//! );
//! hosted.api_key = Some(ApiKey::new("nvapi-..."));
//! let mut local = UpstreamSpec::new(
//!     "llama-cpp",
//!     "http://127.0.0.1:8080/v1",
//!     vec!["meta/llama-3.1-8b-instruct".to_owned()],
//! );
//! local
//!     .rename
//!     .insert("meta/llama-3.1-8b-instruct".to_owned(), "llama-3.1-8b".to_owned());
//! let proxy = Proxy::new(vec![hosted, local])?;
//! let route = proxy.route("meta/llama-3.1-8b-instruct").expect("routed");
//! // The exact id wins over the pattern.
//! assert_eq!(route.targets[0].upstream, "llama-cpp");
//! assert_eq!(route.targets[0].model, "llama-3.1-8b");
//! assert_eq!(route.targets[1].upstream, "hosted");
//! # Ok::<(), ingot_proxy::ProxyError>(())
//! ```

mod attempt;
pub mod error;
pub mod health;
pub mod listing;
pub mod proxy;
pub mod replica;
pub mod retry;
pub mod routing;
pub mod spec;
pub mod sse;
pub mod stats;
pub mod upstream;

pub use error::{FailureKind, ProxyError, UpstreamFailure};
pub use proxy::{Endpoint, Forwarded, ForwardedBody, Proxy, Route, Target};
pub use replica::ReplicaStats;
pub use spec::{ApiKey, UpstreamSpec};
pub use stats::UpstreamStats;
