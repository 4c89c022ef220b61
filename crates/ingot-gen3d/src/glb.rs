//! Hand-written glTF 2.0 binary (GLB) writer.
//!
//! Layout: one buffer (the BIN chunk); one bufferView per accessor or image,
//! each 4-byte aligned; one node + mesh (single primitive) per part under a
//! root node; one material per [`Material`]; textures embedded as PNG.

use serde_json::{Map, Value, json};

use crate::error::Gen3dError;
use crate::material::Material;
use crate::mesh::{Mesh, Scene};
use crate::texture::TextureImage;

const GLB_MAGIC: u32 = 0x4654_6C67; // "glTF"
const CHUNK_JSON: u32 = 0x4E4F_534A; // "JSON"
const CHUNK_BIN: u32 = 0x004E_4942; // "BIN\0"
const ARRAY_BUFFER: u32 = 34962;
const ELEMENT_ARRAY_BUFFER: u32 = 34963;
const FLOAT: u32 = 5126;
const UNSIGNED_SHORT: u32 = 5123;
const UNSIGNED_INT: u32 = 5125;

#[derive(Default)]
struct Builder {
    bin: Vec<u8>,
    views: Vec<Value>,
    accessors: Vec<Value>,
}

impl Builder {
    fn align(&mut self) {
        while !self.bin.len().is_multiple_of(4) {
            self.bin.push(0);
        }
    }

    fn view(&mut self, bytes: &[u8], target: Option<u32>) -> usize {
        self.align();
        let mut v = Map::new();
        v.insert("buffer".into(), json!(0));
        v.insert("byteOffset".into(), json!(self.bin.len()));
        v.insert("byteLength".into(), json!(bytes.len()));
        if let Some(t) = target {
            v.insert("target".into(), json!(t));
        }
        self.bin.extend_from_slice(bytes);
        self.views.push(Value::Object(v));
        self.views.len() - 1
    }

    fn float_accessor<const N: usize>(&mut self, data: &[[f32; N]], with_bounds: bool) -> usize {
        let mut bytes = Vec::with_capacity(data.len() * N * 4);
        for v in data {
            for c in v {
                bytes.extend_from_slice(&c.to_le_bytes());
            }
        }
        let view = self.view(&bytes, Some(ARRAY_BUFFER));
        let kind = match N {
            2 => "VEC2",
            3 => "VEC3",
            _ => "VEC4",
        };
        let mut a = Map::new();
        a.insert("bufferView".into(), json!(view));
        a.insert("componentType".into(), json!(FLOAT));
        a.insert("count".into(), json!(data.len()));
        a.insert("type".into(), json!(kind));
        if with_bounds {
            let mut lo = [f32::INFINITY; N];
            let mut hi = [f32::NEG_INFINITY; N];
            for v in data {
                for k in 0..N {
                    lo[k] = lo[k].min(v[k]);
                    hi[k] = hi[k].max(v[k]);
                }
            }
            a.insert("min".into(), json!(lo.map(f64::from).to_vec()));
            a.insert("max".into(), json!(hi.map(f64::from).to_vec()));
        }
        self.accessors.push(Value::Object(a));
        self.accessors.len() - 1
    }

    fn index_accessor(&mut self, indices: &[u32], vertex_count: usize) -> usize {
        // 65535 is the primitive-restart value for u16 indices: avoid it.
        let (bytes, ctype) = if vertex_count < usize::from(u16::MAX) {
            let mut b = Vec::with_capacity(indices.len() * 2);
            for &i in indices {
                b.extend_from_slice(&u16::try_from(i).unwrap_or(0).to_le_bytes());
            }
            (b, UNSIGNED_SHORT)
        } else {
            let mut b = Vec::with_capacity(indices.len() * 4);
            for &i in indices {
                b.extend_from_slice(&i.to_le_bytes());
            }
            (b, UNSIGNED_INT)
        };
        let view = self.view(&bytes, Some(ELEMENT_ARRAY_BUFFER));
        self.accessors.push(json!({
            "bufferView": view,
            "componentType": ctype,
            "count": indices.len(),
            "type": "SCALAR",
        }));
        self.accessors.len() - 1
    }
}

fn encode_png(tex: &TextureImage) -> Result<Vec<u8>, Gen3dError> {
    use image::ImageEncoder;
    use image::codecs::png::PngEncoder;
    let opaque = tex.rgba.chunks_exact(4).all(|px| px[3] == 255);
    let mut out = Vec::new();
    let encoder = PngEncoder::new(&mut out);
    if opaque {
        let rgb: Vec<u8> = tex
            .rgba
            .chunks_exact(4)
            .flat_map(|px| [px[0], px[1], px[2]])
            .collect();
        encoder
            .write_image(&rgb, tex.width, tex.height, image::ExtendedColorType::Rgb8)
            .map_err(Gen3dError::Encode)?;
    } else {
        encoder
            .write_image(
                &tex.rgba,
                tex.width,
                tex.height,
                image::ExtendedColorType::Rgba8,
            )
            .map_err(Gen3dError::Encode)?;
    }
    Ok(out)
}

