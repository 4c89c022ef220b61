//! Integration tests on the real model files (see `common::model_dir`).
#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "shared test helpers outside #[test] fns fail loudly on purpose"
)]

mod common;
mod e5;
mod minilm;
