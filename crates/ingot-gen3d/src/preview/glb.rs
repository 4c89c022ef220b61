//! Reads a GLB into triangles and materials with the `gltf` crate.
//!
//! The `gltf` crate is not hardened against hostile files: its validator
//! indexes by an unchecked POSITION reference, `Image::source` unwraps
//! optional fields, and its accessor readers panic on encodings the schema
//! allows (a stride shorter than an element, an unexpected index type). So
//! those references are checked before validation, image sources are read
//! from the JSON, and every accessor is checked against the binary chunk
//! before it is read. (Checked by mutating every JSON field and many bytes of
//! generated GLBs.)

use std::io::Cursor;

use gltf::accessor::{DataType, Dimensions};
use gltf::json::validation::Checked;
use gltf::mesh::{Mode, Semantic};

use super::{
    MAX_TEXTURE_SIDE, MAX_TRIANGLES, Material, Model, PreviewError, Triangle, face_normal,
    normalize,
};

/// Most nodes visited and deepest nesting, against cyclic or exploding node
/// graphs.
const MAX_NODES: usize = 100_000;
const MAX_DEPTH: usize = 64;

type Mat4 = [[f32; 4]; 4];

const IDENTITY: Mat4 = [
    [1.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 1.0],
];

pub(super) fn load(bytes: &[u8]) -> Result<Model, PreviewError> {
    // `gltf` subtracts the header size from the declared length unchecked
    // (a panic in debug builds): refuse a length shorter than the header first.
    let declared = bytes
        .get(8..12)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes);
    if !bytes.starts_with(b"glTF") || declared.is_none_or(|n| n < 12) {
        return Err(PreviewError::NotGlb);
    }
    let glb = gltf::Glb::from_slice(bytes).map_err(PreviewError::Gltf)?;
    let root = gltf::json::Root::from_slice(&glb.json)
        .map_err(|e| PreviewError::Gltf(gltf::Error::Deserialize(e)))?;
    // `gltf`'s validation indexes the accessors by a primitive's POSITION
    // unchecked: check that reference before it runs.
    let accessors = root.accessors.len();
    let positions = Checked::Valid(gltf::json::mesh::Semantic::Positions);
    for prim in root.meshes.iter().flat_map(|m| &m.primitives) {
        if prim
            .attributes
            .get(&positions)
            .is_some_and(|i| i.value() >= accessors)
        {
            return Err(invalid("a POSITION attribute naming no accessor"));
        }
    }
    let doc = gltf::Document::from_json(root).map_err(PreviewError::Gltf)?;
    let blob = glb.bin.as_deref().ok_or(PreviewError::MissingBinChunk)?;
    let materials = doc
        .materials()
        .map(|m| material(&doc, &m, blob))
        .collect::<Result<Vec<_>, _>>()?;
    let mut triangles = Vec::new();
    for (mesh, matrix) in instances(&doc)? {
        for prim in mesh.primitives() {
            primitive(&prim, &matrix, blob, &mut triangles)?;
        }
    }
    if triangles.is_empty() {
        return Err(PreviewError::Empty);
    }
    Ok(Model {
        triangles,
        materials,
    })
}

/// The meshes of the default (or first) scene with their world matrices; all
/// meshes untransformed when the file has no scene.
fn instances(doc: &gltf::Document) -> Result<Vec<(gltf::Mesh<'_>, Mat4)>, PreviewError> {
    let Some(scene) = doc.default_scene().or_else(|| doc.scenes().next()) else {
        return Ok(doc.meshes().map(|m| (m, IDENTITY)).collect());
    };
    let mut out = Vec::new();
    let mut stack: Vec<_> = scene.nodes().map(|n| (n, IDENTITY, 0usize)).collect();
    let mut visited = 0usize;
    while let Some((node, parent, depth)) = stack.pop() {
        visited += 1;
        if visited > MAX_NODES || depth > MAX_DEPTH {
            return Err(PreviewError::TooLarge(format!(
                "more than {MAX_NODES} node instances or nesting deeper than {MAX_DEPTH}"
            )));
        }
        let matrix = mul(&parent, &node.transform().matrix());
        if let Some(mesh) = node.mesh() {
            out.push((mesh, matrix));
        }
        stack.extend(node.children().map(|c| (c, matrix, depth + 1)));
    }
    Ok(out)
}

