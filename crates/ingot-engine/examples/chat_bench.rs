//! In-process throughput of the chat engine, for `bench/chat/run.sh`.
//!
//! ```text
//! chat_bench --model M.gguf [--threads 2] [--n-predict 128] [--repeat 3] [--streams 1]
//!            [--prompt-words 100] [--dump-tokens prompt.json]
//! ```
//! Prints one JSON object: prefill (time to the first token of a 1-token job) and decode
//! (extra time per token of an `n-predict` job), best of `repeat`, plus the completion tokens/s
//! of `streams` concurrent jobs (wall time including their prefill).

use std::time::Instant;

use ingot_engine::{ChatEngine, ChatEngineConfig, ChatEvent, ChatJob, ChatMessage, SamplingParams};

struct Args {
    model: String,
    threads: Option<u32>,
    n_predict: u32,
    repeat: u32,
    streams: u32,
    prompt_words: usize,
    dump_tokens: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        model: String::new(),
        threads: None,
        n_predict: 128,
        repeat: 3,
        streams: 1,
        prompt_words: 100,
        dump_tokens: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u32>().map_err(|e| format!("{v}: {e}"));
        match flag.as_str() {
            "--model" => a.model = val()?,
            "--threads" => a.threads = Some(num(val()?)?),
            "--n-predict" => a.n_predict = num(val()?)?,
            "--repeat" => a.repeat = num(val()?)?.max(1),
            "--streams" => a.streams = num(val()?)?.max(1),
            "--prompt-words" => a.prompt_words = num(val()?)? as usize,
            "--dump-tokens" => a.dump_tokens = Some(val()?),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.model.is_empty() {
        return Err("--model is required".into());
    }
    Ok(a)
}

/// The benchmark prompt: a fixed, deterministic text of `words` words.
fn prompt(words: usize) -> String {
    let base = "The history of computing is a story of people building machines that extend \
                what minds can do, from the abacus to mechanical calculators and electronic \
                computers";
    let w: Vec<&str> = base.split(' ').collect();
    let body: Vec<&str> = (0..words).map(|i| w[i % w.len()]).collect();
    format!("Continue this text: {}", body.join(" "))
}

fn job(text: &str, max_tokens: u32) -> ChatJob {
    let mut j = ChatJob::new(vec![ChatMessage::new("user", text)]);
    j.sampling = SamplingParams::greedy();
    j.max_tokens = Some(max_tokens);
    j.ignore_eos = true;
    j
}

/// Runs `streams` copies of the job concurrently; returns (seconds, tokens generated).
fn timed(engine: &ChatEngine, j: &ChatJob, streams: u32) -> Result<(f64, u32), String> {
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..streams {
        handles.push(engine.submit(j.clone()).map_err(|e| e.to_string())?);
    }
    let mut tokens = 0;
    for mut h in handles {
        while let Some(ev) = h.events.blocking_recv() {
            match ev {
                ChatEvent::Finished {
                    completion_tokens, ..
                } => tokens += completion_tokens,
                ChatEvent::Error(e) => return Err(e),
                ChatEvent::Delta { .. } => {}
            }
        }
    }
    Ok((start.elapsed().as_secs_f64(), tokens))
}

fn main() -> Result<(), String> {
    let a = parse()?;
    let mut cfg = ChatEngineConfig::new(&a.model);
    cfg.threads = a.threads;
    cfg.max_slots = a.streams.max(1);
    cfg.ctx_per_slot = 2048;
    cfg.batch_tokens = 512;
    let engine = ChatEngine::load(cfg).map_err(|e| e.to_string())?;
    let text = prompt(a.prompt_words);
    let j1 = job(&text, 1);
    let tokens = engine.tokenize(&engine.render_prompt(&j1).map_err(|e| e.to_string())?);
    if let Some(path) = &a.dump_tokens {
        let json = serde_json::to_string(&tokens).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| e.to_string())?;
    }
    timed(&engine, &j1, 1)?; // warm-up
    let mut prefill = f64::MAX;
    let mut decode = f64::MAX;
    let jn = job(&text, a.n_predict + 1);
    for _ in 0..a.repeat {
        let (t1, _) = timed(&engine, &j1, 1)?;
        let (tn, n) = timed(&engine, &jn, 1)?;
        prefill = prefill.min(t1);
        decode = decode.min((tn - t1) / f64::from(n.saturating_sub(1).max(1)));
    }
    let mut aggregate = 0.0;
    if a.streams > 1 {
        let (t, n) = timed(&engine, &jn, a.streams)?;
        aggregate = f64::from(n) / t;
    }
    let prompt_tokens = tokens.len();
    println!(
        "{}",
        serde_json::json!({
            "impl": "ingot-engine",
            "prompt_tokens": prompt_tokens,
            "prefill_s": prefill,
            "prefill_tok_s": prompt_tokens as f64 / prefill,
            "decode_tok_s": 1.0 / decode,
            "n_predict": a.n_predict,
            "streams": a.streams,
            "aggregate_tok_s": aggregate,
        })
    );
    Ok(())
}