fn check_mesh(name: &str, m: &Mesh) -> Result<(), Gen3dError> {
    let n = m.positions.len();
    let finite = m
        .positions
        .iter()
        .chain(&m.normals)
        .flatten()
        .all(|c| c.is_finite())
        && m.uvs.iter().flatten().all(|c| c.is_finite());
    let consistent = m.normals.len() == n
        && m.uvs.len() == n
        && m.indices.len().is_multiple_of(3)
        && m.indices.iter().all(|&i| (i as usize) < n);
    if finite && consistent && n > 0 {
        Ok(())
    } else {
        Err(Gen3dError::Geometry(format!(
            "part {name} has inconsistent or non-finite data"
        )))
    }
}

fn material_json(m: &Material, texture: Option<usize>) -> Value {
    let mut pbr = Map::new();
    pbr.insert(
        "baseColorFactor".into(),
        json!(m.base_color.map(f64::from).to_vec()),
    );
    pbr.insert("metallicFactor".into(), json!(f64::from(m.metallic)));
    pbr.insert("roughnessFactor".into(), json!(f64::from(m.roughness)));
    if let Some(t) = texture {
        pbr.insert("baseColorTexture".into(), json!({ "index": t }));
    }
    let mut out = Map::new();
    out.insert("name".into(), json!(m.name));
    out.insert("pbrMetallicRoughness".into(), Value::Object(pbr));
    if m.emissive.iter().any(|&c| c > 0.0) {
        out.insert(
            "emissiveFactor".into(),
            json!(m.emissive.map(f64::from).to_vec()),
        );
    }
    if m.is_transparent() {
        out.insert("alphaMode".into(), json!("BLEND"));
    }
    Value::Object(out)
}

