//! Finds the media in chat messages, in order (wire-spec §2.2, traps 15 and 21).
//!
//! Accepted shapes: `image_url` parts (object or bare string, with `detail`), `video_url`
//! parts, `<img src="…">` tags inside the text of user messages (the tag is removed from
//! the text), and LangChain v1 / v0.3 / Anthropic-style `{"type":"image"|"video",…}`
//! blocks that carry a URL or base64 data. Every error names its JSON path.

use ingot_protocol::chat::{ChatMessage, ContentPart, MessageContent, Role};
use reqwest::Url;
use serde_json::Value;

use crate::error::{InputError, InputErrorKind, Loc, MediaKind};
use crate::html::{TextOrImg, split_img_tags};
use crate::media::{self, DataUrl};

/// Caps applied while reading the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeLimits {
    /// Images per request.
    pub max_images: usize,
    /// Videos per request; vLLM-based NIMs allow 1.
    pub max_videos: usize,
    /// Decoded size of one image (inline or fetched).
    pub max_image_bytes: usize,
    /// Decoded size of one video (inline or fetched).
    pub max_video_bytes: usize,
}

impl Default for IntakeLimits {
    fn default() -> Self {
        Self {
            max_images: 16,
            max_videos: 1,
            max_image_bytes: 20 * 1024 * 1024,
            max_video_bytes: 64 * 1024 * 1024,
        }
    }
}

/// OpenAI's `detail` hint; `low` makes OCR work on a smaller copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// Not given, `auto`, or an unknown value.
    #[default]
    Auto,
    /// `low`.
    Low,
    /// `high`.
    High,
}

impl Detail {
    fn parse(s: Option<&str>) -> Self {
        match s.map(str::to_ascii_lowercase).as_deref() {
            Some("low") => Detail::Low,
            Some("high") => Detail::High,
            _ => Detail::Auto,
        }
    }
}

/// Where the bytes of one piece of media come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// Decoded from a data URL or base64 block.
    Inline(DataUrl),
    /// An http(s) URL, fetched through [`crate::Fetcher`].
    Remote(Url),
}

/// One image or video found in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaItem {
    /// Image or video.
    pub kind: MediaKind,
    /// 1-based number among the request's media of the same kind ("Image 2").
    pub number: usize,
    /// Inline bytes or a URL.
    pub source: MediaSource,
    /// The `detail` hint (images).
    pub detail: Detail,
    /// JSON path of the URL or data, for errors.
    pub loc: Loc,
    /// Index of the message it came from.
    pub message: usize,
}

/// A piece of a rewritten message: its text, or the place where media stood.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Media(usize),
}

/// The media of a request, plus where each one stood in its message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Intake {
    /// All media, in request order.
    pub media: Vec<MediaItem>,
    /// Per message: `None` when it has no media, else its text and media in order.
    layouts: Vec<Option<Vec<Segment>>>,
}

impl Intake {
    /// Whether the request carries any image or video.
    pub fn is_empty(&self) -> bool {
        self.media.is_empty()
    }

    /// The messages as text only: each media item is replaced by `render(index)` (an index
    /// into [`Intake::media`]), `<img>` tags are gone, and messages without media are kept
    /// as they were.
    pub fn text_messages(
        &self,
        messages: &[ChatMessage],
        render: impl FnMut(usize) -> String,
    ) -> Vec<ChatMessage> {
        self.joined_messages(messages, render, true)
    }

    /// As [`Intake::text_messages`], but with no newline before or after a media item (text
    /// parts are still joined by newlines): the layout llama.cpp's server gives a prompt
    /// whose images a model sees itself, where `render` yields its media marker.
    pub fn marker_messages(
        &self,
        messages: &[ChatMessage],
        render: impl FnMut(usize) -> String,
    ) -> Vec<ChatMessage> {
        self.joined_messages(messages, render, false)
    }

    fn joined_messages(
        &self,
        messages: &[ChatMessage],
        mut render: impl FnMut(usize) -> String,
        media_on_own_line: bool,
    ) -> Vec<ChatMessage> {
        messages
            .iter()
            .enumerate()
            .map(|(i, m)| match self.layouts.get(i) {
                Some(Some(segments)) => {
                    let mut text = String::new();
                    let mut after_media = false;
                    for s in segments {
                        let (piece, is_media) = match s {
                            Segment::Text(t) => (t.trim().to_owned(), false),
                            Segment::Media(k) => (render(*k), true),
                        };
                        if piece.is_empty() {
                            continue;
                        }
                        let glued = !media_on_own_line && (is_media || after_media);
                        if !text.is_empty() && !glued {
                            text.push('\n');
                        }
                        text.push_str(&piece);
                        after_media = is_media;
                    }
                    if !media_on_own_line {
                        // A rendered item that is a block of its own lines brings its own
                        // newlines; none are wanted at the ends of the message.
                        text = text.trim().to_owned();
                    }
                    let mut m = m.clone();
                    m.content = Some(MessageContent::Text(text));
                    m
                }
                _ => m.clone(),
            })
            .collect()
    }
}