/// `a * b` for column-major matrices.
fn mul(a: &Mat4, b: &Mat4) -> Mat4 {
    let mut out = [[0.0; 4]; 4];
    for (c, col) in out.iter_mut().enumerate() {
        for (r, v) in col.iter_mut().enumerate() {
            *v = (0..4).map(|k| a[k][r] * b[c][k]).sum();
        }
    }
    out
}

fn transform_point(m: &Mat4, p: [f32; 3]) -> [f32; 3] {
    [0, 1, 2].map(|r| m[0][r] * p[0] + m[1][r] * p[1] + m[2][r] * p[2] + m[3][r])
}

/// Directions go through the upper 3×3 (exact for rotations and uniform scale,
/// which is what the assets use; close enough for a picture otherwise).
fn transform_normal(m: &Mat4, n: [f32; 3]) -> [f32; 3] {
    let v = [0, 1, 2].map(|r| m[0][r] * n[0] + m[1][r] * n[1] + m[2][r] * n[2]);
    normalize(v).unwrap_or([0.0, 0.0, 1.0])
}

fn material(
    doc: &gltf::Document,
    m: &gltf::Material<'_>,
    blob: &[u8],
) -> Result<Material, PreviewError> {
    let pbr = m.pbr_metallic_roughness();
    let texture = match pbr.base_color_texture() {
        Some(info) => texture(doc, &info.texture(), blob)?,
        None => None,
    };
    Ok(Material {
        color: pbr.base_color_factor(),
        emissive: m.emissive_factor(),
        texture,
    })
}

/// The decoded image of `tex` when it is embedded in the binary chunk; `None`
/// for external images (the base colour alone is used then).
fn texture(
    doc: &gltf::Document,
    tex: &gltf::Texture<'_>,
    blob: &[u8],
) -> Result<Option<image::RgbaImage>, PreviewError> {
    // Not `Image::source()`: it panics on an image with neither a URI nor a
    // MIME type, which validation lets through.
    let view = doc
        .as_json()
        .images
        .get(tex.source().index())
        .and_then(|img| img.buffer_view)
        .and_then(|i| doc.views().nth(i.value()));
    let Some(view) = view else {
        return Ok(None);
    };
    let mut reader = image::ImageReader::new(Cursor::new(view_bytes(&view, blob)?))
        .with_guessed_format()
        .map_err(|e| PreviewError::Texture(image::ImageError::IoError(e)))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_TEXTURE_SIDE);
    limits.max_image_height = Some(MAX_TEXTURE_SIDE);
    reader.limits(limits);
    let img = reader.decode().map_err(PreviewError::Texture)?.to_rgba8();
    Ok((img.width() > 0 && img.height() > 0).then_some(img))
}

/// The bytes of a buffer view in the binary chunk.
fn view_bytes<'b>(view: &gltf::buffer::View<'_>, blob: &'b [u8]) -> Result<&'b [u8], PreviewError> {
    if !matches!(view.buffer().source(), gltf::buffer::Source::Bin) {
        return Err(invalid("a buffer view outside the binary chunk"));
    }
    view.offset()
        .checked_add(view.length())
        .and_then(|end| blob.get(view.offset()..end))
        .ok_or_else(|| invalid("a buffer view past the end of the binary chunk"))
}

fn invalid(what: &str) -> PreviewError {
    PreviewError::InvalidMesh(what.to_owned())
}

/// Checks that `acc` has one of the `types`, the `dims`, is not sparse, and
/// that all its elements lie inside its buffer view, which lies inside `blob`:
/// then the `gltf` readers yield exactly `count` items without panicking.
fn check(
    acc: &gltf::Accessor<'_>,
    what: &str,
    types: &[DataType],
    dims: Dimensions,
    blob: &[u8],
) -> Result<(), PreviewError> {
    let bad = |why: &str| PreviewError::InvalidMesh(format!("{what} accessor: {why}"));
    if !types.contains(&acc.data_type()) || acc.dimensions() != dims {
        return Err(bad("unsupported component type or dimensions"));
    }
    if acc.sparse().is_some() {
        return Err(bad("sparse accessors are not supported"));
    }
    let view = acc.view().ok_or_else(|| bad("no buffer view"))?;
    let len = view_bytes(&view, blob)?.len();
    let size = acc.size();
    let stride = view.stride().unwrap_or(size);
    if acc.count() == 0 || size == 0 || stride < size {
        return Err(bad("empty, or elements overlap"));
    }
    let end = (acc.count() - 1)
        .checked_mul(stride)
        .and_then(|n| n.checked_add(size))
        .and_then(|n| n.checked_add(acc.offset()));
    match end {
        Some(end) if end <= len => Ok(()),
        _ => Err(bad("runs past its buffer view")),
    }
}

