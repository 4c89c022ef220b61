//! Integration tests of `ingot-client` against tiny in-process axum servers and a real
//! llama.cpp server.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns fail loudly by design"
)]

mod endpoints;
mod errors;
mod llama_server;
mod media;
mod retries;
mod streaming;
mod support;
