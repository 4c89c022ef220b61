//! The model catalog.

use std::collections::BTreeMap;

use ingot_protocol::models::{HOSTED_CREATED, Model};

/// What a model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelKind {
    /// Text generation.
    Chat,
    /// Image and video understanding through chat completions.
    VisionChat,
    /// Text embeddings.
    Embedding,
    /// 3D asset generation (TRELLIS).
    Gen3d,
    /// Text completion only (base and code models): `/v1/completions`.
    Completion,
    /// Passage reranking: `/v1/ranking`.
    Ranking,
    /// Anything else (image-text embedders, perception models).
    Other,
}

impl ModelKind {
    /// Human-readable name used in errors.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Chat => "chat",
            ModelKind::VisionChat => "vision-chat",
            ModelKind::Embedding => "embedding",
            ModelKind::Gen3d => "3d",
            ModelKind::Completion => "completion",
            ModelKind::Ranking => "ranking",
            ModelKind::Other => "other",
        }
    }

    /// The endpoint a model of this kind answers on.
    pub fn endpoint(self) -> &'static str {
        match self {
            ModelKind::Chat | ModelKind::VisionChat => "/v1/chat/completions",
            ModelKind::Embedding => "/v1/embeddings",
            ModelKind::Gen3d => "/v1/genai/microsoft/trellis",
            ModelKind::Completion => "/v1/completions",
            ModelKind::Ranking => "/v1/ranking",
            ModelKind::Other => "(no endpoint of this API)",
        }
    }
}

/// Whether an embedding model distinguishes queries from passages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedSymmetry {
    /// `input_type` (`query` or `passage`) matters; whether it may be left out depends on
    /// the id ([`INPUT_TYPE_REQUIRED`]).
    Asymmetric,
    /// `input_type` makes no difference.
    Symmetric,
}

/// Ids whose hosted NIM refuses a request without `input_type` (400): NVIDIA's QA
/// retrievers. Served locally (through `[[models]]`), they refuse it too, so code written
/// against ingot behaves the same on NIM. Other asymmetric ids (`nvidia/nv-embed-v1`, as the
/// reference sends it) take an absent `input_type` as `query`.
pub const INPUT_TYPE_REQUIRED: &[&str] = &[
    "nvidia/nv-embedqa-e5-v5",
    "nvidia/nv-embedqa-mistral-7b-v2",
    "nvidia/llama-3.2-nv-embedqa-1b-v1",
    "nvidia/llama-3.2-nv-embedqa-1b-v2",
    "nvidia/llama-3.2-nemoretriever-300m-embed-v1",
    "snowflake/arctic-embed-l",
];

/// What answers requests for an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// A local engine, by the name of the loaded weights.
    Local {
        /// Weights, e.g. `HuggingFaceTB/SmolLM2-135M-Instruct`.
        weights: String,
    },
    /// An upstream server (configured in `[[upstreams]]`).
    Upstream {
        /// The first upstream of the id's route, by its configured name.
        upstream: String,
        /// The id that upstream knows it by (after `rename`).
        model: String,
    },
    /// Nothing: the reason names what is missing.
    Missing {
        /// E.g. "no local vision engine; configure an upstream".
        reason: String,
    },
}

/// One catalog id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The id clients send.
    pub id: String,
    /// What it does.
    pub kind: ModelKind,
    /// Organisation (the id's prefix).
    pub owned_by: String,
    /// For embedding ids.
    pub symmetry: Option<EmbedSymmetry>,
    /// What serves it.
    pub served: Served,
    /// Context length, when known.
    pub max_model_len: Option<u64>,
}

impl CatalogEntry {
    /// The weights that really serve this id (the upstream's id for it when an upstream
    /// does), or the id itself when nothing does.
    pub fn root(&self) -> &str {
        match &self.served {
            Served::Local { weights } => weights,
            Served::Upstream { model, .. } => model,
            Served::Missing { .. } => &self.id,
        }
    }

    /// The wire object for `/v1/models`.
    pub fn to_model(&self) -> Model {
        Model {
            id: self.id.clone(),
            object: "model".to_owned(),
            created: HOSTED_CREATED,
            owned_by: self.owned_by.clone(),
            root: Some(self.root().to_owned()),
            parent: None,
            max_model_len: self.max_model_len,
            extra: Default::default(),
        }
    }
}

/// Chat ids of the reference.
pub const CHAT_IDS: &[&str] = &[
    "meta/llama-3.3-70b-instruct",
    "meta/llama-3.1-8b-instruct",
    "deepseek-ai/deepseek-r1",
    "mistralai/codestral-22b-instruct-v0.1",
];

/// Vision-chat ids of the reference.
pub const VISION_IDS: &[&str] = &[
    "nvidia/nemotron-nano-12b-v2-vl",
    "nvidia/cosmos-reason2-8b",
    "nvidia/vila",
    "nvidia/neva-22b",
    "nvidia/llama-3.1-nemotron-nano-vl-8b-v1",
    "meta/llama-3.2-90b-vision-instruct",
    "meta/llama-3.2-11b-vision-instruct",
    "microsoft/phi-4-multimodal-instruct",
    "microsoft/phi-3.5-vision-instruct",
    "microsoft/phi-3-vision-128k-instruct",
    "microsoft/kosmos-2",
    "google/paligemma",
    "google/deplot",
    "adept/fuyu-8b",
];

/// Embedding ids of the reference, with their symmetry.
pub const EMBEDDING_IDS: &[(&str, EmbedSymmetry)] = &[
    ("nvidia/nv-embed-v1", EmbedSymmetry::Asymmetric),
    ("baai/bge-m3", EmbedSymmetry::Symmetric),
];

