//! The vision engine's media intake (`crates/ingot-vision`): what happens to a request's
//! images and videos before any external program sees them.
//!
//! The first byte picks what the rest is (so one corpus holds all four kinds): `i` image
//! bytes (sniffing, header probe, decoding under caps), `u` a data URL, `t` message text
//! (`<img>` splitting, then the intake of a user message holding it), `j` a JSON array of
//! chat messages (the intake, then the text-only and marker rewrites). Other first bytes
//! pick one of the four by their value.

use ingot_protocol::chat::{ChatMessage, Role};
use ingot_vision::decode::{DecodeLimits, decode_image, probe};
use ingot_vision::html::{TextOrImg, split_img_tags};
use ingot_vision::media::{
    describe_content, is_data_url, parse_data_url, sniff_image, sniff_video,
};
use ingot_vision::{IntakeLimits, MediaKind, MediaSource, extract};

/// Small caps, so that the fuzzer reaches them and decoding stays fast.
const DECODE: DecodeLimits = DecodeLimits {
    max_bytes: 256 * 1024,
    max_pixels: 1 << 20,
    max_dimension: 4096,
};

fn intake_limits() -> IntakeLimits {
    IntakeLimits {
        max_images: 4,
        max_videos: 1,
        max_image_bytes: 64 * 1024,
        max_video_bytes: 64 * 1024,
    }
}

/// See the module documentation.
pub fn media_intake(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        b'i' => image(rest),
        b'u' => data_url(&String::from_utf8_lossy(rest)),
        b't' => text(&String::from_utf8_lossy(rest)),
        b'j' => messages(rest),
        other => match other % 4 {
            0 => image(rest),
            1 => data_url(&String::from_utf8_lossy(rest)),
            2 => text(&String::from_utf8_lossy(rest)),
            _ => messages(rest),
        },
    }
}

/// Sniffing, the header probe and capped decoding. Invariant: a decoded image has the
/// probed dimensions, and they are within the caps.
fn image(bytes: &[u8]) {
    let _ = (
        sniff_image(bytes),
        sniff_video(bytes),
        describe_content(bytes),
    );
    let Ok((format, width, height)) = probe(bytes, &DECODE) else {
        return;
    };
    assert!(
        width > 0
            && height > 0
            && width <= DECODE.max_dimension
            && height <= DECODE.max_dimension
            && u64::from(width) * u64::from(height) <= DECODE.max_pixels,
        "probe passed a {width}x{height} image"
    );
    if let Ok(img) = decode_image(bytes, &DECODE) {
        assert_eq!(img.format, format, "decoded as another format than probed");
        assert_eq!(
            (img.rgb.width(), img.rgb.height()),
            (width, height),
            "decoded dimensions differ from the probed ones"
        );
    }
}

/// Invariant: a data URL that parses holds at most the cap.
fn data_url(url: &str) {
    let _ = is_data_url(url);
    for kind in [MediaKind::Image, MediaKind::Video] {
        let max = 4096;
        if let Ok(parsed) = parse_data_url(url, kind, max) {
            assert!(
                parsed.bytes.len() <= max,
                "{} bytes under a cap of {max}",
                parsed.bytes.len()
            );
            assert!(
                parsed.mime.starts_with(match kind {
                    MediaKind::Image => "image/",
                    MediaKind::Video => "video/",
                }),
                "{kind:?} data URL of type {}",
                parsed.mime
            );
            if kind == MediaKind::Image {
                image(&parsed.bytes);
            }
        }
    }
}

/// `<img>` splitting. Invariants: no empty text runs; text without `<img` comes back whole.
fn text(text: &str) {
    let parts = split_img_tags(text);
    for p in &parts {
        if let TextOrImg::Text(t) = p {
            assert!(!t.is_empty(), "an empty text run");
        }
    }
    if !text.to_ascii_lowercase().contains("<img") {
        let whole: &[TextOrImg] = if text.is_empty() {
            &[]
        } else {
            &[TextOrImg::Text(text.to_owned())]
        };
        assert_eq!(parts, whole, "text without tags changed");
    }
    intake(&[ChatMessage::text(Role::User, text)]);
}

fn messages(json: &[u8]) {
    if let Ok(messages) = serde_json::from_slice::<Vec<ChatMessage>>(json) {
        intake(&messages);
    }
}

/// The intake. Invariants: the counts and sizes are within the limits, items are numbered
/// 1, 2, … per kind and point at a message, and the rewrites keep one message per message.
fn intake(messages: &[ChatMessage]) {
    let limits = intake_limits();
    let Ok(found) = extract(messages, &limits) else {
        return;
    };
    let (mut images, mut videos) = (0, 0);
    for item in &found.media {
        let (count, max, max_bytes) = match item.kind {
            MediaKind::Image => (&mut images, limits.max_images, limits.max_image_bytes),
            MediaKind::Video => (&mut videos, limits.max_videos, limits.max_video_bytes),
        };
        *count += 1;
        assert!(*count <= max, "more than {max} {:?} items", item.kind);
        assert_eq!(item.number, *count, "media numbered out of order");
        assert!(item.message < messages.len(), "media of a missing message");
        if let MediaSource::Inline(d) = &item.source {
            assert!(d.bytes.len() <= max_bytes, "inline media over the cap");
            if item.kind == MediaKind::Image {
                image(&d.bytes);
            }
        }
    }
    assert_eq!(found.is_empty(), found.media.is_empty());
    let text = found.text_messages(messages, |i| format!("[media {i}]"));
    let marked = found.marker_messages(messages, |_| "<__media__>".to_owned());
    assert_eq!(text.len(), messages.len(), "text rewrite lost messages");
    assert_eq!(marked.len(), messages.len(), "marker rewrite lost messages");
}
