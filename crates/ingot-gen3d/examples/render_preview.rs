//! Generates assets and rasterises the resulting GLBs to PNG previews so a
//! person can look at them.
//!
//! ```text
//! cargo run -p ingot-gen3d --example render_preview -- [--out DIR] [--seed N] [--steps N] [--no-texture] INPUT...
//! ```
//! Each INPUT is a prompt, or a path to an image file (image → 3D). For every
//! input, `DIR/<slug>.glb` and `DIR/<slug>.png` (front, three-quarter and
//! side views) are written. DIR defaults to `/tmp/ingot-gen3d-previews`.
//!
//! The renderer is a small software rasteriser over the GLB as read back by
//! the `gltf` crate: orthographic camera, z-buffer, Lambert shading with
//! smooth normals, base-colour textures (nearest, repeat), emissive and
//! alpha-blended materials.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use image::{Rgb, RgbImage, RgbaImage};
use ingot_gen3d::{Gen3dParams, OutputFormat, generate};

struct Mat {
    color: [f32; 4],
    emissive: [f32; 3],
    texture: Option<RgbaImage>,
}

struct Tri {
    p: [[f32; 3]; 3],
    n: [[f32; 3]; 3],
    uv: [[f32; 2]; 3],
    mat: usize,
}

fn load(bytes: &[u8]) -> Result<(Vec<Tri>, Vec<Mat>)> {
    let doc = gltf::Gltf::from_slice(bytes).context("parsing GLB")?;
    let blob = doc.blob.clone().context("GLB without BIN chunk")?;
    let mut mats = Vec::new();
    for m in doc.materials() {
        let pbr = m.pbr_metallic_roughness();
        let texture = match pbr.base_color_texture() {
            Some(info) => match info.texture().source().source() {
                gltf::image::Source::View { view, .. } => {
                    let data = &blob[view.offset()..view.offset() + view.length()];
                    Some(image::load_from_memory(data).context("texture")?.to_rgba8())
                }
                gltf::image::Source::Uri { .. } => None,
            },
            None => None,
        };
        mats.push(Mat {
            color: pbr.base_color_factor(),
            emissive: m.emissive_factor(),
            texture,
        });
    }
    let mut tris = Vec::new();
    for mesh in doc.meshes() {
        for prim in mesh.primitives() {
            let r = prim.reader(|_| Some(&blob[..]));
            let p: Vec<[f32; 3]> = r.read_positions().context("positions")?.collect();
            let n: Vec<[f32; 3]> = r.read_normals().context("normals")?.collect();
            let uv: Vec<[f32; 2]> = match r.read_tex_coords(0) {
                Some(t) => t.into_f32().collect(),
                None => vec![[0.0; 2]; p.len()],
            };
            let idx: Vec<u32> = r.read_indices().context("indices")?.into_u32().collect();
            let mat = prim.material().index().unwrap_or(0);
            for t in idx.chunks_exact(3) {
                let g = |k: usize| t[k] as usize;
                tris.push(Tri {
                    p: [p[g(0)], p[g(1)], p[g(2)]],
                    n: [n[g(0)], n[g(1)], n[g(2)]],
                    uv: [uv[g(0)], uv[g(1)], uv[g(2)]],
                    mat,
                });
            }
        }
    }
    Ok((tris, mats))
}

