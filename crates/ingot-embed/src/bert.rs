//! The BERT encoder shared by both models (MiniLM is BERT; multilingual-e5 is XLM-R, which is
//! BERT with another vocabulary and position table), run on packed sequences.
//!
//! A batch is laid out *packed*: the tokens of every sequence are concatenated into one
//! `[T, H]` activation matrix, so the token-wise layers (QKV, output, FFN) run one matrix
//! multiply over the whole batch with no padding at all, and attention runs per sequence over
//! that sequence's own tokens only. This is exactly what an attention mask computes for a padded
//! batch, minus the wasted work on pad positions.

use rayon::prelude::*;

use crate::bf16::{self, Act, PackedBf16};
use crate::error::EmbedError;
use crate::ops::{self, Gemm, Par, Strided, sized};

/// Shape hyper-parameters of a BERT encoder.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BertConfig {
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    /// Rows of the position table: the longest sequence (special tokens included).
    pub max_positions: usize,
    pub layer_norm_eps: f32,
}

/// The token-embedding table: plain f32, or ggml Q4_0 blocks dequantised one row at a time
/// (e5's table is 250k x 384: 54 MB as Q4_0, 384 MB as f32).
pub(crate) enum WordEmbeddings {
    F32(Vec<f32>),
    Q4(Vec<u8>),
}

impl WordEmbeddings {
    fn vocab(&self, hidden: usize) -> usize {
        match self {
            Self::F32(d) => d.len() / hidden.max(1),
            Self::Q4(b) => b.len() / (hidden.max(1) / ops::Q4_BLOCK * ops::Q4_BLOCK_BYTES).max(1),
        }
    }

    /// Write row `id` into `out` (`out.len() == hidden`).
    fn row(&self, id: usize, out: &mut [f32]) -> Result<(), EmbedError> {
        let h = out.len();
        match self {
            Self::F32(d) => {
                let src = d
                    .get(id * h..(id + 1) * h)
                    .ok_or_else(|| EmbedError::Internal(format!("token id {id} out of range")))?;
                out.copy_from_slice(src);
                Ok(())
            }
            Self::Q4(b) => {
                let rb = h / ops::Q4_BLOCK * ops::Q4_BLOCK_BYTES;
                let src = b
                    .get(id * rb..(id + 1) * rb)
                    .ok_or_else(|| EmbedError::Internal(format!("token id {id} out of range")))?;
                ops::dequant_q4_0(src, out)
            }
        }
    }
}

/// A linear layer's weight: f32 `[k, n]` row-major for the `gemm` path, or packed bf16.
pub(crate) enum Weights {
    F32(Vec<f32>),
    Bf16(PackedBf16),
}

/// `y = x · W + b` with `W` stored `[k, n]` (transposed from PyTorch's `[out, in]`).
pub(crate) struct Linear {
    pub w: Weights,
    pub b: Vec<f32>,
    pub k: usize,
    pub n: usize,
}

impl Linear {
    pub fn new(w: Vec<f32>, b: Vec<f32>, k: usize) -> Self {
        let n = b.len();
        Self {
            w: Weights::F32(w),
            b,
            k,
            n,
        }
    }

    fn check(&self, what: &str, k: usize, n: usize) -> Result<(), EmbedError> {
        let wlen = match &self.w {
            Weights::F32(w) => w.len(),
            Weights::Bf16(p) => p.k() * p.n(),
        };
        if self.k != k || self.n != n || wlen != k * n || self.b.len() != n {
            return Err(EmbedError::load(format!(
                "{what}: weight {wlen} values and bias {} for [{}x{}], expected [{k}x{n}]",
                self.b.len(),
                self.k,
                self.n
            )));
        }
        Ok(())
    }

    /// Round the weight to bf16 and pack it for the AVX-512 BF16 kernel.
    fn pack_bf16(&mut self) -> Result<(), EmbedError> {
        if let Weights::F32(w) = &self.w {
            self.w = Weights::Bf16(PackedBf16::pack(w, self.k, self.n)?);
        }
        Ok(())
    }

    fn forward(
        &self,
        x: &[f32],
        rows: usize,
        act: Act,
        out: &mut Vec<f32>,
        scratch: &mut Vec<u16>,
    ) -> Result<(), EmbedError> {
        match &self.w {
            Weights::Bf16(p) => bf16::linear(x, rows, p, &self.b, act, out, scratch),
            Weights::F32(w) => {
                ops::linear(x, rows, w, &self.b, self.k, self.n, out)?;
                if act == Act::Gelu {
                    ops::gelu_inplace(out);
                }
                Ok(())
            }
        }
    }
}

