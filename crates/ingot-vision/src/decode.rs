//! Image decoding guarded against decompression bombs: a byte cap, then the declared
//! dimensions are read from the header and checked against a pixel cap before any pixel
//! buffer is allocated, and the decoder itself runs under `image::Limits`.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits, RgbImage};

use crate::media;

/// Caps for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Encoded size.
    pub max_bytes: usize,
    /// Width × height.
    pub max_pixels: u64,
    /// Width and height each.
    pub max_dimension: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_bytes: 20 * 1024 * 1024,
            max_pixels: 40_000_000,
            max_dimension: 16_384,
        }
    }
}

/// Why an image could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Encoded size over the cap.
    #[error("the image is {bytes} bytes, more than the limit of {max_bytes} bytes")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The cap.
        max_bytes: usize,
    },
    /// Declared dimensions over the caps (a decompression bomb, or just too big).
    #[error(
        "the image declares {width}×{height} pixels, more than the limit of {max_pixels} pixels ({max_dimension} per side)"
    )]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Pixel cap.
        max_pixels: u64,
        /// Side cap.
        max_dimension: u32,
    },
    /// Not PNG, JPEG, WebP or GIF.
    #[error("the data is not a supported image (found {found}); supported: PNG, JPEG, WebP, GIF")]
    Unsupported {
        /// What it looks like.
        found: String,
    },
    /// The header or pixel data is broken.
    #[error("the image data could not be decoded: {reason}")]
    Corrupt {
        /// The decoder's message.
        reason: String,
    },
}

/// A decoded image, alpha composited onto white.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    /// RGB pixels.
    pub rgb: RgbImage,
    /// The source format.
    pub format: ImageFormat,
}

/// Reads only the header: format and declared dimensions.
///
/// # Errors
/// Over the byte cap, not a supported format, or a broken header.
pub fn probe(bytes: &[u8], limits: &DecodeLimits) -> Result<(ImageFormat, u32, u32), DecodeError> {
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge {
            bytes: bytes.len(),
            max_bytes: limits.max_bytes,
        });
    }
    let Some(format) = media::sniff_image(bytes) else {
        return Err(DecodeError::Unsupported {
            found: media::describe_content(bytes),
        });
    };
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| map_image_error(e, limits, 0, 0))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels
        || width > limits.max_dimension
        || height > limits.max_dimension
        || pixels == 0
    {
        if pixels == 0 {
            return Err(DecodeError::Corrupt {
                reason: format!("the image declares {width}×{height} pixels"),
            });
        }
        return Err(too_many(width, height, limits));
    }
    Ok((format, width, height))
}

fn too_many(width: u32, height: u32, limits: &DecodeLimits) -> DecodeError {
    DecodeError::TooManyPixels {
        width,
        height,
        max_pixels: limits.max_pixels,
        max_dimension: limits.max_dimension,
    }
}

fn map_image_error(e: image::ImageError, limits: &DecodeLimits, w: u32, h: u32) -> DecodeError {
    match e {
        image::ImageError::Limits(_) => too_many(w, h, limits),
        image::ImageError::Unsupported(u) => DecodeError::Unsupported {
            found: u.to_string(),
        },
        other => DecodeError::Corrupt {
            reason: other.to_string(),
        },
    }
}

/// Decodes PNG, JPEG, WebP or GIF (first frame) under the limits.
///
/// # Errors
/// See [`DecodeError`].
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage, DecodeError> {
    let (format, width, height) = probe(bytes, limits)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut l = Limits::default();
    l.max_image_width = Some(limits.max_dimension);
    l.max_image_height = Some(limits.max_dimension);
    // RGBA at 16 bits per channel, plus decoder scratch space.
    l.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(l);
    let img = reader
        .decode()
        .map_err(|e| map_image_error(e, limits, width, height))?;
    let rgb = if img.color().has_alpha() {
        flatten_on_white(&img.to_rgba8())
    } else {
        img.to_rgb8()
    };
    Ok(DecodedImage { rgb, format })
}

/// Composites RGBA onto white, so transparent backgrounds read as paper, not black.
fn flatten_on_white(rgba: &image::RgbaImage) -> RgbImage {
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u32::from(p[3]);
        let mix = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([mix(p[0]), mix(p[1]), mix(p[2])])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(w, h, image::Rgba([0, 0, 0, 0]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A valid tiny PNG whose IHDR is patched to declare `w`×`h` (CRC fixed up).
    pub(crate) fn bomb_png(w: u32, h: u32) -> Vec<u8> {
        let mut b = png(1, 1);
        // Signature (8) + length (4) + "IHDR" (4) + width, height.
        b[16..20].copy_from_slice(&w.to_be_bytes());
        b[20..24].copy_from_slice(&h.to_be_bytes());
        let crc = crc32(&b[12..29]);
        b[29..33].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn decodes_and_flattens_transparency_onto_white() {
        let d = decode_image(&png(3, 2), &DecodeLimits::default()).unwrap();
        assert_eq!(d.rgb.dimensions(), (3, 2));
        assert_eq!(d.rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(d.format, ImageFormat::Png);
    }

    #[test]
    fn refuses_a_declared_50000_square_bomb_before_decoding() {
        let bomb = bomb_png(50_000, 50_000);
        assert!(bomb.len() < 100);
        let e = decode_image(&bomb, &DecodeLimits::default()).unwrap_err();
        assert!(
            matches!(
                e,
                DecodeError::TooManyPixels {
                    width: 50_000,
                    height: 50_000,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("50000×50000"), "{e}");
    }

    #[test]
    fn caps_bytes_and_pixels() {
        let limits = DecodeLimits {
            max_bytes: 10,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            decode_image(&png(2, 2), &limits),
            Err(DecodeError::TooLarge { .. })
        ));
        let limits = DecodeLimits {
            max_pixels: 99,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            decode_image(&png(10, 10), &limits),
            Err(DecodeError::TooManyPixels { .. })
        ));
    }

    #[test]
    fn rejects_non_images_and_corrupt_data() {
        let e = decode_image(b"<svg></svg>", &DecodeLimits::default()).unwrap_err();
        assert!(matches!(e, DecodeError::Unsupported { .. }), "{e:?}");
        let mut broken = png(4, 4);
        let n = broken.len();
        broken.truncate(n - 20);
        let e = decode_image(&broken, &DecodeLimits::default()).unwrap_err();
        assert!(matches!(e, DecodeError::Corrupt { .. }), "{e:?}");
    }

    #[test]
    fn gif_gives_its_first_frame() {
        use image::codecs::gif::GifEncoder;
        use image::{Delay, Frame};
        let mut out = Vec::new();
        {
            let mut enc = GifEncoder::new(&mut out);
            for c in [[255, 0, 0, 255], [0, 0, 255, 255]] {
                let f = Frame::from_parts(
                    image::RgbaImage::from_pixel(4, 4, image::Rgba(c)),
                    0,
                    0,
                    Delay::from_numer_denom_ms(100, 1),
                );
                enc.encode_frame(f).unwrap();
            }
        }
        let d = decode_image(&out, &DecodeLimits::default()).unwrap();
        let p = d.rgb.get_pixel(1, 1).0;
        assert!(p[0] > 200 && p[2] < 60, "{p:?}");
    }
}
