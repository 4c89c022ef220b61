//! Integration tests of `ingot-vision`: real Tesseract and ffmpeg on generated media, and
//! the SSRF rules against local servers (nothing leaves 127.0.0.0/8).
//!
//! Tests that need `tesseract`, `ffmpeg` or the DejaVu font skip with a message when they
//! are missing, and fail instead when `INGOT_REQUIRE_TOOLS=1`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on unexpected errors"
)]

mod common;
mod engine;
mod ocr;
mod ssrf;
mod video;
