//! CPU kernels of the encoder: a safe wrapper over the `gemm` f32 kernels, layer norm, GELU,
//! softmax, Q4_0 / fp16 decoding.

use rayon::prelude::*;

use crate::team::Exec;

use crate::error::EmbedError;

/// A strided view into a slice: element `(r, c)` lives at `offset + r * rs + c * cs`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Strided {
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl Strided {
    /// A dense row-major `rows x cols` matrix starting at `offset`.
    pub fn row_major(offset: usize, rows: usize, cols: usize) -> Self {
        Self {
            offset,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// Whether every element of the view lies inside a slice of length `len`.
    fn fits(&self, len: usize) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return self.offset <= len;
        }
        let last = (self.rows - 1)
            .checked_mul(self.rs)
            .and_then(|a| {
                (self.cols - 1)
                    .checked_mul(self.cs)
                    .and_then(|b| a.checked_add(b))
            })
            .and_then(|a| a.checked_add(self.offset));
        matches!(last, Some(l) if l < len)
    }

    fn as_isize(v: usize) -> Result<isize, EmbedError> {
        isize::try_from(v).map_err(|_| EmbedError::Internal("matrix stride overflow".into()))
    }
}

/// How `matmul` may split its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Par {
    /// On the calling thread only (the caller is already parallel).
    Serial,
    /// Over the current rayon pool.
    Pool,
}

/// How `matmul` combines: `dst = scale * lhs · rhs`, or `dst += ...` with `accumulate`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gemm {
    pub scale: f32,
    pub accumulate: bool,
    pub par: Par,
}

/// `dst = scale * lhs · rhs` (or `dst += scale * lhs · rhs` with `accumulate`), all `f32`.
///
/// The views are bounds-checked against their slices before the kernels run.
pub(crate) fn matmul(
    dst: &mut [f32],
    d: Strided,
    lhs: &[f32],
    l: Strided,
    rhs: &[f32],
    r: Strided,
    how: Gemm,
) -> Result<(), EmbedError> {
    let Gemm {
        scale,
        accumulate,
        par,
    } = how;
    let (m, k, n) = (l.rows, l.cols, r.cols);
    if r.rows != k || d.rows != m || d.cols != n {
        return Err(EmbedError::Internal(format!(
            "matmul shape mismatch: [{m}x{k}]·[{}x{n}] -> [{}x{}]",
            r.rows, d.rows, d.cols
        )));
    }
    if !d.fits(dst.len()) || !l.fits(lhs.len()) || !r.fits(rhs.len()) {
        return Err(EmbedError::Internal("matmul view out of bounds".into()));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[d.offset + i * d.rs + j * d.cs] = 0.0;
                }
            }
        }
        return Ok(());
    }
    let (d_rs, d_cs) = (Strided::as_isize(d.rs)?, Strided::as_isize(d.cs)?);
    let (l_rs, l_cs) = (Strided::as_isize(l.rs)?, Strided::as_isize(l.cs)?);
    let (r_rs, r_cs) = (Strided::as_isize(r.rs)?, Strided::as_isize(r.cs)?);
    let parallelism = match par {
        Par::Serial => gemm::Parallelism::None,
        Par::Pool => gemm::Parallelism::Rayon(0),
    };
    let dst_ptr = dst[d.offset..].as_mut_ptr();
    let lhs_ptr = lhs[l.offset..].as_ptr();
    let rhs_ptr = rhs[r.offset..].as_ptr();
    #[expect(unsafe_code, reason = "gemm's kernels take raw pointers and strides")]
    // SAFETY: `fits` checked above that every element addressed by the three views (offset +
    // row * rs + col * cs for row < rows, col < cols, all strides non-negative) lies inside
    // its slice; the pointers start at each view's offset. `dst` is borrowed mutably and
    // `lhs`/`rhs` shared, so the output cannot alias the inputs. gemm only reads `dst` when
    // `read_dst` is true, and the slice is initialised in any case.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst_ptr,
            d_cs,
            d_rs,
            accumulate,
            lhs_ptr,
            l_cs,
            l_rs,
            rhs_ptr,
            r_cs,
            r_rs,
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(())
}

/// `y[t, :] = x[t, :] · W + b` for a dense `[rows, k]` input and `W` stored `[k, n]` row-major.
pub(crate) fn linear(
    x: &[f32],
    rows: usize,
    w: &[f32],
    b: &[f32],
    k: usize,
    n: usize,
    out: &mut Vec<f32>,
) -> Result<(), EmbedError> {
    out.clear();
    out.reserve(rows * n);
    for _ in 0..rows {
        out.extend_from_slice(b);
    }
    matmul(
        out,
        Strided::row_major(0, rows, n),
        x,
        Strided::row_major(0, rows, k),
        w,
        Strided::row_major(0, k, n),
        Gemm {
            scale: 1.0,
            accumulate: true,
            par: Par::Pool,
        },
    )
}

