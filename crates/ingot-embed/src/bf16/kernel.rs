//! The x86_64 kernels: the AVX-512 BF16 register tile, the AMX tiles and the bf16
//! conversion.

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

/// `out[i] = to_bf16(x[i])` over `min(x.len(), out.len())` values, 16 at a time: the
/// same rounding (to nearest, ties to even; NaN kept quiet) as the scalar function.
#[target_feature(enable = "avx512f")]
pub(super) fn convert(x: &[f32], out: &mut [u16]) {
    let n = x.len().min(out.len());
    let mut i = 0;
    let (one, bias, quiet) = (
        _mm512_set1_epi32(1),
        _mm512_set1_epi32(0x7fff),
        _mm512_set1_epi32(0x40),
    );
    while i + 16 <= n {
        // SAFETY: `i + 16 <= n` values are readable in `x` and writable in `out`.
        unsafe {
            let v = _mm512_loadu_ps(x.as_ptr().add(i));
            let b = _mm512_castps_si512(v);
            let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(b), one);
            let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(b, _mm512_add_epi32(bias, odd)));
            let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
            let nan_bits = _mm512_or_si512(_mm512_srli_epi32::<16>(b), quiet);
            let r = _mm512_mask_mov_epi32(rounded, nan, nan_bits);
            _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), _mm512_cvtepi32_epi16(r));
        }
        i += 16;
    }
    for (o, &v) in out[i..n].iter_mut().zip(&x[i..n]) {
        *o = super::to_bf16(v);
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
unsafe fn store_row(sums: &[__m512; 3], bias: &[__m512; 3], act: Act, c: *mut f32, cols: usize) {
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

/// The tile configuration (palette 1): eight tiles of 16 rows by 64 bytes, used as f32
/// sums or as bf16 row and weight operands by [`tile_amx`] and [`tile_amx2`].
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
    for t in 0..8 {
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

/// Two blocks of 16 rows (32) by one panel, of which the first `mr` are stored: each
/// weight tile is loaded once for both blocks. Eight tiles do not hold the six sums of
/// 32 rows by 48 columns with their operands, so columns 0-31 run first (sums in tmm0-3,
/// rows in tmm4-5, weights in tmm6-7), then columns 32-47 (sums in tmm0-1).
///
/// # Safety
/// As for [`tile_amx`], with `a` holding `32 * kp` values.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn tile_amx2(
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
    let mut sums = [[0.0f32; PANEL]; 32];
    let a_stride = kp * 2;
    let b_stride = PANEL * 4;
    let blocks = kp / super::AMX_K;
    let out = sums.as_mut_ptr().cast::<f32>();
    let lower = 16 * PANEL;
    // SAFETY: the caller's contract: the row tiles read 16 rows of `a` from row 0 and from
    // row 16, bytes `kb * 64 .. kb * 64 + 64` of each `2 * kp`-byte row; the weight tiles
    // read 16 pair rows of 192 bytes of `panel` from pair `kb * 16`, at byte offsets 0,
    // 64 and 128; the stores write the 32 rows of `sums` at columns 0, 16 and 32.
    unsafe {
        let a0 = a.as_ptr();
        let a1 = a0.add(16 * kp);
        std::arch::asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            options(nostack, nomem),
        );
        for kb in 0..blocks {
            let bp = panel.as_ptr().add(kb * 16 * 2 * PANEL);
            std::arch::asm!(
                "tileloadd tmm4, [{a0} + {sa} * 1]",
                "tileloadd tmm6, [{b0} + {sb} * 1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm7, [{b1} + {sb} * 1]",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tileloadd tmm5, [{a1} + {sa} * 1]",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                a0 = in(reg) a0.add(kb * super::AMX_K),
                a1 = in(reg) a1.add(kb * super::AMX_K),
                sa = in(reg) a_stride,
                b0 = in(reg) bp,
                b1 = in(reg) bp.add(32),
                sb = in(reg) b_stride,
                options(nostack, readonly),
            );
        }
        std::arch::asm!(
            "tilestored [{c00} + {sc} * 1], tmm0",
            "tilestored [{c01} + {sc} * 1], tmm1",
            "tilestored [{c10} + {sc} * 1], tmm2",
            "tilestored [{c11} + {sc} * 1], tmm3",
            c00 = in(reg) out,
            c01 = in(reg) out.add(16),
            c10 = in(reg) out.add(lower),
            c11 = in(reg) out.add(lower + 16),
            sc = in(reg) PANEL * 4,
            options(nostack),
        );
        if cols > 32 {
            std::arch::asm!("tilezero tmm0", "tilezero tmm1", options(nostack, nomem));
            for kb in 0..blocks {
                let bp = panel.as_ptr().add(kb * 16 * 2 * PANEL);
                std::arch::asm!(
                    "tileloadd tmm4, [{a0} + {sa} * 1]",
                    "tileloadd tmm6, [{b2} + {sb} * 1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tileloadd tmm5, [{a1} + {sa} * 1]",
                    "tdpbf16ps tmm1, tmm5, tmm6",
                    a0 = in(reg) a0.add(kb * super::AMX_K),
                    a1 = in(reg) a1.add(kb * super::AMX_K),
                    sa = in(reg) a_stride,
                    b2 = in(reg) bp.add(64),
                    sb = in(reg) b_stride,
                    options(nostack, readonly),
                );
            }
            std::arch::asm!(
                "tilestored [{c02} + {sc} * 1], tmm0",
                "tilestored [{c12} + {sc} * 1], tmm1",
                c02 = in(reg) out.add(32),
                c12 = in(reg) out.add(lower + 32),
                sc = in(reg) PANEL * 4,
                options(nostack),
            );
        }
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
