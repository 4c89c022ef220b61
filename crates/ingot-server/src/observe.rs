//! Per-request accounting: metrics, the usage ledger and tokens-per-minute charges.
//!
//! The [`observe`] middleware gives every request a [`Tally`] (a request extension). Auth
//! records the caller's key in it, handlers record the model, each generated token (time to
//! first token, inter-token latency) and the final usage. The usage is written to the
//! ledger and charged to the key's token window the moment it is known, so a client that
//! reads its usage can read the same numbers from `ingot usage` right after. The request
//! itself (route, model, status, duration) is counted when its response body ends.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A key from the key database (limits and ledger apply).
    Managed(ingot_keys::KeyRecord),
    /// A key from the configuration or `INGOT_API_KEYS`, by its position there.
    Configured(usize),
}

impl Caller {
    /// The id the ledger uses.
    pub fn ledger_id(&self) -> String {
        match self {
            Caller::Managed(k) => k.id.clone(),
            Caller::Configured(i) => format!("config-key-{i}"),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    model: Option<String>,
    /// The metrics label of `model`: a catalog id, `other`, or empty when none was given
    /// (worked out once per request).
    label: String,
    caller: Option<Caller>,
    usage_pending: bool,
    usage_recorded: bool,
    last_token: Option<Instant>,
}

/// What one request did; shared by the middleware and the handler.
pub struct Tally {
    state: AppState,
    started: Instant,
    inner: Mutex<Inner>,
}

impl Tally {
    fn new(state: AppState) -> Self {
        Self {
            state,
            started: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The model id the request asked for (also recorded in the access log's span).
    pub fn set_model(&self, model: &str) {
        tracing::Span::current().record("model", model);
        let label = if self.state.registry().catalog().get(model).is_some() {
            model.to_owned()
        } else {
            "other".to_owned()
        };
        let mut g = self.lock();
        g.model = Some(model.to_owned());
        g.label = label;
    }

    /// The authenticated caller.
    pub fn set_caller(&self, caller: Caller) {
        self.lock().caller = Some(caller);
    }

    /// How long a stream may stay quiet before a keep-alive comment is sent.
    pub fn sse_keep_alive(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.state.config().sse_keep_alive_secs.max(1))
    }

    /// The response is a stream whose usage is reported when it ends.
    pub fn expect_usage(&self) {
        self.lock().usage_pending = true;
    }

    /// One generated piece of text (a stream delta).
    pub fn token(&self) {
        let now = Instant::now();
        let (model, last) = {
            let mut g = self.lock();
            let last = g.last_token.replace(now);
            (g.label.clone(), last)
        };
        let m = self.state.metrics();
        match last {
            None => m.time_to_first_token(&model, (now - self.started).as_secs_f64()),
            Some(t) => m.inter_token_latency(&model, (now - t).as_secs_f64()),
        }
    }

    /// The request's final usage: counted in the metrics, charged to the key's token window
    /// and added to the ledger (once; later calls are ignored).
    pub fn usage(&self, prompt_tokens: u64, completion_tokens: u64) {
        let (model, label, caller) = {
            let mut g = self.lock();
            if g.usage_recorded {
                return;
            }
            g.usage_recorded = true;
            (g.model.clone(), g.label.clone(), g.caller.clone())
        };
        self.state
            .metrics()
            .tokens(&label, prompt_tokens, completion_tokens);
        let Some(caller) = caller else { return };
        let key_id = caller.ledger_id();
        if let Caller::Managed(_) = caller {
            self.state
                .rate_limits()
                .charge(&key_id, prompt_tokens + completion_tokens);
        }
        if let Some(store) = self.state.key_store() {
            let model = model.unwrap_or_default();
            store.record_usage(&key_id, &model, prompt_tokens, completion_tokens);
        }
    }
}

/// Gives the request a [`Tally`] and counts it when its response body ends.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let tally = Arc::new(Tally::new(state.clone()));
    req.extensions_mut().insert(Arc::clone(&tally));
    state.metrics().in_flight(1);
    // Counted when dropped, whatever the exit: after the response body, or here if the
    // client leaves before the handler answers (the handler's future is then dropped).
    let mut done = Done {
        tally: Arc::clone(&tally),
        route,
        status: CLIENT_CLOSED,
    };
    let resp = next.run(req).await;
    let status = resp.status();
    if status.is_success() {
        let pending = tally.lock().usage_pending;
        if !pending {
            // Answers without token counts (3D assets, proxied streams) still count as
            // requests in the ledger.
            tally.usage(0, 0);
        }
    }
    done.status = status.as_u16();
    guard_body(resp, done)
}

/// The status a request is counted with when its client left before the answer (nginx's
/// "client closed request").
pub const CLIENT_CLOSED: u16 = 499;

/// Keeps `guard` alive until the response body has been sent or dropped (the body's size
/// hint, hence `Content-Length`, is kept).
pub fn guard_body<G: Send + Unpin + 'static>(resp: Response, guard: G) -> Response {
    let (parts, body) = resp.into_parts();
    Response::from_parts(
        parts,
        Body::new(Guarded {
            inner: body,
            _guard: guard,
        }),
    )
}

struct Guarded<G> {
    inner: Body,
    _guard: G,
}

impl<G: Send + Unpin + 'static> http_body::Body for Guarded<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Counts the request when dropped, i.e. when the response body has ended, or the client
/// went away during the body or before the answer ([`CLIENT_CLOSED`]).
struct Done {
    tally: Arc<Tally>,
    route: String,
    status: u16,
}

impl Drop for Done {
    fn drop(&mut self) {
        let label = self.tally.lock().label.clone();
        let m = self.tally.state.metrics();
        m.request(
            &self.route,
            &label,
            self.status,
            self.tally.started.elapsed().as_secs_f64(),
        );
        m.in_flight(-1);
    }
}