/// `v` resized to `n` values; values it already held are left as they are (the caller
/// overwrites all of them), only growth is zero-filled.
pub(crate) fn sized<T: Copy + Default>(v: &mut Vec<T>, n: usize) -> &mut [T] {
    v.truncate(n);
    v.resize(n, T::default());
    v
}

/// Rows per parallel task for the row-wise kernels.
const ROW_CHUNK: usize = 16;

/// `x = LayerNorm(x + y)` row-wise (`y` optional), with weight `w` and bias `b`.
pub(crate) fn add_layer_norm(
    x: &mut [f32],
    y: Option<&[f32]>,
    w: &[f32],
    b: &[f32],
    eps: f32,
    exec: Exec<'_>,
) {
    let h = w.len();
    if h == 0 {
        return;
    }
    let wide = has_avx512();
    let body = |(ci, chunk): (usize, &mut [f32])| {
        for (ri, row) in chunk.chunks_mut(h).enumerate() {
            let start = (ci * ROW_CHUNK + ri) * h;
            let add = y.map(|y| &y[start..start + h]);
            if wide {
                #[cfg(target_arch = "x86_64")]
                #[expect(unsafe_code, reason = "calling the AVX-512 build of the row kernel")]
                // SAFETY: `has_avx512()` checked that the CPU has AVX-512F.
                unsafe {
                    add_layer_norm_row_avx512(row, add, w, b, eps);
                }
            } else {
                add_layer_norm_row(row, add, w, b, eps);
            }
        }
    };
    if x.len() >= 4 * ROW_CHUNK * h {
        exec.each_mut(x.chunks_mut(ROW_CHUNK * h).enumerate().collect(), body);
    } else {
        x.chunks_mut(ROW_CHUNK * h).enumerate().for_each(body);
    }
}

/// Whether the CPU has AVX-512F (the row kernels then get a 16-lane build).
fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`add_layer_norm_row`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn add_layer_norm_row_avx512(row: &mut [f32], y: Option<&[f32]>, w: &[f32], b: &[f32], eps: f32) {
    add_layer_norm_row(row, y, w, b, eps);
}

/// `sum(f(v[i]))` in 16 independent lanes (vectorisable, where a plain float sum must stay
/// sequential).
#[inline(always)]
fn lane_sum(v: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut chunks = v.chunks_exact(16);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += f(x);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn add_layer_norm_row(row: &mut [f32], y: Option<&[f32]>, w: &[f32], b: &[f32], eps: f32) {
    if let Some(y) = y {
        for (a, &bv) in row.iter_mut().zip(y) {
            *a += bv;
        }
    }
    let n = row.len() as f32;
    let mean = lane_sum(row, |v| v) / n;
    let var = lane_sum(row, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, &wv), &bv) in row.iter_mut().zip(w).zip(b) {
        *v = (*v - mean) * inv * wv + bv;
    }
}

/// Exact (erf) GELU in place, as BERT's `hidden_act = "gelu"`.
pub(crate) fn gelu_inplace(x: &mut [f32]) {
    const CHUNK: usize = 4096;
    let body = |c: &mut [f32]| {
        for v in c {
            *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    };
    if x.len() >= 4 * CHUNK {
        x.par_chunks_mut(CHUNK).for_each(body);
    } else {
        body(x);
    }
}

/// `erf` for f32 as a rational polynomial on [-4, 4] (Eigen's `generic_fast_erf_float`; max
/// abs error about 1e-7). No `exp`, so the GELU loop vectorises.
#[inline]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_6e-3;
    p = p * x2 - 1.609_603_3e-2;
    p *= x;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_473_9e-2;
    p / q
}

