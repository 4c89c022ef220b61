//! The BERT encoder shared by both models (MiniLM is BERT; multilingual-e5 is XLM-R, which is
//! BERT with another vocabulary and position table), run on packed sequences.
//!
//! A batch is laid out *packed*: the tokens of every sequence are concatenated into one
//! `[T, H]` activation matrix, so the token-wise layers (QKV, output, FFN) run one matrix
//! multiply over the whole batch with no padding at all, and attention runs per sequence over
//! that sequence's own tokens only. This is exactly what an attention mask computes for a padded
//! batch, minus the wasted work on pad positions.

use crate::bf16::{self, Act, PackedBf16};
use crate::error::EmbedError;
use crate::ops::{self, Gemm, Par, Strided, sized};
use crate::team::{self, Exec};

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
        exec: Exec<'_>,
    ) -> Result<(), EmbedError> {
        match &self.w {
            Weights::Bf16(p) => bf16::linear(x, rows, p, &self.b, act, out, scratch, exec),
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
        if self.is_bf16() {
            team::with_team(|t| self.forward(seqs, &offsets, s, Exec::Team(t)))
        } else {
            self.forward(seqs, &offsets, s, Exec::Rayon)
        }
    }

    /// Whether the linear layers run on the bf16 kernel (which runs in a [`team::Team`]; the
    /// f32 path parallelises inside `gemm` over rayon).
    fn is_bf16(&self) -> bool {
        self.layers
            .first()
            .is_some_and(|l| matches!(l.qkv.w, Weights::Bf16(_)))
    }

    /// The encoder over validated, non-empty `seqs` packed at `offsets`, then pooling.
    fn forward(
        &self,
        seqs: &[&[u32]],
        offsets: &[usize],
        s: &mut Scratch,
        exec: Exec<'_>,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let h = self.cfg.hidden;
        let t_total = offsets[offsets.len() - 1];
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
        const ROWS: usize = 16;
        let parts: Vec<_> = x.chunks_mut(ROWS * h).zip(rows.chunks(ROWS)).collect();
        exec.try_each_mut(parts, |_, (xs, ids)| {
            for (row, &(p, id)) in xs.chunks_mut(h).zip(ids) {
                self.word.row(id as usize, row)?;
                let pe = &self.pos[p * h..(p + 1) * h];
                for ((v, &a), &b) in row.iter_mut().zip(pe).zip(&self.token_type) {
                    *v += a + b;
                }
            }
            Ok::<(), EmbedError>(())
        })?;
        ops::add_layer_norm(
            x,
            None,
            &self.emb_ln_w,
            &self.emb_ln_b,
            self.cfg.layer_norm_eps,
            exec,
        );

        let ctx = sized(ctx, t_total * h);
        let eps = self.cfg.layer_norm_eps;
        for l in &self.layers {
            l.qkv.forward(x, t_total, Act::None, qkv, scratch, exec)?;
            self.attention(qkv, offsets, ctx, exec)?;
            l.attn_out
                .forward(ctx, t_total, Act::None, tmp, scratch, exec)?;
            ops::add_layer_norm(x, Some(tmp), &l.ln1_w, &l.ln1_b, eps, exec);
            l.ffn_up
                .forward(x, t_total, Act::Gelu, mid, scratch, exec)?;
            l.ffn_down
                .forward(mid, t_total, Act::None, tmp, scratch, exec)?;
            ops::add_layer_norm(x, Some(tmp), &l.ln2_w, &l.ln2_b, eps, exec);
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
    fn attention(
        &self,
        qkv: &[f32],
        offsets: &[usize],
        ctx: &mut [f32],
        exec: Exec<'_>,
    ) -> Result<(), EmbedError> {
        let h = self.cfg.hidden;
        let nh = self.cfg.heads;
        let hd = h / nh;
        // Split `ctx` into one mutable chunk per sequence.
        let mut chunks = Vec::with_capacity(offsets.len().saturating_sub(1));
        let mut rest = ctx;
        for w in offsets.windows(2) {
            let (a, b) = rest.split_at_mut((w[1] - w[0]) * h);
            chunks.push((w[0], w[1] - w[0], a));
            rest = b;
        }
        match (chunks.len(), exec) {
            // One sequence in a team: a task per head, each into its own `[len, hd]` block,
            // copied into `ctx` after.
            (1, Exec::Team(_)) => {
                let Some((start, len, out)) = chunks.pop() else {
                    return Ok(());
                };
                let mut blocks = vec![0.0f32; nh * len * hd];
                let parts: Vec<&mut [f32]> = blocks.chunks_mut(len * hd).collect();
                exec.try_each_mut(parts, |head, block| {
                    let o = Strided::row_major(0, len, hd);
                    let mut scores = Vec::new();
                    self.head(
                        qkv,
                        (start, len),
                        head,
                        (block, o),
                        &mut scores,
                        Par::Serial,
                    )
                })?;
                for (head, block) in blocks.chunks(len * hd).enumerate() {
                    for (row, src) in out.chunks_mut(h).zip(block.chunks(hd)) {
                        row[head * hd..(head + 1) * hd].copy_from_slice(src);
                    }
                }
                Ok(())
            }
            // One sequence on rayon: each matmul uses the pool. Several: a task per sequence.
            (n, _) => {
                let par = if n == 1 { Par::Pool } else { Par::Serial };
                exec.try_each_mut(chunks, |_, (start, len, out)| {
                    // One scores buffer for all the sequence's heads.
                    let mut scores = Vec::new();
                    (0..nh).try_for_each(|head| {
                        let o = Strided {
                            offset: head * hd,
                            rows: len,
                            cols: hd,
                            rs: h,
                            cs: 1,
                        };
                        self.head(qkv, (start, len), head, (&mut *out, o), &mut scores, par)
                    })
                })
            }
        }
    }

    /// One head of the sequence at (first token, length) of `qkv`:
    /// `softmax(Q Kᵀ / sqrt(hd)) V` into the view `o` of `dst`, with `scores` as scratch.
    fn head(
        &self,
        qkv: &[f32],
        (start, len): (usize, usize),
        head: usize,
        (dst, o): (&mut [f32], Strided),
        scores: &mut Vec<f32>,
        par: Par,
    ) -> Result<(), EmbedError> {
        let h = self.cfg.hidden;
        let hd = h / self.cfg.heads;
        let base = start * 3 * h;
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
        let v = Strided {
            offset: base + 2 * h + head * hd,
            rows: len,
            cols: hd,
            rs: 3 * h,
            cs: 1,
        };
        let scores = sized(scores, len * len);
        let sc = Strided::row_major(0, len, len);
        let how = Gemm {
            scale: 1.0 / (hd as f32).sqrt(),
            accumulate: false,
            par,
        };
        ops::matmul(scores, sc, qkv, q, qkv, kt, how)?;
        ops::softmax_rows(scores, len);
        ops::matmul(dst, o, scores, sc, qkv, v, Gemm { scale: 1.0, ..how })
    }
}

/// Scale `v` to unit L2 norm (a zero vector stays zero).
pub(crate) fn l2_normalize(v: &mut [f32]) {
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|a| *a /= n);
}

#[cfg(test)]
pub(crate) mod tests;
