//! The registry: every model id mapped to the one [`Backend`] that answers it.
//!
//! Built from the configuration, the upstream pool and the local models' load states, and
//! rebuilt (then swapped in whole) whenever a local model finishes loading or fails.
//! `/v1/models`, `/v1/health/ready` and every route read the same table, so what is listed
//! is what answers.

use std::collections::HashMap;
use std::sync::Arc;

use ingot_core::{Backend, BackendError, Catalog, CatalogEntry, Endpoint, ModelKind, Served};

use crate::backends::Unserved;
use crate::backends::upstream::{Fallback, Pool, UpstreamRoute};
use crate::error::ApiError;

/// A local model as the registry sees it.
#[derive(Clone)]
pub struct LocalModel {
    /// The id its weights are listed under (and the `root` of the ids it serves).
    pub name: String,
    /// What it is.
    pub kind: ModelKind,
    /// Catalog ids it serves.
    pub serves: Vec<String>,
    /// How far loading got.
    pub state: LocalState,
    /// A model that is not installed does not hold readiness back (an optional pack).
    pub optional: bool,
}

/// The load state of a local model.
#[derive(Clone)]
pub enum LocalState {
    /// Loading in the background.
    Loading,
    /// Serving: the backend, the `root` its ids show, their context length.
    Ready {
        /// What answers.
        backend: Arc<dyn Backend>,
        /// The weights (`root`).
        root: String,
        /// Context of one sequence, when it has one.
        max_model_len: Option<u64>,
        /// Whether its own name is listed as an id too.
        listed: bool,
    },
    /// Failed; the reason names the file or error.
    Failed(String),
}

/// The one table of ids and what answers them.
pub struct Registry {
    catalog: Catalog,
    backends: HashMap<String, Arc<dyn Backend>>,
    /// Answers ids that only an upstream's pattern (`meta/*`) routes.
    patterns: Option<(Pool, Arc<dyn Backend>)>,
    /// Why the server is not ready (models loading or failed), empty when it is.
    waiting: Vec<String>,
}

/// Why ids of `kind` have nothing to serve them when no local model claims them.
fn default_reason(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Chat => {
            "the local chat engine is disabled in the config and no upstream is configured"
        }
        ModelKind::VisionChat => {
            "the local vision engine is disabled in the config and no upstream is configured"
        }
        ModelKind::Embedding => {
            "the local embedding engine is disabled in the config and no upstream is configured"
        }
        ModelKind::Gen3d => {
            "the local 3D engine is disabled in the config and no upstream is configured"
        }
        ModelKind::Completion => {
            "no local chat model serves text completion and no upstream is configured"
        }
        ModelKind::Ranking => {
            "no local embedding model serves ranking and no upstream is configured"
        }
        ModelKind::Other => {
            "there is no local engine for this kind of model and no upstream is configured"
        }
    }
}

