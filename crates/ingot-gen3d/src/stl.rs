//! Binary STL writer (80-byte header, u32 triangle count, 50 bytes per triangle).
//!
//! STL has no materials or textures; all parts are written as one soup.

use crate::error::Gen3dError;
use crate::mesh::{Scene, cross, normalize_or, scale, sub};

/// Serialises all parts of `scene` as binary STL.
///
/// # Errors
/// [`Gen3dError::Geometry`] when there are more than `u32::MAX` triangles.
pub fn write_stl(scene: &Scene) -> Result<Vec<u8>, Gen3dError> {
    let count = u32::try_from(scene.triangle_count())
        .map_err(|_| Gen3dError::Geometry("too many triangles for STL".into()))?;
    let mut out = Vec::with_capacity(84 + 50 * count as usize);
    let mut header = [0u8; 80];
    // Must not start with "solid" (that would mark an ASCII STL).
    let title = format!("ingot-gen3d binary STL: {}", scene.name);
    for (dst, src) in header.iter_mut().zip(title.bytes()) {
        *dst = src;
    }
    out.extend_from_slice(&header);
    out.extend_from_slice(&count.to_le_bytes());
    for part in &scene.parts {
        let m = &part.mesh;
        for t in m.indices.chunks_exact(3) {
            let p = [0, 1, 2].map(|k| m.positions[t[k] as usize]);
            let vn = [0, 1, 2].map(|k| m.normals[t[k] as usize]);
            let avg = scale(
                [
                    vn[0][0] + vn[1][0] + vn[2][0],
                    vn[0][1] + vn[1][1] + vn[2][1],
                    vn[0][2] + vn[1][2] + vn[2][2],
                ],
                1.0 / 3.0,
            );
            let n = normalize_or(
                cross(sub(p[1], p[0]), sub(p[2], p[0])),
                normalize_or(avg, [0.0, 0.0, 1.0]),
            );
            for v in std::iter::once(n).chain(p) {
                for c in v {
                    out.extend_from_slice(&c.to_le_bytes());
                }
            }
            out.extend_from_slice(&0u16.to_le_bytes());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::Part;
    use crate::parts::cuboid;

    #[test]
    fn cube_layout() {
        let scene = Scene {
            name: "cube".into(),
            parts: vec![Part {
                name: "c".into(),
                mesh: cuboid([1.0; 3], [0.0; 3]),
                material: 0,
            }],
            materials: vec![],
        };
        let bytes = write_stl(&scene).unwrap();
        assert_eq!(bytes.len(), 84 + 12 * 50);
        assert_eq!(u32::from_le_bytes(bytes[80..84].try_into().unwrap()), 12);
        assert!(!bytes.starts_with(b"solid"));
        // First triangle's normal is +X (first face of the cuboid).
        let nx = f32::from_le_bytes(bytes[84..88].try_into().unwrap());
        assert!((nx - 1.0).abs() < 1e-6);
    }
}
