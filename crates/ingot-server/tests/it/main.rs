//! Integration tests: the real server on 127.0.0.1:0, driven over HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default,
    reason = "test helpers outside #[test] functions fail loudly on purpose"
)]

mod chat;
mod common;
mod completions;
mod contract;
mod docs;
mod hostile;
mod keys;
mod openapi;
mod proxy;
mod ranking;
mod registry;
mod shared_state;
mod structured;
mod ui;
mod vlm;
