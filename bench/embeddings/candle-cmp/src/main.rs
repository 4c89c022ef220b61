//! all-MiniLM-L6-v2 on candle: padded batches with an attention mask, mean pooling, L2 norm.
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln1: LayerNorm,
    i: Linear,
    out: Linear,
    ln2: LayerNorm,
}

fn linear(vb: VarBuilder, i: usize, o: usize) -> Result<Linear> {
    Ok(candle_nn::linear(i, o, vb)?)
}

fn ln(vb: VarBuilder, h: usize) -> Result<LayerNorm> {
    Ok(candle_nn::layer_norm(h, 1e-12, vb)?)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let sents: Vec<String> = std::fs::read_to_string(&args[2])?.lines().map(String::from).collect();
    let batch: usize = args[3].parse()?;
    let dev = Device::Cpu;
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], DType::F32, &dev)? };
    let (h, nh, ff) = (384, 12, 1536);
    let hd = h / nh;
    let word = vb.pp("embeddings.word_embeddings").get((30522, h), "weight")?;
    let pos = vb.pp("embeddings.position_embeddings").get((512, h), "weight")?;
    let tt = vb.pp("embeddings.token_type_embeddings").get((2, h), "weight")?.get(0)?;
    let eln = ln(vb.pp("embeddings.LayerNorm"), h)?;
    let layers: Vec<Layer> = (0..6)
        .map(|i| {
            let p = vb.pp(format!("encoder.layer.{i}"));
            Ok(Layer {
                q: linear(p.pp("attention.self.query"), h, h)?,
                k: linear(p.pp("attention.self.key"), h, h)?,
                v: linear(p.pp("attention.self.value"), h, h)?,
                o: linear(p.pp("attention.output.dense"), h, h)?,
                ln1: ln(p.pp("attention.output.LayerNorm"), h)?,
                i: linear(p.pp("intermediate.dense"), h, ff)?,
                out: linear(p.pp("output.dense"), ff, h)?,
                ln2: ln(p.pp("output.LayerNorm"), h)?,
            })
        })
        .collect::<Result<_>>()?;
    let mut tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).map_err(anyhow::Error::msg)?;
    tok.with_truncation(None).map_err(anyhow::Error::msg)?;
    tok.with_padding(None);

    let forward = |texts: &[String]| -> Result<Tensor> {
        let encs: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| tok.encode(t.as_str(), true).map(|e| e.get_ids().to_vec()).map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?;
        let b = encs.len();
        let l = encs.iter().map(Vec::len).max().context("empty")?;
        let mut ids = vec![0u32; b * l];
        let mut mask = vec![0f32; b * l];
        for (i, e) in encs.iter().enumerate() {
            ids[i * l..i * l + e.len()].copy_from_slice(e);
            mask[i * l..i * l + e.len()].iter_mut().for_each(|m| *m = 1.0);
        }
        let ids = Tensor::from_vec(ids, (b * l,), &dev)?;
        let mask = Tensor::from_vec(mask, (b, l), &dev)?;
        let x = word.index_select(&ids, 0)?.reshape((b, l, h))?;
        let x = x.broadcast_add(&pos.narrow(0, 0, l)?)?.broadcast_add(&tt)?;
        let mut x = eln.forward(&x)?;
        let bias = ((mask.clone() - 1.0)? * 1e9)?.reshape((b, 1, 1, l))?;
        let heads = |t: Tensor| -> Result<Tensor> {
            Ok(t.reshape((b, l, nh, hd))?.transpose(1, 2)?.contiguous()?)
        };
        for ly in &layers {
            let q = heads(ly.q.forward(&x)?)?;
            let k = heads(ly.k.forward(&x)?)?;
            let v = heads(ly.v.forward(&x)?)?;
            let s = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?.broadcast_add(&bias)?;
            let p = candle_nn::ops::softmax_last_dim(&s)?;
            let c = p.matmul(&v)?.transpose(1, 2)?.reshape((b, l, h))?;
            x = ly.ln1.forward(&(ly.o.forward(&c)? + &x)?)?;
            let m = ly.i.forward(&x)?.gelu_erf()?;
            x = ly.ln2.forward(&(ly.out.forward(&m)? + &x)?)?;
        }
        let m3 = mask.unsqueeze(2)?;
        let sum = x.broadcast_mul(&m3)?.sum(1)?;
        let mean = sum.broadcast_div(&m3.sum(1)?)?;
        Ok(mean.broadcast_div(&mean.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)?)
    };
    for c in sents.chunks(batch) {
        forward(c)?;
    }
    let mut best = f64::INFINITY;
    for _ in 0..2 {
        let t = Instant::now();
        for c in sents.chunks(batch) {
            forward(c)?;
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{{\"engine\":\"candle-0.11\",\"batch\":{batch},\"sentences_per_s\":{:.1}}}", sents.len() as f64 / best);
    Ok(())
}
