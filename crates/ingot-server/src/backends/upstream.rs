//! Ids that `[[upstreams]]` route: forwarded through the proxy (retries and failover
//! across the route's upstreams happen there), and [`Fallback`]: an upstream route, then a
//! local engine when every upstream failed transiently.

use std::sync::Arc;

use ingot_core::{
    Backend, BackendError, BackendFuture, ChatReply, CompletionReply, EmbeddingsReply, ModelKind,
    RankingReply, RawBody, Reply, TrellisReply, UpstreamFailure, Upstreamed,
};
use ingot_protocol::chat::ChatCompletionRequest;
use ingot_protocol::completions::CompletionRequest;
use ingot_protocol::embeddings::EmbeddingRequest;
use ingot_protocol::ranking::RankingRequest;
use ingot_protocol::trellis::{OutputFormat, TrellisRequest};
use ingot_proxy::{ApiKey, Endpoint, ForwardedBody, Proxy, ProxyError};
use tokio::sync::Semaphore;

tokio::task_local! {
    /// The key the caller presented (`Authorization: Bearer`), for upstreams that forward
    /// it (`forward_client_key`). Set for the request's handler by
    /// [`crate::middleware::require_api_key`] through [`with_caller_key`], only while the
    /// server requires no key of its own.
    static CALLER_KEY: Option<ApiKey>;
}

/// Runs `f` (a request's handling) with the caller's own key known to upstream routes.
pub async fn with_caller_key<F: Future>(key: Option<ApiKey>, f: F) -> F::Output {
    CALLER_KEY.scope(key, f).await
}

/// What every upstream route shares: the pool, the in-flight gate, where refusals are
/// counted.
#[derive(Clone)]
pub struct Pool {
    /// The upstreams.
    pub proxy: Arc<Proxy>,
    /// Requests being forwarded (streams count until they end); none left: 429.
    pub in_flight: Arc<Semaphore>,
    /// Size of the gate, for the error message.
    pub max_in_flight: usize,
    /// Called with the reason when the gate refuses a request (the server counts it in
    /// its metrics).
    pub refused: Arc<dyn Fn(&str) + Send + Sync>,
}

/// The upstreams routing one id (or a pattern's ids), in failover order.
pub struct UpstreamRoute {
    pool: Pool,
    kind: ModelKind,
}

impl UpstreamRoute {
    /// A route for ids of `kind`.
    pub fn new(pool: Pool, kind: ModelKind) -> Self {
        Self { pool, kind }
    }

    async fn forward<T: serde::Serialize>(
        &self,
        endpoint: Endpoint,
        model: &str,
        req: &T,
        stream: bool,
    ) -> Result<Upstreamed, BackendError> {
        let body = serde_json::to_value(req)
            .map_err(|e| BackendError::Internal(format!("could not re-encode the request: {e}")))?;
        let permit = Arc::clone(&self.pool.in_flight)
            .try_acquire_owned()
            .map_err(|_| {
                (self.pool.refused)("upstream requests in flight");
                BackendError::Overloaded {
                    what: format!(
                        "{} requests are already being forwarded to upstreams",
                        self.pool.max_in_flight
                    ),
                    retry_after: 1,
                }
            })?;
        let caller = CALLER_KEY.try_with(Clone::clone).ok().flatten();
        let f = self
            .pool
            .proxy
            .forward_for(endpoint, model, body, stream, caller.as_ref())
            .await
            .map_err(proxy_error)?;
        if !(200..300).contains(&f.status) {
            tracing::info!(
                upstream = %f.upstream,
                status = f.status,
                "passing the upstream's client error back"
            );
        }
        let body = match f.body {
            ForwardedBody::Full(b) => RawBody::Full(b),
            // The permit is held until the stream has been sent or dropped.
            ForwardedBody::Stream(s) => {
                RawBody::Stream(Box::pin(futures::StreamExt::map(s, move |chunk| {
                    let _held = &permit;
                    chunk
                })))
            }
        };
        Ok(Upstreamed {
            upstream: f.upstream,
            status: f.status,
            content_type: f.content_type,
            body,
        })
    }
}

impl Backend for UpstreamRoute {
    fn kind(&self) -> ModelKind {
        self.kind
    }

