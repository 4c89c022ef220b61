//! Shared state: configuration, keys, the upstream pool, and the local engines as they
//! load.

use std::sync::{Arc, Mutex, OnceLock};

use ingot_core::{Catalog, ModelKind, Served};
use ingot_embed::Embedder;
use ingot_engine::ChatEngine;
use ingot_proxy::Proxy;

use crate::config::Config;
use crate::metrics::Metrics;

/// Load state of one local engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadState {
    /// Not configured.
    Disabled,
    /// Loading in the background.
    Loading,
    /// Loaded.
    Ready,
    /// Failed; the reason names the file or error.
    Failed(String),
}

/// The local engines.
pub struct Engines {
    /// The GGUF chat model.
    pub chat: OnceLock<ChatEngine>,
    /// all-MiniLM-L6-v2.
    pub general: OnceLock<Embedder>,
    /// multilingual-e5-small.
    pub multilingual: OnceLock<Embedder>,
    /// Fetching and decoding for the vision-chat ids; OCR and visual facts for the chat
    /// model, unless a vision-language model is configured.
    pub vision: OnceLock<ingot_vision::VisionEngine>,
    /// The vision-language model (`[vision] mmproj`): the chat engine itself when that
    /// carries the projector, else a second engine.
    pub vlm: OnceLock<ChatEngine>,
    status: Mutex<[(ModelKindSlot, LoadState); 5]>,
}

/// Which engine a load status belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKindSlot {
    /// Chat.
    Chat,
    /// General embeddings.
    General,
    /// Multilingual embeddings.
    Multilingual,
    /// The vision engine's tools (tesseract, ffmpeg).
    Vision,
    /// The vision-language model.
    VisionModel,
}

impl Engines {
    fn new() -> Self {
        Self {
            status: Mutex::new([
                (ModelKindSlot::Chat, LoadState::Disabled),
                (ModelKindSlot::General, LoadState::Disabled),
                (ModelKindSlot::Multilingual, LoadState::Disabled),
                (ModelKindSlot::Vision, LoadState::Disabled),
                (ModelKindSlot::VisionModel, LoadState::Disabled),
            ]),
            chat: OnceLock::new(),
            general: OnceLock::new(),
            multilingual: OnceLock::new(),
            vision: OnceLock::new(),
            vlm: OnceLock::new(),
        }
    }

    /// Records a slot's state.
    pub fn set(&self, slot: ModelKindSlot, state: LoadState) {
        if let Ok(mut s) = self.status.lock() {
            for (k, v) in s.iter_mut() {
                if *k == slot {
                    *v = state.clone();
                }
            }
        }
    }

    /// A slot's state.
    pub fn get(&self, slot: ModelKindSlot) -> LoadState {
        self.status
            .lock()
            .ok()
            .and_then(|s| s.iter().find(|(k, _)| *k == slot).map(|(_, v)| v.clone()))
            .unwrap_or(LoadState::Disabled)
    }
}

struct Inner {
    config: Config,
    keys: Vec<Vec<u8>>,
    engines: Engines,
    proxy: Proxy,
    /// Why the configured upstreams could not be used (only when built with
    /// [`AppState::new`] from an unvalidated configuration).
    upstream_problem: Option<String>,
    /// Managed keys and the usage ledger, when `keys_db` is set.
    key_store: Option<ingot_keys::KeyStore>,
    /// Why `keys_db` could not be opened (every request is then refused).
    key_store_problem: Option<String>,
    /// Set once the key database holds a key; keys are never deleted, only revoked, so from
    /// then on every request needs one and the database need not be asked again.
    managed_keys_seen: std::sync::atomic::AtomicBool,
    limiter: Arc<ingot_keys::Limiter>,
    metrics: Metrics,
    /// 3D requests admitted (running or waiting); beyond it, 429.
    gen3d_admitted: Arc<tokio::sync::Semaphore>,
    /// 3D assets being generated.
    gen3d_running: Arc<tokio::sync::Semaphore>,
    /// Requests being forwarded to upstreams.
    upstream_in_flight: Arc<tokio::sync::Semaphore>,
}

