//! Local images and videos as `data:` URLs for `image_url` / `video_url` content parts.
//!
//! Hosted vision models cap request bodies (NVCF: 5 MB), so [`image_data_url`] shrinks an
//! image that does not fit: it re-encodes it as JPEG and halves its longest side until the
//! URL is small enough. These functions do blocking file I/O and image work; in async code
//! call them through `tokio::task::spawn_blocking`.

use std::io::Cursor;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

use crate::ClientError;

/// Quality of re-encoded JPEGs: small, and still fine for a vision model.
const JPEG_QUALITY: u8 = 85;

/// Reads the image at `path` as a `data:image/<png|jpeg|webp|gif>;base64,…` URL of at most
/// `max_bytes` bytes.
///
/// The type comes from the file's content, not its extension. If the original fits it is
/// used unchanged; otherwise the image is decoded, flattened onto white, and re-encoded as
/// JPEG, halving its longest side until the URL fits (an animated GIF keeps its first frame).
///
/// # Errors
/// [`ClientError::Io`] if the file cannot be read; [`ClientError::InvalidInput`] if it is
/// not a PNG, JPEG, WebP or GIF image, cannot be decoded, or does not fit even at 1×1 pixel.
pub fn image_data_url(path: &Path, max_bytes: usize) -> Result<String, ClientError> {
    let bytes = read(path)?;
    let format = image::guess_format(&bytes).map_err(|_| {
        ClientError::InvalidInput(format!(
            "{}: not a PNG, JPEG, WebP or GIF image",
            path.display()
        ))
    })?;
    let mime = match format {
        ImageFormat::Png => "image/png",
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::WebP => "image/webp",
        ImageFormat::Gif => "image/gif",
        other => {
            return Err(ClientError::InvalidInput(format!(
                "{}: {other:?} images are not accepted; use PNG, JPEG, WebP or GIF",
                path.display()
            )));
        }
    };
    if data_url_len(mime, bytes.len()) <= max_bytes {
        return Ok(data_url(mime, &bytes));
    }
    let image = image::load_from_memory_with_format(&bytes, format)
        .map_err(|e| ClientError::InvalidInput(format!("{}: {e}", path.display())))?;
    shrink_to_fit(&image, max_bytes).map_err(|e| match e {
        ClientError::InvalidInput(msg) => {
            ClientError::InvalidInput(format!("{}: {msg}", path.display()))
        }
        other => other,
    })
}

/// Re-encodes `image` as JPEG, halving its longest side until the data URL fits.
fn shrink_to_fit(image: &DynamicImage, max_bytes: usize) -> Result<String, ClientError> {
    let mut rgb = flatten_on_white(image);
    loop {
        let jpeg = encode_jpeg(&rgb)?;
        if data_url_len("image/jpeg", jpeg.len()) <= max_bytes {
            return Ok(data_url("image/jpeg", &jpeg));
        }
        let (w, h) = rgb.dimensions();
        if w <= 1 && h <= 1 {
            return Err(ClientError::InvalidInput(format!(
                "cannot fit the image into {max_bytes} bytes"
            )));
        }
        let (nw, nh) = halve_longest(w, h);
        rgb = image::imageops::resize(&rgb, nw, nh, FilterType::Triangle);
    }
}

/// The size after halving the longest side, keeping the aspect ratio; never below 1 pixel.
fn halve_longest(w: u32, h: u32) -> (u32, u32) {
    let longest = w.max(h);
    let target = (longest / 2).max(1);
    let scale = |side: u32| {
        let scaled = u64::from(side) * u64::from(target) / u64::from(longest.max(1));
        u32::try_from(scaled).unwrap_or(u32::MAX).max(1)
    };
    (scale(w), scale(h))
}

/// RGB pixels with any transparency composited over white (JPEG has no alpha).
fn flatten_on_white(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let a = u16::from(a);
        let over = |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        Rgb([over(r), over(g), over(b)])
    })
}

fn encode_jpeg(rgb: &RgbImage) -> Result<Vec<u8>, ClientError> {
    let mut out = Cursor::new(Vec::new());
    rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
        .map_err(|e| ClientError::InvalidInput(format!("cannot encode JPEG: {e}")))?;
    Ok(out.into_inner())
}

/// Reads the video at `path` as a `data:video/<mp4|webm|quicktime>;base64,…` URL; the type
/// comes from the extension (`.mp4`, `.webm`, `.mov`).
///
/// # Errors
/// [`ClientError::InvalidInput`] for another extension; [`ClientError::Io`] if the file
/// cannot be read.
pub fn video_data_url(path: &Path) -> Result<String, ClientError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let mime = match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        _ => {
            return Err(ClientError::InvalidInput(format!(
                "{}: unsupported video type; use .mp4, .webm or .mov",
                path.display()
            )));
        }
    };
    let bytes = read(path)?;
    Ok(data_url(mime, &bytes))
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::Io {
        path: path.to_owned(),
        source,
    })
}

fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!("data:{mime};base64,{}", STANDARD.encode(bytes))
}

/// Length of `data:<mime>;base64,<base64 of n bytes>`.
fn data_url_len(mime: &str, n: usize) -> usize {
    "data:;base64,".len() + mime.len() + n.div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_length_matches_the_url() {
        for n in [0, 1, 2, 3, 4, 100] {
            let bytes = vec![7u8; n];
            assert_eq!(
                data_url("image/png", &bytes).len(),
                data_url_len("image/png", n)
            );
        }
    }

    #[test]
    fn halving_keeps_aspect_and_floors_at_one() {
        assert_eq!(halve_longest(2000, 1000), (1000, 500));
        assert_eq!(halve_longest(300, 1001), (149, 500));
        assert_eq!(halve_longest(1000, 1), (500, 1));
        assert_eq!(halve_longest(1, 1), (1, 1));
    }

    #[test]
    fn transparency_becomes_white() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            2,
            2,
            image::Rgba([0, 0, 0, 0]),
        ));
        assert_eq!(flatten_on_white(&img).get_pixel(0, 0).0, [255, 255, 255]);
    }

    #[test]
    fn video_types_by_extension() {
        let dir = std::env::temp_dir().join(format!("ingot-client-video-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mov = dir.join("clip.MOV");
        std::fs::write(&mov, b"abc").unwrap();
        assert_eq!(
            video_data_url(&mov).unwrap(),
            "data:video/quicktime;base64,YWJj"
        );
        let avi = dir.join("clip.avi");
        assert!(matches!(
            video_data_url(&avi),
            Err(ClientError::InvalidInput(_))
        ));
        let missing = dir.join("missing.mp4");
        assert!(matches!(
            video_data_url(&missing),
            Err(ClientError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
