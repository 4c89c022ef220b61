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

use rayon::prelude::*;

use crate::error::EmbedError;

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
    /// `ceil(n / PANEL)` panels of `kp * PANEL` values each; padding columns and rows are 0.
    data: Vec<u16>,
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
        let mut data = vec![0u16; panels * kp * PANEL];
        for (p, panel) in data.chunks_exact_mut(kp * PANEL).enumerate() {
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
        Ok(Self { k, n, kp, data })
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
        from_bf16(self.data[p * self.kp * PANEL + (i / 2) * 2 * PANEL + 2 * c + i % 2])
    }
}

/// Round a dense `[rows, k]` f32 matrix to bf16 rows of even length `kp` (zero-padded).
pub(crate) fn convert_rows(x: &[f32], rows: usize, k: usize, kp: usize, out: &mut Vec<u16>) {
    let out = crate::ops::sized(out, rows * kp);
    let body = |(xr, or): (&[f32], &mut [u16])| {
        for (o, &v) in or.iter_mut().zip(xr) {
            *o = to_bf16(v);
        }
        // The padding column (odd k) must read as zero.
        for o in or.iter_mut().skip(k) {
            *o = 0;
        }
    };
    if rows * k >= 1 << 16 {
        x.par_chunks(k).zip(out.par_chunks_mut(kp)).for_each(body);
    } else {
        x.chunks(k).zip(out.chunks_mut(kp)).for_each(body);
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
pub(crate) fn linear(
    x: &[f32],
    rows: usize,
    w: &PackedBf16,
    b: &[f32],
    act: Act,
    out: &mut Vec<f32>,
    scratch: &mut Vec<u16>,
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
    convert_rows(x, rows, k, kp, scratch);
    let use_amx = kp % AMX_K == 0 && amx();
    if use_amx {
        // Whole 16-row tiles: the rows past `rows` are zeros, computed and never stored.
        scratch.resize(rows.next_multiple_of(AMX_ROWS) * kp, 0);
    }
    let xb: &[u16] = scratch;
    let panels = n.div_ceil(PANEL);
    let chunks = rows.div_ceil(ROW_CHUNK);
    let dst = OutPtr(out.as_mut_ptr());
    (0..chunks * panels).into_par_iter().for_each(|task| {
        let (chunk, p) = (task / panels, task % panels);
        let r0 = chunk * ROW_CHUNK;
        let r1 = (r0 + ROW_CHUNK).min(rows);
        let c0 = p * PANEL;
        let cols = PANEL.min(n - c0);
        let panel = &w.data[p * kp * PANEL..(p + 1) * kp * PANEL];
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
                    let mr = AMX_ROWS.min(r1 - r);
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
mod kernel {
    use std::arch::x86_64::*;

    use super::{Act, MR, PANEL};

    /// One tile of `mr <= MR` rows by one panel.
    ///
    /// # Safety
    /// The CPU has AVX-512F and AVX-512 BF16; `a` holds `mr * kp` values (`kp` even), `panel`
    /// `kp * PANEL`; `c` points at `mr` rows of stride `ldc` with `cols <= PANEL` writable
    /// values each; `bias` holds `PANEL` values.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn tile(
        mr: usize,
        a: &[u16],
        kp: usize,
        panel: &[u16],
        bias: &[f32; PANEL],
        act: Act,
        c: *mut f32,
        ldc: usize,
        cols: usize,
    ) {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            match mr {
                8 => tile_n::<8>(a, kp, panel, bias, act, c, ldc, cols),
                7 => tile_n::<7>(a, kp, panel, bias, act, c, ldc, cols),
                6 => tile_n::<6>(a, kp, panel, bias, act, c, ldc, cols),
                5 => tile_n::<5>(a, kp, panel, bias, act, c, ldc, cols),
                4 => tile_n::<4>(a, kp, panel, bias, act, c, ldc, cols),
                3 => tile_n::<3>(a, kp, panel, bias, act, c, ldc, cols),
                2 => tile_n::<2>(a, kp, panel, bias, act, c, ldc, cols),
                _ => tile_n::<1>(a, kp, panel, bias, act, c, ldc, cols),
            }
        }
    }

    const _: () = assert!(MR == 8 && PANEL == 48);

    #[target_feature(enable = "avx512f,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_n<const R: usize>(
        a: &[u16],
        kp: usize,
        panel: &[u16],
        bias: &[f32; PANEL],
        act: Act,
        c: *mut f32,
        ldc: usize,
        cols: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 3]; R];
        let ap = a.as_ptr();
        let bp = panel.as_ptr();
        for pair in 0..kp / 2 {
            // SAFETY: `pair * 96 + 95 < kp * PANEL`, and row `r`'s pair lies inside `a`.
            unsafe {
                let b = bp.add(pair * 2 * PANEL);
                let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.cast()));
                let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(32).cast()));
                let b2: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(64).cast()));
                for (r, accr) in acc.iter_mut().enumerate() {
                    let x = ap.add(r * kp + 2 * pair).cast::<i32>().read_unaligned();
                    let xv: __m512bh = std::mem::transmute(_mm512_set1_epi32(x));
                    accr[0] = _mm512_dpbf16_ps(accr[0], xv, b0);
                    accr[1] = _mm512_dpbf16_ps(accr[1], xv, b1);
                    accr[2] = _mm512_dpbf16_ps(accr[2], xv, b2);
                }
            }
        }
        let bv = lanes(bias);
        for (r, accr) in acc.iter().enumerate() {
            // SAFETY: row `r < mr` of `c` has `cols` writable values.
            unsafe { store_row(accr, &bv, act, c.add(r * ldc), cols) };
        }
    }

    /// A panel's 48 values as three vectors.
    #[target_feature(enable = "avx512f")]
    fn lanes(v: &[f32; PANEL]) -> [__m512; 3] {
        // SAFETY: `v` holds 48 values.
        unsafe {
            [
                _mm512_loadu_ps(v.as_ptr()),
                _mm512_loadu_ps(v[16..].as_ptr()),
                _mm512_loadu_ps(v[32..].as_ptr()),
            ]
        }
    }

    /// The epilogue of one output row: the sums plus the bias, GELU where asked, stored in
    /// the first `cols` values at `c`.
    ///
    /// # Safety
    /// `c` points at `cols <= PANEL` writable values.
    #[target_feature(enable = "avx512f")]
    unsafe fn store_row(
        sums: &[__m512; 3],
        bias: &[__m512; 3],
        act: Act,
        c: *mut f32,
        cols: usize,
    ) {
        for (v, (&sum, &b)) in sums.iter().zip(bias).enumerate() {
            let lo = v * 16;
            if lo >= cols {
                break;
            }
            let mut y = _mm512_add_ps(sum, b);
            if act == Act::Gelu {
                y = gelu(y);
            }
            let lanes = (cols - lo).min(16);
            let mask: __mmask16 = if lanes == 16 {
                0xffff
            } else {
                (1u16 << lanes) - 1
            };
            // SAFETY: columns `lo..lo + lanes <= cols` are writable.
            unsafe { _mm512_mask_storeu_ps(c.add(lo), mask, y) };
        }
    }

    /// Asks Linux for the AMX tile state (`arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA)`) when
    /// CPUID reports `amx-tile` and `amx-bf16`; true when granted.
    pub(super) fn amx_available() -> bool {
        let leaf7 = __cpuid_count(7, 0);
        let (tile, bf16) = (leaf7.edx & (1 << 24) != 0, leaf7.edx & (1 << 22) != 0);
        tile && bf16 && request_tile_state()
    }

    #[cfg(target_os = "linux")]
    fn request_tile_state() -> bool {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: arch_prctl with these arguments only changes this process's permission to
        // use the AMX register state; it touches no memory of ours.
        let granted = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        granted == 0
    }

    /// Elsewhere the tile path is not used.
    #[cfg(not(target_os = "linux"))]
    fn request_tile_state() -> bool {
        false
    }

    /// The tile configuration (palette 1): tiles 0-2 the three 16-column groups of C (f32),
    /// 3 the A rows, 4-6 the B groups.
    #[repr(C, align(64))]
    struct TileConfig {
        palette: u8,
        start_row: u8,
        reserved: [u8; 14],
        colsb: [u16; 16],
        rows: [u8; 16],
    }

    /// Loads the tile configuration on this thread: 16 rows everywhere.
    ///
    /// # Safety
    /// The CPU has AMX and the process holds the tile state ([`amx_available`]).
    pub(super) unsafe fn amx_begin() {
        let mut cfg = TileConfig {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            colsb: [0; 16],
            rows: [0; 16],
        };
        for t in 0..7 {
            cfg.colsb[t] = 64;
            cfg.rows[t] = 16;
        }
        // SAFETY: the caller's contract; `cfg` is the 64-byte configuration ldtilecfg reads.
        unsafe {
            std::arch::asm!("ldtilecfg [{cfg}]", cfg = in(reg) &raw const cfg, options(nostack));
        }
    }

    /// Releases this thread's tile state.
    ///
    /// # Safety
    /// After [`amx_begin`] on this thread.
    pub(super) unsafe fn amx_end() {
        // SAFETY: the caller's contract.
        unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
    }

    /// One block of 16 rows by one panel on the AMX tile unit, of which the first `mr` are
    /// stored, with the same epilogue as [`tile`].
    ///
    /// # Safety
    /// [`amx_begin`] was called on this thread; `kp` is a multiple of 32; `a` holds `16 * kp`
    /// values, `panel` `kp * PANEL`; `c` as for [`tile`] with `mr` rows.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn tile_amx(
        mr: usize,
        a: &[u16],
        kp: usize,
        panel: &[u16],
        bias: &[f32; PANEL],
        act: Act,
        c: *mut f32,
        ldc: usize,
        cols: usize,
    ) {
        let mut sums = [[0.0f32; PANEL]; 16];
        let a_stride = kp * 2;
        let b_stride = PANEL * 4;
        // SAFETY: the caller's contract: every tile load stays inside `a` (16 rows, bytes
        // `kb * 64 .. kb * 64 + 64` of a `2 * kp`-byte row) and `panel` (16 pair rows of 192
        // bytes from pair `kb * 16`); the stores write the 16 rows of `sums`.
        unsafe {
            std::arch::asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                options(nostack, nomem),
            );
            for kb in 0..kp / super::AMX_K {
                let ap = a.as_ptr().add(kb * super::AMX_K);
                let bp = panel.as_ptr().add(kb * 16 * 2 * PANEL);
                std::arch::asm!(
                    "tileloadd tmm3, [{a} + {sa} * 1]",
                    "tileloadd tmm4, [{b0} + {sb} * 1]",
                    "tileloadd tmm5, [{b1} + {sb} * 1]",
                    "tileloadd tmm6, [{b2} + {sb} * 1]",
                    "tdpbf16ps tmm0, tmm3, tmm4",
                    "tdpbf16ps tmm1, tmm3, tmm5",
                    "tdpbf16ps tmm2, tmm3, tmm6",
                    a = in(reg) ap,
                    sa = in(reg) a_stride,
                    b0 = in(reg) bp,
                    b1 = in(reg) bp.add(32),
                    b2 = in(reg) bp.add(64),
                    sb = in(reg) b_stride,
                    options(nostack, readonly),
                );
            }
            let out = sums.as_mut_ptr().cast::<f32>();
            std::arch::asm!(
                "tilestored [{c0} + {sc} * 1], tmm0",
                "tilestored [{c1} + {sc} * 1], tmm1",
                "tilestored [{c2} + {sc} * 1], tmm2",
                c0 = in(reg) out,
                c1 = in(reg) out.add(16),
                c2 = in(reg) out.add(32),
                sc = in(reg) PANEL * 4,
                options(nostack),
            );
        }
        let bv = lanes(bias);
        for (r, row) in sums.iter().enumerate().take(mr) {
            // SAFETY: row `r < mr` of `c` has `cols` writable values.
            unsafe { store_row(&lanes(row), &bv, act, c.add(r * ldc), cols) };
        }
    }

    /// Exact GELU, `0.5 x (1 + erf(x / sqrt 2))`, with the same rational `erf` as
    /// `ops::erf`.
    #[target_feature(enable = "avx512f")]
    fn gelu(x: __m512) -> __m512 {
        let s = _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
        let s = _mm512_min_ps(_mm512_max_ps(s, _mm512_set1_ps(-4.0)), _mm512_set1_ps(4.0));
        let x2 = _mm512_mul_ps(s, s);
        let f = |acc: __m512, c: f32| _mm512_fmadd_ps(acc, x2, _mm512_set1_ps(c));
        let mut p = _mm512_set1_ps(-2.726_142_3e-10);
        p = f(p, 2.770_681_4e-8);
        p = f(p, -2.101_024e-6);
        p = f(p, -5.692_506_4e-5);
        p = f(p, -7.349_906_3e-4);
        p = f(p, -2.954_6e-3);
        p = f(p, -1.609_603_3e-2);
        p = _mm512_mul_ps(p, s);
        let mut q = _mm512_set1_ps(-1.456_607_2e-5);
        q = f(q, -2.133_740_6e-4);
        q = f(q, -1.682_827e-3);
        q = f(q, -7.373_329e-3);
        q = f(q, -1.426_473_9e-2);
        let erf = _mm512_div_ps(p, q);
        let half_x = _mm512_mul_ps(x, _mm512_set1_ps(0.5));
        _mm512_fmadd_ps(half_x, erf, half_x)
    }
}

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

    /// Never called: `amx()` is false off x86_64.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn tile_amx(
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
    use crate::ops;

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
        // Odd k (padding row), n not a multiple of 16 or 48, rows across tiles and chunks.
        eprintln!("AMX tiles: {}", amx());
        for (rows, k, n, act) in [
            (1, 7, 5, Act::None),
            (9, 33, 50, Act::Gelu),
            (70, 64, 96, Act::None),
            (131, 48, 100, Act::Gelu),
            // k a multiple of 32: the AMX blocks where the CPU has them, partial ones too
            (5, 32, 50, Act::Gelu),
            (40, 96, 48, Act::Gelu),
        ] {
            let x = rand_vec(rows * k, &mut s, 1.0);
            let w = rand_vec(k * n, &mut s, 0.5);
            let b = rand_vec(n, &mut s, 0.2);
            let p = PackedBf16::pack(&w, k, n).unwrap();
            let mut out = vec![f32::NAN; 3];
            linear(&x, rows, &p, &b, act, &mut out, &mut scratch).unwrap();
            let want = reference(&x, &w, &b, rows, k, n, act);
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
                &mut scratch
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
                &mut scratch
            )
            .is_err()
        );
    }
}
