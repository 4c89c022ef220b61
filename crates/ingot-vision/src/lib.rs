//! `ingot-vision`: the front half of ingot's local vision engine.
//!
//! No registry ships a vision-language model, so for vision model ids ingot reads the text
//! in each image with a real OCR engine (Tesseract, through its command line) and measures
//! plain visual facts (size, orientation, named dominant colours, brightness, text vs
//! picture). Videos are sampled with ffmpeg at a bounded rate and each frame is analysed
//! the same way, with its timestamp. The result is rendered as compact text blocks that the
//! server hands, with the user's question, to a local text chat model, so that "what does
//! it say?" can be answered with the actual words. This crate has no HTTP-server code.
//!
//! External programs (Debian packages): `tesseract` (`tesseract-ocr`, `tesseract-ocr-eng`),
//! `ffmpeg` and `ffprobe` (`ffmpeg`). A missing program is a clear [`ToolError::Missing`].
//!
//! # Layout
//! - [`intake`]: media parts of chat messages, in order (object / bare-string `image_url`,
//!   `<img src>` tags in text, `video_url`, LangChain blocks), with JSON paths in errors.
//! - [`media`]: data URLs, accepted types, content sniffing.
//! - [`fetch`]: the SSRF-safe http(s) [`Fetcher`] (address policy checked after resolution
//!   and on every redirect, allowlist, size cap, timeouts, injectable resolver).
//! - [`decode`]: image decoding with byte and pixel caps (decompression bombs refused).
//! - [`ocr`]: Tesseract TSV, word confidences and boxes.
//! - [`facts`]: colours, brightness, orientation, text/photo/graphic.
//! - [`video`]: ffprobe and ffmpeg frame sampling.
//! - [`analysis`]: the result types and their rendering as prompt text.
//! - [`engine`]: [`VisionEngine::analyze`], running the blocking work off the runtime.
//! - [`error`]: [`VisionError`], [`InputError`] (422 with a path), [`ToolError`].
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), ingot_vision::VisionError> {
//! use ingot_protocol::chat::ChatMessage;
//! use ingot_vision::{VisionConfig, VisionEngine};
//!
//! let messages: Vec<ChatMessage> = serde_json::from_str(
//!     r#"[{"role":"user","content":[{"type":"text","text":"What does it say?"},
//!         {"type":"image_url","image_url":{"url":"https://example.com/sign.png"}}]}]"#,
//! ).unwrap();
//! let engine = VisionEngine::new(VisionConfig::default())?;
//! let analysis = engine.analyze(&messages).await?;
//! println!("{}", analysis.to_prompt());
//! // Or the messages with each image replaced by its description:
//! let _for_text_model = analysis.messages;
//! # Ok(()) }
//! ```

pub mod analysis;
pub mod decode;
pub mod engine;
pub mod error;
pub mod facts;
pub mod fetch;
// Public only for the fuzz targets (crates/ingot-fuzz).
#[doc(hidden)]
pub mod html;
pub mod intake;
pub mod media;
pub mod ocr;
mod proc;
pub mod video;

pub use analysis::{
    Analysis, FrameAnalysis, ImageAnalysis, ImageReport, MediaAnalysis, SYSTEM_HINT, VideoAnalysis,
};
pub use engine::{
    MediaPixels, ToolStatus, VisionConfig, VisionEngine, analyze_image_bytes, analyze_pixels,
};
pub use error::{InputError, InputErrorKind, Loc, MediaKind, ToolError, VisionError};
pub use fetch::{Allowlist, FetchConfig, FetchError, Fetcher, HostResolver, StaticResolver};
pub use intake::{Detail, Intake, IntakeLimits, MediaItem, MediaSource, extract};
