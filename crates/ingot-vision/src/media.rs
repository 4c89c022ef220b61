//! Data URLs, accepted media types and content sniffing.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::{InputErrorKind, MediaKind};

/// Base64 that tolerates missing or extra padding (clients disagree).
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const B64_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A video container this engine reads, decided by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoContainer {
    /// ISO base media: MP4 and QuickTime MOV.
    Mp4,
    /// WebM / Matroska.
    WebM,
}

impl VideoContainer {
    /// The ffmpeg demuxer forced for it, so a file can never pick a playlist or concat
    /// demuxer that would open other files or URLs.
    pub fn demuxer(self) -> &'static str {
        match self {
            VideoContainer::Mp4 => "mov",
            VideoContainer::WebM => "matroska",
        }
    }

    /// A file extension for the temporary copy.
    pub fn extension(self) -> &'static str {
        match self {
            VideoContainer::Mp4 => "mp4",
            VideoContainer::WebM => "webm",
        }
    }
}

/// The image formats read, by content.
pub fn sniff_image(bytes: &[u8]) -> Option<image::ImageFormat> {
    use image::ImageFormat as F;
    match image::guess_format(bytes) {
        Ok(f @ (F::Png | F::Jpeg | F::WebP | F::Gif)) => Some(f),
        _ => None,
    }
}

/// MP4/MOV (`ftyp`, or a bare `moov`/`mdat`/`wide`/`free` atom) or WebM (EBML magic).
pub fn sniff_video(bytes: &[u8]) -> Option<VideoContainer> {
    if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some(VideoContainer::WebM);
    }
    let atom = bytes.get(4..8)?;
    match atom {
        b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free" | b"skip" => Some(VideoContainer::Mp4),
        _ => None,
    }
}

/// A short name for bytes that are neither, for error messages.
pub fn describe_content(bytes: &[u8]) -> String {
    if let Ok(f) = image::guess_format(bytes) {
        return format!("{f:?} image").to_lowercase();
    }
    let head = &bytes[..bytes.len().min(64)];
    let text = head
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    if bytes.is_empty() {
        "empty content".to_owned()
    } else if text {
        "text, not media".to_owned()
    } else {
        "unrecognised binary data".to_owned()
    }
}

/// Normalises an image media type; `None` when not accepted.
fn image_mime(mime: &str) -> Option<&'static str> {
    match mime {
        "image/png" => Some("image/png"),
        "image/jpeg" | "image/jpg" | "image/pjpeg" => Some("image/jpeg"),
        "image/webp" => Some("image/webp"),
        "image/gif" => Some("image/gif"),
        _ => None,
    }
}

/// Normalises a video media type; `None` when not accepted.
fn video_mime(mime: &str) -> Option<&'static str> {
    match mime {
        "video/mp4" | "video/x-m4v" => Some("video/mp4"),
        "video/webm" => Some("video/webm"),
        "video/quicktime" | "video/mov" => Some("video/quicktime"),
        _ => None,
    }
}

/// A decoded `data:` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUrl {
    /// The normalised media type, e.g. `image/jpeg` for `image/jpg`.
    pub mime: String,
    /// The decoded bytes.
    pub bytes: Vec<u8>,
}

/// Whether `url` starts with `data:` (case-insensitively).
pub fn is_data_url(url: &str) -> bool {
    url.get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("data:"))
}

/// Parses `data:<type>[;params];base64,<data>` for the given kind, with a cap on the decoded size.
///
/// # Errors
/// NVCF `asset_id` references, a missing `;base64`, a type outside the accepted ones for
/// `kind`, base64 that does not decode, or more than `max_bytes` of data.
pub fn parse_data_url(
    url: &str,
    kind: MediaKind,
    max_bytes: usize,
) -> Result<DataUrl, InputErrorKind> {
    let rest = url.get(5..).unwrap_or("");
    let Some((header, data)) = rest.split_once(',') else {
        return Err(InputErrorKind::InvalidDataUrl {
            reason: "no `,` separates the header from the data".to_owned(),
        });
    };
    let mut params = header.split(';').map(|p| p.trim().to_ascii_lowercase());
    let mime = params.next().unwrap_or_default();
    let params: Vec<String> = params.collect();
    if params.iter().any(|p| p == "asset_id") {
        return Err(InputErrorKind::AssetId);
    }
    if !params.iter().any(|p| p == "base64") {
        return Err(InputErrorKind::InvalidDataUrl {
            reason: format!(
                "only base64 data URLs are supported (data:{};base64,…)",
                if mime.is_empty() { "image/png" } else { &mime }
            ),
        });
    }
    let normalised = match kind {
        MediaKind::Image => image_mime(&mime),
        MediaKind::Video => video_mime(&mime),
    };
    let Some(normalised) = normalised else {
        return Err(InputErrorKind::UnsupportedMediaType {
            found: if mime.is_empty() {
                "(none)".to_owned()
            } else {
                mime
            },
            expected: kind,
        });
    };
    let bytes = decode_base64(data, kind, max_bytes)?;
    Ok(DataUrl {
        mime: normalised.to_owned(),
        bytes,
    })
}

