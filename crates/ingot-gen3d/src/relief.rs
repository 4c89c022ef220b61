//! Watertight relief mesh of a foreground mask.

use crate::mesh::{Mesh, Vec3, add, cross, normalize_or, sub};
use crate::segment::{Mask, distance_field};

/// A silhouette edge between corners `a` → `b` (front face's
/// counter-clockwise order) with its axis-aligned outward normal.
struct BoundaryEdge {
    a: (usize, usize),
    b: (usize, usize),
    normal: Vec3,
}

/// Boundary edges of the mask.
fn boundary_edges(mask: &Mask) -> Vec<BoundaryEdge> {
    let mut out = Vec::new();
    for y in 0..mask.h {
        for x in 0..mask.w {
            if !mask.cells[y * mask.w + x] {
                continue;
            }
            let (xi, yi) = (x as isize, y as isize);
            let edges = [
                ((xi, yi + 1), (x, y + 1), (x + 1, y + 1), [0.0, -1.0, 0.0]),
                ((xi + 1, yi), (x + 1, y + 1), (x + 1, y), [1.0, 0.0, 0.0]),
                ((xi, yi - 1), (x + 1, y), (x, y), [0.0, 1.0, 0.0]),
                ((xi - 1, yi), (x, y), (x, y + 1), [-1.0, 0.0, 0.0]),
            ];
            for (nb, a, b, n) in edges {
                if !mask.get(nb.0, nb.1) {
                    out.push(BoundaryEdge { a, b, normal: n });
                }
            }
        }
    }
    out
}

/// Corner positions (in cell units) with the staircase silhouette smoothed:
/// boundary corners are relaxed towards their two boundary neighbours.
/// Every vertex at a corner uses the same position, so the mesh stays closed.
fn smoothed_corners(mask: &Mask) -> Vec<[f32; 2]> {
    let cw = mask.w + 1;
    let mut xy: Vec<[f32; 2]> = (0..cw * (mask.h + 1))
        .map(|k| [(k % cw) as f32, (k / cw) as f32])
        .collect();
    let mut nbrs: Vec<[usize; 2]> = vec![[usize::MAX; 2]; xy.len()];
    let mut link = |from: usize, to: usize| {
        let slot = &mut nbrs[from];
        if slot[0] == usize::MAX {
            slot[0] = to;
        } else {
            slot[1] = to;
        }
    };
    for BoundaryEdge { a, b, .. } in boundary_edges(mask) {
        let (ka, kb) = (a.1 * cw + a.0, b.1 * cw + b.0);
        link(ka, kb);
        link(kb, ka);
    }
    for _ in 0..2 {
        let prev = xy.clone();
        for (k, nb) in nbrs.iter().enumerate() {
            if nb[0] != usize::MAX && nb[1] != usize::MAX {
                let (p, q) = (prev[nb[0]], prev[nb[1]]);
                xy[k] = [
                    0.5 * prev[k][0] + 0.25 * (p[0] + q[0]),
                    0.5 * prev[k][1] + 0.25 * (p[1] + q[1]),
                ];
            }
        }
    }
    xy
}