/// Extracts the media of `messages` in order.
///
/// # Errors
/// The first invalid piece of media, with its JSON path: unsupported scheme (file://, ftp://,
/// NVCF asset ids), unsupported media type, bad base64, too many images or videos, a
/// LangChain block without data, or an audio part.
pub fn extract(messages: &[ChatMessage], limits: &IntakeLimits) -> Result<Intake, InputError> {
    let mut b = Builder {
        limits,
        media: Vec::new(),
        images: 0,
        videos: 0,
    };
    let mut layouts = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let before = b.media.len();
        let mut segments = Vec::new();
        let loc = Loc::content(i);
        let scan_tags = m.role == Role::User;
        match &m.content {
            None => {}
            Some(MessageContent::Text(text)) => {
                b.text(text, scan_tags, &loc, i, &mut segments)?;
            }
            Some(MessageContent::Parts(parts)) => {
                for (j, part) in parts.iter().enumerate() {
                    b.part(part, scan_tags, &loc.join(&[j]), i, &mut segments)?;
                }
            }
        }
        layouts.push((b.media.len() > before).then_some(segments));
    }
    Ok(Intake {
        media: b.media,
        layouts,
    })
}

struct Builder<'a> {
    limits: &'a IntakeLimits,
    media: Vec<MediaItem>,
    images: usize,
    videos: usize,
}

impl Builder<'_> {
    fn text(
        &mut self,
        text: &str,
        scan_tags: bool,
        loc: &Loc,
        message: usize,
        out: &mut Vec<Segment>,
    ) -> Result<(), InputError> {
        if !scan_tags {
            out.push(Segment::Text(text.to_owned()));
            return Ok(());
        }
        for piece in split_img_tags(text) {
            match piece {
                TextOrImg::Text(t) => out.push(Segment::Text(t)),
                TextOrImg::Img(src) => {
                    let idx = self.push_url(&src, MediaKind::Image, Detail::Auto, loc, message)?;
                    out.push(Segment::Media(idx));
                }
            }
        }
        Ok(())
    }

    fn part(
        &mut self,
        part: &ContentPart,
        scan_tags: bool,
        loc: &Loc,
        message: usize,
        out: &mut Vec<Segment>,
    ) -> Result<(), InputError> {
        let idx = match part {
            ContentPart::Text { text } => {
                return self.text(text, scan_tags, &loc.join(&["text"]), message, out);
            }
            ContentPart::ImageUrl { image_url } => {
                let loc = if image_url.bare {
                    loc.join(&["image_url"])
                } else {
                    loc.join(&["image_url", "url"])
                };
                let detail = Detail::parse(image_url.detail.as_deref());
                self.push_url(&image_url.url, MediaKind::Image, detail, &loc, message)?
            }
            ContentPart::VideoUrl { video_url } => {
                let loc = if video_url.bare {
                    loc.join(&["video_url"])
                } else {
                    loc.join(&["video_url", "url"])
                };
                self.push_url(
                    &video_url.url,
                    MediaKind::Video,
                    Detail::Auto,
                    &loc,
                    message,
                )?
            }
            ContentPart::InputAudio { .. } | ContentPart::AudioUrl { .. } => {
                return Err(InputError::new(
                    loc.clone(),
                    InputErrorKind::UnsupportedPart {
                        part: part.kind().to_owned(),
                    },
                ));
            }
            ContentPart::Other(obj) => self.block(obj, part.kind(), loc, message)?,
        };
        out.push(Segment::Media(idx));
        Ok(())
    }

    /// LangChain v1 (`url` / `base64`+`mime_type`), v0.3 (`source_type`+`data`/`url`) and
    /// Anthropic-style (`source:{type,media_type,data|url}`) image and video blocks.
    fn block(
        &mut self,
        obj: &serde_json::Map<String, Value>,
        block: &str,
        loc: &Loc,
        message: usize,
    ) -> Result<usize, InputError> {
        let kind = match block {
            "image" => MediaKind::Image,
            "video" => MediaKind::Video,
            _ => {
                return Err(InputError::new(
                    loc.clone(),
                    InputErrorKind::UnsupportedPart {
                        part: if block.is_empty() { "(untyped)" } else { block }.to_owned(),
                    },
                ));
            }
        };
        let s = |o: &serde_json::Map<String, Value>, k: &str| {
            o.get(k).and_then(Value::as_str).map(str::to_owned)
        };
        let (source, sloc) = match obj.get("source").and_then(Value::as_object) {
            Some(src) => (src, loc.join(&["source"])),
            None => (obj, loc.clone()),
        };
        if let Some(url) = s(source, "url") {
            return self.push_url(&url, kind, Detail::Auto, &sloc.join(&["url"]), message);
        }
        let data = s(source, "base64")
            .map(|d| (d, "base64"))
            .or_else(|| s(source, "data").map(|d| (d, "data")));
        if let Some((data, field)) = data {
            let dloc = sloc.join(&[field]);
            let mime = s(source, "mime_type").or_else(|| s(source, "media_type"));
            let url = match mime {
                Some(m) => format!("data:{m};base64,{data}"),
                None => {
                    let max = self.max_bytes(kind);
                    let bytes = media::decode_base64(&data, kind, max)
                        .map_err(|k| InputError::new(dloc.clone(), k))?;
                    let mime = sniffed_mime(&bytes, kind).ok_or_else(|| {
                        InputError::new(
                            dloc.clone(),
                            InputErrorKind::UnsupportedMediaType {
                                found: media::describe_content(&bytes),
                                expected: kind,
                            },
                        )
                    })?;
                    let item = DataUrl {
                        mime: mime.to_owned(),
                        bytes,
                    };
                    return self.push(kind, MediaSource::Inline(item), Detail::Auto, dloc, message);
                }
            };
            return self.push_url(&url, kind, Detail::Auto, &dloc, message);
        }
        let reason = if obj.contains_key("file_id") || obj.contains_key("id") {
            "file ids are not supported; send the data as base64 or an https URL".to_owned()
        } else {
            format!(
                "it carries neither `url` nor `base64` data; send an `{}_url` part instead",
                kind.as_str()
            )
        };
        Err(InputError::new(
            loc.clone(),
            InputErrorKind::UnsupportedBlock {
                block: block.to_owned(),
                reason,
            },
        ))
    }

    fn max_bytes(&self, kind: MediaKind) -> usize {
        match kind {
            MediaKind::Image => self.limits.max_image_bytes,
            MediaKind::Video => self.limits.max_video_bytes,
        }
    }

    fn push_url(
        &mut self,
        url: &str,
        kind: MediaKind,
        detail: Detail,
        loc: &Loc,
        message: usize,
    ) -> Result<usize, InputError> {
        let source = parse_source(url.trim(), kind, self.max_bytes(kind))
            .map_err(|k| InputError::new(loc.clone(), k))?;
        self.push(kind, source, detail, loc.clone(), message)
    }

    fn push(
        &mut self,
        kind: MediaKind,
        source: MediaSource,
        detail: Detail,
        loc: Loc,
        message: usize,
    ) -> Result<usize, InputError> {
        let (count, max, err) = match kind {
            MediaKind::Image => (
                &mut self.images,
                self.limits.max_images,
                InputErrorKind::TooManyImages {
                    max: self.limits.max_images,
                },
            ),
            MediaKind::Video => (
                &mut self.videos,
                self.limits.max_videos,
                InputErrorKind::TooManyVideos {
                    max: self.limits.max_videos,
                },
            ),
        };
        if *count >= max {
            return Err(InputError::new(loc, err));
        }
        *count += 1;
        self.media.push(MediaItem {
            kind,
            number: *count,
            source,
            detail,
            loc,
            message,
        });
        Ok(self.media.len() - 1)
    }
}

