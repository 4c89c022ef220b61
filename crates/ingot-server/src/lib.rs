//! ingot's HTTP server as a library: [`app`] builds the router, [`serve`] runs it on a
//! bound listener until shutdown, [`load_engines`] loads the local models. Model ids that
//! `[[upstreams]]` route are forwarded through `ingot-proxy` instead (see
//! [`routes::upstream`]); everything else is answered by the local engines.
//!
//! # Layout
//! - [`config`]: the typed configuration tree.
//! - [`state`]: shared state, engine load status, the live catalog.
//! - [`error`]: `ApiError` and its one status mapping.
//! - [`extract`]: the JSON extractor that turns bad bodies into 413/415/422.
//! - [`middleware`]: request ids, error logging, authentication and per-key limits.
//! - [`observe`]: per-request accounting (metrics, usage ledger, token charges).
//! - [`metrics`]: the Prometheus registry behind `/metrics` and `/v1/metrics`.
//! - [`routes`]: one module per endpoint.

pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod observe;
pub mod openapi;
pub mod routes;
pub mod sse;
pub mod state;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use ingot_embed::{Embedder, EmbedderConfig};
use ingot_engine::{ChatEngine, ChatEngineConfig};
use tokio::net::TcpListener;

pub use config::Config;
pub use error::ApiError;
pub use state::AppState;
use state::{LoadState, ModelKindSlot};

/// The router with every route and middleware.
pub fn app(state: AppState) -> Router {
    let limit = state.config().body_limit;
    let v1 = Router::new()
        .route("/models", get(routes::models::list))
        .route("/models/{*id}", get(routes::models::get_one))
        .route("/chat/completions", post(routes::chat::completions))
        .route("/embeddings", post(routes::embeddings::create))
        .route("/genai/microsoft/trellis", post(routes::trellis::generate))
        .route("/infer", post(routes::trellis::generate))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::require_api_key,
        ));
    let health = Router::new()
        .route("/v1/health/live", get(routes::health::live))
        .route("/v1/health/ready", get(routes::health::ready))
        .route("/metrics", get(metrics::handler))
        .route("/v1/metrics", get(metrics::handler));
    Router::new()
        .nest("/v1", v1)
        .merge(health)
        .route("/openapi.json", get(openapi::handler))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(middleware::request_id))
        .with_state(state)
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
    let managed = state.managed_keys_exist().unwrap_or(true);
    if state.keys().is_empty() && !managed {
        tracing::warn!("no API keys configured: every request is accepted without authentication");
    }
    tracing::info!("listening on {addr}");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Loads the configured local models on blocking threads, recording each one's state.
