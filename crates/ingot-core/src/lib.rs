//! ingot's domain seam between HTTP and execution: the model catalog and the [`Backend`]
//! trait that every local engine and upstream route implements.
//!
//! Every model id named in the NIM API reference is known, typed by what it does, and
//! mapped to what serves it. With no upstream configured, each id of a kind that has a
//! local engine is served by that engine, and [`CatalogEntry::root`] names the weights that
//! really answer, so nothing is hidden. Ids whose kind has no local engine stay listed; a
//! request for them gets an error that names what is missing.
//!
//! # Layout
//! - [`catalog`]: [`ModelKind`], [`CatalogEntry`], [`Catalog`] and the default id list.
//! - [`backend`]: [`Backend`], [`Reply`], [`BackendError`], [`Endpoint`].

pub mod backend;
pub mod catalog;

pub use backend::{
    Backend, BackendError, BackendFuture, ChatReply, ChunkStream, CompletionReply, EmbeddingsReply,
    Endpoint, NoChunks, RankingReply, RawBody, Reply, TrellisReply, UpstreamFailure, Upstreamed,
};

pub use catalog::{Catalog, CatalogEntry, EmbedSymmetry, INPUT_TYPE_REQUIRED, ModelKind, Served};
