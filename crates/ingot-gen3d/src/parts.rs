//! Parametric, individually closed (watertight) primitives: boxes, lathes
//! (cylinders, cones, spheres, vases), tori, extruded polygons and beams.
//!
//! Texture coordinates are in world units × [`UV_SCALE`] so that tiling
//! textures keep a similar density across parts of different sizes.

use crate::mesh::{Mat3, Mesh, Vec3, add, cross, dot, normalize_or, scale, sub};

/// Texture repeats per metre.
pub const UV_SCALE: f32 = 2.0;

/// Axis-aligned box of `size` centred on `center`, flat-shaded.
pub fn cuboid(size: Vec3, center: Vec3) -> Mesh {
    let h = scale(size, 0.5);
    let x = [1.0, 0.0, 0.0];
    let y = [0.0, 1.0, 0.0];
    let z = [0.0, 0.0, 1.0];
    let neg = |v: Vec3| scale(v, -1.0);
    // (normal, u axis, v axis) with u × v = normal.
    let faces = [
        (x, neg(z), y),
        (neg(x), z, y),
        (z, x, y),
        (neg(z), neg(x), y),
        (y, x, neg(z)),
        (neg(y), x, z),
    ];
    let mut m = Mesh::default();
    for (n, u, v) in faces {
        let hn = dot(n, h).abs();
        let hu = dot(u, h).abs();
        let hv = dot(v, h).abs();
        let c = add(center, scale(n, hn));
        let corners = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)];
        let mut ids = [0u32; 4];
        for (k, (su, sv)) in corners.into_iter().enumerate() {
            let p = add(c, add(scale(u, su * hu), scale(v, sv * hv)));
            let uv = [(su * hu + hu) * UV_SCALE, (hv - sv * hv) * UV_SCALE];
            ids[k] = m.vertex(p, n, uv);
        }
        m.quad(ids[0], ids[1], ids[2], ids[3]);
    }
    m
}

/// Surface of revolution around +Y of a profile of `(radius, y)` points, listed
/// bottom to top. Missing end caps are added (the profile is closed onto the
/// axis), so the result is always closed. Adjacent profile segments meeting at
/// less than ~40° are smooth-shaded, sharper corners get hard edges.
pub fn lathe(profile: &[[f32; 2]], segments: u32) -> Mesh {
    let segments = segments.max(3);
    let mut pts: Vec<[f32; 2]> = Vec::with_capacity(profile.len() + 2);
    for p in profile {
        let p = [p[0].max(0.0), p[1]];
        if pts.last() != Some(&p) {
            pts.push(p);
        }
    }
    let (Some(&first), Some(&last)) = (pts.first(), pts.last()) else {
        return Mesh::default();
    };
    if first[0] > 0.0 {
        pts.insert(0, [0.0, first[1]]);
    }
    if last[0] > 0.0 {
        pts.push([0.0, last[1]]);
    }
    if pts.len() < 3 {
        return Mesh::default();
    }
    // Segment normals in (r, y) space.
    let seg_n: Vec<[f32; 2]> = pts
        .windows(2)
        .map(|w| {
            let d = [w[1][0] - w[0][0], w[1][1] - w[0][1]];
            let len = (d[0] * d[0] + d[1] * d[1]).sqrt().max(1e-12);
            [d[1] / len, -d[0] / len]
        })
        .collect();
    let smooth_cos = 40f32.to_radians().cos();
    let point_normal = |seg: usize, at_end: bool| -> [f32; 2] {
        let own = seg_n[seg];
        let other = if at_end {
            seg_n.get(seg + 1).copied()
        } else {
            seg.checked_sub(1).map(|i| seg_n[i])
        };
        match other {
            Some(o) if own[0] * o[0] + own[1] * o[1] > smooth_cos => {
                let s = [own[0] + o[0], own[1] + o[1]];
                let l = (s[0] * s[0] + s[1] * s[1]).sqrt().max(1e-12);
                [s[0] / l, s[1] / l]
            }
            _ => own,
        }
    };
    let mut lengths = vec![0.0f32];
    for w in pts.windows(2) {
        let d = ((w[1][0] - w[0][0]).powi(2) + (w[1][1] - w[0][1]).powi(2)).sqrt();
        lengths.push(lengths.last().copied().unwrap_or(0.0) + d);
    }
    let max_r = pts.iter().map(|p| p[0]).fold(0.0f32, f32::max);
    let circumference = std::f32::consts::TAU * max_r;
    let mut m = Mesh::default();
    for s in 0..pts.len() - 1 {
        let (p0, p1) = (pts[s], pts[s + 1]);
        let (n0, n1) = (point_normal(s, false), point_normal(s, true));
        let mut ring = |p: [f32; 2], n: [f32; 2], v: f32, pole: bool| -> u32 {
            let mut first = 0;
            for j in 0..=segments {
                let jf = if pole { j as f32 + 0.5 } else { j as f32 };
                let t = (j % segments) as f32 / segments as f32;
                let th = t * std::f32::consts::TAU;
                let (sn, cs) = th.sin_cos();
                let pos = [p[0] * sn, p[1], p[0] * cs];
                let nrm = [n[0] * sn, n[1], n[0] * cs];
                let u = jf / segments as f32 * circumference.max(0.05) * UV_SCALE;
                let id = m.vertex(pos, nrm, [u, v * UV_SCALE]);
                if j == 0 {
                    first = id;
                }
            }
            first
        };
        let r0 = ring(p0, n0, -lengths[s], p0[0] == 0.0);
        let r1 = ring(p1, n1, -lengths[s + 1], p1[0] == 0.0);
        for j in 0..segments {
            let a = r0 + j;
            let b = r0 + j + 1;
            let c = r1 + j + 1;
            let d = r1 + j;
            if p0[0] == 0.0 {
                m.tri(a, c, d);
            } else if p1[0] == 0.0 {
                m.tri(a, b, c);
            } else {
                m.quad(a, b, c, d);
            }
        }
    }
    m
}