/// One encoder layer; Q, K and V are fused into one `[H, 3H]` projection.
pub(crate) struct Layer {
    pub qkv: Linear,
    pub attn_out: Linear,
    pub ln1_w: Vec<f32>,
    pub ln1_b: Vec<f32>,
    pub ffn_up: Linear,
    pub ffn_down: Linear,
    pub ln2_w: Vec<f32>,
    pub ln2_b: Vec<f32>,
}

/// Transpose PyTorch `[out, in]` matrices and concatenate them along the output axis into one
/// `[in, sum(out)]` row-major matrix.
pub(crate) fn fuse_transposed(parts: &[&[f32]], k: usize) -> Result<Vec<f32>, EmbedError> {
    let mut ns = Vec::with_capacity(parts.len());
    for p in parts {
        if k == 0 || p.len() % k != 0 {
            return Err(EmbedError::load("linear weight shape mismatch"));
        }
        ns.push(p.len() / k);
    }
    let n_total: usize = ns.iter().sum();
    let mut out = vec![0.0; k * n_total];
    let mut col0 = 0;
    for (p, &n) in parts.iter().zip(&ns) {
        for j in 0..n {
            for i in 0..k {
                out[i * n_total + col0 + j] = p[j * k + i];
            }
        }
        col0 += n;
    }
    Ok(out)
}

/// The activation buffers of one forward, kept between calls so that a batch reuses the
/// memory of the last one instead of allocating (and page-faulting) it again.
#[derive(Default)]
pub(crate) struct Scratch {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    mid: Vec<f32>,
    bf16: Vec<u16>,
}

/// A loaded BERT encoder with mean pooling and L2 normalisation.
pub(crate) struct Bert {
    pub cfg: BertConfig,
    pub word: WordEmbeddings,
    /// `[max_positions, H]`.
    pub pos: Vec<f32>,
    /// Token-type row 0 (single-segment input), `[H]`.
    pub token_type: Vec<f32>,
    pub emb_ln_w: Vec<f32>,
    pub emb_ln_b: Vec<f32>,
    pub layers: Vec<Layer>,
}

impl Bert {
    pub fn vocab_size(&self) -> usize {
        self.word.vocab(self.cfg.hidden)
    }

    /// Switch the linear layers to the bf16 kernel where this CPU has AVX-512 BF16 (the f32
    /// weights are dropped). Returns whether it did.
    pub fn use_bf16(&mut self) -> Result<bool, EmbedError> {
        if !bf16::supported() {
            return Ok(false);
        }
        for l in &mut self.layers {
            for lin in [&mut l.qkv, &mut l.attn_out, &mut l.ffn_up, &mut l.ffn_down] {
                lin.pack_bf16()?;
            }
        }
        Ok(true)
    }

    /// Check every tensor's size against the config, so `embed` can index without surprises.
    pub fn validate(&self) -> Result<(), EmbedError> {
        let c = &self.cfg;
        let (h, f) = (c.hidden, c.intermediate);
        if h == 0 || c.heads == 0 || h % c.heads != 0 {
            return Err(EmbedError::load(format!(
                "hidden {h} not divisible by heads {}",
                c.heads
            )));
        }
        let bad = |what: &str, got: usize, want: usize| {
            EmbedError::load(format!("tensor {what}: {got} values, expected {want}"))
        };
        let check = |what: &str, v: &[f32], want: usize| {
            if v.len() == want {
                Ok(())
            } else {
                Err(bad(what, v.len(), want))
            }
        };
        check("position embeddings", &self.pos, c.max_positions * h)?;
        check("token type", &self.token_type, h)?;
        check("embeddings LayerNorm weight", &self.emb_ln_w, h)?;
        check("embeddings LayerNorm bias", &self.emb_ln_b, h)?;
        if matches!(self.word, WordEmbeddings::Q4(_)) && !h.is_multiple_of(ops::Q4_BLOCK) {
            return Err(EmbedError::load("Q4_0 rows must be a multiple of 32 wide"));
        }
        if self.vocab_size() == 0 {
            return Err(EmbedError::load("empty word embeddings"));
        }
        for (i, l) in self.layers.iter().enumerate() {
            let name = |s: &str| format!("layer {i} {s}");
            l.qkv.check(&name("qkv"), h, 3 * h)?;
            l.attn_out.check(&name("attention output"), h, h)?;
            check(&name("attention LayerNorm weight"), &l.ln1_w, h)?;
            check(&name("attention LayerNorm bias"), &l.ln1_b, h)?;
            l.ffn_up.check(&name("intermediate"), h, f)?;
            l.ffn_down.check(&name("output"), f, h)?;
            check(&name("output LayerNorm weight"), &l.ln2_w, h)?;
            check(&name("output LayerNorm bias"), &l.ln2_b, h)?;
        }
        Ok(())
    }

