//! Message content: a string, an array of typed parts, or null.
//!
//! Parts accept every shape real clients send (wire-spec §2.2, trap 15): `image_url` as an
//! object or a bare string, `video_url`, audio, and unknown part types, which are kept
//! verbatim so the engine can answer a precise 422 instead of a parse failure.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;

/// `content`: a string or a list of parts.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageContent {
    /// Plain text (may embed `<img src="data:…">` tags).
    Text(String),
    /// Typed parts.
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// All text of the content, parts joined by newlines; media parts are skipped.
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(s) => s.clone(),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// Whether any part carries an image or a video (including `<img>` tags in text).
    pub fn has_media(&self) -> bool {
        match self {
            MessageContent::Text(s) => s.contains("<img"),
            MessageContent::Parts(parts) => parts.iter().any(|p| {
                matches!(
                    p,
                    ContentPart::ImageUrl { .. } | ContentPart::VideoUrl { .. }
                ) || matches!(p, ContentPart::Text { text } if text.contains("<img"))
            }),
        }
    }
}

impl Serialize for MessageContent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MessageContent::Text(t) => s.serialize_str(t),
            MessageContent::Parts(p) => p.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MessageContent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, an array of content parts, or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MessageContent::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(MessageContent::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut parts = Vec::new();
                while let Some(p) = seq.next_element::<ContentPart>()? {
                    parts.push(p);
                }
                Ok(MessageContent::Parts(parts))
            }
        }
        d.deserialize_any(V)
    }
}

/// One content part.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// `{"type":"text","text":…}`.
    Text {
        /// The text.
        text: String,
    },
    /// `{"type":"image_url","image_url":{"url":…,"detail":…}}` or with a bare string.
    ImageUrl {
        /// The image reference.
        image_url: ImageUrl,
    },
    /// `{"type":"video_url","video_url":{"url":…}}`.
    VideoUrl {
        /// The video reference.
        video_url: MediaUrl,
    },
    /// `{"type":"input_audio","input_audio":{"data":…,"format":…}}`.
    InputAudio {
        /// Raw part object under `input_audio`.
        input_audio: Value,
    },
    /// `{"type":"audio_url","audio_url":{"url":…}}`.
    AudioUrl {
        /// The audio reference.
        audio_url: MediaUrl,
    },
    /// Any other part type (e.g. LangChain v1 `{"type":"image",…}` blocks), kept verbatim.
    Other(Extra),
}

impl ContentPart {
    /// The part's `type`.
    pub fn kind(&self) -> &str {
        match self {
            ContentPart::Text { .. } => "text",
            ContentPart::ImageUrl { .. } => "image_url",
            ContentPart::VideoUrl { .. } => "video_url",
            ContentPart::InputAudio { .. } => "input_audio",
            ContentPart::AudioUrl { .. } => "audio_url",
            ContentPart::Other(m) => m.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }
}

impl Serialize for ContentPart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let ContentPart::Other(m) = self {
            return m.serialize(s);
        }
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("type", self.kind())?;
        match self {
            ContentPart::Text { text } => map.serialize_entry("text", text)?,
            ContentPart::ImageUrl { image_url } => map.serialize_entry("image_url", image_url)?,
            ContentPart::VideoUrl { video_url } => map.serialize_entry("video_url", video_url)?,
            ContentPart::InputAudio { input_audio } => {
                map.serialize_entry("input_audio", input_audio)?
            }
            ContentPart::AudioUrl { audio_url } => map.serialize_entry("audio_url", audio_url)?,
            ContentPart::Other(_) => {}
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut obj = Extra::deserialize(d)?;
        let kind = match obj.get("type") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(de::Error::custom("content part `type` must be a string")),
            None => return Err(de::Error::missing_field("type")),
        };
        fn field<T: de::DeserializeOwned, E: de::Error>(
            obj: &mut Extra,
            kind: &str,
            name: &'static str,
        ) -> Result<T, E> {
            let v = obj.remove(name).ok_or_else(|| {
                E::custom(format_args!(
                    "`{kind}` content part is missing field `{name}`"
                ))
            })?;
            serde_json::from_value(v)
                .map_err(|e| E::custom(format_args!("`{kind}` content part, `{name}`: {e}")))
        }
        Ok(match kind.as_str() {
            "text" => ContentPart::Text {
                text: field(&mut obj, &kind, "text")?,
            },
            "image_url" => ContentPart::ImageUrl {
                image_url: field(&mut obj, &kind, "image_url")?,
            },
            "video_url" => ContentPart::VideoUrl {
                video_url: field(&mut obj, &kind, "video_url")?,
            },
            "input_audio" => ContentPart::InputAudio {
                input_audio: field(&mut obj, &kind, "input_audio")?,
            },
            "audio_url" => ContentPart::AudioUrl {
                audio_url: field(&mut obj, &kind, "audio_url")?,
            },
            _ => ContentPart::Other(obj),
        })
    }
}