/// Closed cylinder (or frustum) standing on `y = 0`.
pub fn frustum(r_bottom: f32, r_top: f32, height: f32, segments: u32) -> Mesh {
    lathe(&[[r_bottom, 0.0], [r_top, height]], segments)
}

/// Closed cylinder standing on `y = 0`.
pub fn cylinder(radius: f32, height: f32, segments: u32) -> Mesh {
    frustum(radius, radius, height, segments)
}

/// Cone standing on `y = 0` with its apex at `y = height`.
pub fn cone(radius: f32, height: f32, segments: u32) -> Mesh {
    lathe(&[[radius, 0.0], [0.0, height]], segments)
}

/// Sphere centred on the origin.
pub fn sphere(radius: f32, segments: u32) -> Mesh {
    let rings = (segments / 2).max(3);
    let profile: Vec<[f32; 2]> = (0..=rings)
        .map(|i| {
            let phi = std::f32::consts::PI * i as f32 / rings as f32;
            [radius * phi.sin(), -radius * phi.cos()]
        })
        .collect();
    lathe(&profile, segments)
}

/// Ellipsoid with semi-axes `radii`, centred on `center`.
pub fn ellipsoid(radii: Vec3, center: Vec3, segments: u32) -> Mesh {
    sphere(1.0, segments).transform(&Mat3::scale(radii), center)
}

/// Capsule along +Y from `y = 0` to `y = length`, of radius `r`.
pub fn capsule(r: f32, length: f32, segments: u32) -> Mesh {
    let rings = (segments / 4).max(2);
    let mid = (length - 2.0 * r).max(0.0);
    let mut profile = Vec::new();
    for i in 0..=rings {
        let phi = std::f32::consts::FRAC_PI_2 * i as f32 / rings as f32;
        profile.push([r * phi.sin(), r - r * phi.cos()]);
    }
    for i in 0..=rings {
        let phi = std::f32::consts::FRAC_PI_2 * i as f32 / rings as f32;
        profile.push([r * phi.cos(), r + mid + r * phi.sin()]);
    }
    lathe(&profile, segments)
}

/// Torus around +Y centred on the origin: ring radius `major`, tube radius `minor`.
pub fn torus(major: f32, minor: f32, segments: u32, sides: u32) -> Mesh {
    let segments = segments.max(3);
    let sides = sides.max(3);
    let mut m = Mesh::default();
    for i in 0..=segments {
        let th = std::f32::consts::TAU * (i % segments) as f32 / segments as f32;
        let (st, ct) = th.sin_cos();
        for j in 0..=sides {
            let ph = std::f32::consts::TAU * (j % sides) as f32 / sides as f32;
            let (sp, cp) = ph.sin_cos();
            let r = major + minor * cp;
            let pos = [r * st, minor * sp, r * ct];
            let n = [cp * st, sp, cp * ct];
            let uv = [
                i as f32 / segments as f32 * major * std::f32::consts::TAU * UV_SCALE,
                j as f32 / sides as f32 * minor * std::f32::consts::TAU * UV_SCALE,
            ];
            m.vertex(pos, n, uv);
        }
    }
    let row = sides + 1;
    for i in 0..segments {
        for j in 0..sides {
            let a = i * row + j;
            let b = (i + 1) * row + j;
            let c = (i + 1) * row + j + 1;
            let d = i * row + j + 1;
            m.quad(a, b, c, d);
        }
    }
    m
}

