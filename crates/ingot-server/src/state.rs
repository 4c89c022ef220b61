//! Shared state: configuration, keys, the upstream pool, and the registry of what serves
//! each model id (rebuilt and swapped whenever a local model finishes loading).

use std::sync::{Arc, Mutex, RwLock};

use ingot_core::ModelKind;
use ingot_engine::ChatEngine;
use ingot_proxy::Proxy;

use crate::backends::gen3d::{GEN3D_ROOT, LocalGen3d};
use crate::backends::upstream::Pool;
use crate::config::Config;
use crate::config::StateConfig;
use crate::error::ApiError;
use crate::managed::ManagedKeys;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimits;
use crate::registry::{LocalModel, LocalState, Registry};

struct Inner {
    config: Config,
    keys: Vec<Vec<u8>>,
    proxy: Arc<Proxy>,
    /// The upstream pool as backends share it.
    pool: Pool,
    /// Why the configured upstreams could not be used (only when built with
    /// [`AppState::new`] from an unvalidated configuration).
    upstream_problem: Option<String>,
    /// Managed keys and the usage ledger, when `keys_db` is set.
    key_store: Option<ManagedKeys>,
    /// Why `keys_db` could not be opened (every request is then refused).
    key_store_problem: Option<String>,
    /// Set once the key database holds a key; keys are never deleted, only revoked, so from
    /// then on every request needs one and the database need not be asked again.
    managed_keys_seen: std::sync::atomic::AtomicBool,
    limits: RateLimits,
    metrics: Arc<Metrics>,
    /// The local models by loader key, in plan order.
    locals: Mutex<Vec<(String, Vec<LocalModel>)>>,
    /// Loaded chat engines by plan position, for `/metrics`.
    chat_engines: Mutex<Vec<(usize, String, ChatEngine)>>,
    /// What answers each id; replaced whole.
    registry: RwLock<Arc<Registry>>,
    /// The local 3D preview engine.
    gen3d: Arc<dyn ingot_core::Backend>,
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
        let (key_store, key_store_problem) = match (&config.state.postgres_url, &config.keys_db) {
            (Some(url), _) => {
                let timeout =
                    std::time::Duration::from_millis(config.state.postgres_timeout_ms.max(1));
                match ingot_state::PgKeyStore::new(url, timeout) {
                    Ok(store) => (Some(ManagedKeys::Postgres(Arc::new(store))), None),
                    Err(e) => {
                        tracing::error!("[state] {e}; every request will be refused");
                        (None, Some(format!("[state] {e}")))
                    }
                }
            }
            (None, None) => (None, None),
            (None, Some(path)) => match ingot_keys::KeyStore::open(path) {
                Ok(store) => (Some(ManagedKeys::Sqlite(store)), None),
                Err(e) => {
                    let msg = format!("key database {}: {e}", path.display());
                    tracing::error!("{msg}; every request will be refused");
                    (None, Some(msg))
                }
            },
        };
        let (limits, state_problem) = rate_limits(&config.state);
        let key_store_problem = key_store_problem.or(state_problem);
        let proxy = Arc::new(proxy);
        let metrics = Arc::new(Metrics::default());
        let pool = Pool {
            proxy: Arc::clone(&proxy),
            in_flight: Arc::new(tokio::sync::Semaphore::new(
                config.upstream_max_in_flight.max(1),
            )),
            max_in_flight: config.upstream_max_in_flight.max(1),
            refused: {
                let metrics = Arc::clone(&metrics);
                Arc::new(move |reason: &str| metrics.rate_limited(reason))
            },
        };
        let state = Self(Arc::new(Inner {
            keys,
            proxy,
            pool,
            upstream_problem,
            key_store,
            key_store_problem,
            managed_keys_seen: std::sync::atomic::AtomicBool::new(false),
            limits,
            metrics,
            locals: Mutex::new(Vec::new()),
            chat_engines: Mutex::new(Vec::new()),
            registry: RwLock::new(Arc::new(Registry::build(
                &[],
                None,
                |_| ModelKind::Chat,
                Vec::new(),
            ))),
            gen3d: Arc::new(LocalGen3d::new(
                config.gen3d.concurrency,
                config.gen3d.queue_capacity,
            )),
            config,
        }));
        state.rebuild();
        state
    }

    /// The registry: what answers each id, right now.
    pub fn registry(&self) -> Arc<Registry> {
        match self.0.registry.read() {
            Ok(r) => Arc::clone(&r),
            Err(e) => Arc::clone(&e.into_inner()),
        }
    }

    /// Records the local models being loaded (replacing any recorded before).
    pub(crate) fn set_locals(&self, groups: Vec<(String, Vec<LocalModel>)>) {
        if let Ok(mut l) = self.0.locals.lock() {
            *l = groups;
        }
        self.rebuild();
    }

    /// Replaces the entries a loader recorded under `key` (a model finished or failed).
    pub(crate) fn replace_locals(&self, key: &str, models: Vec<LocalModel>) {
        if let Ok(mut l) = self.0.locals.lock() {
            match l.iter_mut().find(|(k, _)| k == key) {
                Some((_, m)) => *m = models,
                None => l.push((key.to_owned(), models)),
            }
        }
        self.rebuild();
    }

    /// A loaded chat engine, reported in `/metrics` under `name`.
    pub(crate) fn add_chat_engine(&self, position: usize, name: &str, engine: ChatEngine) {
        if let Ok(mut e) = self.0.chat_engines.lock() {
            e.push((position, name.to_owned(), engine));
            e.sort_by_key(|(p, _, _)| *p);
        }
    }

    /// The loaded chat engines and their names, in configuration order.
    pub fn chat_engines(&self) -> Vec<(String, ChatEngine)> {
        self.0
            .chat_engines
            .lock()
            .map(|e| e.iter().map(|(_, n, c)| (n.clone(), c.clone())).collect())
            .unwrap_or_default()
    }

    /// Builds the registry from the recorded local models and the upstreams' model lists,
    /// and swaps it in.
    pub(crate) fn rebuild(&self) {
        let cfg = &self.0.config;
        let mut locals: Vec<LocalModel> = self
            .0
            .locals
            .lock()
            .map(|l| l.iter().flat_map(|(_, m)| m.iter().cloned()).collect())
            .unwrap_or_default();
        // The 3D engine serves `microsoft/trellis`, or the ids `[[models]]` 3d entries list.
        let entries: Vec<(String, Vec<String>)> = cfg
            .models
            .iter()
            .filter(|m| m.kind == crate::config::LocalKind::Gen3d)
            .map(|m| (m.id.clone(), m.serves.clone()))
            .collect();
        let entries = if entries.is_empty() {
            let ids = ingot_core::catalog::GEN3D_IDS.iter();
            vec![(
                GEN3D_ROOT.to_owned(),
                ids.map(|s| (*s).to_owned()).collect(),
            )]
        } else {
            entries
        };
        for (name, serves) in entries {
            locals.push(LocalModel {
                name,
                kind: ModelKind::Gen3d,
                serves,
                state: LocalState::Ready {
                    backend: self.gen3d(),
                    root: GEN3D_ROOT.to_owned(),
                    max_model_len: None,
                    listed: false,
                },
                optional: false,
            });
        }
        let mut problems = Vec::new();
        if let Some(p) = &self.0.upstream_problem {
            problems.push(format!("upstreams disabled: {p}"));
        }
        if let Some(p) = &self.0.key_store_problem {
            problems.push(p.clone());
        }
        // An id only an upstream's own model list names has no known kind: every endpoint
        // takes it, and the upstream decides.
        let upstream_kind = |id: &str| {
            cfg.upstreams
                .iter()
                .find(|u| u.models.iter().any(|m| m == id))
                .map_or(ModelKind::Other, |u| u.kind.model_kind())
        };
        let registry = Registry::build(&locals, Some(&self.0.pool), upstream_kind, problems);
        match self.0.registry.write() {
            Ok(mut r) => *r = Arc::new(registry),
            Err(e) => *e.into_inner() = Arc::new(registry),
        }
    }

    /// The local 3D engine (one for the server's life: its queue outlives rebuilds).
    fn gen3d(&self) -> Arc<dyn ingot_core::Backend> {
        Arc::clone(&self.0.gen3d)
    }

    /// The upstream pool (empty when none is configured).
    pub fn proxy(&self) -> &Arc<Proxy> {
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
    pub fn key_store(&self) -> Option<&ManagedKeys> {
        self.0.key_store.as_ref()
    }

    /// Whether the key database holds any key (live or revoked).
    ///
    /// # Errors
    /// The database failed.
    pub async fn managed_keys_exist(&self) -> Result<bool, ApiError> {
        use std::sync::atomic::Ordering;
        if self.0.managed_keys_seen.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let Some(store) = self.key_store() else {
            return Ok(false);
        };
        let exist = store.has_keys().await?;
        if exist {
            self.0.managed_keys_seen.store(true, Ordering::Relaxed);
        }
        Ok(exist)
    }

    /// Why the configured key database is unusable.
    pub fn key_store_problem(&self) -> Option<&str> {
        self.0.key_store_problem.as_deref()
    }

    /// Per-key rate limits (in this process, or shared through Redis).
    pub fn rate_limits(&self) -> &RateLimits {
        &self.0.limits
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }

    /// Whether every configured local model has loaded.
    ///
    /// # Errors
    /// What is still loading or failed, and other problems (upstreams, key database).
    pub fn readiness(&self) -> Result<(), String> {
        self.registry().readiness()
    }
}

/// Where per-key limits are kept: Redis when `[state] redis_url` is set, else this process.
/// An unusable URL (only possible for a configuration built in code) is a problem that
/// refuses every request rather than silently limiting per instance.
fn rate_limits(cfg: &StateConfig) -> (RateLimits, Option<String>) {
    let local = || RateLimits::Local(ingot_keys::Limiter::new());
    let Some(url) = &cfg.redis_url else {
        return (local(), None);
    };
    let timeout = std::time::Duration::from_millis(cfg.redis_timeout_ms.max(1));
    match ingot_state::SharedLimiter::new(url, timeout) {
        Ok(limiter) => (
            RateLimits::Shared {
                limiter,
                fail_open: cfg.fail_open,
            },
            None,
        ),
        Err(e) => {
            tracing::error!("[state] {e}; every request will be refused");
            (local(), Some(format!("[state] {e}")))
        }
    }
}

/// The upstream pool of a configuration, keys read from the environment (once, at start).
fn upstream_pool(config: &Config) -> Result<Proxy, String> {
    let specs = config.upstream_specs(|name| std::env::var(name).ok())?;
    Proxy::new(specs).map_err(|e| e.to_string())
}
