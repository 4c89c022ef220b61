//! One module per endpoint. Each route extracts and validates the request, asks the
//! registry for the id's backend, calls it and renders the reply: HTTP concerns only.

pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod health;
pub mod models;
pub mod ranking;
pub mod trellis;

use std::sync::Arc;

use axum::extract::Extension;

use crate::observe::Tally;

/// The request's tally, with the model it asked for recorded.
pub(crate) fn model_tally(tally: Option<Extension<Arc<Tally>>>, model: &str) -> Option<Arc<Tally>> {
    let tally = tally.map(|Extension(t)| t);
    if let Some(t) = &tally {
        t.set_model(model);
    }
    tally
}
