//! Image → 3D: decode, separate foreground from background, and build a
//! watertight relief (inflated front, flat back, side walls) textured with
//! the image.

use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageReader};

use crate::BuildOptions;
use crate::error::Gen3dError;
use crate::material::{Material, srgb_to_linear};
use crate::mesh::{Part, Scene};
use crate::relief::relief_mesh;
use crate::segment::{Mask, Segmentation, luminance, nearest_foreground, segment};
use crate::texture::TextureImage;

/// Largest accepted image (pixels declared in the header): 4096 × 4096.
pub const MAX_IMAGE_PIXELS: u64 = 4096 * 4096;

/// Decodes `bytes` with a pixel cap.
///
/// # Errors
/// [`Gen3dError::ImageTooLarge`] above [`MAX_IMAGE_PIXELS`],
/// [`Gen3dError::ImageDecode`] for unknown or corrupt data.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, Gen3dError> {
    let reader = |limits: image::Limits| -> Result<ImageReader<Cursor<&[u8]>>, Gen3dError> {
        let mut r = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| Gen3dError::ImageDecode(image::ImageError::IoError(e)))?;
        r.limits(limits);
        Ok(r)
    };
    // The header is read without size limits so that the real pixel count
    // can be reported; decoding then runs under strict limits.
    let (w, h) = reader(image::Limits::no_limits())?
        .into_dimensions()
        .map_err(Gen3dError::ImageDecode)?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > MAX_IMAGE_PIXELS {
        return Err(Gen3dError::ImageTooLarge {
            pixels,
            max: MAX_IMAGE_PIXELS,
        });
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(MAX_IMAGE_PIXELS * 16 + (64 << 20));
    reader(limits)?.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Gen3dError::ImageTooLarge {
            pixels,
            max: MAX_IMAGE_PIXELS,
        },
        other => Gen3dError::ImageDecode(other),
    })
}

/// Builds the image relief scene.
///
/// # Errors
/// Decoding errors (see [`decode`]) and texture encoding errors.
pub fn build(bytes: &[u8], opts: &BuildOptions) -> Result<(Scene, String), Gen3dError> {
    let img = decode(bytes)?;
    let (iw, ih) = (img.width(), img.height());
    if iw == 0 || ih == 0 {
        return Err(Gen3dError::Geometry("image has no pixels".into()));
    }
    let rgba = img.to_rgba8();
    let steps = opts.steps.clamp(10, 50);
    let grid_long = 40 + steps * 4;
    let long = iw.max(ih);
    let scale = grid_long as f32 / long as f32;
    let (gw, gh) = (
        ((iw as f32 * scale).round() as u32).max(4),
        ((ih as f32 * scale).round() as u32).max(4),
    );
    let small = if long > grid_long {
        imageops::thumbnail(&rgba, gw, gh)
    } else {
        imageops::resize(&rgba, gw, gh, FilterType::Nearest)
    };
    let (mask, method) = segment(&small);
    // Crop to the foreground bounding box.
    let (mut x0, mut y0, mut x1, mut y1) = (mask.w, mask.h, 0, 0);
    for y in 0..mask.h {
        for x in 0..mask.w {
            if mask.cells[y * mask.w + x] {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            }
        }
    }
    if x1 <= x0 || y1 <= y0 {
        return Err(Gen3dError::Geometry("no foreground found".into()));
    }
    let (cw, ch) = (x1 - x0, y1 - y0);
    let crop = Mask {
        w: cw,
        h: ch,
        cells: (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .map(|(x, y)| mask.cells[y * mask.w + x])
            .collect(),
    };
    let lum: Vec<f32> = (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (x, y)))
        .map(|(x, y)| luminance(small.get_pixel(x as u32, y as u32).0))
        .collect();
    let material = if opts.textured {
        let sx = iw as f32 / gw as f32;
        let sy = ih as f32 / gh as f32;
        let (px0, py0) = (
            (x0 as f32 * sx).floor() as u32,
            (y0 as f32 * sy).floor() as u32,
        );
        let (px1, py1) = (
            ((x1 as f32 * sx).ceil() as u32).min(iw),
            ((y1 as f32 * sy).ceil() as u32).min(ih),
        );
        let region =
            imageops::crop_imm(&rgba, px0, py0, (px1 - px0).max(1), (py1 - py0).max(1)).to_image();
        let size = match steps {
            0..25 => 256,
            25..40 => 512,
            _ => 1024,
        };
        let mut tex = imageops::resize(&region, size, size, FilterType::Triangle);
        // Background and silhouette texels (seen on the walls and the rim,
        // and mixed with background pixels) take the colour of the nearest
        // interior foreground cell, so no background fringe shows.
        let interior = Mask {
            w: cw,
            h: ch,
            cells: (0..cw * ch)
                .map(|k| {
                    let (x, y) = ((k % cw) as isize, (k / cw) as isize);
                    [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
                        .iter()
                        .all(|(dx, dy)| crop.get(x + dx, y + dy))
                })
                .collect(),
        };
        let core = if interior.count() > 0 {
            &interior
        } else {
            &crop
        };
        let nearest = nearest_foreground(core);
        for (tx, ty, p) in tex.enumerate_pixels_mut() {
            let gx = (tx as usize * cw / size as usize).min(cw - 1);
            let gy = (ty as usize * ch / size as usize).min(ch - 1);
            let k = gy * cw + gx;
            if !core.cells[k] {
                let f = nearest[k];
                let (fx, fy) = (x0 + f % cw, y0 + f / cw);
                *p = *small.get_pixel(fx as u32, fy as u32);
            }
            p.0[3] = 255;
        }
        Material {
            name: "image".into(),
            base_color: [1.0, 1.0, 1.0, 1.0],
            metallic: 0.0,
            roughness: 0.75,
            emissive: [0.0; 3],
            texture: Some(TextureImage {
                width: size,
                height: size,
                rgba: tex.into_raw(),
            }),
        }
    } else {
        let mut sum = [0u64; 3];
        let mut count = 0u64;
        for y in y0..y1 {
            for x in x0..x1 {
                if mask.cells[y * mask.w + x] {
                    let p = small.get_pixel(x as u32, y as u32).0;
                    for k in 0..3 {
                        sum[k] += u64::from(p[k]);
                    }
                    count += 1;
                }
            }
        }
        let avg = sum.map(|s| srgb_to_linear((s / count.max(1)) as u8));
        Material {
            name: "image_average".into(),
            base_color: [avg[0], avg[1], avg[2], 1.0],
            metallic: 0.0,
            roughness: 0.75,
            emissive: [0.0; 3],
            texture: None,
        }
    };
    let mesh = relief_mesh(&crop, &lum);
    let cells = crop.count();
    let scene = Scene {
        name: "relief".into(),
        parts: vec![Part {
            name: "relief".into(),
            mesh,
            material: 0,
        }],
        materials: vec![material],
    };
    let how = match method {
        Segmentation::Alpha => "foreground from the alpha channel",
        Segmentation::BorderColor => "foreground separated from the border colour",
        Segmentation::WholeImage => "no clear foreground, whole image used",
    };
    let desc = format!(
        "image-to-3D: {iw}x{ih} image, {how}; watertight relief of {cells} cells on a {cw}x{ch} grid (inflated front, flat back, side walls)"
    );
    Ok((scene, desc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(
            decode(b"definitely not an image"),
            Err(Gen3dError::ImageDecode(_))
        ));
    }
}
