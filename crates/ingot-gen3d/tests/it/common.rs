//! Shared helpers: parameter builders, test images, GLB read-back.

use std::collections::BTreeMap;

use ingot_gen3d::{Asset, Gen3dParams, OutputFormat, generate};

pub fn text(prompt: &str, seed: u64, steps: u32) -> Gen3dParams {
    Gen3dParams {
        prompt: Some(prompt.to_string()),
        image: None,
        seed,
        steps,
        no_texture: false,
        format: OutputFormat::Glb,
    }
}

pub fn with_image(bytes: Vec<u8>, seed: u64, steps: u32) -> Gen3dParams {
    Gen3dParams {
        prompt: None,
        image: Some(bytes),
        ..text("", seed, steps)
    }
}

pub fn gen_ok(p: &Gen3dParams) -> Asset {
    generate(p).unwrap_or_else(|e| panic!("generate({p:?}) failed: {e}"))
}

/// A test picture: white background, a red disc joined to a blue bar, a
/// dark gradient stripe across the disc, and a stray green speck (which the
/// segmentation must drop as a smaller component).
pub fn test_image(w: u32, h: u32) -> image::RgbaImage {
    let mut img = image::RgbaImage::from_pixel(w, h, image::Rgba([245, 245, 240, 255]));
    let (cx, cy, r) = (w as f32 * 0.4, h as f32 * 0.5, h as f32 * 0.3);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32, y as f32);
            let in_disc = (fx - cx).powi(2) + (fy - cy).powi(2) < r * r;
            let in_bar = fx > cx && fx < w as f32 * 0.85 && (fy - cy).abs() < h as f32 * 0.08;
            if in_disc {
                let shade = if (fy - cy).abs() < r * 0.15 { 120 } else { 210 };
                img.put_pixel(x, y, image::Rgba([shade, 30, 30, 255]));
            } else if in_bar {
                img.put_pixel(
                    x,
                    y,
                    image::Rgba([30, 60, (fx as u32 % 200) as u8 + 40, 255]),
                );
            }
        }
    }
    for y in 2..5 {
        for x in 2..5 {
            img.put_pixel(x, y, image::Rgba([20, 200, 20, 255]));
        }
    }
    img
}

pub fn encode(img: &image::RgbaImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    match format {
        image::ImageFormat::Jpeg => image::DynamicImage::ImageRgba8(img.clone())
            .to_rgb8()
            .write_to(&mut out, format)
            .unwrap(),
        _ => img.write_to(&mut out, format).unwrap(),
    }
    out.into_inner()
}

pub fn png(img: &image::RgbaImage) -> Vec<u8> {
    encode(img, image::ImageFormat::Png)
}

/// Geometry of one primitive read back through the `gltf` crate.
pub struct Prim {
    pub name: String,
    pub positions: Vec<[f32; 3]>,
    pub normals: Vec<[f32; 3]>,
    pub uvs: Option<Vec<[f32; 2]>>,
    pub indices: Vec<u32>,
    pub textured: bool,
}

/// Parses a GLB with the `gltf` crate and reads every primitive back.
pub fn read_glb(bytes: &[u8]) -> (gltf::Gltf, Vec<Prim>) {
    let doc = gltf::Gltf::from_slice(bytes).expect("gltf crate rejects our GLB");
    let blob = doc.blob.clone().expect("GLB has no BIN chunk");
    let mut prims = Vec::new();
    for mesh in doc.meshes() {
        for prim in mesh.primitives() {
            let reader = prim.reader(|b| match b.source() {
                gltf::buffer::Source::Bin => Some(&blob[..]),
                gltf::buffer::Source::Uri(_) => None,
            });
            let positions: Vec<[f32; 3]> = reader.read_positions().expect("no POSITION").collect();
            let normals: Vec<[f32; 3]> = reader.read_normals().expect("no NORMAL").collect();
            let uvs = reader.read_tex_coords(0).map(|t| t.into_f32().collect());
            let indices: Vec<u32> = reader
                .read_indices()
                .expect("no indices")
                .into_u32()
                .collect();
            let textured = prim
                .material()
                .pbr_metallic_roughness()
                .base_color_texture()
                .is_some();
            prims.push(Prim {
                name: mesh.name().unwrap_or_default().to_string(),
                positions,
                normals,
                uvs,
                indices,
                textured,
            });
        }
    }
    (doc, prims)
}

/// Asserts every undirected edge (between welded positions) is used by
/// exactly two triangles with opposite orientation, and no triangle is degenerate.
pub fn assert_watertight(positions: &[[f32; 3]], indices: &[u32]) {
    let key = |p: [f32; 3]| p.map(|c| (c * 1e5).round() as i64);
    let mut ids: BTreeMap<[i64; 3], usize> = BTreeMap::new();
    let welded: Vec<usize> = positions
        .iter()
        .map(|p| {
            let n = ids.len();
            *ids.entry(key(*p)).or_insert(n)
        })
        .collect();
    let mut directed: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for t in indices.chunks_exact(3) {
        let v = [
            welded[t[0] as usize],
            welded[t[1] as usize],
            welded[t[2] as usize],
        ];
        assert!(
            v[0] != v[1] && v[1] != v[2] && v[0] != v[2],
            "degenerate triangle {t:?}"
        );
        for k in 0..3 {
            *directed.entry((v[k], v[(k + 1) % 3])).or_default() += 1;
        }
    }
    for (&(a, b), &n) in &directed {
        assert_eq!(n, 1, "directed edge {a}->{b} used {n} times (non-manifold)");
        assert_eq!(
            directed.get(&(b, a)),
            Some(&1),
            "edge {a}-{b} has no twin (hole)"
        );
    }
}
