//! ingot's HTTP server as a library: [`app`] builds the router, [`serve`] runs it on a
//! bound listener until shutdown, [`load_engines`] loads the local models.
//!
//! One request: route (extract, validate) → [`registry::Registry::backend`] → a
//! [`ingot_core::Backend`] (a local engine, an upstream route, or fallback from one to the
//! other) → [`reply::render`], which also records the usage.
//!
//! # Layout
//! - [`config`]: the typed configuration tree.
//! - [`state`]: shared state: keys, the upstream pool, the current registry.
//! - [`registry`]: every id mapped to its backend; what `/v1/models` lists.
//! - [`local`]: which local models the configuration asks for, and loading them.
//! - [`backends`]: the `Backend` implementations.
//! - [`reply`]: a backend's reply as a response; usage recorded on this one path.
//! - [`error`]: `ApiError` and its one status mapping.
//! - [`extract`]: the JSON extractor that turns bad bodies into 413/415/422.
//! - [`middleware`]: request ids, error logging, authentication and per-key limits.
//! - [`observe`]: per-request accounting (metrics, usage ledger, token charges).
//! - [`body`]: the request body's edges (413 before reading, 408 on a paused body,
//!   `Connection: close` after an unread one).
//! - [`metrics`]: the Prometheus registry behind `/metrics` and `/v1/metrics`.
//! - [`routes`]: one module per endpoint.
//! - [`ui`]: the web playground at `/` (embedded HTML, CSS and JavaScript).
//! - `listen`: the accept loop (header-read timeout, connection cap, graceful shutdown).

pub mod backends;
pub mod body;
pub mod config;
pub mod error;
pub mod extract;
mod listen;
pub mod local;
pub mod managed;
pub mod metrics;
pub mod middleware;
pub mod observe;
pub mod openapi;
pub mod ratelimit;
pub mod registry;
pub mod reply;
pub mod routes;
pub mod sse;
pub mod state;
pub mod ui;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;

pub use config::Config;
pub use error::ApiError;
pub use state::AppState;

/// The router with every route and middleware.
pub fn app(state: AppState) -> Router {
    let limit = state.config().body_limit;
    let v1 = Router::new()
        .route("/models", get(routes::models::list))
        .route("/models/{*id}", get(routes::models::get_one))
        .route("/metadata", get(routes::health::metadata))
        .route("/chat/completions", post(routes::chat::completions))
        .route("/completions", post(routes::completions::create))
        .route("/embeddings", post(routes::embeddings::create))
        .route("/ranking", post(routes::ranking::rank))
        .route("/genai/microsoft/trellis", post(routes::trellis::generate))
        .route("/infer", post(routes::trellis::generate))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::require_api_key,
        ));
    let health = Router::new()
        .route("/v1/health/live", get(routes::health::live))
        .route("/health", get(routes::health::live))
        .route("/version", get(routes::health::version))
        .route("/v1/health/ready", get(routes::health::ready))
        .route("/metrics", get(metrics::handler))
        .route("/v1/metrics", get(metrics::handler))
        .merge(ui::router(state.config().ui.enabled));
    Router::new()
        .nest("/v1", v1)
        .merge(health)
        .route("/openapi.json", get(openapi::handler))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(access_log())
        .layer(axum::middleware::from_fn(middleware::request_id))
        .with_state(state)
}

/// One log line per request when its response starts (method, path, model, status,
/// latency, request id), from tower-http's trace layer; handlers record the model in the
/// span.
#[expect(
    clippy::type_complexity,
    reason = "the layer's type names its callbacks; it is built in one place"
)]
fn access_log() -> tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    impl Fn(&axum::http::Request<axum::body::Body>) -> tracing::Span + Clone,
    (),
    impl Fn(&axum::response::Response, std::time::Duration, &tracing::Span) + Clone,
    (),
    (),
    (),
> {
    tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(|req: &axum::http::Request<axum::body::Body>| {
            let id = req
                .extensions()
                .get::<middleware::RequestId>()
                .map_or("", |r| r.0.as_str());
            tracing::info_span!(
                "request",
                method = %req.method(),
                path = %req.uri().path(),
                model = tracing::field::Empty,
                request_id = %id,
            )
        })
        .on_request(())
        .on_response(
            |resp: &axum::response::Response, latency: std::time::Duration, _: &tracing::Span| {
                tracing::info!(
                    status = resp.status().as_u16(),
                    latency_ms = latency.as_millis() as u64,
                    "answered"
                );
            },
        )
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, then drains connections.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let managed = state.managed_keys_exist().await.unwrap_or(true);
    if state.keys().is_empty() && !managed {
        tracing::warn!("no API keys configured: every request is accepted without authentication");
    }
    tracing::info!("listening on {addr}");
    let cfg = state.config();
    let limits = listen::Limits {
        header_timeout: std::time::Duration::from_secs(cfg.header_timeout_secs.max(1)),
        max_connections: cfg.max_connections,
        shutdown_timeout: std::time::Duration::from_secs(cfg.shutdown_timeout_secs),
    };
    let mut background = state.proxy().spawn_health_checks();
    let listed = state.clone();
    background.extend(
        state
            .proxy()
            .spawn_model_listing(std::sync::Arc::new(move || listed.rebuild())),
    );
    listen::run(listener, app(state), limits, shutdown).await;
    for task in background {
        task.abort();
    }
    Ok(())
}

/// Loads the configured local models on blocking threads, recording each one's state in
/// the registry as it finishes. Returns when all are loaded or failed.
pub async fn load_engines(state: AppState) {
    local::load_all(state).await;
}