    fn chat(&self, req: ChatCompletionRequest) -> BackendFuture<'_, ChatReply> {
        Box::pin(async move {
            let stream = req.is_stream();
            let up = self
                .forward(Endpoint::ChatCompletions, &req.model, &req, stream)
                .await?;
            Ok(Reply::Upstream(up))
        })
    }

    fn embeddings(&self, req: EmbeddingRequest) -> BackendFuture<'_, EmbeddingsReply> {
        Box::pin(async move {
            let up = self
                .forward(Endpoint::Embeddings, &req.model, &req, false)
                .await?;
            Ok(Reply::Upstream(up))
        })
    }

    fn trellis(&self, model: &str, req: TrellisRequest) -> BackendFuture<'_, TrellisReply> {
        let model = model.to_owned();
        Box::pin(async move {
            let up = self.forward(Endpoint::Trellis, &model, &req, false).await?;
            Ok(Reply::Upstream(with_both_shapes(up, req.output_format)))
        })
    }

    fn completions(&self, req: CompletionRequest) -> BackendFuture<'_, CompletionReply> {
        Box::pin(async move {
            let stream = req.is_stream();
            let up = self
                .forward(Endpoint::Completions, &req.model, &req, stream)
                .await?;
            Ok(Reply::Upstream(up))
        })
    }

    fn ranking(&self, req: RankingRequest) -> BackendFuture<'_, RankingReply> {
        Box::pin(async move {
            let up = self
                .forward(Endpoint::Ranking, &req.model, &req, false)
                .await?;
            Ok(Reply::Upstream(up))
        })
    }
}

fn proxy_error(e: ProxyError) -> BackendError {
    let transient = e.local_fallback_allowed();
    if let Some(wait) = e.all_rate_limited() {
        return BackendError::Upstream {
            detail: e.to_string(),
            failure: UpstreamFailure::RateLimited {
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            },
            transient,
        };
    }
    match e {
        ProxyError::AllFailed { .. } => BackendError::Upstream {
            failure: if e.all_timed_out() {
                UpstreamFailure::Timeout
            } else {
                UpstreamFailure::Failed
            },
            detail: e.to_string(),
            transient,
        },
        ProxyError::NoRoute { ref model } => BackendError::Unserved {
            model: model.clone(),
            kind: ModelKind::Other,
            reason: "no upstream routes it".to_owned(),
        },
        ProxyError::Config { .. } | ProxyError::DuplicateName { .. } | ProxyError::Client(_) => {
            BackendError::Internal(e.to_string())
        }
    }
}

/// An upstream route, then a local engine: the local one answers when every upstream
/// failed transiently (connection errors, timeouts, 429, 5xx; the route allows it).
pub struct Fallback {
    first: Arc<dyn Backend>,
    then: Arc<dyn Backend>,
}

impl Fallback {
    /// `first`, then `then`.
    pub fn new(first: Arc<dyn Backend>, then: Arc<dyn Backend>) -> Self {
        Self { first, then }
    }
}

/// `first`'s answer, or `then`'s when every upstream failed transiently.
async fn or_local<T>(
    model: &str,
    first: impl Future<Output = Result<T, BackendError>>,
    then: impl AsyncFnOnce() -> Result<T, BackendError>,
) -> Result<T, BackendError> {
    match first.await {
        Err(
            e @ BackendError::Upstream {
                transient: true, ..
            },
        ) => {
            tracing::warn!(model, "answering from the local engine: {e}");
            then().await
        }
        other => other,
    }
}

impl Backend for Fallback {
    fn kind(&self) -> ModelKind {
        self.first.kind()
    }

    fn chat(&self, req: ChatCompletionRequest) -> BackendFuture<'_, ChatReply> {
        Box::pin(async move {
            let model = req.model.clone();
            let first = self.first.chat(req.clone());
            or_local(&model, first, async || self.then.chat(req).await).await
        })
    }

    fn embeddings(&self, req: EmbeddingRequest) -> BackendFuture<'_, EmbeddingsReply> {
        Box::pin(async move {
            let model = req.model.clone();
            let first = self.first.embeddings(req.clone());
            or_local(&model, first, async || self.then.embeddings(req).await).await
        })
    }

    fn trellis(&self, model: &str, req: TrellisRequest) -> BackendFuture<'_, TrellisReply> {
        let model = model.to_owned();
        Box::pin(async move {
            let first = self.first.trellis(&model, req.clone());
            or_local(&model, first, async || self.then.trellis(&model, req).await).await
        })
    }

    fn completions(&self, req: CompletionRequest) -> BackendFuture<'_, CompletionReply> {
        Box::pin(async move {
            let model = req.model.clone();
            let first = self.first.completions(req.clone());
            or_local(&model, first, async || self.then.completions(req).await).await
        })
    }

    fn ranking(&self, req: RankingRequest) -> BackendFuture<'_, RankingReply> {
        Box::pin(async move {
            let model = req.model.clone();
            let first = self.first.ranking(req.clone());
            or_local(&model, first, async || self.then.ranking(req).await).await
        })
    }
}