    /// Mean-pooled, L2-normalised embedding of each token sequence (special tokens included,
    /// every sequence non-empty and at most `max_positions` long, ids inside the vocabulary).
    #[cfg(test)]
    pub fn embed(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_with(seqs, &mut Scratch::default())
    }

    /// [`Bert::embed`] with the activation buffers of `s`.
    pub fn embed_with(
        &self,
        seqs: &[&[u32]],
        s: &mut Scratch,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let h = self.cfg.hidden;
        let vocab = self.vocab_size();
        let mut offsets = Vec::with_capacity(seqs.len() + 1);
        offsets.push(0usize);
        for s in seqs {
            if s.is_empty() || s.len() > self.cfg.max_positions {
                return Err(EmbedError::Internal(format!(
                    "bad sequence length {}",
                    s.len()
                )));
            }
            if let Some(&bad) = s.iter().find(|&&t| t as usize >= vocab) {
                return Err(EmbedError::Internal(format!("token id {bad} out of range")));
            }
            offsets.push(offsets[offsets.len() - 1] + s.len());
        }
        let t_total = offsets[offsets.len() - 1];
        if t_total == 0 {
            return Ok(Vec::new());
        }

        // Embeddings: word + position + token type 0, then LayerNorm.
        let Scratch {
            x,
            qkv,
            ctx,
            tmp,
            mid,
            bf16: scratch,
        } = s;
        let x = sized(x, t_total * h);
        let rows: Vec<(usize, u32)> = seqs
            .iter()
            .flat_map(|s| s.iter().enumerate().map(|(p, &id)| (p, id)))
            .collect();
        x.par_chunks_mut(h)
            .zip(rows.par_iter())
            .try_for_each(|(row, &(p, id))| {
                self.word.row(id as usize, row)?;
                let pe = &self.pos[p * h..(p + 1) * h];
                for ((v, &a), &b) in row.iter_mut().zip(pe).zip(&self.token_type) {
                    *v += a + b;
                }
                Ok::<(), EmbedError>(())
            })?;
        ops::add_layer_norm(
            x,
            None,
            &self.emb_ln_w,
            &self.emb_ln_b,
            self.cfg.layer_norm_eps,
        );

        let ctx = sized(ctx, t_total * h);
        let eps = self.cfg.layer_norm_eps;
        for l in &self.layers {
            l.qkv.forward(x, t_total, Act::None, qkv, scratch)?;
            self.attention(qkv, &offsets, ctx)?;
            l.attn_out.forward(ctx, t_total, Act::None, tmp, scratch)?;
            ops::add_layer_norm(x, Some(tmp), &l.ln1_w, &l.ln1_b, eps);
            l.ffn_up.forward(x, t_total, Act::Gelu, mid, scratch)?;
            l.ffn_down.forward(mid, t_total, Act::None, tmp, scratch)?;
            ops::add_layer_norm(x, Some(tmp), &l.ln2_w, &l.ln2_b, eps);
        }

        // Mean pooling over each sequence's tokens, then L2 normalisation.
        Ok(offsets
            .windows(2)
            .map(|w| {
                let mut v = vec![0.0f32; h];
                for row in x[w[0] * h..w[1] * h].chunks_exact(h) {
                    for (a, &b) in v.iter_mut().zip(row) {
                        *a += b;
                    }
                }
                let inv_len = 1.0 / (w[1] - w[0]) as f32;
                v.iter_mut().for_each(|a| *a *= inv_len);
                l2_normalize(&mut v);
                v
            })
            .collect())
    }