fn primitive(
    prim: &gltf::Primitive<'_>,
    matrix: &Mat4,
    blob: &[u8],
    out: &mut Vec<Triangle>,
) -> Result<(), PreviewError> {
    if prim.mode() != Mode::Triangles {
        // Points, lines and strips are not drawn (the generator writes none).
        return Ok(());
    }
    let reader = prim.reader(|b| matches!(b.source(), gltf::buffer::Source::Bin).then_some(blob));
    let f32_only = [DataType::F32];

    let acc = prim
        .get(&Semantic::Positions)
        .ok_or_else(|| invalid("a primitive without positions"))?;
    check(&acc, "position", &f32_only, Dimensions::Vec3, blob)?;
    let positions: Vec<[f32; 3]> = reader
        .read_positions()
        .ok_or_else(|| invalid("unreadable positions"))?
        .map(|p| transform_point(matrix, p))
        .collect();

    let normals: Option<Vec<[f32; 3]>> = match prim.get(&Semantic::Normals) {
        Some(acc) => {
            check(&acc, "normal", &f32_only, Dimensions::Vec3, blob)?;
            let n = reader
                .read_normals()
                .ok_or_else(|| invalid("unreadable normals"))?;
            Some(n.map(|n| transform_normal(matrix, n)).collect())
        }
        None => None,
    };

    let set = prim
        .material()
        .pbr_metallic_roughness()
        .base_color_texture()
        .map_or(0, |t| t.tex_coord());
    let uvs: Option<Vec<[f32; 2]>> = match prim.get(&Semantic::TexCoords(set)) {
        Some(acc) => {
            let types = [DataType::U8, DataType::U16, DataType::F32];
            check(&acc, "texture coordinate", &types, Dimensions::Vec2, blob)?;
            let t = reader
                .read_tex_coords(set)
                .ok_or_else(|| invalid("unreadable texture coordinates"))?;
            Some(t.into_f32().collect())
        }
        None => None,
    };

    let indices: Vec<u32> = match prim.indices() {
        Some(acc) => {
            let types = [DataType::U8, DataType::U16, DataType::U32];
            check(&acc, "index", &types, Dimensions::Scalar, blob)?;
            reader
                .read_indices()
                .ok_or_else(|| invalid("unreadable indices"))?
                .into_u32()
                .collect()
        }
        None => (0..u32::try_from(positions.len()).unwrap_or(u32::MAX)).collect(),
    };

    if out.len().saturating_add(indices.len() / 3) > MAX_TRIANGLES {
        return Err(PreviewError::TooLarge(format!(
            "more than {MAX_TRIANGLES} triangles"
        )));
    }
    let material = prim.material().index().unwrap_or(usize::MAX);
    for tri in indices.chunks_exact(3) {
        let corner = |k: usize| -> Result<usize, PreviewError> {
            let i = tri.get(k).copied().unwrap_or(0) as usize;
            if i < positions.len() {
                Ok(i)
            } else {
                Err(invalid("an index past the last vertex"))
            }
        };
        let idx = [corner(0)?, corner(1)?, corner(2)?];
        let p = idx.map(|i| positions.get(i).copied().unwrap_or_default());
        let n = match &normals {
            Some(ns) => {
                let face = face_normal(&p);
                idx.map(|i| ns.get(i).copied().unwrap_or(face))
            }
            None => [face_normal(&p); 3],
        };
        let uv = match &uvs {
            Some(uvs) => idx.map(|i| uvs.get(i).copied().unwrap_or_default()),
            None => [[0.0; 2]; 3],
        };
        out.push(Triangle { p, n, uv, material });
    }
    Ok(())
}