/// Watertight relief of `mask`: front heights from the distance to the
/// silhouette (rounded "pillow") plus luminance detail, flat back at z = 0,
/// vertical walls along every boundary edge. One cell = 1 / max(w, h).
pub fn relief_mesh(mask: &Mask, lum: &[f32]) -> Mesh {
    let (w, h) = (mask.w, mask.h);
    let cell = 1.0 / w.max(h) as f32;
    let dist = distance_field(mask);
    let dmax = dist.iter().copied().fold(0.0f32, f32::max).max(1.0);
    let base = 0.03;
    let inflate = (dmax * cell * 0.8).min(0.15);
    let detail = 0.025;
    let cw = w + 1;
    let cell_at = |x: isize, y: isize| -> Option<usize> {
        mask.get(x, y).then(|| y as usize * w + x as usize)
    };
    // Per-corner height and uv.
    let mut corner_z = vec![0.0f32; cw * (h + 1)];
    for cy in 0..=h {
        for cx in 0..=w {
            let adj = [
                (cx as isize - 1, cy as isize - 1),
                (cx as isize, cy as isize - 1),
                (cx as isize - 1, cy as isize),
                (cx as isize, cy as isize),
            ];
            let cells: Vec<usize> = adj.iter().filter_map(|&(x, y)| cell_at(x, y)).collect();
            if cells.is_empty() {
                continue;
            }
            let boundary = cells.len() < 4;
            let l = cells.iter().map(|&i| lum[i]).sum::<f32>() / cells.len() as f32;
            let d = cells.iter().map(|&i| dist[i]).sum::<f32>() / cells.len() as f32;
            let t = if boundary {
                0.0
            } else {
                (d / dmax).clamp(0.0, 1.0)
            };
            let pillow = (1.0 - (1.0 - t) * (1.0 - t)).sqrt();
            let z = base + inflate * pillow + if boundary { 0.0 } else { detail * (l - 0.5) };
            corner_z[cy * cw + cx] = z.max(base * 0.4);
        }
    }
    let xy = smoothed_corners(mask);
    let pos = |cx: usize, cy: usize, z: f32| -> Vec3 {
        let [x, y] = xy[cy * cw + cx];
        [(x - w as f32 / 2.0) * cell, (h as f32 / 2.0 - y) * cell, z]
    };
    let uv = |cx: usize, cy: usize| {
        let [x, y] = xy[cy * cw + cx];
        [
            (x / w as f32).clamp(0.0, 1.0),
            (y / h as f32).clamp(0.0, 1.0),
        ]
    };
    let mut m = Mesh::default();
    let mut front = vec![u32::MAX; cw * (h + 1)];
    let mut back = vec![u32::MAX; cw * (h + 1)];
    for y in 0..h {
        for x in 0..w {
            if !mask.cells[y * w + x] {
                continue;
            }
            for (cx, cy) in [(x, y), (x + 1, y), (x, y + 1), (x + 1, y + 1)] {
                let k = cy * cw + cx;
                if front[k] == u32::MAX {
                    front[k] = m.vertex(pos(cx, cy, corner_z[k]), [0.0, 0.0, 1.0], uv(cx, cy));
                }
            }
        }
    }
    // Front triangles (CCW seen from +Z), then smooth normals from them.
    for y in 0..h {
        for x in 0..w {
            if mask.cells[y * w + x] {
                let c = |cx: usize, cy: usize| front[cy * cw + cx];
                m.quad(c(x, y + 1), c(x + 1, y + 1), c(x + 1, y), c(x, y));
            }
        }
    }
    let mut acc = vec![[0.0f32; 3]; m.positions.len()];
    for t in m.indices.chunks_exact(3) {
        let (a, b, c) = (
            m.positions[t[0] as usize],
            m.positions[t[1] as usize],
            m.positions[t[2] as usize],
        );
        let n = cross(sub(b, a), sub(c, a));
        for &i in t {
            acc[i as usize] = add(acc[i as usize], n);
        }
    }
    for (n, a) in m.normals.iter_mut().zip(acc) {
        *n = normalize_or(a, [0.0, 0.0, 1.0]);
    }
    // Flat back.
    for y in 0..h {
        for x in 0..w {
            if !mask.cells[y * w + x] {
                continue;
            }
            for (cx, cy) in [(x, y), (x + 1, y), (x, y + 1), (x + 1, y + 1)] {
                let k = cy * cw + cx;
                if back[k] == u32::MAX {
                    back[k] = m.vertex(pos(cx, cy, 0.0), [0.0, 0.0, -1.0], uv(cx, cy));
                }
            }
            let c = |cx: usize, cy: usize| back[cy * cw + cx];
            m.quad(c(x, y), c(x + 1, y), c(x + 1, y + 1), c(x, y + 1));
        }
    }
    // Side walls along boundary edges, following the front face's CCW order.
    for BoundaryEdge { a, b, normal: n } in boundary_edges(mask) {
        let za = corner_z[a.1 * cw + a.0];
        let zb = corner_z[b.1 * cw + b.0];
        let pa = pos(a.0, a.1, 0.0);
        let pb = pos(b.0, b.1, 0.0);
        // Outward normal of the (smoothed) edge in XY.
        let d = sub(pb, pa);
        let n = normalize_or([d[1], -d[0], 0.0], n);
        let ab = m.vertex(pa, n, uv(a.0, a.1));
        let bb = m.vertex(pb, n, uv(b.0, b.1));
        let bf = m.vertex(pos(b.0, b.1, zb), n, uv(b.0, b.1));
        let af = m.vertex(pos(a.0, a.1, za), n, uv(a.0, a.1));
        m.quad(ab, bb, bf, af);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parts::tests::assert_watertight;
    use crate::segment::tests::mask;

    #[test]
    fn relief_of_shape_with_hole_is_watertight() {
        let m = mask(&["......", ".####.", ".#..#.", ".####.", "..##..", "......"]);
        let lum = vec![0.5; m.w * m.h];
        assert_watertight(&relief_mesh(&m, &lum));
    }

    #[test]
    fn pinches_are_removed() {
        let mut m = mask(&["#.", ".#"]);
        m.fix_pinches();
        assert_eq!(m.cells.iter().filter(|&&c| c).count(), 3);
        let lum = vec![0.5; 4];
        assert_watertight(&relief_mesh(&m, &lum));
    }
}