/// Part of a torus in the XY plane (around +Z), from angle `a0` to `a1`
/// (radians, counter-clockwise from +X), closed with flat end caps.
/// Used for mug handles and arches.
pub fn pipe_arc(major: f32, minor: f32, a0: f32, a1: f32, segments: u32, sides: u32) -> Mesh {
    let segments = segments.max(2);
    let sides = sides.max(3);
    let mut m = Mesh::default();
    let frame = |t: f32| -> (Vec3, Vec3, Vec3) {
        let (s, c) = t.sin_cos();
        ([major * c, major * s, 0.0], [c, s, 0.0], [-s, c, 0.0])
    };
    let row = sides + 1;
    for i in 0..=segments {
        let t = a0 + (a1 - a0) * i as f32 / segments as f32;
        let (center, out, _) = frame(t);
        for j in 0..=sides {
            let ph = std::f32::consts::TAU * (j % sides) as f32 / sides as f32;
            let (sp, cp) = ph.sin_cos();
            let n = add(scale(out, cp), [0.0, 0.0, sp]);
            let uv = [i as f32 / segments as f32 * 4.0, j as f32 / sides as f32];
            m.vertex(add(center, scale(n, minor)), n, uv);
        }
    }
    let forward = a1 > a0;
    for i in 0..segments {
        for j in 0..sides {
            let a = i * row + j;
            let b = (i + 1) * row + j;
            let c = (i + 1) * row + j + 1;
            let d = i * row + j + 1;
            if forward {
                m.quad(a, b, c, d)
            } else {
                m.quad(a, d, c, b)
            }
        }
    }
    for (end, t) in [(false, a0), (true, a1)] {
        let (center, out, tangent) = frame(t);
        let dir = if end == forward { 1.0 } else { -1.0 };
        let n = scale(tangent, dir);
        let hub = m.vertex(center, n, [0.5, 0.5]);
        let ring: Vec<u32> = (0..sides)
            .map(|j| {
                let ph = std::f32::consts::TAU * j as f32 / sides as f32;
                let (sp, cp) = ph.sin_cos();
                let p = add(center, scale(add(scale(out, cp), [0.0, 0.0, sp]), minor));
                m.vertex(p, n, [0.5 + 0.5 * cp, 0.5 + 0.5 * sp])
            })
            .collect();
        for j in 0..sides as usize {
            let (p, q) = (ring[j], ring[(j + 1) % sides as usize]);
            if end == forward {
                m.tri(hub, q, p)
            } else {
                m.tri(hub, p, q)
            }
        }
    }
    m
}

/// Extrudes a convex polygon (counter-clockwise in the XY plane) between
/// `z0` and `z1`.
pub fn extrude_convex(poly: &[[f32; 2]], z0: f32, z1: f32) -> Mesh {
    let mut m = Mesh::default();
    let n = poly.len();
    if n < 3 || z1 <= z0 {
        return m;
    }
    let uv = |p: [f32; 2]| [p[0] * UV_SCALE, -p[1] * UV_SCALE];
    let front: Vec<u32> = poly
        .iter()
        .map(|p| m.vertex([p[0], p[1], z1], [0.0, 0.0, 1.0], uv(*p)))
        .collect();
    for i in 1..n - 1 {
        m.tri(front[0], front[i], front[i + 1]);
    }
    let back: Vec<u32> = poly
        .iter()
        .map(|p| m.vertex([p[0], p[1], z0], [0.0, 0.0, -1.0], uv(*p)))
        .collect();
    for i in 1..n - 1 {
        m.tri(back[0], back[i + 1], back[i]);
    }
    let mut run = 0.0;
    for i in 0..n {
        let p = poly[i];
        let q = poly[(i + 1) % n];
        let d = [q[0] - p[0], q[1] - p[1]];
        let len = (d[0] * d[0] + d[1] * d[1]).sqrt();
        let nrm = [d[1], -d[0], 0.0];
        let (u0, u1) = (run * UV_SCALE, (run + len) * UV_SCALE);
        run += len;
        let a = m.vertex([p[0], p[1], z0], nrm, [u0, z0 * UV_SCALE]);
        let b = m.vertex([q[0], q[1], z0], nrm, [u1, z0 * UV_SCALE]);
        let c = m.vertex([q[0], q[1], z1], nrm, [u1, z1 * UV_SCALE]);
        let e = m.vertex([p[0], p[1], z1], nrm, [u0, z1 * UV_SCALE]);
        m.quad(a, b, c, e);
    }
    m
}