/// Returns when all are loaded or failed.
pub async fn load_engines(state: AppState) {
    let cfg = state.config().clone();
    let e = state.engines();
    if cfg.chat.enabled {
        e.set(ModelKindSlot::Chat, LoadState::Loading);
    }
    let vision_enabled = cfg.chat.enabled && cfg.vision.enabled;
    if vision_enabled {
        e.set(ModelKindSlot::Vision, LoadState::Loading);
    }
    if cfg.embeddings.enabled {
        e.set(ModelKindSlot::General, LoadState::Loading);
        if cfg.model_path(&cfg.embeddings.multilingual).exists() {
            e.set(ModelKindSlot::Multilingual, LoadState::Loading);
        } else {
            tracing::info!(
                "multilingual embedding model not installed ({}); baai/bge-m3 needs it: run scripts/setup-models.sh --multilingual",
                cfg.model_path(&cfg.embeddings.multilingual).display()
            );
        }
    }
    let vlm_mode = vision_enabled && cfg.vision.mmproj.is_some();
    if vlm_mode {
        e.set(ModelKindSlot::VisionModel, LoadState::Loading);
    }
    let chat = {
        let state = state.clone();
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || {
            if !cfg.chat.enabled {
                return;
            }
            // Without `[vision] model`, the chat model carries the projector.
            let mmproj = cfg
                .vision
                .mmproj
                .as_ref()
                .filter(|_| vlm_mode && cfg.vision.model.is_none());
            let mut res =
                load_chat_engine(&cfg, &cfg.chat.model, mmproj.map(|p| cfg.model_path(p)));
            if mmproj.is_some() {
                let failed = res.is_err();
                finish(&state, ModelKindSlot::VisionModel, res.clone(), |e| {
                    state.engines().vlm.set(e).is_ok()
                });
                if failed {
                    // A projector that does not fit must not take the text ids down with it.
                    res = load_chat_engine(&cfg, &cfg.chat.model, None);
                }
            }
            finish(&state, ModelKindSlot::Chat, res, |e| {
                state.engines().chat.set(e).is_ok()
            });
        })
    };
    let vlm = {
        let state = state.clone();
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || {
            let (true, Some(model), Some(mmproj)) =
                (vlm_mode, &cfg.vision.model, &cfg.vision.mmproj)
            else {
                return;
            };
            let res = load_chat_engine(&cfg, model, Some(cfg.model_path(mmproj)));
            finish(&state, ModelKindSlot::VisionModel, res, |e| {
                state.engines().vlm.set(e).is_ok()
            });
        })
    };
    let embed = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            if !cfg.embeddings.enabled {
                return;
            }
            let ecfg = EmbedderConfig {
                queue_capacity: cfg.embeddings.queue_capacity,
                bf16: cfg.embeddings.bf16,
                ..EmbedderConfig::default()
            };
            let dir = cfg.model_path(&cfg.embeddings.general);
            let res = Embedder::load_minilm(&dir, &ecfg)
                .map_err(|e| format!("{}: {e}; run scripts/setup-models.sh", dir.display()));
            finish(&state, ModelKindSlot::General, res, |m| {
                state.engines().general.set(m).is_ok()
            });
            let dir = cfg.model_path(&cfg.embeddings.multilingual);
            if dir.exists() {
                let res =
                    Embedder::load_e5(&dir, &ecfg).map_err(|e| format!("{}: {e}", dir.display()));
                finish(&state, ModelKindSlot::Multilingual, res, |m| {
                    state.engines().multilingual.set(m).is_ok()
                });
            }
        })
    };
    let vision = {
        let state = state.clone();
        let cfg = state.config().clone();
        tokio::task::spawn_blocking(move || {
            if !vision_enabled {
                return;
            }
            let res = cfg
                .vision_config()
                .and_then(|c| ingot_vision::VisionEngine::new(c).map_err(|e| e.to_string()))
                .and_then(|engine| {
                    let tools = engine.check_tools();
                    if let Err(e) = &tools.ffmpeg {
                        tracing::warn!("video understanding unavailable: {e}");
                    }
                    if vlm_mode {
                        // The vision-language model reads the pixels: no OCR needed.
                        return Ok(engine);
                    }
                    tools
                        .tesseract
                        .map(|_| engine)
                        .map_err(|e| format!("{e}; install Debian's tesseract-ocr"))
                });
            finish(&state, ModelKindSlot::Vision, res, |v| {
                state.engines().vision.set(v).is_ok()
            });
        })
    };
    for task in [chat, vlm, embed, vision] {
        if let Err(e) = task.await {
            tracing::error!("model loading task failed: {e}");
        }
    }
}

/// Loads a GGUF chat model with the `[chat]` settings, optionally with a projector.
fn load_chat_engine(
    cfg: &Config,
    model: &std::path::Path,
    mmproj: Option<std::path::PathBuf>,
) -> Result<ChatEngine, String> {
    let path = cfg.model_path(model);
    if !path.exists() {
        return Err(format!(
            "{} not found; run scripts/setup-models.sh",
            path.display()
        ));
    }
    let mut c = ChatEngineConfig::new(&path);
    c.ctx_per_slot = cfg.chat.ctx_per_slot;
    c.max_slots = cfg.chat.max_slots;
    c.queue_capacity = cfg.chat.queue_capacity;
    c.threads = (cfg.chat.threads > 0).then_some(cfg.chat.threads);
    c.unified_kv = cfg.chat.unified_kv;
    c.prefix_cache = cfg.chat.prefix_cache;
    if mmproj.is_some() {
        c.image_max_tokens =
            (cfg.vision.image_max_tokens > 0).then_some(cfg.vision.image_max_tokens);
    }
    c.mmproj_path = mmproj;
    ChatEngine::load(c).map_err(|e| e.to_string())
}

fn finish<T>(
    state: &AppState,
    slot: ModelKindSlot,
    res: Result<T, String>,
    store: impl FnOnce(T) -> bool,
) {
    match res {
        Ok(engine) => {
            store(engine);
            tracing::info!("{slot:?} model loaded");
            state.engines().set(slot, LoadState::Ready);
        }
        Err(e) => {
            tracing::error!("{slot:?} model failed to load: {e}");
            state.engines().set(slot, LoadState::Failed(e));
        }
    }
}