/// Cheap-to-clone handle on everything a handler needs.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    /// State for a configuration; engines are loaded by [`crate::load_engines`].
    ///
    /// Upstream keys named by `api_key_env` are read here. A configuration from
    /// [`Config::from_toml`] is already validated; for one built in code whose upstreams
    /// are invalid, the error is logged, no upstream is used, and `/v1/health/ready`
    /// reports it. [`AppState::try_new`] returns the error instead.
    pub fn new(config: Config) -> Self {
        match upstream_pool(&config) {
            Ok(proxy) => Self::with_proxy(config, proxy, None),
            Err(e) => {
                tracing::error!("upstreams disabled: {e}");
                Self::with_proxy(config, Proxy::empty(), Some(e))
            }
        }
    }

    /// Like [`AppState::new`], but an invalid upstream configuration is an error.
    ///
    /// # Errors
    /// The first upstream problem, naming the upstream and the key.
    pub fn try_new(config: Config) -> Result<Self, String> {
        let proxy = upstream_pool(&config)?;
        Ok(Self::with_proxy(config, proxy, None))
    }

    fn with_proxy(config: Config, proxy: Proxy, upstream_problem: Option<String>) -> Self {
        let keys = config
            .api_keys
            .iter()
            .filter(|k| !k.is_empty())
            .map(|k| k.as_bytes().to_vec())
            .collect();
        let (key_store, key_store_problem) = match &config.keys_db {
            None => (None, None),
            Some(path) => match ingot_keys::KeyStore::open(path) {
                Ok(store) => (Some(store), None),
                Err(e) => {
                    let msg = format!("key database {}: {e}", path.display());
                    tracing::error!("{msg}; every request will be refused");
                    (None, Some(msg))
                }
            },
        };
        Self(Arc::new(Inner {
            keys,
            engines: Engines::new(),
            proxy,
            upstream_problem,
            key_store,
            key_store_problem,
            managed_keys_seen: std::sync::atomic::AtomicBool::new(false),
            limiter: ingot_keys::Limiter::new(),
            metrics: Metrics::default(),
            gen3d_admitted: Arc::new(tokio::sync::Semaphore::new(
                config.gen3d.concurrency.max(1) + config.gen3d.queue_capacity,
            )),
            gen3d_running: Arc::new(tokio::sync::Semaphore::new(config.gen3d.concurrency.max(1))),
            upstream_in_flight: Arc::new(tokio::sync::Semaphore::new(
                config.upstream_max_in_flight.max(1),
            )),
            config,
        }))
    }

    /// The upstream pool (empty when none is configured).
    pub fn proxy(&self) -> &Proxy {
        &self.0.proxy
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// API keys from the configuration.
    pub fn keys(&self) -> &[Vec<u8>] {
        &self.0.keys
    }

    /// The key database, when configured and open.
    pub fn key_store(&self) -> Option<&ingot_keys::KeyStore> {
        self.0.key_store.as_ref()
    }

    /// Whether the key database holds any key (live or revoked).
    ///
    /// # Errors
    /// The database failed.
    pub fn managed_keys_exist(&self) -> Result<bool, ingot_keys::KeyError> {
        use std::sync::atomic::Ordering;
        if self.0.managed_keys_seen.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let Some(store) = self.key_store() else {
            return Ok(false);
        };
        let exist = store.has_keys()?;
        if exist {
            self.0.managed_keys_seen.store(true, Ordering::Relaxed);
        }
        Ok(exist)
    }

    /// Why the configured key database is unusable.
    pub fn key_store_problem(&self) -> Option<&str> {
        self.0.key_store_problem.as_deref()
    }

    /// Per-key rate limits.
    pub fn limiter(&self) -> &Arc<ingot_keys::Limiter> {
        &self.0.limiter
    }

    /// Admission to the local 3D engine: a permit to wait for a turn (none left: 429), then
    /// a permit to run.
    pub fn gen3d_gates(&self) -> (&Arc<tokio::sync::Semaphore>, &Arc<tokio::sync::Semaphore>) {
        (&self.0.gen3d_admitted, &self.0.gen3d_running)
    }

    /// Permits for requests forwarded to upstreams.
    pub fn upstream_gate(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.0.upstream_in_flight
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The engines.
    pub fn engines(&self) -> &Engines {
        &self.0.engines
    }

    /// Whether every configured local model has loaded.
    pub fn readiness(&self) -> Result<(), String> {
        let e = self.engines();
        let mut waiting = Vec::new();
        if let Some(p) = &self.0.upstream_problem {
            waiting.push(format!("upstreams disabled: {p}"));
        }
        if let Some(p) = &self.0.key_store_problem {
            waiting.push(p.clone());
        }
        for (slot, name) in [
            (ModelKindSlot::Chat, "chat"),
            (ModelKindSlot::General, "embeddings"),
            (ModelKindSlot::Multilingual, "multilingual embeddings"),
        ] {
            match e.get(slot) {
                LoadState::Loading => waiting.push(format!("{name} model loading")),
                LoadState::Failed(r) => waiting.push(format!("{name} model failed: {r}")),
                LoadState::Disabled | LoadState::Ready => {}
            }
        }
        // A vision engine without its tools, or a vision-language model that failed to load,
        // leaves the vision ids unserved (they say why) but does not hold the rest of the
        // server back.
        if e.get(ModelKindSlot::Vision) == LoadState::Loading {
            waiting.push("vision engine starting".to_owned());
        }
        if e.get(ModelKindSlot::VisionModel) == LoadState::Loading {
            waiting.push("vision-language model loading".to_owned());
        }
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(waiting.join("; "))
        }
    }

    /// What serves an id of `kind` locally right now.
    fn served(&self, kind: ModelKind, id: &str) -> Served {
        let e = self.engines();
        let engine_state = |slot: ModelKindSlot, what: &str| match e.get(slot) {
            LoadState::Disabled => Served::Missing {
                reason: format!(
                    "the local {what} engine is disabled in the config and no upstream is configured"
                ),
            },
            LoadState::Loading => Served::Missing {
                reason: format!("the local {what} model is still loading"),
            },
            LoadState::Failed(r) => Served::Missing {
                reason: format!("the local {what} model failed to load ({r})"),
            },
            LoadState::Ready => Served::Missing {
                reason: "engine state changed".to_owned(),
            },
        };
        match kind {
            ModelKind::Chat => match e.chat.get() {
                Some(_) => Served::Local {
                    weights: self.config().chat.id.clone(),
                },
                None => engine_state(ModelKindSlot::Chat, "chat"),
            },
            ModelKind::Embedding => {
                let multilingual = id == "baai/bge-m3" || id.contains("e5");
                let (cell, slot) = if multilingual {
                    (&e.multilingual, ModelKindSlot::Multilingual)
                } else {
                    (&e.general, ModelKindSlot::General)
                };
                match cell.get() {
                    Some(m) => Served::Local {
                        weights: m.info().name.clone(),
                    },
                    None => engine_state(slot, "embedding"),
                }
            }
            ModelKind::Gen3d => Served::Local {
                weights: GEN3D_ROOT.to_owned(),
            },
            ModelKind::VisionChat if self.config().vision.mmproj.is_some() => {
                match (e.vision.get(), e.vlm.get()) {
                    (Some(_), Some(vlm)) => Served::Local {
                        weights: vlm_root(vlm),
                    },
                    (None, _) => engine_state(ModelKindSlot::Vision, "vision"),
                    (Some(_), None) => engine_state(ModelKindSlot::VisionModel, "vision-language"),
                }
            }
            ModelKind::VisionChat => match (e.vision.get(), e.chat.get()) {
                (Some(_), Some(_)) => Served::Local {
                    weights: format!("{}+{VISION_ROOT_SUFFIX}", self.config().chat.id),
                },
                (None, _) => engine_state(ModelKindSlot::Vision, "vision"),
                (Some(_), None) => engine_state(ModelKindSlot::Chat, "chat"),
            },
            ModelKind::Other => Served::Missing {
                reason:
                    "there is no local engine for this kind of model and no upstream is configured"
                        .to_owned(),
            },
        }
    }

    /// The catalog as clients see it: [`AppState::local_catalog`] with the ids that
    /// upstreams serve marked so (`root` = the upstream's id), followed by the exact ids of
    /// upstream `models` that the catalog lacks, in configuration order.
    pub fn catalog(&self) -> Catalog {
        let mut c = self.local_catalog();
        let proxy = self.proxy();
        if proxy.is_empty() {
            return c;
        }
        let ids: Vec<String> = c.entries().iter().map(|e| e.id.clone()).collect();
        for id in ids {
            if let (Some(served), Some(e)) = (upstream_served(proxy, &id), c.get_mut(&id)) {
                e.served = served;
                // The local engine's context length says nothing about the upstream's.
                e.max_model_len = None;
            }
        }
        for (id, upstream) in proxy.listed_ids() {
            if c.get(&id).is_some() {
                continue;
            }
            let kind = self
                .config()
                .upstreams
                .iter()
                .find(|u| u.name == upstream)
                .map_or(ModelKind::Chat, |u| u.kind.model_kind());
            let Some(served) = upstream_served(proxy, &id) else {
                continue;
            };
            c.insert(ingot_core::CatalogEntry {
                owned_by: ingot_core::catalog::owner(&id),
                id,
                kind,
                symmetry: None,
                served,
                max_model_len: None,
            });
        }
        c
    }

    /// Whether a local engine serves `id` right now (ignoring upstreams): what
    /// `local_fallback` needs.
    pub fn serves_locally(&self, id: &str) -> bool {
        self.local_catalog()
            .get(id)
            .is_some_and(|e| matches!(e.served, Served::Local { .. }))
    }

    /// The catalog as the local engines serve it: the reference's ids plus the local
    /// models' own ids first.
    pub fn local_catalog(&self) -> Catalog {
        let mut c = Catalog::reference(|_| Served::Missing {
            reason: String::new(),
        });
        let ids: Vec<(String, ModelKind)> =
            c.entries().iter().map(|e| (e.id.clone(), e.kind)).collect();
        for (id, kind) in ids {
            let served = self.served(kind, &id);
            if let Some(e) = c.get_mut(&id) {
                e.served = served;
            }
        }
        let e = self.engines();
        let mut local = Vec::new();
        if let Some(chat) = e.chat.get() {
            let id = self.config().chat.id.clone();
            c.insert(local_entry(
                &id,
                ModelKind::Chat,
                u64::from(chat.info().ctx_per_slot),
            ));
            local.push(id);
        }
        for m in [e.general.get(), e.multilingual.get()]
            .into_iter()
            .flatten()
        {
            let id = m.info().name.clone();
            let mut entry = local_entry(&id, ModelKind::Embedding, m.info().max_tokens as u64);
            entry.symmetry = Some(ingot_core::EmbedSymmetry::Symmetric);
            c.insert(entry);
            local.push(id);
        }
        if let Some(chat) = e.chat.get() {
            for id in ingot_core::catalog::CHAT_IDS {
                if let Some(entry) = c.get_mut(id) {
                    entry.max_model_len = Some(u64::from(chat.info().ctx_per_slot));
                }
            }
        }
        let refs: Vec<&str> = local.iter().map(String::as_str).collect();
        c.put_first(&refs);
        c
    }
}

