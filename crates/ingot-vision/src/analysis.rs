//! The analysis of a request's media and its rendering as compact text for a small text
//! model, e.g. `[Image 1: 800×600 landscape, mostly text; bright; colours: white 62%, dark
//! blue 30%; text (OCR): "INVOICE 1042"]`.

use std::fmt::Write as _;

use ingot_protocol::chat::ChatMessage;

use crate::error::Loc;
use crate::facts::{ImageKind, VisualFacts};
use crate::ocr::OcrText;
use crate::video::VideoInfo;

/// A system-prompt sentence the server can put before the descriptions, so the text model
/// knows what the bracketed blocks are and what they are not.
pub const SYSTEM_HINT: &str = "The user attached images or video. You cannot see them; each one is \
replaced by a bracketed description: its size, main colours, brightness, and the text read from it \
by OCR (which may contain recognition errors). Answer from these descriptions; if the question \
needs details they do not contain, say so.";

/// Facts and text of one picture (an image or a video frame).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageReport {
    /// Size, colours, brightness.
    pub facts: VisualFacts,
    /// OCR result.
    pub ocr: OcrText,
    /// Text, photo, graphic or blank.
    pub kind: ImageKind,
}

/// One image of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageAnalysis {
    /// 1-based number among the request's images.
    pub number: usize,
    /// JSON path of its URL or data.
    pub loc: Loc,
    /// The measurements.
    pub report: ImageReport,
}

/// One sampled video frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameAnalysis {
    /// Position in the video, seconds.
    pub timestamp_s: f64,
    /// The measurements.
    pub report: ImageReport,
}

/// One video of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoAnalysis {
    /// 1-based number among the request's videos.
    pub number: usize,
    /// JSON path of its URL or data.
    pub loc: Loc,
    /// Container, duration and size.
    pub info: VideoInfo,
    /// Sampled frames in time order.
    pub frames: Vec<FrameAnalysis>,
}

/// An image or a video.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaAnalysis {
    /// A still image.
    Image(ImageAnalysis),
    /// A video.
    Video(VideoAnalysis),
}

/// Everything measured for a request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Analysis {
    /// Media in request order.
    pub media: Vec<MediaAnalysis>,
    /// The request's messages as text: each media item replaced by its description,
    /// `<img>` tags removed; messages without media unchanged.
    pub messages: Vec<ChatMessage>,
    /// Most OCR characters quoted per picture.
    pub(crate) max_text_chars: usize,
}

impl Analysis {
    /// Whether the request had no media.
    pub fn is_empty(&self) -> bool {
        self.media.is_empty()
    }

