//! The rasteriser: orthographic camera, z-buffer, Lambert shading, nearest
//! texture sampling, opaque pass then alpha-blended pass.

use image::{Rgb, RgbImage};

use super::{Model, PreviewError, PreviewOptions, Triangle, normalize};

/// (yaw, pitch) of the three views: front, three-quarter, side.
const VIEWS: [(f32, f32); 3] = [
    (0.0, 0.15),
    (-0.7, 0.35),
    (-std::f32::consts::FRAC_PI_2, 0.1),
];

/// Share of half a view the bounding sphere's radius takes.
const FILL: f32 = 0.9;

/// Most pixel tests (the sum of the triangles' screen bounding boxes over all
/// views), so that a file of huge overlapping triangles cannot keep the
/// renderer busy for minutes.
const MAX_PIXEL_TESTS: u64 = 3_000_000_000;

/// The background at row `y` of a view `size` pixels high: a light grey
/// gradient, darker towards the bottom.
pub(super) fn background(y: u32, size: u32) -> Rgb<u8> {
    let g = u8::try_from(235 - u64::from(y) * 50 / u64::from(size).max(1)).unwrap_or(185);
    Rgb([g, g, g.saturating_add(8)])
}

/// Renders the three views of `model` side by side.
pub(super) fn render(model: &Model, opts: &PreviewOptions) -> Result<RgbImage, PreviewError> {
    let size = opts.view_size;
    let (center, radius) = bounds(&model.triangles).ok_or(PreviewError::Empty)?;
    let mut img = RgbImage::from_fn(size * 3, size, |_, y| background(y, size));
    let camera = Camera {
        center,
        // Model units to pixels, so that the bounding sphere fits every view.
        scale: size as f32 / 2.0 * FILL / radius,
        size,
    };
    let mut budget = MAX_PIXEL_TESTS;
    for (i, (yaw, pitch)) in (0u32..).zip(VIEWS) {
        render_view(
            &mut img,
            i * size,
            &camera,
            (yaw, pitch),
            model,
            &mut budget,
        )?;
    }
    Ok(img)
}

