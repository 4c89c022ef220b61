//! Pictures of assets: a small software rasteriser that renders a GLB or an
//! STL file to an RGB image, so a person can look at a result without a 3D
//! viewer (`ingot 3d --preview`, `examples/render_preview.rs`).
//!
//! The picture holds three views side by side (front, three-quarter from the
//! left and above, side) on a light grey gradient. The camera is
//! orthographic and fitted to the asset's bounding sphere, so assets of any
//! scale fill the views alike. Shading is Lambert with one directional light
//! and the smooth normals of the file (flat facet normals for STL); base
//! colour textures are sampled nearest with repeat; emissive and
//! alpha-blended materials are honoured. Node transforms of the default
//! scene are applied.
//!
//! Input is not trusted: malformed files give a [`PreviewError`], never a
//! panic, and sizes are capped ([`MAX_TRIANGLES`], [`MAX_VIEW_SIZE`]).
//!
//! Behind the `preview` cargo feature (it pulls in the `gltf` reader).
//!
//! # Example
//! ```
//! use ingot_gen3d::preview::{PreviewOptions, encode_png, render};
//! use ingot_gen3d::{Gen3dParams, OutputFormat, generate};
//! let asset = generate(&Gen3dParams {
//!     prompt: Some("a mug".into()),
//!     image: None,
//!     seed: 1,
//!     steps: 10,
//!     no_texture: false,
//!     format: OutputFormat::Glb,
//! })?;
//! let picture = render(&asset.bytes, asset.format, &PreviewOptions { view_size: 64 })?;
//! assert_eq!((picture.width(), picture.height()), (3 * 64, 64));
//! assert!(encode_png(&picture)?.starts_with(b"\x89PNG"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod glb;
mod raster;
mod stl;

pub use image::RgbImage;

use crate::OutputFormat;

/// Smallest accepted [`PreviewOptions::view_size`].
pub const MIN_VIEW_SIZE: u32 = 16;
/// Largest accepted [`PreviewOptions::view_size`].
pub const MAX_VIEW_SIZE: u32 = 4096;
/// Most triangles rendered (after node instancing); more is refused, so that a
/// hostile file cannot make the renderer take all memory or time.
pub const MAX_TRIANGLES: usize = 4_000_000;
/// Widest and tallest embedded texture accepted, in pixels.
pub const MAX_TEXTURE_SIDE: u32 = 8192;

/// How to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewOptions {
    /// Width and height of each of the three views, in pixels
    /// ([`MIN_VIEW_SIZE`]..=[`MAX_VIEW_SIZE`]); the picture is three views wide.
    pub view_size: u32,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        Self { view_size: 400 }
    }
}