/// Decodes base64 (standard or URL-safe alphabet, padding optional, whitespace ignored).
///
/// # Errors
/// Invalid base64, or more than `max_bytes` once decoded.
pub fn decode_base64(
    data: &str,
    kind: MediaKind,
    max_bytes: usize,
) -> Result<Vec<u8>, InputErrorKind> {
    let too_large = InputErrorKind::TooLarge { kind, max_bytes };
    // A cheap bound before allocating: 4 base64 characters carry 3 bytes.
    if data.len() / 4 * 3 > max_bytes.saturating_add(3).saturating_mul(2) {
        return Err(too_large);
    }
    let compact: String;
    let data = if data.bytes().any(|b| b.is_ascii_whitespace()) {
        compact = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        compact.as_str()
    } else {
        data
    };
    if data.is_empty() {
        return Err(InputErrorKind::InvalidBase64 {
            reason: "the data is empty".to_owned(),
        });
    }
    if data.len() / 4 * 3 > max_bytes.saturating_add(3) {
        return Err(too_large);
    }
    let bytes = B64
        .decode(data)
        .or_else(|e| B64_URL.decode(data).map_err(|_| e))
        .map_err(|e| InputErrorKind::InvalidBase64 {
            reason: e.to_string(),
        })?;
    if bytes.len() > max_bytes {
        return Err(too_large);
    }
    Ok(bytes)
}

/// A guess from a URL path's extension, used only to phrase errors; content sniffing decides
/// what the bytes are.
pub fn kind_from_extension(path: &str) -> Option<MediaKind> {
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "png" | "jpg" | "jpeg" | "webp" | "gif" => Some(MediaKind::Image),
        "mp4" | "m4v" | "webm" | "mov" => Some(MediaKind::Video),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_image_data_urls() {
        let d = parse_data_url("data:image/jpg;base64,AAEC", MediaKind::Image, 100).unwrap();
        assert_eq!(d.mime, "image/jpeg");
        assert_eq!(d.bytes, vec![0, 1, 2]);
        let d = parse_data_url("DATA:Image/PNG;base64,AAE", MediaKind::Image, 100).unwrap();
        assert_eq!(d.bytes, vec![0, 1]);
        let d = parse_data_url("data:image/png;base64,AA\nEC", MediaKind::Image, 100).unwrap();
        assert_eq!(d.bytes, vec![0, 1, 2]);
    }

    #[test]
    fn rejects_asset_ids_types_and_bad_base64() {
        assert_eq!(
            parse_data_url("data:image/png;asset_id,1234-5678", MediaKind::Image, 100),
            Err(InputErrorKind::AssetId)
        );
        let e = parse_data_url("data:image/svg+xml;base64,AAEC", MediaKind::Image, 100);
        assert!(
            matches!(e, Err(InputErrorKind::UnsupportedMediaType { ref found, .. }) if found == "image/svg+xml")
        );
        let e = parse_data_url("data:video/mp4;base64,AAEC", MediaKind::Image, 100);
        assert!(matches!(
            e,
            Err(InputErrorKind::UnsupportedMediaType { .. })
        ));
        assert!(parse_data_url("data:video/quicktime;base64,AAEC", MediaKind::Video, 100).is_ok());
        let e = parse_data_url("data:image/png;base64,!!!!", MediaKind::Image, 100);
        assert!(
            matches!(e, Err(InputErrorKind::InvalidBase64 { .. })),
            "{e:?}"
        );
        let e = parse_data_url("data:image/png,abc", MediaKind::Image, 100);
        assert!(matches!(e, Err(InputErrorKind::InvalidDataUrl { .. })));
        let e = parse_data_url("data:image/png;base64", MediaKind::Image, 100);
        assert!(matches!(e, Err(InputErrorKind::InvalidDataUrl { .. })));
    }

    #[test]
    fn caps_decoded_size() {
        let e = parse_data_url("data:image/png;base64,AAAAAAAAAAAA", MediaKind::Image, 8);
        assert_eq!(
            e,
            Err(InputErrorKind::TooLarge {
                kind: MediaKind::Image,
                max_bytes: 8
            })
        );
    }

    #[test]
    fn sniffs_containers() {
        assert_eq!(
            sniff_video(b"\0\0\0\x20ftypisom\0\0\0\0"),
            Some(VideoContainer::Mp4)
        );
        assert_eq!(
            sniff_video(b"\0\0\0\x14ftypqt  \0\0\0\0"),
            Some(VideoContainer::Mp4)
        );
        assert_eq!(
            sniff_video(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F]),
            Some(VideoContainer::WebM)
        );
        assert_eq!(sniff_video(b"#EXTM3U\n#EXT-X-VERSION:3"), None);
        assert_eq!(
            sniff_image(b"GIF89a\x01\0\x01\0"),
            Some(image::ImageFormat::Gif)
        );
        assert_eq!(sniff_image(b"<svg xmlns=..."), None);
        assert_eq!(describe_content(b"<html>hello</html>"), "text, not media");
        assert_eq!(kind_from_extension("/a/b.MOV"), Some(MediaKind::Video));
    }
}