impl Registry {
    /// The table for these local models and upstreams. `upstream_kind` gives the kind of
    /// an exact upstream id the catalog does not know; `extra_waiting` adds readiness
    /// problems found elsewhere (an unusable key database).
    pub fn build(
        locals: &[LocalModel],
        pool: Option<&Pool>,
        upstream_kind: impl Fn(&str) -> ModelKind,
        extra_waiting: Vec<String>,
    ) -> Self {
        let mut catalog = Catalog::reference(|kind| Served::Missing {
            reason: default_reason(kind).to_owned(),
        });
        let mut backends: HashMap<String, Arc<dyn Backend>> = HashMap::new();
        let mut waiting = extra_waiting;
        let mut first: Vec<String> = Vec::new();
        for m in locals {
            let served = match &m.state {
                LocalState::Loading => {
                    waiting.push(format!("{} loading", m.name));
                    Served::Missing {
                        reason: format!("the local model {} is still loading", m.name),
                    }
                }
                LocalState::Failed(r) => {
                    if !m.optional {
                        waiting.push(format!("{} failed: {r}", m.name));
                    }
                    Served::Missing {
                        reason: format!("the local model {} failed to load ({r})", m.name),
                    }
                }
                LocalState::Ready { root, .. } => Served::Local {
                    weights: root.clone(),
                },
            };
            let ready = match &m.state {
                LocalState::Ready {
                    backend,
                    max_model_len,
                    listed,
                    ..
                } => Some((backend, *max_model_len, *listed)),
                _ => None,
            };
            if let Some((backend, len, true)) = ready {
                let mut entry = entry(&m.name, m.kind, served.clone(), len);
                if m.kind == ModelKind::Embedding {
                    entry.symmetry = Some(ingot_core::EmbedSymmetry::Symmetric);
                }
                catalog.insert(entry);
                backends.insert(m.name.clone(), Arc::clone(backend));
                first.push(m.name.clone());
            }
            for id in &m.serves {
                let len = ready.and_then(|(_, len, _)| len);
                match catalog.get_mut(id) {
                    Some(e) => {
                        e.served = served.clone();
                        e.max_model_len = len;
                    }
                    None => catalog.insert(entry(id, m.kind, served.clone(), len)),
                }
                if let Some((backend, _, _)) = ready {
                    backends.insert(id.clone(), Arc::clone(backend));
                }
            }
        }
        let refs: Vec<&str> = first.iter().map(String::as_str).collect();
        catalog.put_first(&refs);
        let mut patterns = None;
        if let Some(pool) = pool.filter(|p| !p.proxy.is_empty()) {
            let proxy = Arc::clone(&pool.proxy);
            let ids: Vec<String> = catalog.entries().iter().map(|e| e.id.clone()).collect();
            for id in ids {
                let Some(route) = proxy.route(&id) else {
                    continue;
                };
                let Some(e) = catalog.get_mut(&id) else {
                    continue;
                };
                let upstream: Arc<dyn Backend> = Arc::new(UpstreamRoute::new(pool.clone(), e.kind));
                let backend = match backends.get(&id) {
                    Some(local) if route.local_fallback => {
                        Arc::new(Fallback::new(upstream, Arc::clone(local))) as Arc<dyn Backend>
                    }
                    _ => upstream,
                };
                backends.insert(id.clone(), backend);
                if let Some(t) = route.targets.into_iter().next() {
                    e.served = Served::Upstream {
                        upstream: t.upstream,
                        model: t.model,
                    };
                }
                // The local engine's context length says nothing about the upstream's.
                e.max_model_len = None;
            }
            for (id, _) in proxy.listed_ids() {
                if catalog.get(&id).is_some() {
                    continue;
                }
                let Some(t) = proxy.route(&id).and_then(|r| r.targets.into_iter().next()) else {
                    continue;
                };
                let kind = upstream_kind(&id);
                let served = Served::Upstream {
                    upstream: t.upstream,
                    model: t.model,
                };
                catalog.insert(entry(&id, kind, served, None));
                backends.insert(id, Arc::new(UpstreamRoute::new(pool.clone(), kind)));
            }
            let any: Arc<dyn Backend> = Arc::new(UpstreamRoute::new(pool.clone(), ModelKind::Chat));
            patterns = Some((pool.clone(), any));
        }
        // Listed ids without a backend are the ones nothing serves; they say why.
        for e in catalog.entries() {
            if let Served::Missing { reason } = &e.served
                && !backends.contains_key(&e.id)
            {
                let unserved = Unserved {
                    kind: e.kind,
                    reason: reason.clone(),
                };
                backends.insert(e.id.clone(), Arc::new(unserved));
            }
        }
        Self {
            catalog,
            backends,
            patterns,
            waiting,
        }
    }

    /// Every listed id, in listing order (local models' own ids first).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Whether `id` is listed or routed by an upstream pattern.
    pub fn knows(&self, id: &str) -> bool {
        self.catalog.get(id).is_some()
            || self
                .patterns
                .as_ref()
                .is_some_and(|(p, _)| p.proxy.route(id).is_some())
    }

