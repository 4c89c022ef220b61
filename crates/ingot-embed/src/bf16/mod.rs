//! A bf16 matrix multiply for the encoder's linear layers, on AVX-512 BF16 (`vdpbf16ps`).
//!
//! `vdpbf16ps` multiplies pairs of bf16 values and accumulates into f32 lanes: 32 multiply-adds
//! per instruction where an f32 FMA does 16, over weights half the size. The linear layers are
//! about 70% of the encoder's time, so this is where lower precision pays. Weights are rounded
//! to bf16 once at load, activations per call; sums are kept in f32. On all-MiniLM-L6-v2 the
//! pooled vectors stay within cosine 0.99998 of the f32 forward (int8 with per-token scales
//! loses too much on the Q/K/V projections: 0.997), so bf16 is the precision used wherever
//! the CPU has it, and the f32 `gemm` path everywhere else.
//!
//! Layout: the `[K, N]` weight is cut into panels of 48 output columns (three 16-lane vectors).
//! Inside a panel, for each pair of input rows `(2i, 2i + 1)`, the 48 columns' pairs are stored
//! interleaved, exactly the operand `vdpbf16ps` wants: the kernel streams a panel front to back
//! while it broadcasts one activation pair per row. A tile is up to 8 rows by one panel, 24
//! accumulators in registers.
//!
//! Where the CPU has AMX (`amx-tile`, `amx-bf16`) and Linux grants the tile state, a block of
//! up to 16 rows by one panel runs on the tile unit instead (`tdpbf16ps`: a 16 x 16 x 32
//! multiply-add per instruction). The same panel layout is the tile unit's B operand: 16 pairs
//! of input rows by 16 columns, read with a 192-byte stride. Sums are f32 either way.

use crate::error::EmbedError;
use crate::team::Exec;

/// Output columns per panel.
pub(crate) const PANEL: usize = 48;
/// Rows per register tile.
const MR: usize = 8;
/// Rows per parallel task (a multiple of `MR` and of `AMX_ROWS`).
const ROW_CHUNK: usize = 64;
/// Rows of an AMX tile.
const AMX_ROWS: usize = 16;
/// Input values one AMX bf16 tile row holds (64 bytes).
const AMX_K: usize = 32;
/// bf16 values in a 64-byte cache line.
const LINE_VALUES: usize = 32;

/// How many values into `v` the first 64-byte boundary lies (less than [`LINE_VALUES`]).
fn line_offset(v: &[u16]) -> usize {
    v.as_ptr().align_offset(64).min(LINE_VALUES)
}

/// What follows the bias in a linear layer's epilogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Act {
    None,
    /// Exact (erf) GELU.
    Gelu,
}

/// Whether this CPU runs the bf16 kernel.
pub(crate) fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the AMX tile path runs: the CPU has `amx-tile` and `amx-bf16` and the kernel let
/// this process use the tile state (asked once).
pub(crate) fn amx() -> bool {
    static AMX: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AMX.get_or_init(|| supported() && kernel::amx_available())
}

/// f32 -> bf16, round to nearest even (NaN stays NaN).
pub(crate) fn to_bf16(v: f32) -> u16 {
    let b = v.to_bits();
    if v.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((b >> 16) & 1);
    (b.wrapping_add(round) >> 16) as u16
}

/// bf16 -> f32.
#[cfg(test)]
pub(crate) fn from_bf16(v: u16) -> f32 {
    f32::from_bits(u32::from(v) << 16)
}

/// A `[K, N]` weight rounded to bf16 and packed into panels (see the module docs).
pub(crate) struct PackedBf16 {
    k: usize,
    n: usize,
    /// `k` rounded up to even.
    kp: usize,
    /// `ceil(n / PANEL)` panels of `kp * PANEL` values each, from `data[start]`, a 64-byte
    /// boundary, so that every tile row is one cache line; padding columns and rows are 0.
    data: Vec<u16>,
    start: usize,
}