fn sniffed_mime(bytes: &[u8], kind: MediaKind) -> Option<&'static str> {
    use image::ImageFormat as F;
    match kind {
        MediaKind::Image => media::sniff_image(bytes).map(|f| match f {
            F::Png => "image/png",
            F::Gif => "image/gif",
            F::WebP => "image/webp",
            _ => "image/jpeg",
        }),
        MediaKind::Video => media::sniff_video(bytes).map(|c| match c {
            media::VideoContainer::Mp4 => "video/mp4",
            media::VideoContainer::WebM => "video/webm",
        }),
    }
}

/// A data URL (decoded now) or an http(s) URL (fetched later).
fn parse_source(
    url: &str,
    kind: MediaKind,
    max_bytes: usize,
) -> Result<MediaSource, InputErrorKind> {
    if media::is_data_url(url) {
        return media::parse_data_url(url, kind, max_bytes).map(MediaSource::Inline);
    }
    let parsed = Url::parse(url).map_err(|e| {
        // A scheme we do not support reads better than "relative URL without a base".
        match url.split_once(':') {
            Some((scheme, _))
                if !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                InputErrorKind::UnsupportedScheme {
                    scheme: scheme.to_ascii_lowercase(),
                }
            }
            _ => InputErrorKind::InvalidUrl {
                reason: if url.is_empty() {
                    "the URL is empty".to_owned()
                } else {
                    e.to_string()
                },
            },
        }
    })?;
    match parsed.scheme() {
        "http" | "https" if parsed.host_str().is_some_and(|h| !h.is_empty()) => {
            Ok(MediaSource::Remote(parsed))
        }
        "http" | "https" => Err(InputErrorKind::InvalidUrl {
            reason: "the URL has no host".to_owned(),
        }),
        other => Err(InputErrorKind::UnsupportedScheme {
            scheme: other.to_owned(),
        }),
    }
}

#[cfg(test)]
#[path = "intake_tests.rs"]
mod tests;