/// An image reference: an object `{"url","detail"}` or, in NVIDIA's legacy shape, a bare
/// URL string. The shape is kept so the value serialises back the way it came.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageUrl {
    /// `https://…` or `data:image/png;base64,…`.
    pub url: String,
    /// `auto`, `low` or `high`.
    pub detail: Option<String>,
    /// Whether it arrived as a bare string.
    pub bare: bool,
}

impl Serialize for ImageUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.bare && self.detail.is_none() {
            return s.serialize_str(&self.url);
        }
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("url", &self.url)?;
        if let Some(d) = &self.detail {
            map.serialize_entry("detail", d)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ImageUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Bare(String),
            Object {
                url: String,
                #[serde(default)]
                detail: Option<String>,
            },
        }
        match Shape::deserialize(d).map_err(|_| {
            de::Error::custom("image_url must be a URL string or an object with a string `url`")
        })? {
            Shape::Bare(url) => Ok(ImageUrl {
                url,
                detail: None,
                bare: true,
            }),
            Shape::Object { url, detail } => Ok(ImageUrl {
                url,
                detail,
                bare: false,
            }),
        }
    }
}

/// `{"url": …}` for video and audio parts (a bare string is accepted too).
#[derive(Debug, Clone, PartialEq)]
pub struct MediaUrl {
    /// `https://…` or a data URL.
    pub url: String,
    /// Whether it arrived as a bare string.
    pub bare: bool,
}

impl Serialize for MediaUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.bare {
            return s.serialize_str(&self.url);
        }
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("url", &self.url)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for MediaUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let img = ImageUrl::deserialize(d)?;
        Ok(MediaUrl {
            url: img.url,
            bare: img.bare,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_every_shape_parse_and_round_trip() {
        let json = r#"[{"type":"text","text":"What is this?"},
            {"type":"image_url","image_url":{"url":"https://x/a.jpg","detail":"auto"}},
            {"type":"image_url","image_url":"data:image/png;base64,AAAA"},
            {"type":"video_url","video_url":{"url":"data:video/mp4;base64,AAAA"}},
            {"type":"image","source_type":"url","url":"https://x/b.png"}]"#;
        let c: MessageContent = serde_json::from_str(json).unwrap();
        let MessageContent::Parts(parts) = &c else {
            panic!("parts expected")
        };
        assert_eq!(parts.len(), 5);
        assert!(matches!(&parts[2], ContentPart::ImageUrl { image_url } if image_url.bare));
        assert_eq!(parts[4].kind(), "image");
        assert!(c.has_media());
        let back: Value = serde_json::to_value(&c).unwrap();
        let orig: Value = serde_json::from_str(json).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn part_errors_name_the_problem() {
        let e = serde_json::from_str::<MessageContent>(r#"[{"type":"image_url"}]"#).unwrap_err();
        assert!(e.to_string().contains("missing field `image_url`"), "{e}");
        let e = serde_json::from_str::<MessageContent>(r#"[{"text":"x"}]"#).unwrap_err();
        assert!(e.to_string().contains("type"), "{e}");
        let e = serde_json::from_str::<MessageContent>("42").unwrap_err();
        assert!(e.to_string().contains("array of content parts"), "{e}");
    }

    #[test]
    fn text_joins_text_parts() {
        let c: MessageContent =
            serde_json::from_str(r#"[{"type":"text","text":"a"},{"type":"text","text":"b"}]"#)
                .unwrap();
        assert_eq!(c.text(), "a\nb");
        assert!(!c.has_media());
        assert!(MessageContent::Text("<img src=\"data:x\"/>".into()).has_media());
    }
}