    /// Scaled dot-product attention of each sequence over its own tokens; `qkv` is `[T, 3H]`,
    /// `ctx` receives `[T, H]`.
    fn attention(&self, qkv: &[f32], offsets: &[usize], ctx: &mut [f32]) -> Result<(), EmbedError> {
        let h = self.cfg.hidden;
        let nh = self.cfg.heads;
        let hd = h / nh;
        let scale = 1.0 / (hd as f32).sqrt();
        // Split `ctx` into one mutable chunk per sequence.
        let mut chunks = Vec::with_capacity(offsets.len().saturating_sub(1));
        let mut rest = ctx;
        for w in offsets.windows(2) {
            let (a, b) = rest.split_at_mut((w[1] - w[0]) * h);
            chunks.push((w[0], w[1] - w[0], a));
            rest = b;
        }
        // One sequence: let each matmul use the pool. Several: one sequence per task.
        let par = if chunks.len() == 1 {
            Par::Pool
        } else {
            Par::Serial
        };
        let one = |(start, len, out): (usize, usize, &mut [f32])| -> Result<(), EmbedError> {
            let mut scores = vec![0.0f32; len * len];
            let base = start * 3 * h;
            for head in 0..nh {
                let q = Strided {
                    offset: base + head * hd,
                    rows: len,
                    cols: hd,
                    rs: 3 * h,
                    cs: 1,
                };
                // K^T: element (d, j) = K[j, d].
                let kt = Strided {
                    offset: base + h + head * hd,
                    rows: hd,
                    cols: len,
                    rs: 1,
                    cs: 3 * h,
                };
                let sc = Strided::row_major(0, len, len);
                let how = Gemm {
                    scale,
                    accumulate: false,
                    par,
                };
                ops::matmul(&mut scores, sc, qkv, q, qkv, kt, how)?;
                ops::softmax_rows(&mut scores, len);
                let v = Strided {
                    offset: base + 2 * h + head * hd,
                    rows: len,
                    cols: hd,
                    rs: 3 * h,
                    cs: 1,
                };
                let o = Strided {
                    offset: head * hd,
                    rows: len,
                    cols: hd,
                    rs: h,
                    cs: 1,
                };
                ops::matmul(out, o, &scores, sc, qkv, v, Gemm { scale: 1.0, ..how })?;
            }
            Ok(())
        };
        if chunks.len() == 1 {
            chunks.into_iter().try_for_each(one)
        } else {
            chunks.into_par_iter().try_for_each(one)
        }
    }
}

