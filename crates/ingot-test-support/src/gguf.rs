//! A tiny random-weight llama.cpp multimodal projector (`mmproj` GGUF), so the vision-language
//! path can be tested without downloading a real one: a 2-layer CLIP-style vision encoder and
//! a LLaVA-style MLP projector (`clip.projector_type = "mlp"`) whose output width matches the
//! text model. Paired with any llama-architecture GGUF of that width (SmolLM2-135M: 576), it
//! loads and runs through `mtmd` like a real one; its answers are the text model's guesses.
//!
//! The GGUF v3 layout written here: magic, version, tensor and key counts, the key-value
//! pairs, the tensor infos (name, dims with the fastest-varying first, type, offset), zero
//! padding to 32 bytes, then each tensor's f32 data padded to 32 bytes.

use std::path::Path;

const ALIGN: usize = 32;
const GGUF_U32: u32 = 4;
const GGUF_F32: u32 = 6;
const GGUF_BOOL: u32 = 7;
const GGUF_STRING: u32 = 8;
const GGUF_ARRAY: u32 = 9;
const GGML_F32: u32 = 0;

/// Shape of the projector written by [`write_mlp_projector`].
#[derive(Debug, Clone, Copy)]
pub struct ProjectorShape {
    /// The text model's embedding width (`llama.embedding_length`).
    pub text_embd: u64,
    /// Side of the square image the encoder sees.
    pub image_size: u64,
    /// Side of a patch: the image becomes `(image_size / patch)^2` tokens.
    pub patch: u64,
}

impl ProjectorShape {
    /// Image tokens one image becomes in the prompt.
    pub fn image_tokens(&self) -> u64 {
        (self.image_size / self.patch).pow(2)
    }
}

enum Value {
    U32(u32),
    F32(f32),
    Bool(bool),
    Str(String),
    F32s(Vec<f32>),
}

