//! Triangle meshes, small vector maths and the [`Scene`] handed to the writers.

use crate::material::Material;

/// A 3-component vector.
pub type Vec3 = [f32; 3];

pub(crate) fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub(crate) fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn scale(a: Vec3, s: f32) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

pub(crate) fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn dot(a: Vec3, b: Vec3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Normalises `v`; returns `fallback` for (near) zero-length vectors.
pub(crate) fn normalize_or(v: Vec3, fallback: Vec3) -> Vec3 {
    let len = dot(v, v).sqrt();
    if len > 1e-12 && len.is_finite() {
        scale(v, 1.0 / len)
    } else {
        fallback
    }
}

/// An indexed triangle mesh with per-vertex normals and texture coordinates.
///
/// Triangles are counter-clockwise when seen from outside (glTF convention).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mesh {
    /// Vertex positions in metres.
    pub positions: Vec<Vec3>,
    /// Unit-length vertex normals, one per position.
    pub normals: Vec<Vec3>,
    /// Texture coordinates, one per position (glTF: origin top-left).
    pub uvs: Vec<[f32; 2]>,
    /// Triangle list, three indices per triangle.
    pub indices: Vec<u32>,
}

impl Mesh {
    /// Number of triangles.
    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }

    /// Adds a vertex and returns its index.
    pub(crate) fn vertex(&mut self, p: Vec3, n: Vec3, uv: [f32; 2]) -> u32 {
        let idx = u32::try_from(self.positions.len()).unwrap_or(u32::MAX);
        self.positions.push(p);
        self.normals.push(normalize_or(n, [0.0, 1.0, 0.0]));
        self.uvs.push(uv);
        idx
    }

    pub(crate) fn tri(&mut self, a: u32, b: u32, c: u32) {
        self.indices.extend_from_slice(&[a, b, c]);
    }

    /// Two triangles a-b-c, a-c-d (counter-clockwise quad).
    pub(crate) fn quad(&mut self, a: u32, b: u32, c: u32, d: u32) {
        self.tri(a, b, c);
        self.tri(a, c, d);
    }

    /// Appends another mesh.
    pub(crate) fn append(&mut self, other: &Mesh) {
        let base = u32::try_from(self.positions.len()).unwrap_or(u32::MAX);
        self.positions.extend_from_slice(&other.positions);
        self.normals.extend_from_slice(&other.normals);
        self.uvs.extend_from_slice(&other.uvs);
        self.indices.extend(other.indices.iter().map(|i| i + base));
    }

    /// Applies `p' = m * p + t` to positions and the inverse-transpose to normals.
    pub(crate) fn transform(mut self, m: &Mat3, t: Vec3) -> Mesh {
        let normal_m = m.inverse_transpose();
        for p in &mut self.positions {
            *p = add(m.mul(*p), t);
        }
        for n in &mut self.normals {
            *n = normalize_or(normal_m.mul(*n), *n);
        }
        if m.det() < 0.0 {
            for tri in self.indices.chunks_exact_mut(3) {
                tri.swap(1, 2);
            }
        }
        self
    }

    pub(crate) fn translate(self, t: Vec3) -> Mesh {
        self.transform(&Mat3::IDENTITY, t)
    }

    /// Axis-aligned bounds `(min, max)`; `None` when empty.
    pub fn bounds(&self) -> Option<(Vec3, Vec3)> {
        let first = *self.positions.first()?;
        let mut lo = first;
        let mut hi = first;
        for p in &self.positions {
            for k in 0..3 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        Some((lo, hi))
    }
}

/// Row-major 3×3 matrix (rotation / scale).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mat3(pub [[f32; 3]; 3]);