/// Serialises `scene` as a GLB. `description` is stored in `asset.extras`.
///
/// # Errors
/// [`Gen3dError::Geometry`] for invalid meshes or material references,
/// [`Gen3dError::Encode`] when a texture cannot be PNG-encoded.
pub fn write_glb(scene: &Scene, description: &str) -> Result<Vec<u8>, Gen3dError> {
    let mut b = Builder::default();
    let mut images = Vec::new();
    let mut textures = Vec::new();
    let mut materials = Vec::new();
    for m in &scene.materials {
        let tex_index = match &m.texture {
            Some(tex) => {
                let png = encode_png(tex)?;
                let view = b.view(&png, None);
                images.push(json!({ "bufferView": view, "mimeType": "image/png" }));
                textures.push(json!({ "sampler": 0, "source": images.len() - 1 }));
                Some(textures.len() - 1)
            }
            None => None,
        };
        materials.push(material_json(m, tex_index));
    }
    let mut meshes = Vec::new();
    let mut nodes = vec![Value::Null];
    for part in &scene.parts {
        let m = &part.mesh;
        check_mesh(&part.name, m)?;
        let material = scene.materials.get(part.material).ok_or_else(|| {
            Gen3dError::Geometry(format!("part {} references a missing material", part.name))
        })?;
        let mut attributes = Map::new();
        attributes.insert(
            "POSITION".into(),
            json!(b.float_accessor(&m.positions, true)),
        );
        attributes.insert("NORMAL".into(), json!(b.float_accessor(&m.normals, false)));
        if material.texture.is_some() {
            attributes.insert("TEXCOORD_0".into(), json!(b.float_accessor(&m.uvs, false)));
        }
        let indices = b.index_accessor(&m.indices, m.positions.len());
        meshes.push(json!({
            "name": part.name,
            "primitives": [{
                "attributes": Value::Object(attributes),
                "indices": indices,
                "material": part.material,
                "mode": 4,
            }],
        }));
        nodes.push(json!({ "name": part.name, "mesh": meshes.len() - 1 }));
    }
    if meshes.is_empty() {
        return Err(Gen3dError::Geometry("scene has no parts".into()));
    }
    let children: Vec<usize> = (1..nodes.len()).collect();
    nodes[0] = json!({ "name": scene.name, "children": children });
    b.align();
    let mut root = Map::new();
    root.insert(
        "asset".into(),
        json!({
            "version": "2.0",
            "generator": concat!("ingot-gen3d ", env!("CARGO_PKG_VERSION")),
            "extras": { "description": description },
        }),
    );
    root.insert("scene".into(), json!(0));
    root.insert(
        "scenes".into(),
        json!([{ "name": scene.name, "nodes": [0] }]),
    );
    root.insert("nodes".into(), Value::Array(nodes));
    root.insert("meshes".into(), Value::Array(meshes));
    root.insert("materials".into(), Value::Array(materials));
    if !textures.is_empty() {
        root.insert(
            "samplers".into(),
            json!([{ "magFilter": 9729, "minFilter": 9987, "wrapS": 10497, "wrapT": 10497 }]),
        );
        root.insert("images".into(), Value::Array(images));
        root.insert("textures".into(), Value::Array(textures));
    }
    root.insert("accessors".into(), Value::Array(b.accessors));
    root.insert("bufferViews".into(), Value::Array(b.views));
    root.insert("buffers".into(), json!([{ "byteLength": b.bin.len() }]));
    let mut json_bytes = serde_json::to_vec(&Value::Object(root))
        .map_err(|e| Gen3dError::Geometry(format!("glTF JSON serialisation failed: {e}")))?;
    while json_bytes.len() % 4 != 0 {
        json_bytes.push(b' ');
    }
    let total = 12 + 8 + json_bytes.len() + 8 + b.bin.len();
    let total32 =
        u32::try_from(total).map_err(|_| Gen3dError::Geometry("GLB larger than 4 GiB".into()))?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&GLB_MAGIC.to_le_bytes());
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&total32.to_le_bytes());
    out.extend_from_slice(&(json_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&CHUNK_JSON.to_le_bytes());
    out.extend_from_slice(&json_bytes);
    out.extend_from_slice(&(b.bin.len() as u32).to_le_bytes());
    out.extend_from_slice(&CHUNK_BIN.to_le_bytes());
    out.extend_from_slice(&b.bin);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::Part;
    use crate::parts::cuboid;

    fn scene(textured: bool) -> Scene {
        let texture = textured.then(|| TextureImage {
            width: 2,
            height: 2,
            rgba: vec![200; 16],
        });
        Scene {
            name: "box".into(),
            parts: vec![Part {
                name: "cube".into(),
                mesh: cuboid([1.0; 3], [0.0; 3]),
                material: 0,
            }],
            materials: vec![Material {
                name: "m".into(),
                base_color: [1.0, 0.5, 0.25, 1.0],
                metallic: 0.0,
                roughness: 0.5,
                emissive: [0.0; 3],
                texture,
            }],
        }
    }

    #[test]
    fn header_and_chunks_are_aligned() {
        let glb = write_glb(&scene(true), "d").unwrap();
        assert_eq!(&glb[0..4], b"glTF");
        assert_eq!(
            u32::from_le_bytes(glb[8..12].try_into().unwrap()) as usize,
            glb.len()
        );
        let json_len = u32::from_le_bytes(glb[12..16].try_into().unwrap()) as usize;
        assert_eq!(json_len % 4, 0);
        assert_eq!(&glb[16..20], b"JSON");
        let bin_at = 20 + json_len;
        assert_eq!(&glb[bin_at + 4..bin_at + 8], b"BIN\0");
        let bin_len = u32::from_le_bytes(glb[bin_at..bin_at + 4].try_into().unwrap()) as usize;
        assert_eq!(bin_len % 4, 0);
        assert_eq!(bin_at + 8 + bin_len, glb.len());
        let v: Value = serde_json::from_slice(&glb[20..20 + json_len]).unwrap();
        assert_eq!(v["accessors"][0]["min"], json!([-0.5, -0.5, -0.5]));
        assert_eq!(
            v["meshes"][0]["primitives"][0]["attributes"]["TEXCOORD_0"],
            json!(2)
        );
        assert_eq!(v["images"][0]["mimeType"], json!("image/png"));
    }

    #[test]
    fn untextured_has_no_texcoords_or_images() {
        let glb = write_glb(&scene(false), "d").unwrap();
        let json_len = u32::from_le_bytes(glb[12..16].try_into().unwrap()) as usize;
        let v: Value = serde_json::from_slice(&glb[20..20 + json_len]).unwrap();
        assert!(v.get("images").is_none());
        assert!(
            v["meshes"][0]["primitives"][0]["attributes"]
                .get("TEXCOORD_0")
                .is_none()
        );
    }

    #[test]
    fn rejects_bad_material_reference_and_nan() {
        let mut s = scene(false);
        s.parts[0].material = 3;
        assert!(matches!(write_glb(&s, ""), Err(Gen3dError::Geometry(_))));
        let mut s = scene(false);
        s.parts[0].mesh.positions[0][0] = f32::NAN;
        assert!(matches!(write_glb(&s, ""), Err(Gen3dError::Geometry(_))));
    }
}
