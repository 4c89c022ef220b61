//! The `ingot` CLI end to end: the real binary against an in-process `ingot serve`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly on purpose"
)]

mod client_commands;
mod common;
mod keys_postgres;
mod serve_process;