/// Other ids of the reference: image-text embedders and a perception model, which this
/// API has no endpoint for locally.
pub const OTHER_IDS: &[&str] = &[
    "nvidia/llama-3.2-nemoretriever-1b-vlm-embed-v1",
    "nvidia/nvclip",
    "nvidia/streampetr",
];

/// Text-completion ids NVIDIA's LangChain client lists (`NVIDIA`); chat ids answer
/// `/v1/completions` too.
pub const COMPLETION_IDS: &[&str] = &[
    "bigcode/starcoder2-7b",
    "nvidia/mistral-nemo-minitron-8b-base",
];

/// NVIDIA's reranking ids (NeMo Retriever; LangChain's `NVIDIARerank` lists them).
pub const RANKING_IDS: &[&str] = &[
    "nvidia/llama-3.2-nv-rerankqa-1b-v2",
    "nvidia/nv-rerankqa-mistral-4b-v3",
    "nvidia/llama-3.2-nv-rerankqa-1b-v1",
    "nvidia/llama-nemotron-rerank-1b-v2",
    "nv-rerank-qa-mistral-4b:1",
];

/// 3D ids of the reference.
pub const GEN3D_IDS: &[&str] = &["microsoft/trellis"];

/// All known ids, in a stable order: the local models' own ids first, then chat, vision,
/// embedding, 3D, completion, ranking and other ids (LangChain without a model picks the first listed entry),
/// then ids that only configured upstreams serve, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
    index: BTreeMap<String, usize>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an entry.
    pub fn insert(&mut self, entry: CatalogEntry) {
        match self.index.get(&entry.id) {
            Some(&i) => self.entries[i] = entry,
            None => {
                self.index.insert(entry.id.clone(), self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    /// The reference's ids, each served as `serve` says for its kind.
    pub fn reference(serve: impl Fn(ModelKind) -> Served) -> Self {
        let mut c = Self::new();
        let mut add = |id: &str, kind: ModelKind, symmetry: Option<EmbedSymmetry>| {
            c.insert(CatalogEntry {
                id: id.to_owned(),
                kind,
                owned_by: owner(id),
                symmetry,
                served: serve(kind),
                max_model_len: None,
            });
        };
        for id in CHAT_IDS {
            add(id, ModelKind::Chat, None);
        }
        for id in VISION_IDS {
            add(id, ModelKind::VisionChat, None);
        }
        for (id, sym) in EMBEDDING_IDS {
            add(id, ModelKind::Embedding, Some(*sym));
        }
        for id in GEN3D_IDS {
            add(id, ModelKind::Gen3d, None);
        }
        for id in COMPLETION_IDS {
            add(id, ModelKind::Completion, None);
        }
        for id in RANKING_IDS {
            add(id, ModelKind::Ranking, None);
        }
        for id in OTHER_IDS {
            add(id, ModelKind::Other, None);
        }
        c
    }

    /// Looks an id up.
    pub fn get(&self, id: &str) -> Option<&CatalogEntry> {
        self.index.get(id).map(|&i| &self.entries[i])
    }

    /// Mutable lookup.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut CatalogEntry> {
        self.index.get(id).map(|&i| &mut self.entries[i])
    }

    /// Entries in listing order.
    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    /// Moves the given ids to the front, keeping the rest in order.
    pub fn put_first(&mut self, ids: &[&str]) {
        let mut front: Vec<CatalogEntry> = Vec::new();
        let mut rest: Vec<CatalogEntry> = Vec::new();
        for e in self.entries.drain(..) {
            if ids.contains(&e.id.as_str()) {
                front.push(e);
            } else {
                rest.push(e);
            }
        }
        front.sort_by_key(|e| ids.iter().position(|i| *i == e.id));
        front.extend(rest);
        self.entries = front;
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
    }
}

/// The organisation part of an id (`meta` of `meta/llama…`), or `ingot` for bare ids.
pub fn owner(id: &str) -> String {
    id.split_once('/').map_or("ingot", |(o, _)| o).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_catalog_has_every_id_once_and_typed() {
        let c = Catalog::reference(|_| Served::Missing { reason: "x".into() });
        let n = CHAT_IDS.len()
            + VISION_IDS.len()
            + EMBEDDING_IDS.len()
            + GEN3D_IDS.len()
            + COMPLETION_IDS.len()
            + RANKING_IDS.len()
            + OTHER_IDS.len();
        assert_eq!(c.entries().len(), n);
        assert_eq!(c.get("baai/bge-m3").unwrap().kind, ModelKind::Embedding);
        assert_eq!(c.get("microsoft/trellis").unwrap().kind, ModelKind::Gen3d);
        assert_eq!(c.get("google/deplot").unwrap().owned_by, "google");
        assert_eq!(c.get("nvidia/vila").unwrap().root(), "nvidia/vila");
        let mut e = c.get("nvidia/vila").unwrap().clone();
        e.served = Served::Upstream {
            upstream: "hosted".into(),
            model: "nvidia/vila-40b".into(),
        };
        assert_eq!(e.to_model().root.as_deref(), Some("nvidia/vila-40b"));
    }

    #[test]
    fn put_first_reorders_and_reindexes() {
        let mut c = Catalog::reference(|_| Served::Missing { reason: "x".into() });
        c.put_first(&["microsoft/trellis", "baai/bge-m3"]);
        assert_eq!(c.entries()[0].id, "microsoft/trellis");
        assert_eq!(c.entries()[1].id, "baai/bge-m3");
        assert_eq!(
            c.get("meta/llama-3.1-8b-instruct").unwrap().kind,
            ModelKind::Chat
        );
    }
}
