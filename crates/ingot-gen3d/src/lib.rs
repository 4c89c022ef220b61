//! `ingot-gen3d`: the local, procedural stand-in for the TRELLIS 3D generator
//! behind `POST /v1/genai/microsoft/trellis`.
//!
//! No neural 3D model is bundled, so instead of a fake placeholder this crate
//! builds real, valid, viewable assets deterministically:
//!
//! * **image → 3D**: the image is decoded (PNG, JPEG, WebP, GIF; decompression
//!   bombs are rejected by a pixel cap), the foreground is separated from the
//!   background (alpha channel when present, otherwise distance to the border
//!   colour, largest connected component, small holes filled), and a
//!   **watertight relief** is built: a front surface inflated by the distance
//!   to the silhouette plus luminance detail, a flat back and side walls. The
//!   image is embedded as the base-colour texture (PBR metallic-roughness).
//!   Images without a clear foreground become a relief plaque of the whole
//!   picture.
//! * **text → 3D**: the prompt is parsed for an object noun, colour words
//!   ("red", "navy", ...), a material word ("wooden", "steel", "marble",
//!   "glass", "golden", ...) and proportion words ("tall", "wide", ...). Known
//!   objects are composed from parametric parts: chair/armchair, stool,
//!   table/desk, house/barn, tree/conifer, lamp (table, floor, architect),
//!   mug/cup, vase/bottle/jar, tower/castle/lighthouse, robot, golem,
//!   sword/dagger/katana, rocket, snowman, car/truck, mushroom. Other prompts
//!   give an abstract sculpture (pedestal + stacked primitives) whose shapes
//!   and colour depend on the prompt and seed. Materials get procedural
//!   textures (wood grain, brushed metal, stone, bricks, weave, leaves).
//!
//! The `seed` varies proportions and styles within sensible limits (e.g. the
//! backrest style of a chair, the number of fins of a rocket); `steps`
//! (10..=50) raises tessellation, relief grid resolution and texture size.
//! Same parameters → byte-identical output.
//!
//! **What it cannot do**: it does not understand free-form scenes, counts,
//! spatial relations ("a cat on a chair" is a chair), poses, or objects
//! outside the list above; image reliefs are 2.5D (no hidden back side is
//! invented); there are no animations, skins or normal maps.
//!
//! # Layout
//! * [`mesh`]: meshes, transforms, [`Scene`](mesh::Scene).
//! * [`parts`]: closed parametric primitives.
//! * [`material`], [`texture`]: PBR materials, vocabulary, procedural textures.
//! * [`text3d`] + [`objects`]: prompt parsing and object recipes.
//! * [`image3d`]: image decoding and the image → relief pipeline;
//!   [`segment`]: foreground separation; [`relief`]: watertight relief mesh.
//! * [`glb`], [`stl`]: writers.
//! * `preview` (cargo feature `preview`): a software renderer that turns a
//!   GLB or STL into a picture of three views.
//!
//! # Example
//! ```
//! use ingot_gen3d::{generate, Gen3dParams, OutputFormat};
//! let asset = generate(&Gen3dParams {
//!     prompt: Some("a red wooden chair".into()),
//!     image: None,
//!     seed: 42,
//!     steps: 12,
//!     no_texture: false,
//!     format: OutputFormat::Glb,
//! })?;
//! assert_eq!(&asset.bytes[..4], b"glTF");
//! assert!(asset.triangle_count > 0);
//! # Ok::<(), ingot_gen3d::Gen3dError>(())
//! ```

pub mod error;
pub mod glb;
pub mod image3d;
pub mod material;
pub mod mesh;
pub mod objects;
pub mod parts;
#[cfg(feature = "preview")]
pub mod preview;
pub mod relief;
pub mod rng;
pub mod segment;
pub mod stl;
pub mod text3d;
pub mod texture;

pub use error::Gen3dError;
pub use image3d::MAX_IMAGE_PIXELS;

/// Output container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// Binary glTF 2.0 with embedded textures.
    Glb,
    /// Binary STL (geometry only; textures and `no_texture` are ignored).
    Stl,
}

impl OutputFormat {
    /// MIME type of the format.
    pub fn mime_type(self) -> &'static str {
        match self {
            OutputFormat::Glb => "model/gltf-binary",
            OutputFormat::Stl => "model/stl",
        }
    }

    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Glb => "glb",
            OutputFormat::Stl => "stl",
        }
    }
}

