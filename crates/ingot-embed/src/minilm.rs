//! Loader for BERT checkpoints in Hugging Face / sentence-transformers layout
//! (`model.safetensors`, `config.json`, `sentence_bert_config.json`, `1_Pooling/config.json`).

use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use crate::bert::{Bert, BertConfig, Layer, Linear, WordEmbeddings, fuse_transposed};
use crate::error::EmbedError;

#[derive(Deserialize)]
struct HfConfig {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f32,
    #[serde(default)]
    hidden_act: Option<String>,
    #[serde(default)]
    position_embedding_type: Option<String>,
}

fn default_eps() -> f32 {
    1e-12
}

#[derive(Deserialize)]
struct SbertConfig {
    max_seq_length: usize,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EmbedError::load(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| EmbedError::load(format!("{}: {e}", path.display())))
}

/// The loaded model and the token limit from `sentence_bert_config.json`.
pub(crate) struct Loaded {
    pub bert: Bert,
    pub max_tokens: usize,
}

/// Load a BERT sentence-transformers folder (mean pooling only).
pub(crate) fn load(dir: &Path) -> Result<Loaded, EmbedError> {
    let cfg: HfConfig = read_json(&dir.join("config.json"))?;
    if let Some(act) = cfg.hidden_act.as_deref()
        && act != "gelu"
    {
        return Err(EmbedError::load(format!("unsupported hidden_act {act:?}")));
    }
    if let Some(p) = cfg.position_embedding_type.as_deref()
        && p != "absolute"
    {
        return Err(EmbedError::load(format!(
            "unsupported position_embedding_type {p:?}"
        )));
    }
    let pooling_path = dir.join("1_Pooling").join("config.json");
    if pooling_path.exists() {
        let p: PoolingConfig = read_json(&pooling_path)?;
        if !p.pooling_mode_mean_tokens || p.pooling_mode_cls_token || p.pooling_mode_max_tokens {
            return Err(EmbedError::load("only mean pooling is supported"));
        }
    }
    let sbert_path = dir.join("sentence_bert_config.json");
    let max_seq = if sbert_path.exists() {
        read_json::<SbertConfig>(&sbert_path)?.max_seq_length
    } else {
        cfg.max_position_embeddings
    };
    let max_tokens = max_seq.min(cfg.max_position_embeddings);

    let st_path = dir.join("model.safetensors");
    let bytes = std::fs::read(&st_path)
        .map_err(|e| EmbedError::load(format!("{}: {e}", st_path.display())))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| EmbedError::load(format!("{}: {e}", st_path.display())))?;
    // Some exports prefix every name with "bert."; accept both.
    let prefix = if st.names().iter().any(|n| n.starts_with("bert.")) {
        "bert."
    } else {
        ""
    };
    let get = |name: &str| -> Result<Vec<f32>, EmbedError> {
        let full = format!("{prefix}{name}");
        let t = st
            .tensor(&full)
            .map_err(|e| EmbedError::load(format!("tensor {full}: {e}")))?;
        if t.dtype() != Dtype::F32 {
            return Err(EmbedError::load(format!(
                "tensor {full}: dtype {:?}, want F32",
                t.dtype()
            )));
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let h = cfg.hidden_size;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for i in 0..cfg.num_hidden_layers {
        let p = format!("encoder.layer.{i}.");
        let g = |s: &str| get(&format!("{p}{s}"));
        let (q, k, v) = (
            g("attention.self.query.weight")?,
            g("attention.self.key.weight")?,
            g("attention.self.value.weight")?,
        );
        let mut bqkv = g("attention.self.query.bias")?;
        bqkv.extend(g("attention.self.key.bias")?);
        bqkv.extend(g("attention.self.value.bias")?);
        layers.push(Layer {
            qkv: Linear::new(fuse_transposed(&[&q, &k, &v], h)?, bqkv, h),
            attn_out: Linear::new(
                fuse_transposed(&[&g("attention.output.dense.weight")?], h)?,
                g("attention.output.dense.bias")?,
                h,
            ),
            ln1_w: g("attention.output.LayerNorm.weight")?,
            ln1_b: g("attention.output.LayerNorm.bias")?,
            ffn_up: Linear::new(
                fuse_transposed(&[&g("intermediate.dense.weight")?], h)?,
                g("intermediate.dense.bias")?,
                h,
            ),
            ffn_down: Linear::new(
                fuse_transposed(&[&g("output.dense.weight")?], cfg.intermediate_size)?,
                g("output.dense.bias")?,
                cfg.intermediate_size,
            ),
            ln2_w: g("output.LayerNorm.weight")?,
            ln2_b: g("output.LayerNorm.bias")?,
        });
    }
    let mut token_type = get("embeddings.token_type_embeddings.weight")?;
    token_type.truncate(h);
    let bert = Bert {
        cfg: BertConfig {
            hidden: h,
            heads: cfg.num_attention_heads,
            intermediate: cfg.intermediate_size,
            max_positions: cfg.max_position_embeddings,
            layer_norm_eps: cfg.layer_norm_eps,
        },
        word: WordEmbeddings::F32(get("embeddings.word_embeddings.weight")?),
        pos: get("embeddings.position_embeddings.weight")?,
        token_type,
        emb_ln_w: get("embeddings.LayerNorm.weight")?,
        emb_ln_b: get("embeddings.LayerNorm.bias")?,
        layers,
    };
    bert.validate()?;
    Ok(Loaded { bert, max_tokens })
}
