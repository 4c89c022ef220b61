//! Foreground / background separation on a small RGBA grid: alpha or
//! border-colour thresholding, largest component, hole filling, pinch
//! removal, distance field.

use image::RgbaImage;

/// How the foreground was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segmentation {
    /// Alpha channel ≥ 50 %.
    Alpha,
    /// Colour distance to the border's median colour.
    BorderColor,
    /// No clear foreground: the whole image.
    WholeImage,
}

/// Boolean cell mask, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    /// Width in cells.
    pub w: usize,
    /// Height in cells.
    pub h: usize,
    /// `w * h` cells.
    pub cells: Vec<bool>,
}

impl Mask {
    /// Cell value; outside the grid is background.
    pub fn get(&self, x: isize, y: isize) -> bool {
        x >= 0
            && y >= 0
            && (x as usize) < self.w
            && (y as usize) < self.h
            && self.cells[y as usize * self.w + x as usize]
    }

    /// Number of foreground cells.
    pub fn count(&self) -> usize {
        self.cells.iter().filter(|&&c| c).count()
    }

    /// 4-connected components of cells equal to `value`; returns labels (usize::MAX = other) and sizes.
    fn components(&self, value: bool) -> (Vec<usize>, Vec<usize>) {
        let mut labels = vec![usize::MAX; self.cells.len()];
        let mut sizes = Vec::new();
        let mut stack = Vec::new();
        for start in 0..self.cells.len() {
            if self.cells[start] != value || labels[start] != usize::MAX {
                continue;
            }
            let id = sizes.len();
            let mut size = 0;
            labels[start] = id;
            stack.push(start);
            while let Some(i) = stack.pop() {
                size += 1;
                let (x, y) = ((i % self.w) as isize, (i / self.w) as isize);
                for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx as usize >= self.w || ny as usize >= self.h {
                        continue;
                    }
                    let j = ny as usize * self.w + nx as usize;
                    if self.cells[j] == value && labels[j] == usize::MAX {
                        labels[j] = id;
                        stack.push(j);
                    }
                }
            }
            sizes.push(size);
        }
        (labels, sizes)
    }

    /// Keeps the largest 4-connected foreground component.
    pub fn keep_largest(&mut self) {
        let (labels, sizes) = self.components(true);
        let Some(best) = (0..sizes.len()).max_by_key(|&i| (sizes[i], usize::MAX - i)) else {
            return;
        };
        for (c, l) in self.cells.iter_mut().zip(labels) {
            *c = l == best;
        }
    }

    /// Fills enclosed background regions smaller than `max_area` cells.
    pub fn fill_holes(&mut self, max_area: usize) {
        let (labels, sizes) = self.components(false);
        let mut touches = vec![false; sizes.len()];
        for (i, &l) in labels.iter().enumerate() {
            let (x, y) = (i % self.w, i / self.w);
            if l != usize::MAX && (x == 0 || y == 0 || x + 1 == self.w || y + 1 == self.h) {
                touches[l] = true;
            }
        }
        for (c, &l) in self.cells.iter_mut().zip(&labels) {
            if l != usize::MAX && !touches[l] && sizes[l] <= max_area {
                *c = true;
            }
        }
    }

    /// Removes diagonal-only contacts (2×2 checkerboards) by filling a cell,
    /// so that the relief surface is a 2-manifold.
    pub fn fix_pinches(&mut self) {
        for _ in 0..64 {
            let mut changed = false;
            for y in 0..self.h.saturating_sub(1) {
                for x in 0..self.w.saturating_sub(1) {
                    let i = y * self.w + x;
                    let (a, b, c, d) = (
                        self.cells[i],
                        self.cells[i + 1],
                        self.cells[i + self.w],
                        self.cells[i + self.w + 1],
                    );
                    if a && d && !b && !c {
                        self.cells[i + 1] = true;
                        changed = true;
                    } else if b && c && !a && !d {
                        self.cells[i] = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }
}

/// Relative luminance (0..1) of an sRGB pixel.
pub fn luminance(p: [u8; 4]) -> f32 {
    (0.2126 * f32::from(p[0]) + 0.7152 * f32::from(p[1]) + 0.0722 * f32::from(p[2])) / 255.0
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Finds the foreground of a small RGBA image.
pub fn segment(img: &RgbaImage) -> (Mask, Segmentation) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let n = w * h;
    let px = |x: usize, y: usize| img.get_pixel(x as u32, y as u32).0;
    let transparent = img.pixels().filter(|p| p.0[3] < 128).count();
    let mut mask = Mask {
        w,
        h,
        cells: vec![false; n],
    };
    let mut method = Segmentation::BorderColor;
    if transparent * 100 > n && transparent * 100 < n * 99 {
        method = Segmentation::Alpha;
        for (c, p) in mask.cells.iter_mut().zip(img.pixels()) {
            *c = p.0[3] >= 128;
        }
    } else {
        let mut border = Vec::new();
        for x in 0..w {
            border.push(px(x, 0));
            border.push(px(x, h - 1));
        }
        for y in 0..h {
            border.push(px(0, y));
            border.push(px(w - 1, y));
        }
        let bg: [f32; 3] =
            [0, 1, 2].map(|k| median(border.iter().map(|p| f32::from(p[k])).collect()));
        let dist = |p: [u8; 4]| -> f32 {
            let d = [0, 1, 2].map(|k| f32::from(p[k]) - bg[k]);
            (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
        };
        let spread = median(border.iter().map(|p| dist(*p)).collect());
        let threshold = (3.0 * spread + 24.0).max(40.0);
        for (c, p) in mask.cells.iter_mut().zip(img.pixels()) {
            *c = dist(p.0) > threshold;
        }
    }
    mask.keep_largest();
    let area = mask.count();
    if area * 50 < n || area * 50 > n * 49 {
        mask.cells.iter_mut().for_each(|c| *c = true);
        return (mask, Segmentation::WholeImage);
    }
    mask.fill_holes(area / 20);
    mask.fix_pinches();
    (mask, method)
}

/// Chamfer (3-4) distance of each foreground cell to the nearest background
/// cell (outside counts as background), in cell units.
pub fn distance_field(mask: &Mask) -> Vec<f32> {
    let (w, h) = (mask.w, mask.h);
    let big = f32::MAX / 4.0;
    let mut d: Vec<f32> = mask
        .cells
        .iter()
        .map(|&c| if c { big } else { 0.0 })
        .collect();
    let at = |d: &Vec<f32>, x: isize, y: isize| -> f32 {
        if x < 0 || y < 0 || x as usize >= w || y as usize >= h {
            0.0
        } else {
            d[y as usize * w + x as usize]
        }
    };
    for y in 0..h as isize {
        for x in 0..w as isize {
            let i = y as usize * w + x as usize;
            if d[i] > 0.0 {
                let m = [
                    at(&d, x - 1, y) + 1.0,
                    at(&d, x, y - 1) + 1.0,
                    at(&d, x - 1, y - 1) + std::f32::consts::SQRT_2,
                    at(&d, x + 1, y - 1) + std::f32::consts::SQRT_2,
                ];
                d[i] = m.iter().copied().fold(d[i], f32::min);
            }
        }
    }
    for y in (0..h as isize).rev() {
        for x in (0..w as isize).rev() {
            let i = y as usize * w + x as usize;
            if d[i] > 0.0 {
                let m = [
                    at(&d, x + 1, y) + 1.0,
                    at(&d, x, y + 1) + 1.0,
                    at(&d, x + 1, y + 1) + std::f32::consts::SQRT_2,
                    at(&d, x - 1, y + 1) + std::f32::consts::SQRT_2,
                ];
                d[i] = m.iter().copied().fold(d[i], f32::min);
            }
        }
    }
    d
}

/// For every cell, the index of the nearest foreground cell (multi-source
/// BFS, 4-neighbourhood); foreground cells map to themselves.
pub fn nearest_foreground(mask: &Mask) -> Vec<usize> {
    let mut nearest = vec![usize::MAX; mask.cells.len()];
    let mut queue = std::collections::VecDeque::new();
    for (i, &c) in mask.cells.iter().enumerate() {
        if c {
            nearest[i] = i;
            queue.push_back(i);
        }
    }
    while let Some(i) = queue.pop_front() {
        let (x, y) = (i % mask.w, i / mask.w);
        let mut visit = |j: usize| {
            if nearest[j] == usize::MAX {
                nearest[j] = nearest[i];
                queue.push_back(j);
            }
        };
        if x > 0 {
            visit(i - 1);
        }
        if x + 1 < mask.w {
            visit(i + 1);
        }
        if y > 0 {
            visit(i - mask.w);
        }
        if y + 1 < mask.h {
            visit(i + mask.w);
        }
    }
    nearest
        .iter()
        .map(|&n| if n == usize::MAX { 0 } else { n })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn mask(rows: &[&str]) -> Mask {
        Mask {
            w: rows[0].len(),
            h: rows.len(),
            cells: rows
                .iter()
                .flat_map(|r| r.chars().map(|c| c == '#'))
                .collect(),
        }
    }

    #[test]
    fn pinches_are_removed() {
        let mut m = mask(&["#.", ".#"]);
        m.fix_pinches();
        assert_eq!(m.count(), 3);
    }

    #[test]
    fn largest_component_and_hole_filling() {
        let mut m = mask(&["##...", "##..#", ".....", "####.", "#..#.", "####."]);
        m.keep_largest();
        assert!(!m.get(4, 1) && !m.get(0, 0) && m.get(0, 3));
        m.fill_holes(4);
        assert!(m.get(1, 4) && m.get(2, 4));
    }

    #[test]
    fn distance_grows_inwards() {
        let m = mask(&["#####", "#####", "#####", "#####", "#####"]);
        let d = distance_field(&m);
        assert_eq!(d[0], 1.0);
        assert!(d[12] > d[6] && d[6] > d[0]);
    }

    #[test]
    fn border_colour_segmentation() {
        let mut img = RgbaImage::from_pixel(40, 30, image::Rgba([250, 250, 250, 255]));
        for y in 8..22 {
            for x in 10..30 {
                img.put_pixel(x, y, image::Rgba([200, 20, 20, 255]));
            }
        }
        let (m, method) = segment(&img);
        assert_eq!(method, Segmentation::BorderColor);
        assert_eq!(m.cells.iter().filter(|&&c| c).count(), 20 * 14);
    }

    #[test]
    fn alpha_segmentation_and_uniform_fallback() {
        let mut img = RgbaImage::from_pixel(20, 20, image::Rgba([0, 0, 0, 0]));
        for y in 5..15 {
            for x in 5..15 {
                img.put_pixel(x, y, image::Rgba([10, 200, 10, 255]));
            }
        }
        assert_eq!(segment(&img).1, Segmentation::Alpha);
        let flat = RgbaImage::from_pixel(20, 20, image::Rgba([90, 90, 90, 255]));
        assert_eq!(segment(&flat).1, Segmentation::WholeImage);
    }
}