    /// What answers `id` on `endpoint`.
    ///
    /// # Errors
    /// 404 for an unknown id, 400 for an id of a kind that answers elsewhere.
    pub fn backend(&self, id: &str, endpoint: Endpoint) -> Result<Arc<dyn Backend>, ApiError> {
        if let Some(e) = self.catalog.get(id) {
            // Ids of no endpoint's kind (image-text embedders, perception models) get what
            // serves them: an upstream, or the reason nothing does.
            if e.kind != ModelKind::Other && !endpoint.serves(e.kind) {
                return Err(BackendError::WrongEndpoint {
                    model: id.to_owned(),
                    kind: e.kind,
                }
                .into());
            }
            if let Some(b) = self.backends.get(id) {
                return Ok(Arc::clone(b));
            }
        }
        // Ids only a pattern routes are not listed; the upstream decides about them.
        match &self.patterns {
            Some((pool, any)) if pool.proxy.route(id).is_some() => Ok(Arc::clone(any)),
            _ => Err(ApiError::ModelNotFound {
                model: id.to_owned(),
            }),
        }
    }

    /// Why the server is not ready; `Ok` when every configured model is serving.
    ///
    /// # Errors
    /// The models still loading or failed, and other problems, joined by `; `.
    pub fn readiness(&self) -> Result<(), String> {
        if self.waiting.is_empty() {
            Ok(())
        } else {
            Err(self.waiting.join("; "))
        }
    }
}

fn entry(id: &str, kind: ModelKind, served: Served, len: Option<u64>) -> CatalogEntry {
    CatalogEntry {
        id: id.to_owned(),
        kind,
        owned_by: ingot_core::catalog::owner(id),
        symmetry: None,
        served,
        max_model_len: len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(ModelKind);

    impl Backend for Echo {
        fn kind(&self) -> ModelKind {
            self.0
        }
    }

    fn ready(name: &str, kind: ModelKind, serves: &[&str]) -> LocalModel {
        LocalModel {
            name: name.to_owned(),
            kind,
            serves: serves.iter().map(|s| (*s).to_owned()).collect(),
            state: LocalState::Ready {
                backend: Arc::new(Echo(kind)),
                root: name.to_owned(),
                max_model_len: Some(4096),
                listed: true,
            },
            optional: false,
        }
    }

    #[test]
    fn what_is_listed_is_what_answers() {
        let locals = vec![
            ready("small", ModelKind::Chat, &["meta/llama-3.1-8b-instruct"]),
            ready("big", ModelKind::Chat, &["deepseek-ai/deepseek-r1"]),
            LocalModel {
                state: LocalState::Failed("no file".into()),
                ..ready("emb", ModelKind::Embedding, &["baai/bge-m3"])
            },
        ];
        let r = Registry::build(&locals, None, |_| ModelKind::Chat, Vec::new());
        assert_eq!(r.catalog().entries()[0].id, "small");
        assert_eq!(r.catalog().entries()[1].id, "big");
        assert_eq!(
            r.catalog().get("deepseek-ai/deepseek-r1").unwrap().root(),
            "big"
        );
        assert_eq!(
            r.catalog()
                .get("meta/llama-3.1-8b-instruct")
                .unwrap()
                .root(),
            "small"
        );
        let listed = r.catalog().get("baai/bge-m3").unwrap();
        assert!(matches!(&listed.served, Served::Missing { reason } if reason.contains("no file")));
        assert!(r.readiness().unwrap_err().contains("emb failed: no file"));
        // Every listed id resolves on its kind's endpoint, and nowhere else.
        for e in r.catalog().entries() {
            let on = match e.kind {
                ModelKind::Chat | ModelKind::VisionChat => Endpoint::ChatCompletions,
                ModelKind::Embedding => Endpoint::Embeddings,
                ModelKind::Gen3d => Endpoint::Trellis,
                ModelKind::Completion => Endpoint::Completions,
                ModelKind::Ranking => Endpoint::Ranking,
                ModelKind::Other => continue,
            };
            assert!(r.backend(&e.id, on).is_ok(), "{}", e.id);
            let off = if on == Endpoint::Embeddings {
                Endpoint::ChatCompletions
            } else {
                Endpoint::Embeddings
            };
            assert!(r.backend(&e.id, off).is_err(), "{}", e.id);
        }
        assert!(matches!(
            r.backend("nope/nope", Endpoint::ChatCompletions),
            Err(ApiError::ModelNotFound { .. })
        ));
    }
}
