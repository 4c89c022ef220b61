//! The bodies of ingot's fuzz targets: one `pub fn <target>(data: &[u8])` per target, called
//! by libFuzzer from the cargo-fuzz project in `fuzz/` (`scripts/fuzz.sh`) and, in the
//! normal test command, by this crate's tests (every committed corpus and regression input,
//! then a few thousand fixed-seed mutations of them).
//!
//! A body panics only on a bug: ordinary bad input is refused by the code under test and the
//! body returns. Besides "no panic, no hang, no unbounded allocation", each body asserts
//! invariants of its code: a validated request serialises and parses back to the same
//! request, every refusal is a 4xx with a bounded message, a decoded image is within the
//! caps, a stream reader reads the same events whatever the network's piece boundaries, a
//! configuration that loads round-trips through TOML.
//!
//! # Layout
//! - [`requests`]: `chat_request`, `other_requests` (JSON → protocol types → validation).
//! - [`media`]: `media_intake` (data URLs, sniffing, capped decoding, `<img>` splitting,
//!   the message intake).
//! - [`template`]: `chat_template` (real chat templates with hostile messages and kwargs).
//! - [`sse`]: `sse_client` (the SDK's SSE reader), `sse_proxy` (the upstream re-streamer).
//! - [`loaders`]: `config` (the server's TOML loader), `e5_container` (the embedding model
//!   container reader; GGUF is parsed by llama.cpp's C code, which is not fuzzed here).
//! - [`mutate`]: the small deterministic mutator of the fixed-seed test run.
//!
//! # Example
//! ```
//! // Any bytes: a body returns unless it found a bug.
//! ingot_fuzz::chat_request(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#);
//! ingot_fuzz::chat_request(b"\xff{not json");
//! ```

pub mod loaders;
pub mod media;
pub mod mutate;
pub mod requests;
pub mod sse;
pub mod template;

pub use loaders::{config, e5_container};
pub use media::media_intake;
pub use requests::{chat_request, other_requests};
pub use sse::{sse_client, sse_proxy};
pub use template::chat_template;

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("chat_request", chat_request),
    ("other_requests", other_requests),
    ("media_intake", media_intake),
    ("chat_template", chat_template),
    ("sse_client", sse_client),
    ("sse_proxy", sse_proxy),
    ("config", config),
    ("e5_container", e5_container),
];

/// Splits `data` into pieces whose sizes follow `seed` (1 to 16 bytes, some empty), as a
/// network might deliver a body.
pub(crate) fn pieces(data: &[u8], seed: u8) -> Vec<bytes::Bytes> {
    let mut state = u32::from(seed) | 0x100;
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = match state % 8 {
            0 => 0,
            k => (state as usize >> 3) % (1 << k) + 1,
        };
        let n = n.min(rest.len());
        out.push(bytes::Bytes::copy_from_slice(&rest[..n]));
        rest = &rest[n..];
    }
    out
}

/// A current-thread Tokio runtime with time enabled, for the async stream readers.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> Option<F::Output> {
    thread_local! {
        static RT: Option<tokio::runtime::Runtime> = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok();
    }
    RT.with(|rt| rt.as_ref().map(|rt| rt.block_on(f)))
}