/// Rotation whose +Y axis maps onto direction `d` (unit or not).
pub fn align_y(d: Vec3) -> Mat3 {
    let y = normalize_or(d, [0.0, 1.0, 0.0]);
    let helper = if y[1].abs() < 0.9 {
        [0.0, 1.0, 0.0]
    } else {
        [1.0, 0.0, 0.0]
    };
    let x = normalize_or(cross(helper, y), [1.0, 0.0, 0.0]);
    let z = cross(x, y);
    Mat3([[x[0], y[0], z[0]], [x[1], y[1], z[1]], [x[2], y[2], z[2]]])
}

/// Cylinder of radius `r` from point `a` to point `b`.
pub fn rod(a: Vec3, b: Vec3, r: f32, segments: u32) -> Mesh {
    let d = sub(b, a);
    let len = dot(d, d).sqrt();
    cylinder(r, len.max(1e-4), segments).transform(&align_y(d), a)
}

/// Rectangular beam of cross-section `w × w` from `a` to `b`.
pub fn beam(a: Vec3, b: Vec3, w: f32) -> Mesh {
    let d = sub(b, a);
    let len = dot(d, d).sqrt().max(1e-4);
    cuboid([w, len, w], [0.0, len * 0.5, 0.0]).transform(&align_y(d), a)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Counts, per undirected edge between welded positions, how many
    /// triangles use it; a closed 2-manifold has exactly 2 everywhere and
    /// each directed edge once (consistent orientation).
    pub(crate) fn assert_watertight(m: &Mesh) {
        let key = |p: Vec3| p.map(|c| (c * 1e5).round() as i64);
        let mut ids: BTreeMap<[i64; 3], usize> = BTreeMap::new();
        let welded: Vec<usize> = m
            .positions
            .iter()
            .map(|p| {
                let n = ids.len();
                *ids.entry(key(*p)).or_insert(n)
            })
            .collect();
        let mut directed: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for t in m.indices.chunks_exact(3) {
            let v = [
                welded[t[0] as usize],
                welded[t[1] as usize],
                welded[t[2] as usize],
            ];
            assert!(
                v[0] != v[1] && v[1] != v[2] && v[0] != v[2],
                "degenerate triangle"
            );
            for k in 0..3 {
                *directed.entry((v[k], v[(k + 1) % 3])).or_default() += 1;
            }
        }
        for (&(a, b), &n) in &directed {
            assert_eq!(n, 1, "directed edge {a}->{b} used {n} times");
            assert_eq!(directed.get(&(b, a)), Some(&1), "edge {a}-{b} is open");
        }
    }

    fn assert_outward(m: &Mesh) {
        // Signed volume of a closed, outward-oriented mesh is positive.
        let mut vol = 0.0;
        for t in m.indices.chunks_exact(3) {
            let (a, b, c) = (
                m.positions[t[0] as usize],
                m.positions[t[1] as usize],
                m.positions[t[2] as usize],
            );
            vol += dot(a, cross(b, c)) / 6.0;
        }
        assert!(vol > 0.0, "volume {vol}");
        for n in &m.normals {
            assert!((dot(*n, *n) - 1.0).abs() < 1e-4);
        }
    }

    #[test]
    fn primitives_are_closed_and_outward() {
        let meshes = [
            cuboid([1.0, 2.0, 3.0], [0.5, 0.0, 0.0]),
            cylinder(0.5, 1.0, 12),
            cone(0.5, 1.0, 12),
            sphere(0.5, 16),
            capsule(0.2, 1.0, 16),
            torus(1.0, 0.2, 16, 8),
            pipe_arc(1.0, 0.1, -1.0, 2.0, 12, 8),
            pipe_arc(1.0, 0.1, 2.0, -1.0, 12, 8),
            extrude_convex(&[[0.0, 0.0], [1.0, 0.0], [0.5, 1.0]], -0.1, 0.1),
            lathe(&[[0.3, 0.0], [0.5, 0.5], [0.2, 1.0]], 10),
            rod([0.0, 0.0, 0.0], [1.0, 1.0, 0.0], 0.1, 8),
            beam([0.0, 0.0, 0.0], [0.0, 0.0, 1.0], 0.1),
            ellipsoid([1.0, 0.5, 0.3], [0.0, 1.0, 0.0], 12),
        ];
        for (i, m) in meshes.iter().enumerate() {
            assert!(!m.indices.is_empty(), "mesh {i} empty");
            assert_watertight(m);
            assert_outward(m);
        }
    }

    #[test]
    fn rod_reaches_its_end_point() {
        let m = rod([0.0, 0.0, 0.0], [0.0, 0.0, 2.0], 0.1, 8);
        let (lo, hi) = m.bounds().unwrap();
        assert!((hi[2] - 2.0).abs() < 1e-5 && lo[2].abs() < 1e-5);
    }

    #[test]
    fn more_segments_more_triangles() {
        assert!(sphere(1.0, 32).triangle_count() > sphere(1.0, 12).triangle_count());
    }
}