impl Mat3 {
    /// Identity.
    pub const IDENTITY: Mat3 = Mat3([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);

    /// Non-uniform scale.
    pub fn scale(s: Vec3) -> Mat3 {
        Mat3([[s[0], 0.0, 0.0], [0.0, s[1], 0.0], [0.0, 0.0, s[2]]])
    }

    /// Rotation about +X (radians, right-handed).
    pub fn rot_x(a: f32) -> Mat3 {
        let (s, c) = a.sin_cos();
        Mat3([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    }

    /// Rotation about +Y.
    pub fn rot_y(a: f32) -> Mat3 {
        let (s, c) = a.sin_cos();
        Mat3([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    }

    /// Rotation about +Z.
    pub fn rot_z(a: f32) -> Mat3 {
        let (s, c) = a.sin_cos();
        Mat3([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    }

    /// Matrix × vector.
    pub fn mul(&self, v: Vec3) -> Vec3 {
        let m = &self.0;
        [dot(m[0], v), dot(m[1], v), dot(m[2], v)]
    }

    /// `next * self`: apply `self` first, then `next`.
    pub fn then(&self, next: &Mat3) -> Mat3 {
        // next * self
        let mut out = [[0.0; 3]; 3];
        for (r, row) in out.iter_mut().enumerate() {
            for (c, cell) in row.iter_mut().enumerate() {
                *cell = (0..3).map(|k| next.0[r][k] * self.0[k][c]).sum();
            }
        }
        Mat3(out)
    }

    /// Determinant.
    pub fn det(&self) -> f32 {
        let m = &self.0;
        dot(m[0], cross(m[1], m[2]))
    }

    /// Inverse transpose (for normals); falls back to identity for singular matrices.
    pub fn inverse_transpose(&self) -> Mat3 {
        let m = &self.0;
        let det = self.det();
        if det.abs() < 1e-20 {
            return Mat3::IDENTITY;
        }
        // Cofactor matrix equals det * inverse-transpose.
        let c0 = cross(m[1], m[2]);
        let c1 = cross(m[2], m[0]);
        let c2 = cross(m[0], m[1]);
        let inv = 1.0 / det;
        Mat3([scale(c0, inv), scale(c1, inv), scale(c2, inv)])
    }
}

/// One named part of a scene: a mesh and the index of its material.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Human-readable name ("seat", "leg_1", "relief").
    pub name: String,
    /// Geometry in scene coordinates.
    pub mesh: Mesh,
    /// Index into [`Scene::materials`].
    pub material: usize,
}

/// A complete asset before serialisation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scene {
    /// Root node name.
    pub name: String,
    /// Parts, written as one glTF node + mesh each.
    pub parts: Vec<Part>,
    /// Materials referenced by the parts.
    pub materials: Vec<Material>,
}

impl Scene {
    /// Total triangle count.
    pub fn triangle_count(&self) -> usize {
        self.parts.iter().map(|p| p.mesh.triangle_count()).sum()
    }

    /// Total vertex count.
    pub fn vertex_count(&self) -> usize {
        self.parts.iter().map(|p| p.mesh.positions.len()).sum()
    }

    /// Bounds over all parts.
    pub fn bounds(&self) -> Option<(Vec3, Vec3)> {
        let mut acc: Option<(Vec3, Vec3)> = None;
        for part in &self.parts {
            if let Some((lo, hi)) = part.mesh.bounds() {
                acc = Some(match acc {
                    None => (lo, hi),
                    Some((a, b)) => (
                        [a[0].min(lo[0]), a[1].min(lo[1]), a[2].min(lo[2])],
                        [b[0].max(hi[0]), b[1].max(hi[1]), b[2].max(hi[2])],
                    ),
                });
            }
        }
        acc
    }

    /// Centres the bounding box on the origin and scales uniformly so that the
    /// largest extent equals `size` metres.
    pub(crate) fn normalize(&mut self, size: f32) {
        let Some((lo, hi)) = self.bounds() else {
            return;
        };
        let extent = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(hi[2] - lo[2]);
        if extent <= 0.0 || !extent.is_finite() {
            return;
        }
        let s = size / extent;
        let center = scale(add(lo, hi), 0.5);
        for part in &mut self.parts {
            for p in &mut part.mesh.positions {
                *p = scale(sub(*p, center), s);
            }
        }
    }

    /// Drops parts without triangles.
    pub(crate) fn prune(&mut self) {
        self.parts.retain(|p| !p.mesh.indices.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_transpose_of_scale() {
        let m = Mat3::scale([2.0, 4.0, 0.5]);
        let it = m.inverse_transpose();
        assert!((it.0[0][0] - 0.5).abs() < 1e-6);
        assert!((it.0[1][1] - 0.25).abs() < 1e-6);
        assert!((it.0[2][2] - 2.0).abs() < 1e-6);
    }

    #[test]
    fn rotation_composition() {
        let m = Mat3::rot_z(std::f32::consts::FRAC_PI_2)
            .then(&Mat3::rot_z(std::f32::consts::FRAC_PI_2));
        let v = m.mul([1.0, 0.0, 0.0]);
        assert!((v[0] + 1.0).abs() < 1e-5 && v[1].abs() < 1e-5);
    }

    #[test]
    fn mirror_flips_winding() {
        let mut m = Mesh::default();
        let a = m.vertex([0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0]);
        let b = m.vertex([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0]);
        let c = m.vertex([0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0]);
        m.tri(a, b, c);
        let m = m.transform(&Mat3::scale([-1.0, 1.0, 1.0]), [0.0; 3]);
        assert_eq!(m.indices, vec![0, 2, 1]);
    }

    #[test]
    fn normalize_fits_unit_box() {
        let mut m = Mesh::default();
        m.vertex([2.0, 2.0, 2.0], [0.0, 1.0, 0.0], [0.0, 0.0]);
        m.vertex([6.0, 4.0, 3.0], [0.0, 1.0, 0.0], [0.0, 0.0]);
        let mut s = Scene {
            name: "t".into(),
            parts: vec![Part {
                name: "p".into(),
                mesh: m,
                material: 0,
            }],
            materials: vec![],
        };
        s.normalize(1.0);
        let (lo, hi) = s.bounds().unwrap();
        assert!((hi[0] - lo[0] - 1.0).abs() < 1e-6);
        assert!((lo[0] + 0.5).abs() < 1e-6);
    }
}