/// Scale `v` to unit L2 norm (a zero vector stays zero).
pub(crate) fn l2_normalize(v: &mut [f32]) {
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|a| *a /= n);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deterministic pseudo-random values in [-scale, scale] (xorshift).
    pub(crate) fn rand_vec(n: usize, seed: &mut u64, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                ((*seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    /// A tiny random-weight BERT: 2 layers, H=32, 4 heads, FF=64, vocab 50, 16 positions.
    pub(crate) fn tiny_bert(seed: u64, q4_words: bool) -> Bert {
        let mut s = seed.max(1);
        let cfg = BertConfig {
            hidden: 32,
            heads: 4,
            intermediate: 64,
            max_positions: 16,
            layer_norm_eps: 1e-12,
        };
        let (h, f, vocab) = (cfg.hidden, cfg.intermediate, 50);
        let word = if q4_words {
            // Random Q4_0 blocks with scale 0.05 (fp16 0x2a66).
            let mut b = Vec::new();
            let nib = rand_vec(vocab * h / 2, &mut s, 1.0);
            for (i, v) in nib.iter().enumerate() {
                if i % 16 == 0 {
                    b.extend_from_slice(&0x2a66u16.to_le_bytes());
                }
                b.push(((v.abs() * 255.0) as u8).max(1));
            }
            WordEmbeddings::Q4(b)
        } else {
            WordEmbeddings::F32(rand_vec(vocab * h, &mut s, 1.0))
        };
        let layer = |s: &mut u64| {
            let qkv = Linear::new(rand_vec(h * 3 * h, s, 0.3), rand_vec(3 * h, s, 0.1), h);
            let attn_out = Linear::new(rand_vec(h * h, s, 0.3), rand_vec(h, s, 0.1), h);
            let ln1_w = rand_vec(h, s, 0.2).iter().map(|v| 1.0 + v).collect();
            let ln1_b = rand_vec(h, s, 0.1);
            let ffn_up = Linear::new(rand_vec(h * f, s, 0.3), rand_vec(f, s, 0.1), h);
            let ffn_down = Linear::new(rand_vec(f * h, s, 0.3), rand_vec(h, s, 0.1), f);
            Layer {
                qkv,
                attn_out,
                ln1_w,
                ln1_b,
                ffn_up,
                ffn_down,
                ln2_w: rand_vec(h, s, 0.2).iter().map(|v| 1.0 + v).collect(),
                ln2_b: rand_vec(h, s, 0.1),
            }
        };
        let layers = vec![layer(&mut s), layer(&mut s)];
        Bert {
            word,
            pos: rand_vec(cfg.max_positions * h, &mut s, 0.5),
            token_type: rand_vec(h, &mut s, 0.5),
            emb_ln_w: vec![1.0; h],
            emb_ln_b: vec![0.0; h],
            layers,
            cfg,
        }
    }

    fn w32(l: &Linear) -> &[f32] {
        match &l.w {
            Weights::F32(w) => w,
            Weights::Bf16(_) => panic!("reference needs f32 weights"),
        }
    }

    /// Straightforward padded-batch reference: per sequence, per head, explicit loops.
    fn reference(m: &Bert, seq: &[u32]) -> Vec<f32> {
        let c = &m.cfg;
        let (h, f, nh) = (c.hidden, c.intermediate, c.heads);
        let hd = h / nh;
        let l = seq.len();
        let mut x = vec![0.0; l * h];
        for (p, &id) in seq.iter().enumerate() {
            m.word.row(id as usize, &mut x[p * h..(p + 1) * h]).unwrap();
            for i in 0..h {
                x[p * h + i] += m.pos[p * h + i] + m.token_type[i];
            }
        }
        ops::add_layer_norm(&mut x, None, &m.emb_ln_w, &m.emb_ln_b, c.layer_norm_eps);
        let lin = |inp: &[f32], w: &[f32], b: &[f32], k: usize, n: usize| {
            let mut o = vec![0.0; l * n];
            for t in 0..l {
                for j in 0..n {
                    o[t * n + j] =
                        b[j] + (0..k).map(|i| inp[t * k + i] * w[i * n + j]).sum::<f32>();
                }
            }
            o
        };
        for ly in &m.layers {
            let qkv = lin(&x, w32(&ly.qkv), &ly.qkv.b, h, 3 * h);
            let mut ctx = vec![0.0; l * h];
            for hh in 0..nh {
                for t in 0..l {
                    let mut sc: Vec<f32> = (0..l)
                        .map(|u| {
                            (0..hd)
                                .map(|d| {
                                    qkv[t * 3 * h + hh * hd + d] * qkv[u * 3 * h + h + hh * hd + d]
                                })
                                .sum::<f32>()
                                / (hd as f32).sqrt()
                        })
                        .collect();
                    ops::softmax_rows(&mut sc, l);
                    for d in 0..hd {
                        ctx[t * h + hh * hd + d] = (0..l)
                            .map(|u| sc[u] * qkv[u * 3 * h + 2 * h + hh * hd + d])
                            .sum();
                    }
                }
            }
            let a = lin(&ctx, w32(&ly.attn_out), &ly.attn_out.b, h, h);
            ops::add_layer_norm(&mut x, Some(&a), &ly.ln1_w, &ly.ln1_b, c.layer_norm_eps);
            let mut mid = lin(&x, w32(&ly.ffn_up), &ly.ffn_up.b, h, f);
            for v in &mut mid {
                *v = 0.5 * *v * (1.0 + ops::erf(*v / 2f32.sqrt()));
            }
            let o = lin(&mid, w32(&ly.ffn_down), &ly.ffn_down.b, f, h);
            ops::add_layer_norm(&mut x, Some(&o), &ly.ln2_w, &ly.ln2_b, c.layer_norm_eps);
        }
        let mut v = vec![0.0; h];
        for t in 0..l {
            for i in 0..h {
                v[i] += x[t * h + i] / l as f32;
            }
        }
        l2_normalize(&mut v);
        v
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn tiny_model_validates_and_has_unit_vectors_of_hidden_size() {
        for q4 in [false, true] {
            let m = tiny_bert(7, q4);
            m.validate().unwrap();
            let out = m.embed(&[&[1, 5, 9, 2], &[1, 2]]).unwrap();
            assert_eq!(out.len(), 2);
            for v in &out {
                assert_eq!(v.len(), 32);
                let n: f32 = v.iter().map(|a| a * a).sum();
                assert!((n - 1.0).abs() < 1e-5);
            }
            assert!(
                max_diff(&out[0], &out[1]) > 1e-3,
                "different inputs, different vectors"
            );
        }
    }

    #[test]
    fn packed_forward_matches_naive_reference() {
        let m = tiny_bert(11, false);
        let seqs: Vec<Vec<u32>> = vec![
            vec![1, 7, 8, 9, 2],
            vec![1, 3, 2],
            vec![1, 40, 41, 42, 43, 44, 45, 2],
        ];
        let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
        let got = m.embed(&refs).unwrap();
        for (s, g) in seqs.iter().zip(&got) {
            let want = reference(&m, s);
            assert!(
                max_diff(g, &want) < 1e-4,
                "packed vs reference: {}",
                max_diff(g, &want)
            );
        }
    }

    #[test]
    fn bf16_forward_tracks_the_f32_forward() {
        let seqs: [&[u32]; 3] = [
            &[1, 7, 8, 9, 2],
            &[1, 3, 2],
            &[1, 40, 41, 42, 43, 44, 45, 2],
        ];
        let f32_model = tiny_bert(13, false);
        let want = f32_model.embed(&seqs).unwrap();
        let mut m = tiny_bert(13, false);
        if !m.use_bf16().unwrap() {
            eprintln!("skipped: this CPU has no AVX-512 BF16");
            return;
        }
        assert!(
            m.layers
                .iter()
                .all(|l| matches!(l.ffn_down.w, Weights::Bf16(_)))
        );
        m.validate().unwrap();
        let got = m.embed(&seqs).unwrap();
        for (g, w) in got.iter().zip(&want) {
            let cos: f32 = g.iter().zip(w).map(|(a, b)| a * b).sum();
            assert!(cos > 0.9999, "cosine {cos}");
            assert!(max_diff(g, w) > 0.0, "bf16 path really ran");
        }
    }

    #[test]
    fn reused_buffers_give_the_same_vectors_as_fresh_ones() {
        for bf16 in [false, true] {
            let mut m = tiny_bert(19, false);
            if bf16 && !m.use_bf16().unwrap() {
                continue;
            }
            let big: [&[u32]; 3] = [&[1, 2, 3, 4, 5, 6, 7, 8], &[1, 9, 2], &[1, 20, 21, 22, 2]];
            let small: [&[u32]; 1] = [&[1, 30, 2]];
            let mut scratch = Scratch::default();
            // Large batch first, so the small one runs on longer, dirty buffers.
            m.embed_with(&big, &mut scratch).unwrap();
            let reused = m.embed_with(&small, &mut scratch).unwrap();
            assert_eq!(reused, m.embed(&small).unwrap());
            let again = m.embed_with(&big, &mut scratch).unwrap();
            assert_eq!(again, m.embed(&big).unwrap());
        }
    }

    #[test]
    fn batch_neighbours_do_not_change_a_vector() {
        // The packed layout's equivalent of "padding must not change a sentence's vector": a
        // short sentence batched with longer ones (which would pad it to their length in a
        // padded layout) gets the same vector as alone.
        let m = tiny_bert(3, true);
        let short: &[u32] = &[1, 4, 2];
        let alone = m.embed(&[short]).unwrap().remove(0);
        let long1: &[u32] = &[1, 5, 6, 7, 8, 9, 10, 11, 12, 2];
        let long2: &[u32] = &[1, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 2];
        let batched = m.embed(&[long1, short, long2]).unwrap();
        assert!(max_diff(&alone, &batched[1]) < 1e-5);
        let long2_alone = m.embed(&[long2]).unwrap().remove(0);
        assert!(max_diff(&long2_alone, &batched[2]) < 1e-5);
    }

    #[test]
    fn rejects_bad_sequences_and_shapes() {
        let m = tiny_bert(5, false);
        assert!(m.embed(&[&[]]).is_err());
        assert!(m.embed(&[&[1, 999]]).is_err());
        assert!(m.embed(&[&[1; 17]]).is_err());
        assert!(m.embed(&[&[1; 16]]).is_ok());
        let mut broken = tiny_bert(5, false);
        broken.layers[1].ffn_down.b.pop();
        assert!(broken.validate().is_err());
    }

    #[test]
    fn fuse_transposed_lays_out_in_by_out() {
        // Two [out=2, in=3] matrices -> [3, 4].
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
        let f = fuse_transposed(&[&a, &b], 3).unwrap();
        assert_eq!(
            f,
            vec![
                1.0, 4.0, 7.0, 10.0, 2.0, 5.0, 8.0, 11.0, 3.0, 6.0, 9.0, 12.0
            ]
        );
    }
}