fn to_srgb(c: f32) -> u8 {
    let c = c.clamp(0.0, 1.0);
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

/// Renders one view into `img` at horizontal offset `ox`.
fn render_view(
    img: &mut RgbImage,
    ox: u32,
    size: u32,
    yaw: f32,
    pitch: f32,
    tris: &[Tri],
    mats: &[Mat],
) {
    let (sy, cy) = yaw.sin_cos();
    let (sp, cp) = pitch.sin_cos();
    // World → view: rotate about Y by yaw, then about X by pitch.
    let view = |v: [f32; 3]| -> [f32; 3] {
        let x = cy * v[0] + sy * v[2];
        let z = -sy * v[0] + cy * v[2];
        let y = cp * v[1] - sp * z;
        let z2 = sp * v[1] + cp * z;
        [x, y, z2]
    };
    let light = {
        let l = [-0.4f32, 0.7, 0.6];
        let len = (l[0] * l[0] + l[1] * l[1] + l[2] * l[2]).sqrt();
        [l[0] / len, l[1] / len, l[2] / len]
    };
    let scale = size as f32 / 1.3;
    let half = size as f32 / 2.0;
    let mut zbuf = vec![f32::NEG_INFINITY; (size * size) as usize];
    for pass in 0..2 {
        for t in tris {
            let m = &mats[t.mat.min(mats.len().saturating_sub(1))];
            let transparent = m.color[3] < 0.999;
            if (pass == 0) == transparent {
                continue;
            }
            let v: Vec<[f32; 3]> = t.p.iter().map(|&p| view(p)).collect();
            let n: Vec<[f32; 3]> = t.n.iter().map(|&p| view(p)).collect();
            let s: Vec<[f32; 2]> = v
                .iter()
                .map(|p| [half + p[0] * scale, half - p[1] * scale])
                .collect();
            let area = (s[1][0] - s[0][0]) * (s[2][1] - s[0][1])
                - (s[2][0] - s[0][0]) * (s[1][1] - s[0][1]);
            if area.abs() < 1e-9 {
                continue;
            }
            let minx = s
                .iter()
                .map(|p| p[0])
                .fold(f32::MAX, f32::min)
                .floor()
                .max(0.0) as u32;
            let maxx = s
                .iter()
                .map(|p| p[0])
                .fold(f32::MIN, f32::max)
                .ceil()
                .min(size as f32 - 1.0) as u32;
            let miny = s
                .iter()
                .map(|p| p[1])
                .fold(f32::MAX, f32::min)
                .floor()
                .max(0.0) as u32;
            let maxy = s
                .iter()
                .map(|p| p[1])
                .fold(f32::MIN, f32::max)
                .ceil()
                .min(size as f32 - 1.0) as u32;
            for py in miny..=maxy {
                for px in minx..=maxx {
                    let (x, y) = (px as f32 + 0.5, py as f32 + 0.5);
                    let w0 = ((s[1][0] - x) * (s[2][1] - y) - (s[2][0] - x) * (s[1][1] - y)) / area;
                    let w1 = ((s[2][0] - x) * (s[0][1] - y) - (s[0][0] - x) * (s[2][1] - y)) / area;
                    let w2 = 1.0 - w0 - w1;
                    if w0 < 0.0 || w1 < 0.0 || w2 < 0.0 {
                        continue;
                    }
                    let z = w0 * v[0][2] + w1 * v[1][2] + w2 * v[2][2];
                    let zi = (py * size + px) as usize;
                    if z <= zbuf[zi] {
                        continue;
                    }
                    let mut nn = [0.0f32; 3];
                    for k in 0..3 {
                        nn[k] = w0 * n[0][k] + w1 * n[1][k] + w2 * n[2][k];
                    }
                    let len = (nn[0] * nn[0] + nn[1] * nn[1] + nn[2] * nn[2])
                        .sqrt()
                        .max(1e-6);
                    let mut d = (nn[0] * light[0] + nn[1] * light[1] + nn[2] * light[2]) / len;
                    if nn[2] < 0.0 {
                        d = -d * 0.5; // back-facing: dim
                    }
                    let shade = 0.3 + 0.75 * d.max(0.0);
                    let mut base = [m.color[0], m.color[1], m.color[2]];
                    if let Some(tex) = &m.texture {
                        let u = w0 * t.uv[0][0] + w1 * t.uv[1][0] + w2 * t.uv[2][0];
                        let vv = w0 * t.uv[0][1] + w1 * t.uv[1][1] + w2 * t.uv[2][1];
                        let tx = ((u.rem_euclid(1.0)) * tex.width() as f32) as u32 % tex.width();
                        let ty = ((vv.rem_euclid(1.0)) * tex.height() as f32) as u32 % tex.height();
                        let tp = tex.get_pixel(tx, ty).0;
                        for (b, t) in base.iter_mut().zip(tp) {
                            *b *= to_linear(t);
                        }
                    }
                    let dst = img.get_pixel_mut(ox + px, py);
                    let a = m.color[3];
                    for (k, out) in dst.0.iter_mut().enumerate() {
                        let c = base[k] * shade + m.emissive[k];
                        *out = to_srgb(c * a + to_linear(*out) * (1.0 - a));
                    }
                    if !transparent {
                        zbuf[zi] = z;
                    }
                }
            }
        }
    }
}

fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    out.truncate(48);
    out
}

fn main() -> Result<()> {
    let mut out = PathBuf::from("/tmp/ingot-gen3d-previews");
    let mut seed = 42u64;
    let mut steps = 25u32;
    let mut no_texture = false;
    let mut inputs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = PathBuf::from(args.next().context("--out needs a value")?),
            "--seed" => seed = args.next().context("--seed needs a value")?.parse()?,
            "--steps" => steps = args.next().context("--steps needs a value")?.parse()?,
            "--no-texture" => no_texture = true,
            _ => inputs.push(a),
        }
    }
    if inputs.is_empty() {
        bail!(
            "usage: render_preview [--out DIR] [--seed N] [--steps N] [--no-texture] PROMPT|IMAGE..."
        );
    }
    std::fs::create_dir_all(&out)?;
    for input in inputs {
        let path = PathBuf::from(&input);
        let (prompt, image) = if path.is_file() {
            (None, Some(std::fs::read(&path)?))
        } else {
            (Some(input.clone()), None)
        };
        let params = Gen3dParams {
            prompt,
            image,
            seed,
            steps,
            no_texture,
            format: OutputFormat::Glb,
        };
        let asset = generate(&params).with_context(|| format!("generating {input}"))?;
        let name = slug(path.file_stem().and_then(|s| s.to_str()).unwrap_or(&input));
        let glb_path = out.join(format!("{name}.glb"));
        std::fs::write(&glb_path, &asset.bytes)?;
        let (tris, mats) = load(&asset.bytes)?;
        let size = 400;
        let mut img = RgbImage::from_fn(size * 3, size, |_, y| {
            let g = (235 - y * 50 / size) as u8;
            Rgb([g, g, g.saturating_add(8)])
        });
        let views = [
            (0.0f32, 0.15f32),
            (-0.7, 0.35),
            (-std::f32::consts::FRAC_PI_2, 0.1),
        ];
        for (i, (yaw, pitch)) in views.into_iter().enumerate() {
            render_view(&mut img, i as u32 * size, size, yaw, pitch, &tris, &mats);
        }
        let png_path = out.join(format!("{name}.png"));
        img.save(&png_path)?;
        println!(
            "{input:?}: {} triangles, {} bytes -> {} / {}\n  {}",
            asset.triangle_count,
            asset.bytes.len(),
            glb_path.display(),
            png_path.display(),
            asset.description
        );
    }
    Ok(())
}
