//! Generates assets and renders them to PNG previews so a person can look at
//! them.
//!
//! ```text
//! cargo run -p ingot-gen3d --features preview --example render_preview -- [--out DIR] [--seed N] [--steps N] [--no-texture] INPUT...
//! ```
//! Each INPUT is a prompt, or a path to an image file (image → 3D). For every
//! input, `DIR/<slug>.glb` and `DIR/<slug>.png` (front, three-quarter and
//! side views) are written. DIR defaults to `/tmp/ingot-gen3d-previews`.
//!
//! The renderer is [`ingot_gen3d::preview`], a small software rasteriser
//! (orthographic camera, z-buffer, Lambert shading with smooth normals,
//! base-colour textures, emissive and alpha-blended materials).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use ingot_gen3d::preview::{PreviewOptions, encode_png, render_glb};
use ingot_gen3d::{Gen3dParams, OutputFormat, generate};

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
        let img = render_glb(&asset.bytes, &PreviewOptions { view_size: 400 })
            .with_context(|| format!("rendering {input}"))?;
        let png_path = out.join(format!("{name}.png"));
        std::fs::write(&png_path, encode_png(&img)?)?;
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