    /// All descriptions, one block per line (videos: one line plus one per frame).
    pub fn to_prompt(&self) -> String {
        self.media
            .iter()
            .map(|m| describe(m, self.max_text_chars))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The description block(s) of one image or video.
pub fn describe(m: &MediaAnalysis, max_text_chars: usize) -> String {
    match m {
        MediaAnalysis::Image(i) => format!(
            "[Image {}: {}]",
            i.number,
            describe_report(&i.report, max_text_chars)
        ),
        MediaAnalysis::Video(v) => {
            let mut s = format!("[Video {}: ", v.number);
            if let Some(d) = v.info.duration_s {
                let _ = write!(s, "{} long, ", clock(d));
            }
            if v.info.width > 0 && v.info.height > 0 {
                let _ = write!(s, "{}×{}, ", v.info.width, v.info.height);
            }
            let n = v.frames.len();
            let _ = write!(s, "{n} frame{} sampled]", if n == 1 { "" } else { "s" });
            let mut previous: Option<(&str, f64)> = None;
            for f in &v.frames {
                let _ = write!(s, "\n[Video {} at {}: ", v.number, clock(f.timestamp_s));
                match previous {
                    Some((text, at)) if !text.is_empty() && text == f.report.ocr.text => {
                        let r = ImageReport {
                            ocr: OcrText::default(),
                            ..f.report.clone()
                        };
                        let _ =
                            write!(s, "{}; same text as at {}]", describe_visual(&r), clock(at));
                    }
                    _ => {
                        let _ = write!(s, "{}]", describe_report(&f.report, max_text_chars));
                    }
                }
                previous = Some((&f.report.ocr.text, f.timestamp_s));
            }
            s
        }
    }
}

/// `800×600 landscape, mostly text; bright; colours: white 62%, dark blue 30%; text (OCR): "…"`.
pub fn describe_report(r: &ImageReport, max_text_chars: usize) -> String {
    let mut s = describe_visual(r);
    let text = r
        .ocr
        .text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    if text.is_empty() {
        s.push_str("; no readable text");
    } else {
        let _ = write!(s, "; text (OCR): \"{}\"", truncate(&text, max_text_chars));
    }
    s
}

fn describe_visual(r: &ImageReport) -> String {
    let f = &r.facts;
    let mut s = format!(
        "{}×{} {}, {}; {}",
        f.width,
        f.height,
        f.orientation,
        r.kind,
        f.brightness_label()
    );
    if !f.colours.is_empty() {
        s.push_str("; colours: ");
        let list = f
            .colours
            .iter()
            .map(|c| format!("{} {}%", c.name, (c.share * 100.0).round() as u32))
            .collect::<Vec<_>>()
            .join(", ");
        s.push_str(&list);
    }
    s
}

/// At most `max` characters, cut at a word boundary when one is near, with `…`.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > max / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{cut} …")
}

/// `0:03`, `1:05.5`, `1:02:03`.
pub fn clock(secs: f64) -> String {
    let secs = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
    let tenths = (secs * 10.0).round() as u64;
    let (whole, frac) = (tenths / 10, tenths % 10);
    let (h, m, s) = (whole / 3600, (whole / 60) % 60, whole % 60);
    let mut out = if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    };
    if frac != 0 {
        let _ = write!(out, ".{frac}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{ColourShare, Orientation};
    use crate::media::VideoContainer;

    fn report(text: &str) -> ImageReport {
        ImageReport {
            facts: VisualFacts {
                width: 800,
                height: 600,
                orientation: Orientation::Landscape,
                colours: vec![
                    ColourShare {
                        name: "white",
                        share: 0.62,
                    },
                    ColourShare {
                        name: "dark blue",
                        share: 0.30,
                    },
                ],
                brightness: 0.8,
                contrast: 0.3,
                edge_density: 0.05,
                colour_variety: 10,
            },
            ocr: OcrText {
                text: text.to_owned(),
                words: Vec::new(),
                coverage: 0.2,
            },
            kind: ImageKind::Text,
        }
    }

    #[test]
    fn image_block() {
        let m = MediaAnalysis::Image(ImageAnalysis {
            number: 1,
            loc: Loc::default(),
            report: report("INVOICE 1042\nTotal: 99"),
        });
        assert_eq!(
            describe(&m, 100),
            "[Image 1: 800×600 landscape, mostly text; bright; colours: white 62%, dark blue 30%; text (OCR): \"INVOICE 1042 / Total: 99\"]"
        );
        let m = MediaAnalysis::Image(ImageAnalysis {
            number: 2,
            loc: Loc::default(),
            report: report(""),
        });
        assert!(describe(&m, 100).ends_with("; no readable text]"));
    }

    #[test]
    fn video_blocks_with_timestamps_and_repeats() {
        let frame = |t: f64, text: &str| FrameAnalysis {
            timestamp_s: t,
            report: report(text),
        };
        let m = MediaAnalysis::Video(VideoAnalysis {
            number: 1,
            loc: Loc::default(),
            info: VideoInfo {
                container: VideoContainer::Mp4,
                duration_s: Some(3.0),
                width: 640,
                height: 360,
            },
            frames: vec![
                frame(0.5, "ALPHA"),
                frame(1.5, "ALPHA"),
                frame(2.5, "BRAVO"),
            ],
        });
        let s = describe(&m, 100);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "[Video 1: 0:03 long, 640×360, 3 frames sampled]");
        assert!(
            lines[1].starts_with("[Video 1 at 0:00.5: 800×600"),
            "{}",
            lines[1]
        );
        assert!(lines[1].ends_with("text (OCR): \"ALPHA\"]"));
        assert!(
            lines[2].ends_with("; same text as at 0:00.5]"),
            "{}",
            lines[2]
        );
        assert!(lines[3].contains("\"BRAVO\""));
    }

    #[test]
    fn clock_and_truncate() {
        assert_eq!(clock(3.0), "0:03");
        assert_eq!(clock(65.5), "1:05.5");
        assert_eq!(clock(3723.0), "1:02:03");
        assert_eq!(truncate("alpha beta gamma delta", 12), "alpha beta …");
        assert_eq!(truncate("short", 12), "short");
    }
}
