//! Object recipes for the text path. Each recipe adds parts to a
//! [`Ctx`](crate::text3d::Ctx) (metres, +Y up, front towards +Z, standing on
//! `y = 0`) and returns a short description of what it built.

pub mod figures;
pub mod furniture;
pub mod world;

use crate::mesh::{Mat3, Mesh, Vec3, sub};

/// Rotates `mesh` by `rot` around `pivot`.
pub(crate) fn rotate_about(mesh: Mesh, rot: &Mat3, pivot: Vec3) -> Mesh {
    let moved = rot.mul(pivot);
    mesh.transform(rot, sub(pivot, moved))
}

/// Samples a smooth (Catmull-Rom) curve through `(radius, y)` control points.
pub(crate) fn smooth_profile(ctrl: &[[f32; 2]], samples_per_span: u32) -> Vec<[f32; 2]> {
    let n = ctrl.len();
    if n < 2 {
        return ctrl.to_vec();
    }
    let k = samples_per_span.max(1);
    let mut out = Vec::with_capacity(n * k as usize);
    for i in 0..n - 1 {
        let p0 = ctrl[i.saturating_sub(1)];
        let p1 = ctrl[i];
        let p2 = ctrl[i + 1];
        let p3 = ctrl[(i + 2).min(n - 1)];
        for s in 0..k {
            let t = s as f32 / k as f32;
            let t2 = t * t;
            let t3 = t2 * t;
            let f = |a: f32, b: f32, c: f32, d: f32| {
                0.5 * (2.0 * b
                    + (-a + c) * t
                    + (2.0 * a - 5.0 * b + 4.0 * c - d) * t2
                    + (-a + 3.0 * b - 3.0 * c + d) * t3)
            };
            out.push([
                f(p0[0], p1[0], p2[0], p3[0]).max(0.001),
                f(p0[1], p1[1], p2[1], p3[1]),
            ]);
        }
    }
    out.push(ctrl[n - 1]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_passes_through_control_points() {
        let p = smooth_profile(&[[1.0, 0.0], [2.0, 1.0], [1.0, 2.0]], 4);
        assert_eq!(p.len(), 9);
        assert_eq!(p[0], [1.0, 0.0]);
        assert!((p[4][0] - 2.0).abs() < 1e-6 && (p[4][1] - 1.0).abs() < 1e-6);
        assert_eq!(p[8], [1.0, 2.0]);
    }

    #[test]
    fn rotate_about_keeps_pivot() {
        let m = crate::parts::cuboid([0.0; 3], [1.0, 2.0, 3.0]);
        let r = rotate_about(m, &Mat3::rot_x(1.0), [1.0, 2.0, 3.0]);
        for p in r.positions {
            assert!((p[0] - 1.0).abs() < 1e-5 && (p[1] - 2.0).abs() < 1e-5);
        }
    }
}
