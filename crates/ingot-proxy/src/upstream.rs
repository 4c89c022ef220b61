//! One upstream as the pool holds it ([`Upstream`]: its spec, replicas, model list and
//! counters), the endpoints a request can go to, and what an upstream answered.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use tokio::time::Instant;

use crate::replica::{self, Candidate, Replica};
use crate::retry;
use crate::spec::UpstreamSpec;
use crate::sse::ByteStream;
use crate::stats::Counters;

/// Which API a request goes to; each maps to a path under the upstream's `base_url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `chat/completions`.
    ChatCompletions,
    /// `embeddings`.
    Embeddings,
    /// The upstream's `trellis_path` (`genai/microsoft/trellis` or `infer`).
    Trellis,
    /// `completions`.
    Completions,
    /// `ranking` (NeMo Retriever reranking NIMs).
    Ranking,
}

impl Endpoint {
    /// Every endpoint, in the order of a replica's URLs.
    pub(crate) const ALL: [Endpoint; 5] = [
        Endpoint::ChatCompletions,
        Endpoint::Embeddings,
        Endpoint::Trellis,
        Endpoint::Completions,
        Endpoint::Ranking,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            Endpoint::ChatCompletions => 0,
            Endpoint::Embeddings => 1,
            Endpoint::Trellis => 2,
            Endpoint::Completions => 3,
            Endpoint::Ranking => 4,
        }
    }

    pub(crate) fn path(self, spec: &UpstreamSpec) -> &str {
        match self {
            Endpoint::ChatCompletions => "chat/completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Trellis => &spec.trellis_path,
            Endpoint::Completions => "completions",
            Endpoint::Ranking => "ranking",
        }
    }
}

/// An upstream's answer for the client: a success, or a client error passed back as is.
#[derive(Debug)]
pub struct Forwarded {
    /// The upstream that answered.
    pub upstream: String,
    /// Its HTTP status.
    pub status: u16,
    /// Its `Content-Type`.
    pub content_type: Option<String>,
    /// The body.
    pub body: ForwardedBody,
}

/// A forwarded body.
pub enum ForwardedBody {
    /// Read in full (non-stream requests and error answers).
    Full(Bytes),
    /// Piped as it arrives (stream requests answered 2xx).
    Stream(ByteStream),
}

impl std::fmt::Debug for ForwardedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForwardedBody::Full(b) => write!(f, "Full({} bytes)", b.len()),
            ForwardedBody::Stream(_) => f.write_str("Stream"),
        }
    }
}

pub(crate) struct Upstream {
    pub(crate) spec: UpstreamSpec,
    pub(crate) replicas: Vec<Arc<Replica>>,
    /// The ids its own model list named at the last refresh (`list_models`).
    pub(crate) listed: RwLock<Vec<String>>,
    pub(crate) counters: Arc<Counters>,
}

impl Upstream {
    /// The ids of its own model list.
    pub(crate) fn listed(&self) -> std::sync::RwLockReadGuard<'_, Vec<String>> {
        // Replaced whole under the lock, so a poisoned lock still holds a whole list.
        self.listed.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The replica for the next attempt of a request that already tried `tried`.
    pub(crate) fn pick(&self, tried: &[usize]) -> usize {
        if self.replicas.len() == 1 {
            return 0;
        }
        let now = Instant::now();
        let candidates: Vec<Candidate> = self
            .replicas
            .iter()
            .enumerate()
            .map(|(i, r)| Candidate {
                outstanding: r.outstanding(),
                available: r.available(now),
                tried: tried.contains(&i),
            })
            .collect();
        replica::pick(&candidates, retry::jitter()).unwrap_or(0)
    }

    /// Whether another replica than those `tried` can take a retry now.
    pub(crate) fn has_fresh_replica(&self, tried: &[usize]) -> bool {
        let now = Instant::now();
        self.replicas
            .iter()
            .enumerate()
            .any(|(i, r)| !tried.contains(&i) && r.available(now))
    }
}
