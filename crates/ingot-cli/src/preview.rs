//! `ingot 3d --preview PNG`: a picture of the downloaded asset (front, three-quarter and side
//! views), drawn locally by the software renderer of `ingot-gen3d`, so the result can be looked
//! at without a 3D viewer.

use std::path::Path;

use anyhow::{Context as _, bail};
use ingot_gen3d::OutputFormat;
use ingot_gen3d::preview::{PreviewOptions, encode_png, render};

use crate::cli::Gen3dFormat;

/// Refuses, before the (long) generation, a preview path that exists without `--force` or that
/// is the asset's own path.
pub fn check_target(preview: &Path, output: &Path, force: bool) -> anyhow::Result<()> {
    if preview == output {
        bail!(
            "--preview {} is also the output file; pick another name",
            preview.display()
        );
    }
    if preview.exists() && !force {
        bail!(
            "{} exists; pass --force to overwrite it or give --preview another path",
            preview.display()
        );
    }
    Ok(())
}

/// Renders `asset` (a GLB or STL as `format` says) and writes it to `path` as PNG.
pub fn write(asset: &[u8], format: Gen3dFormat, path: &Path) -> anyhow::Result<()> {
    let format = match format {
        Gen3dFormat::Glb => OutputFormat::Glb,
        Gen3dFormat::Stl => OutputFormat::Stl,
    };
    let picture =
        render(asset, format, &PreviewOptions::default()).context("rendering the preview")?;
    let png = encode_png(&picture)?;
    std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
}