/// Generation request (already validated and decoded by the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gen3dParams {
    /// Text prompt; used when no image is given.
    pub prompt: Option<String>,
    /// Raw PNG/JPEG/WebP/GIF bytes (base64 already decoded). Takes
    /// precedence over the prompt.
    pub image: Option<Vec<u8>>,
    /// Resolved, non-zero seed.
    pub seed: u64,
    /// 10..=50 (clamped): more steps = more segments, finer relief, larger textures.
    pub steps: u32,
    /// Plain materials without texture images.
    pub no_texture: bool,
    /// Output format.
    pub format: OutputFormat,
}

/// A generated asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// The GLB or STL file.
    pub bytes: Vec<u8>,
    /// Format of `bytes`.
    pub format: OutputFormat,
    /// Number of triangles.
    pub triangle_count: usize,
    /// Number of vertices (GLB vertices; STL stores 3 per triangle).
    pub vertex_count: usize,
    /// Names of the parts (one glTF node each).
    pub parts: Vec<String>,
    /// Human-readable summary of what was built and why.
    pub description: String,
}

/// Internal options shared by the builders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Seed for proportions and textures.
    pub seed: u64,
    /// Detail level, 10..=50.
    pub steps: u32,
    /// Whether to create texture images.
    pub textured: bool,
}

/// Generates a 3D asset from an image or a prompt.
///
/// The image wins when both are given. The result is normalised: centred on
/// the origin, +Y up, largest extent 1 m.
///
/// # Errors
/// * [`Gen3dError::EmptyInput`]: no image and no non-blank prompt.
/// * [`Gen3dError::ImageDecode`] / [`Gen3dError::ImageTooLarge`]: bad image.
/// * [`Gen3dError::Encode`] / [`Gen3dError::Geometry`]: internal failures.
pub fn generate(params: &Gen3dParams) -> Result<Asset, Gen3dError> {
    let opts = BuildOptions {
        seed: params.seed,
        steps: params.steps.clamp(10, 50),
        textured: !params.no_texture && params.format == OutputFormat::Glb,
    };
    let prompt = params
        .prompt
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let image = params.image.as_deref().filter(|b| !b.is_empty());
    let (mut scene, description) = match (image, prompt) {
        (Some(bytes), _) => image3d::build(bytes, &opts)?,
        (None, Some(p)) => text3d::build(p, &opts),
        (None, None) => return Err(Gen3dError::EmptyInput),
    };
    scene.prune();
    if scene.parts.is_empty() {
        return Err(Gen3dError::Geometry("nothing was generated".into()));
    }
    scene.normalize(1.0);
    let bytes = match params.format {
        OutputFormat::Glb => glb::write_glb(&scene, &description)?,
        OutputFormat::Stl => stl::write_stl(&scene)?,
    };
    Ok(Asset {
        bytes,
        format: params.format,
        triangle_count: scene.triangle_count(),
        vertex_count: scene.vertex_count(),
        parts: scene.parts.iter().map(|p| p.name.clone()).collect(),
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(prompt: &str) -> Gen3dParams {
        Gen3dParams {
            prompt: Some(prompt.into()),
            image: None,
            seed: 7,
            steps: 10,
            no_texture: false,
            format: OutputFormat::Glb,
        }
    }

    #[test]
    fn empty_input_is_rejected() {
        let p = Gen3dParams {
            prompt: Some("   ".into()),
            image: Some(vec![]),
            ..params("")
        };
        assert!(matches!(generate(&p), Err(Gen3dError::EmptyInput)));
    }

    #[test]
    fn output_is_normalised() {
        let a = generate(&params("a lamp")).unwrap();
        assert!(a.description.contains("lamp"), "{}", a.description);
        assert!(a.parts.iter().any(|p| p == "shade"));
    }

    #[test]
    fn stl_ignores_textures() {
        let p = Gen3dParams {
            format: OutputFormat::Stl,
            ..params("a tree")
        };
        let a = generate(&p).unwrap();
        assert_eq!(a.bytes.len(), 84 + 50 * a.triangle_count);
        assert_eq!(a.format.mime_type(), "model/stl");
    }
}