/// Softmax of each row of a dense `[rows, cols]` matrix, in place.
pub(crate) fn softmax_rows(x: &mut [f32], cols: usize) {
    if cols == 0 {
        return;
    }
    for row in x.chunks_mut(cols) {
        let mx = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - mx).exp();
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

/// IEEE half -> f32.
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = if exp == 0 {
        if man == 0 {
            sign
        } else {
            // Subnormal: value = man * 2^-24.
            let v = man as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
    } else if exp == 31 {
        sign | 0x7f80_0000 | (man << 13)
    } else {
        sign | ((exp + 127 - 15) << 23) | (man << 13)
    };
    f32::from_bits(bits)
}

/// Bytes of one ggml Q4_0 block: an fp16 scale and 32 4-bit weights.
pub(crate) const Q4_BLOCK_BYTES: usize = 18;
/// Weights per Q4_0 block.
pub(crate) const Q4_BLOCK: usize = 32;

/// Dequantise Q4_0 blocks into `out` (`out.len()` must be `blocks * 32`): byte `j` of a block
/// holds weight `j` in its low nibble and weight `j + 16` in its high nibble, each `(q - 8) * d`.
pub(crate) fn dequant_q4_0(blocks: &[u8], out: &mut [f32]) -> Result<(), EmbedError> {
    if !blocks.len().is_multiple_of(Q4_BLOCK_BYTES)
        || out.len() != blocks.len() / Q4_BLOCK_BYTES * Q4_BLOCK
    {
        return Err(EmbedError::Internal("Q4_0 size mismatch".into()));
    }
    for (blk, o) in blocks
        .chunks_exact(Q4_BLOCK_BYTES)
        .zip(out.chunks_exact_mut(Q4_BLOCK))
    {
        let d = f16_to_f32(u16::from_le_bytes([blk[0], blk[1]]));
        for (j, &q) in blk[2..].iter().enumerate() {
            o[j] = (f32::from(q & 0x0f) - 8.0) * d;
            o[j + 16] = (f32::from(q >> 4) - 8.0) * d;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn matmul_matches_naive_including_transposed_rhs() {
        let (m, k, n) = (7, 13, 5);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 13) as f32 - 6.0) / 4.0)
            .collect();
        let want = naive(&a, &b, m, k, n);
        let mut got = vec![0.0; m * n];
        let d = Strided::row_major(0, m, n);
        matmul(
            &mut got,
            d,
            &a,
            Strided::row_major(0, m, k),
            &b,
            Strided::row_major(0, k, n),
            Gemm {
                scale: 1.0,
                accumulate: false,
                par: Par::Pool,
            },
        )
        .unwrap();
        for (x, y) in got.iter().zip(&want) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
        // Same product with rhs given transposed (stored [n, k]).
        let mut bt = vec![0.0; n * k];
        for p in 0..k {
            for j in 0..n {
                bt[j * k + p] = b[p * n + j];
            }
        }
        let mut got2 = vec![1.0; m * n];
        let r = Strided {
            offset: 0,
            rows: k,
            cols: n,
            rs: 1,
            cs: k,
        };
        matmul(
            &mut got2,
            d,
            &a,
            Strided::row_major(0, m, k),
            &bt,
            r,
            Gemm {
                scale: 2.0,
                accumulate: false,
                par: Par::Serial,
            },
        )
        .unwrap();
        for (x, y) in got2.iter().zip(&want) {
            assert!((x - 2.0 * y).abs() < 1e-4);
        }
    }

    #[test]
    fn matmul_rejects_out_of_bounds_views() {
        let a = vec![0.0; 6];
        let mut c = vec![0.0; 4];
        let err = matmul(
            &mut c,
            Strided::row_major(0, 2, 2),
            &a,
            Strided::row_major(0, 2, 4),
            &a,
            Strided::row_major(0, 4, 2),
            Gemm {
                scale: 1.0,
                accumulate: false,
                par: Par::Serial,
            },
        );
        assert!(err.is_err());
    }

    #[test]
    fn erf_is_accurate() {
        // Reference values of erf.
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (-2.0, -0.995_322_3),
            (3.0, 0.999_977_9),
        ] {
            assert!((erf(x) - want).abs() < 1e-6, "erf({x}) = {}", erf(x));
        }
    }

    #[test]
    fn f16_and_q4_decode() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3800), 0.5);
        assert!((f16_to_f32(0x0001) - 5.960_464_5e-8).abs() < 1e-12);
        let mut blk = vec![0u8; 18];
        blk[..2].copy_from_slice(&0x3800u16.to_le_bytes()); // d = 0.5
        blk[2] = 0xf0; // w0 = (0 - 8) * 0.5, w16 = (15 - 8) * 0.5
        blk[3] = 0x98; // w1 = 0, w17 = 0.5
        let mut out = vec![0.0; 32];
        dequant_q4_0(&blk, &mut out).unwrap();
        assert_eq!(out[0], -4.0);
        assert_eq!(out[16], 3.5);
        assert_eq!(out[1], 0.0);
        assert_eq!(out[17], 0.5);
        assert_eq!(out[2], -4.0);
    }

    #[test]
    fn layer_norm_and_softmax() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        add_layer_norm(
            &mut x,
            Some(&[1.0, 0.0, -1.0, 0.0]),
            &[1.0; 4],
            &[0.0; 4],
            1e-12,
            Exec::Rayon,
        );
        // x + y = [2, 2, 2, 4] -> mean 2.5, var 0.75
        let inv = 1.0 / 0.75f32.sqrt();
        assert!((x[0] + 0.5 * inv).abs() < 1e-5 && (x[3] - 1.5 * inv).abs() < 1e-5);
        let mut s = vec![0.0, 0.0, 1000.0, 1000.0];
        softmax_rows(&mut s, 2);
        assert_eq!(s, vec![0.5, 0.5, 0.5, 0.5]);
    }
}
