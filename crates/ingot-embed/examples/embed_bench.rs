//! Throughput of the engine through its public API, for `bench/embeddings/run.sh`.
//!
//! `embed_bench <minilm|e5> <model-dir> <sentences-file> <batch> [rounds]`: embeds every line of
//! the file in sequential calls of `batch` inputs (after one warm-up pass) and prints one JSON
//! line with sentences/s. `rounds` (default 1) repeats the timed pass and keeps the best.
//! With `--dump <out.json>` as the last two arguments it also writes the vectors.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use ingot_embed::{EmbedInput, EmbedOptions, Embedder, EmbedderConfig, InputType, Truncate};

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let dump = match args.iter().position(|a| a == "--dump") {
        Some(i) => {
            let p = args.get(i + 1).context("--dump needs a path")?.clone();
            args.truncate(i);
            Some(PathBuf::from(p))
        }
        None => None,
    };
    if args.len() < 4 {
        bail!(
            "usage: embed_bench <minilm|e5> <model-dir> <sentences-file> <batch> [rounds] [--dump out.json]"
        );
    }
    let dir = PathBuf::from(&args[1]);
    let text = std::fs::read_to_string(&args[2]).with_context(|| args[2].clone())?;
    let sentences: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let batch: usize = args[3].parse().context("batch")?;
    let rounds: usize = args
        .get(4)
        .map(|s| s.parse())
        .transpose()
        .context("rounds")?
        .unwrap_or(1);
    let cfg = EmbedderConfig::default();
    let t0 = Instant::now();
    let (model, opts) = match args[0].as_str() {
        "minilm" => (Embedder::load_minilm(&dir, &cfg)?, EmbedOptions::default()),
        "e5" => (
            Embedder::load_e5(&dir, &cfg)?,
            EmbedOptions {
                input_type: Some(InputType::Query),
                truncate: Truncate::None,
            },
        ),
        other => bail!("unknown model {other}"),
    };
    let load_s = t0.elapsed().as_secs_f64();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let run = |collect: bool| -> anyhow::Result<(f64, usize, Vec<Vec<f32>>)> {
        let t = Instant::now();
        let mut tokens = 0;
        let mut vecs = Vec::new();
        for chunk in sentences.chunks(batch.max(1)) {
            let inputs = chunk.iter().map(|s| EmbedInput::Text(s.clone())).collect();
            let out = rt.block_on(model.embed(inputs, opts))?;
            tokens += out.prompt_tokens;
            if collect {
                vecs.extend(out.vectors);
            }
        }
        Ok((t.elapsed().as_secs_f64(), tokens, vecs))
    };
    let (_, _, vecs) = run(dump.is_some())?; // warm-up (and the vectors, if asked)
    let mut best = f64::INFINITY;
    let mut tokens = 0;
    for _ in 0..rounds.max(1) {
        let (s, t, _) = run(false)?;
        best = best.min(s);
        tokens = t;
    }
    if let Some(p) = dump {
        std::fs::write(&p, serde_json::to_string(&vecs)?)?;
    }
    println!(
        "{{\"engine\":\"ingot-{}\",\"batch\":{batch},\"sentences\":{},\"tokens\":{tokens},\"seconds\":{best:.4},\"sentences_per_s\":{:.1},\"load_s\":{load_s:.2}}}",
        args[0],
        sentences.len(),
        sentences.len() as f64 / best
    );
    Ok(())
}
