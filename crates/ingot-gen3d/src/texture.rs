//! Procedural base-colour textures (wood grain, stone, bricks, ...).

use crate::rng::mix64;

/// An 8-bit sRGB RGBA image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextureImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major RGBA bytes, `width * height * 4` long.
    pub rgba: Vec<u8>,
}

/// Texture pattern kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Wavy wood grain along V.
    Wood,
    /// Brushed-metal streaks along U.
    Brushed,
    /// Mottled stone.
    Stone,
    /// Running-bond bricks with mortar.
    Brick,
    /// Fabric weave.
    Weave,
    /// Leafy blotches.
    Leaves,
    /// Subtle speckle for painted / plastic surfaces.
    Speckle,
}

/// Hash-based lattice value in `[0, 1)`, tiling with `period`.
fn lattice(seed: u64, x: i64, y: i64, period: i64) -> f32 {
    let xm = x.rem_euclid(period) as u64;
    let ym = y.rem_euclid(period) as u64;
    let h = mix64(seed ^ mix64(xm.wrapping_mul(0x1_0000_0001) ^ ym.wrapping_mul(0x9E37)));
    (h >> 40) as f32 / (1u64 << 24) as f32
}

/// Tileable value noise at lattice frequency `freq` (cells per texture edge).
fn value_noise(seed: u64, u: f32, v: f32, freq: i64) -> f32 {
    let x = u * freq as f32;
    let y = v * freq as f32;
    let xi = x.floor();
    let yi = y.floor();
    let fx = x - xi;
    let fy = y - yi;
    let sx = fx * fx * (3.0 - 2.0 * fx);
    let sy = fy * fy * (3.0 - 2.0 * fy);
    let (xi, yi) = (xi as i64, yi as i64);
    let a = lattice(seed, xi, yi, freq);
    let b = lattice(seed, xi + 1, yi, freq);
    let c = lattice(seed, xi, yi + 1, freq);
    let d = lattice(seed, xi + 1, yi + 1, freq);
    let top = a + (b - a) * sx;
    let bottom = c + (d - c) * sx;
    top + (bottom - top) * sy
}

/// Fractal (4-octave) tileable noise in roughly `[0, 1)`.
fn fbm(seed: u64, u: f32, v: f32, base_freq: i64) -> f32 {
    let mut sum = 0.0;
    let mut amp = 0.5;
    let mut freq = base_freq;
    let mut norm = 0.0;
    for octave in 0..4u64 {
        sum += amp * value_noise(seed.wrapping_add(octave), u, v, freq);
        norm += amp;
        amp *= 0.5;
        freq *= 2;
    }
    sum / norm
}

fn shade(color: [u8; 3], k: f32) -> [u8; 4] {
    let f = |c: u8| (f32::from(c) * k).round().clamp(0.0, 255.0) as u8;
    [f(color[0]), f(color[1]), f(color[2]), 255]
}

fn mix(a: [u8; 3], b: [u8; 3], t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let f = |x: u8, y: u8| (f32::from(x) + (f32::from(y) - f32::from(x)) * t).round() as u8;
    [f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2])]
}

/// Generates a `size × size` tileable texture of `pattern` around `color`.
pub fn generate(pattern: Pattern, color: [u8; 3], size: u32, seed: u64) -> TextureImage {
    let size = size.clamp(8, 2048);
    let mut rgba = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let u = (x as f32 + 0.5) / size as f32;
            let v = (y as f32 + 0.5) / size as f32;
            rgba.extend_from_slice(&pixel(pattern, color, u, v, seed));
        }
    }
    TextureImage {
        width: size,
        height: size,
        rgba,
    }
}

fn pixel(pattern: Pattern, color: [u8; 3], u: f32, v: f32, seed: u64) -> [u8; 4] {
    match pattern {
        Pattern::Wood => {
            let warp = fbm(seed, u, v, 4) * 2.5;
            let rings = ((u * 9.0 + warp) * std::f32::consts::TAU).sin() * 0.5 + 0.5;
            let fine = value_noise(seed ^ 0xAB, u, v * 0.25, 64);
            shade(color, 0.72 + 0.28 * rings.powf(0.6) + 0.08 * (fine - 0.5))
        }
        Pattern::Brushed => {
            let streak = value_noise(seed, u * 0.05, v, 128);
            let blotch = fbm(seed ^ 0x55, u, v, 4);
            shade(color, 0.9 + 0.1 * streak + 0.06 * (blotch - 0.5))
        }
        Pattern::Stone => {
            let n = fbm(seed, u, v, 6);
            let speck = lattice(seed ^ 0x77, (u * 128.0) as i64, (v * 128.0) as i64, 128);
            let dark = if speck > 0.97 { 0.75 } else { 1.0 };
            shade(color, (0.72 + 0.5 * n) * dark)
        }
        Pattern::Brick => {
            let rows = 8.0;
            let cols = 4.0;
            let row = (v * rows).floor();
            let offset = if row as i64 % 2 == 0 { 0.0 } else { 0.5 };
            let fu = (u * cols + offset).fract();
            let fv = (v * rows).fract();
            let mortar = fu < 0.06 || fv < 0.12;
            if mortar {
                shade([200, 195, 185], 0.95 + 0.1 * value_noise(seed, u, v, 32))
            } else {
                let brick_id = ((u * cols + offset).floor() as i64, row as i64);
                let tint = lattice(seed, brick_id.0, brick_id.1, 64);
                shade(
                    color,
                    0.8 + 0.3 * tint + 0.1 * (fbm(seed ^ 3, u, v, 8) - 0.5),
                )
            }
        }
        Pattern::Weave => {
            let cells = 12.0;
            let cu = (u * cells).fract();
            let cv = (v * cells).fract();
            let over = ((u * cells).floor() as i64 + (v * cells).floor() as i64) % 2 == 0;
            let t = if over { cu } else { cv };
            let ridge = (t * std::f32::consts::PI).sin();
            let fibre = value_noise(seed, u, v, 96);
            shade(color, 0.78 + 0.22 * ridge + 0.06 * fibre)
        }
        Pattern::Leaves => {
            let n = fbm(seed, u, v, 8);
            let light = mix(color, [150, 200, 90], (n - 0.45) * 2.0);
            shade(light, 0.75 + 0.4 * n)
        }
        Pattern::Speckle => {
            let n = value_noise(seed, u, v, 64);
            shade(color, 0.96 + 0.06 * n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized() {
        let a = generate(Pattern::Wood, [150, 100, 50], 32, 9);
        let b = generate(Pattern::Wood, [150, 100, 50], 32, 9);
        let c = generate(Pattern::Wood, [150, 100, 50], 32, 10);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.rgba.len(), 32 * 32 * 4);
    }

    #[test]
    fn patterns_vary_around_the_colour() {
        for p in [
            Pattern::Wood,
            Pattern::Brushed,
            Pattern::Stone,
            Pattern::Brick,
            Pattern::Weave,
            Pattern::Leaves,
            Pattern::Speckle,
        ] {
            let t = generate(p, [128, 128, 128], 32, 1);
            let reds: Vec<u8> = t.rgba.chunks_exact(4).map(|px| px[0]).collect();
            let min = reds.iter().copied().min().unwrap();
            let max = reds.iter().copied().max().unwrap();
            assert!(max > min, "{p:?} is flat");
            assert!(t.rgba.chunks_exact(4).all(|px| px[3] == 255));
        }
    }

    #[test]
    fn noise_tiles() {
        let a = value_noise(5, 0.0, 0.3, 8);
        let b = value_noise(5, 1.0, 0.3, 8);
        assert!((a - b).abs() < 1e-5);
    }
}