impl PackedBf16 {
    /// Pack a row-major `[k, n]` f32 matrix.
    pub fn pack(w: &[f32], k: usize, n: usize) -> Result<Self, EmbedError> {
        if k == 0 || n == 0 || w.len() != k * n {
            return Err(EmbedError::Internal(format!(
                "bf16 pack: {} values for [{k}x{n}]",
                w.len()
            )));
        }
        let kp = k.next_multiple_of(2);
        let panels = n.div_ceil(PANEL);
        let len = panels * kp * PANEL;
        let mut data = vec![0u16; len + LINE_VALUES];
        let start = line_offset(&data);
        for (p, panel) in data[start..start + len]
            .chunks_exact_mut(kp * PANEL)
            .enumerate()
        {
            for i in 0..k {
                let (pair, odd) = (i / 2, i % 2);
                for c in 0..PANEL {
                    let col = p * PANEL + c;
                    if col < n {
                        panel[pair * 2 * PANEL + 2 * c + odd] = to_bf16(w[i * n + col]);
                    }
                }
            }
        }
        Ok(Self {
            k,
            n,
            kp,
            data,
            start,
        })
    }

    /// Panel `p`: `kp * PANEL` values starting on a cache line.
    fn panel(&self, p: usize) -> &[u16] {
        let at = self.start + p * self.kp * PANEL;
        &self.data[at..at + self.kp * PANEL]
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Element `(i, j)` of the packed matrix as f32 (for tests and checks).
    #[cfg(test)]
    fn get(&self, i: usize, j: usize) -> f32 {
        let (p, c) = (j / PANEL, j % PANEL);
        from_bf16(self.panel(p)[(i / 2) * 2 * PANEL + 2 * c + i % 2])
    }
}

/// Round a dense `[rows, k]` f32 matrix to bf16 rows of even length `kp` (zero-padded) in
/// `out` (`rows * kp` values). Call only where [`supported`] is true.
fn convert_rows(x: &[f32], k: usize, kp: usize, out: &mut [u16], exec: Exec<'_>) {
    const ROWS: usize = 64;
    let rows = out.len() / kp;
    let body = |xs: &[f32], os: &mut [u16]| {
        for (xr, or) in xs.chunks(k).zip(os.chunks_mut(kp)) {
            #[cfg(target_arch = "x86_64")]
            #[expect(unsafe_code, reason = "calling the AVX-512 conversion")]
            // SAFETY: only called from `linear`, which checked `supported()` (AVX-512F).
            unsafe {
                kernel::convert(xr, or);
            }
            #[cfg(not(target_arch = "x86_64"))]
            for (o, &v) in or.iter_mut().zip(xr) {
                *o = to_bf16(v);
            }
            // The padding column (odd k) must read as zero.
            for o in or.iter_mut().skip(k) {
                *o = 0;
            }
        }
    };
    if rows * k >= 1 << 16 {
        let parts: Vec<_> = x.chunks(ROWS * k).zip(out.chunks_mut(ROWS * kp)).collect();
        exec.each_mut(parts, |(xs, os)| body(xs, os));
    } else {
        body(x, out);
    }
}

/// A raw output pointer shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: every task writes a distinct (row range, panel) rectangle of the output; see
// `linear`.
#[expect(
    unsafe_code,
    reason = "disjoint tiles of one output buffer, written in parallel"
)]
unsafe impl Send for OutPtr {}
#[expect(
    unsafe_code,
    reason = "disjoint tiles of one output buffer, written in parallel"
)]
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer (a method, so closures capture the `Sync` wrapper, not the raw field).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// `out[t, :] = act(x[t, :] · W + b)` for a dense `[rows, W.k]` f32 input. `scratch` holds the
/// bf16 copy of `x` between calls. Call only where [`supported`] is true.
#[allow(clippy::too_many_arguments)]
pub(crate) fn linear(
    x: &[f32],
    rows: usize,
    w: &PackedBf16,
    b: &[f32],
    act: Act,
    out: &mut Vec<f32>,
    scratch: &mut Vec<u16>,
    exec: Exec<'_>,
) -> Result<(), EmbedError> {
    let (k, n, kp) = (w.k, w.n, w.kp);
    if x.len() != rows * k || b.len() != n {
        return Err(EmbedError::Internal(format!(
            "bf16 linear: input {} for [{rows}x{k}], bias {} for {n}",
            x.len(),
            b.len()
        )));
    }
    if !supported() {
        return Err(EmbedError::Internal(
            "bf16 kernel on a CPU without it".into(),
        ));
    }
    // Every element is written by the tiles below.
    crate::ops::sized(out, rows * n);
    if rows == 0 {
        return Ok(());
    }
    let use_amx = kp % AMX_K == 0 && amx();
    // Whole 16-row tiles for AMX: the rows past `rows` are zeros, computed and never stored.
    let padded = if use_amx {
        rows.next_multiple_of(AMX_ROWS)
    } else {
        rows
    };
    // The bf16 rows start on a cache line (rows of `kp` values are whole lines for AMX).
    scratch.resize(padded * kp + LINE_VALUES, 0);
    let start = line_offset(scratch);
    let xb = &mut scratch[start..start + padded * kp];
    convert_rows(x, k, kp, &mut xb[..rows * kp], exec);
    xb[rows * kp..].fill(0);
    let xb: &[u16] = xb;
    let panels = n.div_ceil(PANEL);
    let chunks = rows.div_ceil(ROW_CHUNK);
    let dst = OutPtr(out.as_mut_ptr());
    exec.for_each(chunks * panels, |task| {
        let (chunk, p) = (task / panels, task % panels);
        let r0 = chunk * ROW_CHUNK;
        let r1 = (r0 + ROW_CHUNK).min(rows);
        let c0 = p * PANEL;
        let cols = PANEL.min(n - c0);
        let panel = w.panel(p);
        let mut bias = [0.0f32; PANEL];
        bias[..cols].copy_from_slice(&b[c0..c0 + cols]);
        let mut r = r0;
        if use_amx {
            #[expect(unsafe_code, reason = "AMX tile instructions")]
            // SAFETY: `amx()` was checked (the CPU has AMX, the process has the tile state)
            // and `kp` is a multiple of 32. `xb` holds whole 16-row tiles (padded above), so
            // each `a` holds 16 rows of `kp` values, and `panel` `kp * PANEL`: all the tiles
            // read. The output rectangle is this task's alone, as for `kernel::tile` below.
            unsafe {
                kernel::amx_begin();
                while r < r1 {
                    let mr = (2 * AMX_ROWS).min(r1 - r);
                    if mr > AMX_ROWS {
                        let a = &xb[r * kp..(r + 2 * AMX_ROWS) * kp];
                        kernel::tile_amx2(
                            mr,
                            a,
                            kp,
                            panel,
                            &bias,
                            act,
                            dst.get().add(r * n + c0),
                            n,
                            cols,
                        );
                        r += mr;
                        continue;
                    }
                    let a = &xb[r * kp..(r + AMX_ROWS) * kp];
                    kernel::tile_amx(
                        mr,
                        a,
                        kp,
                        panel,
                        &bias,
                        act,
                        dst.get().add(r * n + c0),
                        n,
                        cols,
                    );
                    r += mr;
                }
                kernel::amx_end();
            }
        }
        while r < r1 {
            let mr = MR.min(r1 - r);
            let a = &xb[r * kp..(r + mr) * kp];
            #[expect(unsafe_code, reason = "AVX-512 BF16 intrinsics")]
            // SAFETY: `supported()` was checked above. `a` holds `mr` rows of `kp` values and
            // `panel` `kp * PANEL` values, which is all the tile reads. The tile writes rows
            // `r..r + mr` (< rows) and columns `c0..c0 + cols` (<= n) of the `rows x n`
            // output at `dst`, a rectangle no other task writes (tasks differ in row chunk or
            // panel), and `out` is not otherwise accessed until the parallel loop ends.
            unsafe {
                kernel::tile(
                    mr,
                    a,
                    kp,
                    panel,
                    &bias,
                    act,
                    dst.get().add(r * n + c0),
                    n,
                    cols,
                );
            }
            r += mr;
        }
    });
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[expect(unsafe_code, reason = "AVX-512 BF16 intrinsics")]
mod kernel;

#[cfg(not(target_arch = "x86_64"))]
mod kernel {
    use super::{Act, PANEL};

    /// No AMX off x86_64.
    pub(super) fn amx_available() -> bool {
        false
    }

    /// Never called: `amx()` is false off x86_64.
    pub(super) unsafe fn amx_begin() {}

    /// Never called: `amx()` is false off x86_64.
    pub(super) unsafe fn amx_end() {}

    // Never called: `amx()` is false off x86_64; the AMX kernels share `tile`'s stub.
    pub(super) use self::tile as tile_amx;
    pub(super) use self::tile as tile_amx2;

    /// Never called: `supported()` is false off x86_64.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn tile(
        _mr: usize,
        _a: &[u16],
        _kp: usize,
        _panel: &[u16],
        _bias: &[f32; PANEL],
        _act: Act,
        _c: *mut f32,
        _ldc: usize,
        _cols: usize,
    ) {
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bert::tests::rand_vec;
    use crate::{ops, team};

    #[test]
    fn bf16_rounding() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        assert_eq!(from_bf16(0x3f80), 1.0);
        // 1 + 2^-8 is halfway between bf16 1.0 and 1 + 2^-7: ties to even (1.0).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        // Just above halfway rounds up.
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0 + 1.0 / 65536.0), 0x3f81);
        assert_eq!(from_bf16(to_bf16(-3.5)), -3.5);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    }

    #[test]
    fn packing_keeps_every_element() {
        let (k, n) = (5, 50);
        let mut s = 9;
        let w = rand_vec(k * n, &mut s, 2.0);
        let p = PackedBf16::pack(&w, k, n).unwrap();
        for i in 0..k {
            for j in 0..n {
                assert_eq!(p.get(i, j), from_bf16(to_bf16(w[i * n + j])));
            }
        }
        assert!(PackedBf16::pack(&w, k, n + 1).is_err());
    }

    /// `act(x · W + b)` with both operands rounded to bf16 and f64 sums.
    fn reference(
        x: &[f32],
        w: &[f32],
        b: &[f32],
        rows: usize,
        k: usize,
        n: usize,
        act: Act,
    ) -> Vec<f32> {
        let r = |v: f32| f64::from(from_bf16(to_bf16(v)));
        let mut out = vec![0.0; rows * n];
        for t in 0..rows {
            for j in 0..n {
                let s: f64 = (0..k).map(|i| r(x[t * k + i]) * r(w[i * n + j])).sum();
                let y = s as f32 + b[j];
                out[t * n + j] = match act {
                    Act::None => y,
                    Act::Gelu => 0.5 * y * (1.0 + ops::erf(y * std::f32::consts::FRAC_1_SQRT_2)),
                };
            }
        }
        out
    }

    #[test]
    fn linear_matches_reference_on_ragged_shapes() {
        if !supported() {
            eprintln!("skipped: this CPU has no AVX-512 BF16");
            return;
        }
        let mut s = 17;
        let mut scratch = Vec::new();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        // Odd k (padding row), n not a multiple of 16 or 48, rows across tiles and chunks.
        eprintln!("AMX tiles: {}", amx());
        for (rows, k, n, act) in [
            (1, 7, 5, Act::None),
            (9, 33, 50, Act::Gelu),
            (70, 64, 96, Act::None),
            (131, 48, 100, Act::Gelu),
            // enough values for the bf16 conversion to run in parallel
            (300, 256, 60, Act::None),
            // k a multiple of 32: the AMX blocks where the CPU has them, partial ones too
            (5, 32, 50, Act::Gelu),
            (40, 96, 48, Act::Gelu),
            // two blocks sharing weight tiles: 17..32 rows, a last panel of 32 columns or less
            (27, 32, 80, Act::None),
            (20, 64, 100, Act::Gelu),
            (77, 96, 40, Act::None),
        ] {
            let x = rand_vec(rows * k, &mut s, 1.0);
            let w = rand_vec(k * n, &mut s, 0.5);
            let b = rand_vec(n, &mut s, 0.2);
            let p = PackedBf16::pack(&w, k, n).unwrap();
            let want = reference(&x, &w, &b, rows, k, n, act);
            // On rayon, and in a team of two.
            let mut out = vec![f32::NAN; 3];
            linear(&x, rows, &p, &b, act, &mut out, &mut scratch, Exec::Rayon).unwrap();
            let mut in_team = vec![f32::NAN; 3];
            pool.install(|| {
                team::with_team(|t| {
                    let exec = Exec::Team(t);
                    linear(&x, rows, &p, &b, act, &mut in_team, &mut scratch, exec)
                })
            })
            .unwrap();
            assert_eq!(out, in_team);
            assert_eq!(out.len(), want.len());
            for (i, (g, e)) in out.iter().zip(&want).enumerate() {
                assert!((g - e).abs() < 1e-4, "[{rows}x{k}x{n}] #{i}: {g} vs {e}");
            }
        }
        let p = PackedBf16::pack(&[1.0; 6], 2, 3).unwrap();
        let mut out = Vec::new();
        assert!(
            linear(
                &[1.0; 3],
                1,
                &p,
                &[0.0; 3],
                Act::None,
                &mut out,
                &mut scratch,
                Exec::Rayon
            )
            .is_err()
        );
        assert!(
            linear(
                &[1.0; 2],
                1,
                &p,
                &[0.0; 2],
                Act::None,
                &mut out,
                &mut scratch,
                Exec::Rayon
            )
            .is_err()
        );
    }
}