/// The centre of the bounding box of the finite vertices and the radius of the
/// sphere around it holding them all; `None` when there is nothing to draw.
fn bounds(triangles: &[Triangle]) -> Option<([f32; 3], f32)> {
    let mut lo = [f32::INFINITY; 3];
    let mut hi = [f32::NEG_INFINITY; 3];
    let points = || {
        triangles
            .iter()
            .filter(|t| drawable(t))
            .flat_map(|t| t.p.iter())
    };
    for p in points() {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    if lo[0] > hi[0] {
        return None;
    }
    let c = [0, 1, 2].map(|k| (lo[k] + hi[k]) / 2.0);
    let r2 = points()
        .map(|p| (0..3).map(|k| (p[k] - c[k]).powi(2)).sum::<f32>())
        .fold(0.0f32, f32::max);
    let r = r2.sqrt();
    // A point or a huge range: fall back to a unit sphere rather than dividing by 0 or inf.
    let r = if r.is_finite() && r > 1e-9 { r } else { 1.0 };
    Some((c, r))
}

fn drawable(t: &Triangle) -> bool {
    t.p.iter().flatten().all(|c| c.is_finite())
}

struct Camera {
    center: [f32; 3],
    scale: f32,
    size: u32,
}

fn to_srgb(c: f32) -> u8 {
    let c = if c.is_nan() { 0.0 } else { c.clamp(0.0, 1.0) };
    let s = if c <= 0.003_130_8 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    (s * 255.0).round() as u8
}

fn to_linear(c: u8) -> f32 {
    let c = f32::from(c) / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Renders one view into `img` at horizontal offset `ox`, spending `budget`
/// pixel tests.
fn render_view(
    img: &mut RgbImage,
    ox: u32,
    cam: &Camera,
    (yaw, pitch): (f32, f32),
    model: &Model,
    budget: &mut u64,
) -> Result<(), PreviewError> {
    let size = cam.size;
    let (sy, cy) = yaw.sin_cos();
    let (sp, cp) = pitch.sin_cos();
    // World → view: rotate about Y by yaw, then about X by pitch. +Z points at the viewer.
    let rotate = |v: [f32; 3]| -> [f32; 3] {
        let x = cy * v[0] + sy * v[2];
        let z = -sy * v[0] + cy * v[2];
        let y = cp * v[1] - sp * z;
        let z2 = sp * v[1] + cp * z;
        [x, y, z2]
    };
    let light = normalize([-0.4, 0.7, 0.6]).unwrap_or([0.0, 0.0, 1.0]);
    let half = size as f32 / 2.0;
    let last = size as f32 - 1.0;
    let mut zbuf = vec![f32::NEG_INFINITY; (size as usize) * (size as usize)];
    for pass in 0..2 {
        for t in model.triangles.iter().filter(|t| drawable(t)) {
            let m = model.material(t.material);
            let alpha = m.color[3];
            let transparent = alpha < 0.999;
            if (pass == 0) == transparent {
                continue;
            }
            let v = t.p.map(|p| {
                let q = rotate([
                    p[0] - cam.center[0],
                    p[1] - cam.center[1],
                    p[2] - cam.center[2],
                ]);
                [q[0] * cam.scale, q[1] * cam.scale, q[2]]
            });
            let n = t.n.map(rotate);
            let s = v.map(|p| [half + p[0], half - p[1]]);
            let area = (s[1][0] - s[0][0]) * (s[2][1] - s[0][1])
                - (s[2][0] - s[0][0]) * (s[1][1] - s[0][1]);
            if !area.is_finite() || area.abs() < 1e-9 {
                continue;
            }
            let (xs, ys) = (s.map(|p| p[0]), s.map(|p| p[1]));
            let min = |a: [f32; 3]| a[0].min(a[1]).min(a[2]).floor().clamp(0.0, last) as u32;
            let max = |a: [f32; 3]| a[0].max(a[1]).max(a[2]).ceil().clamp(0.0, last) as u32;
            let (x0, x1, y0, y1) = (min(xs), max(xs), min(ys), max(ys));
            let tests = u64::from(x1.saturating_sub(x0) + 1) * u64::from(y1.saturating_sub(y0) + 1);
            *budget = budget.checked_sub(tests).ok_or_else(|| {
                PreviewError::TooLarge("its triangles cover too many pixels".into())
            })?;
            for py in y0..=y1 {
                for px in x0..=x1 {
                    let (x, y) = (px as f32 + 0.5, py as f32 + 0.5);
                    let w0 = ((s[1][0] - x) * (s[2][1] - y) - (s[2][0] - x) * (s[1][1] - y)) / area;
                    let w1 = ((s[2][0] - x) * (s[0][1] - y) - (s[0][0] - x) * (s[2][1] - y)) / area;
                    let w2 = 1.0 - w0 - w1;
                    if w0 < 0.0 || w1 < 0.0 || w2 < 0.0 {
                        continue;
                    }
                    let z = w0 * v[0][2] + w1 * v[1][2] + w2 * v[2][2];
                    let Some(depth) = zbuf.get_mut((py * size + px) as usize) else {
                        continue;
                    };
                    if z <= *depth {
                        continue;
                    }
                    let nn = [0, 1, 2].map(|k| w0 * n[0][k] + w1 * n[1][k] + w2 * n[2][k]);
                    let nn = normalize(nn).unwrap_or([0.0, 0.0, 1.0]);
                    let mut d = nn[0] * light[0] + nn[1] * light[1] + nn[2] * light[2];
                    if nn[2] < 0.0 {
                        d = -d * 0.5; // back-facing (seen through an opening): dim
                    }
                    let shade = 0.3 + 0.75 * d.max(0.0);
                    let mut base = [m.color[0], m.color[1], m.color[2]];
                    if let Some(tex) = &m.texture {
                        let u = w0 * t.uv[0][0] + w1 * t.uv[1][0] + w2 * t.uv[2][0];
                        let vv = w0 * t.uv[0][1] + w1 * t.uv[1][1] + w2 * t.uv[2][1];
                        let tx = (u.rem_euclid(1.0) * tex.width() as f32) as u32;
                        let ty = (vv.rem_euclid(1.0) * tex.height() as f32) as u32;
                        let tx = tx.min(tex.width().saturating_sub(1));
                        let ty = ty.min(tex.height().saturating_sub(1));
                        if let Some(tp) = tex.get_pixel_checked(tx, ty) {
                            for (b, c) in base.iter_mut().zip(tp.0) {
                                *b *= to_linear(c);
                            }
                        }
                    }
                    let Some(dst) = img.get_pixel_mut_checked(ox + px, py) else {
                        continue;
                    };
                    for (k, out) in dst.0.iter_mut().enumerate() {
                        let c = base[k] * shade + m.emissive[k];
                        *out = to_srgb(c * alpha + to_linear(*out) * (1.0 - alpha));
                    }
                    if !transparent {
                        *depth = z;
                    }
                }
            }
        }
    }
    Ok(())
}
