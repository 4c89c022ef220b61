//! Integration tests of the chat engine on a real GGUF model.
//!
//! The model is looked up in `$INGOT_MODEL_DIR` (default `$HOME/.cache/ingot/models`). When it
//! is missing the tests print a skip message and pass, unless `INGOT_REQUIRE_MODELS=1`.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions"
)]

mod batching;
mod common;
mod constrained;
mod generation;
mod prefix_cache;
mod reference;
mod templates;