/// Why an asset could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The bytes do not start with a GLB header.
    #[error("not a GLB (no `glTF` header)")]
    NotGlb,
    /// The GLB is malformed (chunks, JSON or references).
    #[error("not a readable GLB: {0}")]
    Gltf(#[source] gltf::Error),
    /// The GLB keeps its data outside the file (no BIN chunk).
    #[error("the GLB has no binary chunk (external buffers are not supported)")]
    MissingBinChunk,
    /// Geometry that cannot be read: missing positions, accessors out of range,
    /// indices past the vertices, unsupported encodings.
    #[error("invalid mesh data: {0}")]
    InvalidMesh(String),
    /// The bytes are neither a binary nor an ASCII STL.
    #[error("not a readable STL: {0}")]
    InvalidStl(String),
    /// An embedded texture could not be decoded.
    #[error("could not decode a texture: {0}")]
    Texture(#[source] image::ImageError),
    /// More triangles (or nodes) than the renderer accepts.
    #[error("the asset is too large to preview: {0}")]
    TooLarge(String),
    /// The file holds no triangles to draw.
    #[error("the asset has no triangles to draw")]
    Empty,
    /// [`PreviewOptions::view_size`] is out of range.
    #[error("view size {size} is outside {MIN_VIEW_SIZE}..={MAX_VIEW_SIZE}")]
    ViewSize {
        /// The size asked for.
        size: u32,
    },
    /// Encoding the picture as PNG failed.
    #[error("could not encode the preview: {0}")]
    Encode(#[source] image::ImageError),
}

/// Renders an asset in the given format (front, three-quarter and side views).
///
/// # Errors
/// See [`render_glb`] and [`render_stl`].
pub fn render(
    bytes: &[u8],
    format: OutputFormat,
    opts: &PreviewOptions,
) -> Result<RgbImage, PreviewError> {
    match format {
        OutputFormat::Glb => render_glb(bytes, opts),
        OutputFormat::Stl => render_stl(bytes, opts),
    }
}

/// Renders a binary glTF (GLB) with its materials and textures.
///
/// # Errors
/// [`PreviewError::ViewSize`] for a bad size; [`PreviewError::NotGlb`], [`PreviewError::Gltf`],
/// [`PreviewError::MissingBinChunk`], [`PreviewError::InvalidMesh`] or
/// [`PreviewError::Texture`] for a malformed file; [`PreviewError::TooLarge`]
/// or [`PreviewError::Empty`] for one that cannot be drawn.
pub fn render_glb(glb: &[u8], opts: &PreviewOptions) -> Result<RgbImage, PreviewError> {
    check_size(opts)?;
    raster::render(&glb::load(glb)?, opts)
}

/// Renders a binary or ASCII STL (geometry only, one neutral material).
///
/// # Errors
/// [`PreviewError::ViewSize`] for a bad size; [`PreviewError::InvalidStl`] for
/// a malformed file; [`PreviewError::TooLarge`] or [`PreviewError::Empty`] for
/// one that cannot be drawn.
pub fn render_stl(stl: &[u8], opts: &PreviewOptions) -> Result<RgbImage, PreviewError> {
    check_size(opts)?;
    raster::render(&stl::load(stl)?, opts)
}

/// Encodes a picture as PNG.
///
/// # Errors
/// [`PreviewError::Encode`] when the encoder fails.
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>, PreviewError> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(PreviewError::Encode)?;
    Ok(out.into_inner())
}

fn check_size(opts: &PreviewOptions) -> Result<(), PreviewError> {
    if (MIN_VIEW_SIZE..=MAX_VIEW_SIZE).contains(&opts.view_size) {
        Ok(())
    } else {
        Err(PreviewError::ViewSize {
            size: opts.view_size,
        })
    }
}

/// A surface material, in linear colour.
struct Material {
    color: [f32; 4],
    emissive: [f32; 3],
    texture: Option<image::RgbaImage>,
}

/// Used for STL files and for triangles whose material is missing.
const NEUTRAL: Material = Material {
    color: [0.45, 0.52, 0.62, 1.0],
    emissive: [0.0; 3],
    texture: None,
};

/// One triangle in model space.
struct Triangle {
    p: [[f32; 3]; 3],
    n: [[f32; 3]; 3],
    uv: [[f32; 2]; 3],
    material: usize,
}

/// What the loaders hand to the rasteriser.
struct Model {
    triangles: Vec<Triangle>,
    materials: Vec<Material>,
}

impl Model {
    fn material(&self, index: usize) -> &Material {
        self.materials.get(index).unwrap_or(&NEUTRAL)
    }
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn normalize(v: [f32; 3]) -> Option<[f32; 3]> {
    let len = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    (len.is_finite() && len > 1e-12).then(|| [v[0] / len, v[1] / len, v[2] / len])
}

/// The facet normal of a triangle (+Z when degenerate).
fn face_normal(p: &[[f32; 3]; 3]) -> [f32; 3] {
    let (a, b) = (sub(p[1], p[0]), sub(p[2], p[0]));
    let c = [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ];
    normalize(c).unwrap_or([0.0, 0.0, 1.0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Gen3dParams, generate};

    const SIZE: u32 = 96;

    fn asset(prompt: &str, format: OutputFormat) -> Vec<u8> {
        generate(&Gen3dParams {
            prompt: Some(prompt.into()),
            image: None,
            seed: 3,
            steps: 10,
            no_texture: false,
            format,
        })
        .unwrap()
        .bytes
    }

    /// Pixels of view `v` that differ from the background.
    fn foreground(img: &RgbImage, v: u32) -> usize {
        (0..SIZE)
            .flat_map(|y| (0..SIZE).map(move |x| (x, y)))
            .filter(|&(x, y)| *img.get_pixel(v * SIZE + x, y) != raster::background(y, SIZE))
            .count()
    }

    fn opts() -> PreviewOptions {
        PreviewOptions { view_size: SIZE }
    }

    #[test]
    fn every_view_of_a_glb_shows_the_asset() {
        let img = render_glb(&asset("a red wooden chair", OutputFormat::Glb), &opts()).unwrap();
        assert_eq!((img.width(), img.height()), (3 * SIZE, SIZE));
        for v in 0..3 {
            let n = foreground(&img, v);
            // Drawn, but fitted inside the view: neither empty nor filling it.
            assert!(n > (SIZE * SIZE / 20) as usize, "view {v}: {n} pixels");
            assert!(n < (SIZE * SIZE * 3 / 4) as usize, "view {v}: {n} pixels");
        }
        // The chair is red: some pixel is clearly reddish.
        assert!(img.pixels().any(|p| p[0] > p[1].saturating_add(40)));
    }

    #[test]
    fn every_view_of_an_stl_shows_the_asset() {
        let img = render(
            &asset("a tall pine tree", OutputFormat::Stl),
            OutputFormat::Stl,
            &opts(),
        )
        .unwrap();
        for v in 0..3 {
            assert!(
                foreground(&img, v) > (SIZE * SIZE / 30) as usize,
                "view {v}"
            );
        }
    }

    #[test]
    fn ascii_stl_is_read() {
        let stl = "solid t\n facet normal 0 0 1\n  outer loop\n   vertex -1 -1 0\n   vertex 1 -1 0\n   vertex 0 1 0\n  endloop\n endfacet\nendsolid t\n";
        let img = render_stl(stl.as_bytes(), &opts()).unwrap();
        assert!(foreground(&img, 0) > 100);
    }

    #[test]
    fn rendering_is_deterministic_and_encodes_as_png() {
        let glb = asset("a mug", OutputFormat::Glb);
        let a = render_glb(&glb, &opts()).unwrap();
        assert_eq!(a, render_glb(&glb, &opts()).unwrap());
        let png = encode_png(&a).unwrap();
        let back = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(back, a);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let glb = asset("a robot", OutputFormat::Glb);
        let stl = asset("a robot", OutputFormat::Stl);
        assert!(matches!(
            render_glb(b"definitely not a model", &opts()),
            Err(PreviewError::NotGlb)
        ));
        assert!(matches!(
            render_stl(b"definitely not a model", &opts()),
            Err(PreviewError::InvalidStl(_))
        ));
        assert!(matches!(
            render_stl(b"", &opts()),
            Err(PreviewError::InvalidStl(_))
        ));
        // An STL whose header claims more triangles than it holds.
        let mut short = stl.clone();
        short.truncate(stl.len() - 50);
        assert!(render_stl(&short, &opts()).is_err());
        // Truncations and byte flips anywhere in a GLB.
        for cut in (0..glb.len()).step_by(glb.len() / 97 + 1) {
            let _ = render_glb(&glb[..cut], &opts());
        }
        let step = glb.len() / 211 + 1;
        for at in (0..glb.len()).step_by(step) {
            let mut bad = glb.clone();
            bad[at] ^= 0x5a;
            let _ = render_glb(&bad, &opts());
        }
        // The formats swapped.
        assert!(render_glb(&stl, &opts()).is_err());
        assert!(render_stl(&glb, &opts()).is_err());
    }

    /// A GLB holding `json` and no BIN chunk.
    fn glb_of(json: &str) -> Vec<u8> {
        let mut chunk = json.as_bytes().to_vec();
        while !chunk.len().is_multiple_of(4) {
            chunk.push(b' ');
        }
        let total = u32::try_from(12 + 8 + chunk.len()).unwrap();
        let mut out = b"glTF".to_vec();
        out.extend(2u32.to_le_bytes());
        out.extend(total.to_le_bytes());
        out.extend(u32::try_from(chunk.len()).unwrap().to_le_bytes());
        out.extend(b"JSON");
        out.extend(chunk);
        out
    }

    #[test]
    fn malformed_glbs_that_trip_the_gltf_crate_are_errors() {
        // `gltf`'s validator indexes accessors by POSITION unchecked.
        let json = r#"{"asset":{"version":"2.0"},"meshes":[{"primitives":[{"attributes":{"POSITION":5}}]}]}"#;
        assert!(matches!(
            render_glb(&glb_of(json), &opts()),
            Err(PreviewError::InvalidMesh(_))
        ));
        // A declared length shorter than the header.
        let mut short = glb_of(r#"{"asset":{"version":"2.0"}}"#);
        short[8..12].copy_from_slice(&4u32.to_le_bytes());
        assert!(matches!(
            render_glb(&short, &opts()),
            Err(PreviewError::NotGlb)
        ));
        // Valid, but nothing to draw.
        assert!(render_glb(&glb_of(r#"{"asset":{"version":"2.0"}}"#), &opts()).is_err());
    }

    #[test]
    fn view_size_is_checked() {
        let glb = asset("a mug", OutputFormat::Glb);
        for size in [0, MIN_VIEW_SIZE - 1, MAX_VIEW_SIZE + 1] {
            assert!(matches!(
                render_glb(&glb, &PreviewOptions { view_size: size }),
                Err(PreviewError::ViewSize { .. })
            ));
        }
    }
}