/// The upstream pool of a configuration, keys read from the environment (once, at start).
fn upstream_pool(config: &Config) -> Result<Proxy, String> {
    let specs = config.upstream_specs(|name| std::env::var(name).ok())?;
    Proxy::new(specs).map_err(|e| e.to_string())
}

/// How the catalog shows an id that upstreams serve: by its first upstream.
fn upstream_served(proxy: &Proxy, id: &str) -> Option<Served> {
    let route = proxy.route(id)?;
    let first = route.targets.into_iter().next()?;
    Some(Served::Upstream {
        upstream: first.upstream,
        model: first.model,
    })
}

/// `root` of the 3D id: the procedural preview engine.
pub const GEN3D_ROOT: &str = "ingot/gen3d-procedural-preview";

/// What the vision-chat ids' `root` adds to the chat model's id: the text each image holds
/// is read by Tesseract OCR and given to the chat model with plain visual facts.
pub const VISION_ROOT_SUFFIX: &str = "tesseract-ocr";

/// `root` of the vision-chat ids when a vision-language model serves them: the GGUF's name
/// and its projector's file name.
fn vlm_root(vlm: &ChatEngine) -> String {
    let info = vlm.info();
    match info.projector.as_deref() {
        Some(p) => format!("{}+{p}", info.name),
        None => info.name.clone(),
    }
}

fn local_entry(id: &str, kind: ModelKind, len: u64) -> ingot_core::CatalogEntry {
    ingot_core::CatalogEntry {
        id: id.to_owned(),
        kind,
        owned_by: ingot_core::catalog::owner(id),
        symmetry: None,
        served: Served::Local {
            weights: id.to_owned(),
        },
        max_model_len: Some(len),
    }
}
