//! Errors: [`InputError`] for what the client sent (422, with the JSON path), [`ToolError`]
//! for the local tools (Tesseract, ffmpeg) and [`VisionError`] over both.

use std::fmt;
use std::time::Duration;

use ingot_protocol::chat::FieldError;

use crate::decode::DecodeError;
use crate::fetch::FetchError;
use crate::video::VideoError;

/// A JSON path below the request body, e.g. `messages -> 0 -> content -> 1 -> image_url -> url`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loc(pub Vec<String>);

impl Loc {
    /// `messages -> {i} -> content`.
    pub fn content(message: usize) -> Self {
        Self(vec![
            "messages".to_owned(),
            message.to_string(),
            "content".to_owned(),
        ])
    }

    /// This path with more segments appended.
    #[must_use]
    pub fn join<S: ToString>(&self, segments: &[S]) -> Self {
        let mut v = self.0.clone();
        v.extend(segments.iter().map(ToString::to_string));
        Self(v)
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" -> "))
    }
}

/// Which kind of media a part carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// A still image.
    Image,
    /// A video.
    Video,
}

impl MediaKind {
    /// `image` or `video`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
        }
    }

    /// The formats accepted for this kind, for error messages.
    pub fn accepted(self) -> &'static str {
        match self {
            MediaKind::Image => "image/png, image/jpeg, image/webp or image/gif",
            MediaKind::Video => "video/mp4, video/webm or video/quicktime (MOV)",
        }
    }
}

/// Something wrong with the media the client sent, at a JSON path. Answer 422.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{loc}: {kind}")]
pub struct InputError {
    /// Where in the request body.
    pub loc: Loc,
    /// What is wrong.
    pub kind: InputErrorKind,
}

impl InputError {
    pub(crate) fn new(loc: Loc, kind: InputErrorKind) -> Self {
        Self { loc, kind }
    }

    /// As the protocol's field error (`body -> messages -> 0 -> …: message`).
    pub fn field_error(&self) -> FieldError {
        FieldError {
            loc: self.loc.0.clone(),
            message: self.kind.to_string(),
        }
    }
}

/// What is wrong with one piece of media.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputErrorKind {
    /// A URL scheme other than http, https or data.
    #[error(
        "unsupported URL scheme `{scheme}`; send an https:// (or http://) URL or a base64 data URL such as data:image/png;base64,…"
    )]
    UnsupportedScheme {
        /// The scheme as sent.
        scheme: String,
    },
    /// An NVCF asset reference, `data:image/png;asset_id,<uuid>`.
    #[error(
        "NVCF asset references (`data:…;asset_id,…`) are not supported by this server; send the media inline as base64 (data:image/png;base64,…) or as an https URL"
    )]
    AssetId,
    /// A URL that does not parse.
    #[error("invalid URL: {reason}")]
    InvalidUrl {
        /// Why.
        reason: String,
    },
    /// A data URL without `;base64` or with a broken header.
    #[error("malformed data URL: {reason}")]
    InvalidDataUrl {
        /// Why.
        reason: String,
    },
    /// A media type this engine does not read.
    #[error("unsupported media type `{found}` for {}; supported: {}", expected.as_str(), expected.accepted())]
    UnsupportedMediaType {
        /// The type as declared or detected.
        found: String,
        /// What the part should carry.
        expected: MediaKind,
    },
    /// Base64 that does not decode.
    #[error("invalid base64 data: {reason}")]
    InvalidBase64 {
        /// The decoder's message.
        reason: String,
    },
    /// More videos than allowed (vLLM-based NIMs take one).
    #[error("At most {max} video(s) may be provided in one prompt")]
    TooManyVideos {
        /// The limit.
        max: usize,
    },
    /// More images than allowed.
    #[error("At most {max} image(s) may be provided in one prompt")]
    TooManyImages {
        /// The limit.
        max: usize,
    },
    /// Inline data larger than the cap.
    #[error("the {} is larger than the limit of {max_bytes} bytes", kind.as_str())]
    TooLarge {
        /// Image or video.
        kind: MediaKind,
        /// The cap.
        max_bytes: usize,
    },
    /// A LangChain v1 / Anthropic-style block this engine cannot translate.
    #[error("`{block}` content block: {reason}")]
    UnsupportedBlock {
        /// The block's `type`.
        block: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A part type that carries media this engine does not read (audio).
    #[error(
        "`{part}` content parts are not supported by this model; it reads text, images and video"
    )]
    UnsupportedPart {
        /// The part's `type`.
        part: String,
    },
    /// Fetching an http(s) URL failed or was refused.
    #[error("could not fetch the URL: {0}")]
    Fetch(FetchError),
    /// The image bytes are not a readable image or exceed the decode limits.
    #[error("{0}")]
    Decode(DecodeError),
    /// The video could not be read.
    #[error("{0}")]
    Video(VideoError),
}

/// A local tool failed: not installed, timed out, or crashed. Answer 503 (missing) or 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The binary is not on the PATH (or not at the configured path).
    #[error("`{tool}` is not installed or not executable ({reason}); {hint}")]
    Missing {
        /// Program name or path.
        tool: String,
        /// The spawn error.
        reason: String,
        /// Which package provides it.
        hint: String,
    },
    /// It ran past its time limit and was killed.
    #[error("`{tool}` did not finish within {:.1} s and was stopped", after.as_secs_f64())]
    Timeout {
        /// Program name.
        tool: String,
        /// The limit.
        after: Duration,
    },
    /// It exited with an error that is not about the input.
    #[error("`{tool}` failed: {detail}")]
    Failed {
        /// Program name.
        tool: String,
        /// Exit status and the tail of stderr.
        detail: String,
    },
    /// Temporary files could not be written.
    #[error("temporary file error: {0}")]
    Io(String),
}

/// Any failure of [`crate::VisionEngine::analyze`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VisionError {
    /// The request's media is invalid, unreachable, refused or unreadable: 422.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A local tool is missing or failed: 503 when missing, else 500.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// A worker task panicked or was cancelled: 500.
    #[error("vision worker failed: {0}")]
    Internal(String),
}

impl VisionError {
    /// Whether the client caused it (answer 4xx with [`VisionError::field_error`]).
    pub fn is_client_error(&self) -> bool {
        matches!(self, VisionError::Input(_))
    }

    /// The field error for a 422 body, for input errors.
    pub fn field_error(&self) -> Option<FieldError> {
        match self {
            VisionError::Input(e) => Some(e.field_error()),
            VisionError::Tool(_) | VisionError::Internal(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_path() {
        let e = InputError::new(
            Loc::content(0).join(&["1", "image_url", "url"]),
            InputErrorKind::UnsupportedScheme {
                scheme: "file".into(),
            },
        );
        let s = e.to_string();
        assert!(
            s.starts_with(
                "messages -> 0 -> content -> 1 -> image_url -> url: unsupported URL scheme `file`"
            ),
            "{s}"
        );
        let fe = VisionError::from(e).field_error().unwrap();
        assert_eq!(
            fe.param().as_deref(),
            Some("messages.0.content.1.image_url.url")
        );
        assert!(
            fe.detail().starts_with("body -> messages -> 0"),
            "{}",
            fe.detail()
        );
    }

    #[test]
    fn video_limit_message_matches_vllm() {
        let k = InputErrorKind::TooManyVideos { max: 1 };
        assert_eq!(
            k.to_string(),
            "At most 1 video(s) may be provided in one prompt"
        );
    }
}