/// A successful TRELLIS answer with both shapes: `output.glb` added from `artifacts[0]`
/// (hosted API, NIM containers), or `artifacts` from `output.glb`. Anything else (errors,
/// bodies that are not such JSON) passes through unchanged.
fn with_both_shapes(mut up: Upstreamed, format: Option<OutputFormat>) -> Upstreamed {
    if !(200..300).contains(&up.status) {
        return up;
    }
    if let RawBody::Full(bytes) = &up.body
        && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(bytes)
        && add_missing_shape(&mut v, format)
        && let Ok(body) = serde_json::to_vec(&v)
    {
        up.body = RawBody::Full(body.into());
    }
    up
}

/// Adds the shape `v` lacks; false when it has both or neither.
fn add_missing_shape(v: &mut serde_json::Value, format: Option<OutputFormat>) -> bool {
    let from_artifacts = v
        .pointer("/artifacts/0/base64")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let from_output = v
        .pointer("/output/glb")
        .or_else(|| v.pointer("/output/stl"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let Some(obj) = v.as_object_mut() else {
        return false;
    };
    match (from_artifacts, from_output) {
        (Some(b64), None) => {
            let key = if format == Some(OutputFormat::Stl) {
                "stl"
            } else {
                "glb"
            };
            obj.insert("output".to_owned(), serde_json::json!({ key: b64 }));
            true
        }
        (None, Some(b64)) => {
            obj.insert(
                "artifacts".to_owned(),
                serde_json::json!([{"base64": b64, "finishReason": "SUCCESS"}]),
            );
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_answer_gets_the_shape_it_lacks() {
        let mut v =
            serde_json::json!({"artifacts":[{"base64":"QUJD","finishReason":"SUCCESS","seed":4}]});
        assert!(add_missing_shape(&mut v, None));
        assert_eq!(v["output"]["glb"], "QUJD");
        let mut v = serde_json::json!({"artifacts":[{"base64":"QUJD"}]});
        assert!(add_missing_shape(&mut v, Some(OutputFormat::Stl)));
        assert_eq!(v["output"]["stl"], "QUJD");
        let mut v = serde_json::json!({"output":{"glb":"QUJD"}});
        assert!(add_missing_shape(&mut v, None));
        assert_eq!(v["artifacts"][0]["base64"], "QUJD");
        assert_eq!(v["artifacts"][0]["finishReason"], "SUCCESS");
        let mut both = serde_json::json!({"output":{"glb":"x"},"artifacts":[{"base64":"x"}]});
        assert!(!add_missing_shape(&mut both, None));
        let mut neither = serde_json::json!({"detail":"queued"});
        assert!(!add_missing_shape(&mut neither, None));
    }

    #[test]
    fn upstream_failures_keep_how_they_failed() {
        use ingot_proxy::{FailureKind, UpstreamFailure as Failure};
        use std::time::Duration;
        let fail = |last, local_fallback| ProxyError::AllFailed {
            model: "m".into(),
            failures: vec![Failure {
                upstream: "hosted".into(),
                url: "https://h/v1/chat/completions".into(),
                attempts: 3,
                last,
            }],
            local_fallback,
        };
        let e = proxy_error(fail(FailureKind::Connect("refused".into()), true));
        assert!(matches!(
            e,
            BackendError::Upstream {
                failure: UpstreamFailure::Failed,
                transient: true,
                ..
            }
        ));
        assert!(e.to_string().contains("`hosted`"));
        let e = proxy_error(fail(
            FailureKind::Timeout {
                after: Duration::from_secs(1),
            },
            false,
        ));
        assert!(matches!(
            e,
            BackendError::Upstream {
                failure: UpstreamFailure::Timeout,
                transient: false,
                ..
            }
        ));
        let e = proxy_error(fail(
            FailureKind::Status {
                status: 429,
                excerpt: String::new(),
                retry_after: Some(Duration::from_millis(2500)),
            },
            false,
        ));
        assert!(matches!(
            e,
            BackendError::Upstream {
                failure: UpstreamFailure::RateLimited { retry_after: 3 },
                ..
            }
        ));
    }
}