#[derive(Default)]
struct Writer {
    kvs: Vec<u8>,
    n_kv: u64,
    tensors: Vec<(String, Vec<u64>, Vec<f32>)>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Writer {
    fn kv(&mut self, key: &str, v: Value) {
        put_str(&mut self.kvs, key);
        let out = &mut self.kvs;
        match v {
            Value::U32(x) => {
                out.extend_from_slice(&GGUF_U32.to_le_bytes());
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::F32(x) => {
                out.extend_from_slice(&GGUF_F32.to_le_bytes());
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::Bool(x) => {
                out.extend_from_slice(&GGUF_BOOL.to_le_bytes());
                out.push(u8::from(x));
            }
            Value::Str(x) => {
                out.extend_from_slice(&GGUF_STRING.to_le_bytes());
                put_str(out, &x);
            }
            Value::F32s(xs) => {
                out.extend_from_slice(&GGUF_ARRAY.to_le_bytes());
                out.extend_from_slice(&GGUF_F32.to_le_bytes());
                out.extend_from_slice(&(xs.len() as u64).to_le_bytes());
                for x in xs {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        self.n_kv += 1;
    }

    fn tensor(&mut self, name: &str, ne: &[u64], data: Vec<f32>) {
        assert_eq!(ne.iter().product::<u64>(), data.len() as u64, "{name}");
        self.tensors.push((name.to_owned(), ne.to_vec(), data));
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.n_kv.to_le_bytes());
        out.extend_from_slice(&self.kvs);
        let mut offset = 0usize;
        for (name, ne, data) in &self.tensors {
            put_str(&mut out, name);
            out.extend_from_slice(&(ne.len() as u32).to_le_bytes());
            for d in ne {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&GGML_F32.to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            offset += (data.len() * 4).next_multiple_of(ALIGN);
        }
        out.resize(out.len().next_multiple_of(ALIGN), 0);
        for (_, _, data) in &self.tensors {
            for x in data {
                out.extend_from_slice(&x.to_le_bytes());
            }
            out.resize(out.len().next_multiple_of(ALIGN), 0);
        }
        out
    }
}

/// Deterministic values in `[-scale, scale]` (xorshift).
fn random(n: u64, seed: &mut u64, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            ((*seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Writes a random-weight MLP projector for a text model `shape.text_embd` wide.
pub fn write_mlp_projector(path: &Path, shape: ProjectorShape, seed: u64) {
    let (embd, ff, layers, heads, hidden) = (32u64, 64u64, 2u32, 4u32, 48u64);
    let (size, patch, text) = (shape.image_size, shape.patch, shape.text_embd);
    let n_patches = shape.image_tokens();
    let mut s = seed.max(1);
    let mut w = Writer::default();
    w.kv("general.architecture", Value::Str("clip".into()));
    w.kv("clip.has_vision_encoder", Value::Bool(true));
    w.kv("clip.projector_type", Value::Str("mlp".into()));
    w.kv("clip.use_gelu", Value::Bool(true));
    w.kv("clip.vision.image_size", Value::U32(size as u32));
    w.kv("clip.vision.patch_size", Value::U32(patch as u32));
    w.kv("clip.vision.embedding_length", Value::U32(embd as u32));
    w.kv("clip.vision.feed_forward_length", Value::U32(ff as u32));
    w.kv("clip.vision.block_count", Value::U32(layers));
    w.kv("clip.vision.attention.head_count", Value::U32(heads));
    w.kv("clip.vision.attention.layer_norm_epsilon", Value::F32(1e-6));
    w.kv("clip.vision.projection_dim", Value::U32(text as u32));
    w.kv("clip.vision.image_mean", Value::F32s(vec![0.5; 3]));
    w.kv("clip.vision.image_std", Value::F32s(vec![0.5; 3]));
    let ones = |n: u64| vec![1.0f32; n as usize];
    let zeros = |n: u64| vec![0.0f32; n as usize];
    w.tensor(
        "v.patch_embd.weight",
        &[patch, patch, 3, embd],
        random(patch * patch * 3 * embd, &mut s, 0.05),
    );
    w.tensor("v.patch_embd.bias", &[embd], zeros(embd));
    w.tensor(
        "v.position_embd.weight",
        &[embd, n_patches],
        random(embd * n_patches, &mut s, 0.05),
    );
    w.tensor("v.pre_ln.weight", &[embd], ones(embd));
    w.tensor("v.pre_ln.bias", &[embd], zeros(embd));
    for i in 0..layers {
        let p = format!("v.blk.{i}.");
        for t in ["attn_q", "attn_k", "attn_v", "attn_out"] {
            w.tensor(
                &format!("{p}{t}.weight"),
                &[embd, embd],
                random(embd * embd, &mut s, 0.05),
            );
            w.tensor(&format!("{p}{t}.bias"), &[embd], zeros(embd));
        }
        for t in ["ln1", "ln2"] {
            w.tensor(&format!("{p}{t}.weight"), &[embd], ones(embd));
            w.tensor(&format!("{p}{t}.bias"), &[embd], zeros(embd));
        }
        // ffn_down's first dim differs from the embedding width, so clip.cpp's
        // up/down-swap heuristic leaves the two alone.
        w.tensor(
            &format!("{p}ffn_up.weight"),
            &[embd, ff],
            random(embd * ff, &mut s, 0.05),
        );
        w.tensor(&format!("{p}ffn_up.bias"), &[ff], zeros(ff));
        w.tensor(
            &format!("{p}ffn_down.weight"),
            &[ff, embd],
            random(ff * embd, &mut s, 0.05),
        );
        w.tensor(&format!("{p}ffn_down.bias"), &[embd], zeros(embd));
    }
    w.tensor(
        "mm.0.weight",
        &[embd, hidden],
        random(embd * hidden, &mut s, 0.2),
    );
    w.tensor("mm.0.bias", &[hidden], zeros(hidden));
    w.tensor(
        "mm.2.weight",
        &[hidden, text],
        random(hidden * text, &mut s, 0.02),
    );
    w.tensor("mm.2.bias", &[text], zeros(text));
    std::fs::write(path, w.bytes()).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_aligned_and_sequential() {
        let mut w = Writer::default();
        w.kv("a", Value::U32(7));
        w.tensor("x", &[3], vec![1.0, 2.0, 3.0]);
        w.tensor("y", &[2, 2], vec![4.0; 4]);
        let b = w.bytes();
        assert_eq!(&b[..4], b"GGUF");
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 3);
        assert_eq!(u64::from_le_bytes(b[8..16].try_into().unwrap()), 2);
        assert_eq!(u64::from_le_bytes(b[16..24].try_into().unwrap()), 1);
        // Two data blocks of 32 bytes each after a 32-aligned header.
        assert_eq!(b.len() % ALIGN, 0);
        let data = b.len() - 64;
        assert_eq!(
            f32::from_le_bytes(b[data..data + 4].try_into().unwrap()),
            1.0
        );
        assert_eq!(
            f32::from_le_bytes(b[data + 32..data + 36].try_into().unwrap()),
            4.0
        );
    }
}
