//! The dynamic-batching worker: one thread per loaded model, fed by a bounded channel.
//!
//! Each round it takes the first queued request, drains whatever else is queued (up to
//! `max_batch_sequences` inputs in all), tokenizes, sorts every input of every gathered
//! request by length, runs the encoder on batches of at most `max_batch_sequences` sequences
//! and `max_batch_tokens` tokens, and answers each request, in its input order, as soon as
//! its last input is done.

use std::sync::mpsc::{Receiver, TryRecvError};

use rayon::prelude::*;
use tokio::sync::oneshot;

use crate::bert::{Bert, Scratch};
use crate::error::EmbedError;
use crate::tokenize::TextTokenizer;
use crate::{EmbedInput, EmbedOptions, EmbedOutput, EmbedderConfig};

/// One `embed` call.
pub(crate) struct Job {
    pub inputs: Vec<EmbedInput>,
    pub opts: EmbedOptions,
    pub reply: oneshot::Sender<Result<EmbedOutput, EmbedError>>,
}

/// What the worker runs: the encoder and its tokenizer.
pub(crate) struct Engine {
    pub bert: Bert,
    pub tok: TextTokenizer,
    pub max_tokens: usize,
}

impl Engine {
    /// Tokenize one request (in parallel over its inputs).
    fn tokenize(
        &self,
        inputs: &[EmbedInput],
        opts: &EmbedOptions,
    ) -> Result<Vec<Vec<u32>>, EmbedError> {
        inputs
            .par_iter()
            .enumerate()
            .map(|(i, inp)| {
                self.tok
                    .encode(i, inp, opts.input_type, opts.truncate, self.max_tokens)
            })
            .collect()
    }
}

struct Pending {
    reply: Option<oneshot::Sender<Result<EmbedOutput, EmbedError>>>,
    vectors: Vec<Vec<f32>>,
    left: usize,
    tokens: usize,
}

impl Pending {
    fn answer(&mut self, r: Result<EmbedOutput, EmbedError>) {
        if let Some(tx) = self.reply.take() {
            // The caller may have gone away (request cancelled); nothing to do then.
            let _ = tx.send(r);
        }
    }
}

/// Run one round over the gathered jobs.
pub(crate) fn process(
    engine: &Engine,
    cfg: &EmbedderConfig,
    jobs: Vec<Job>,
    scratch: &mut Scratch,
) {
    let mut pending = Vec::with_capacity(jobs.len());
    // (job, input, sequence)
    let mut items: Vec<(usize, usize, Vec<u32>)> = Vec::new();
    for job in jobs {
        let j = pending.len();
        let mut p = Pending {
            reply: Some(job.reply),
            vectors: Vec::new(),
            left: 0,
            tokens: 0,
        };
        match engine.tokenize(&job.inputs, &job.opts) {
            Ok(seqs) => {
                p.left = seqs.len();
                p.tokens = seqs.iter().map(Vec::len).sum();
                p.vectors = vec![Vec::new(); seqs.len()];
                items.extend(seqs.into_iter().enumerate().map(|(i, s)| (j, i, s)));
            }
            Err(e) => p.answer(Err(e)),
        }
        pending.push(p);
    }
    items.sort_by_key(|it| it.2.len());

    let max_seqs = cfg.max_batch_sequences.max(1);
    let mut start = 0;
    while start < items.len() {
        let mut end = start;
        let mut tokens = 0;
        while end < items.len() && end - start < max_seqs {
            let len = items[end].2.len();
            if end > start && tokens + len > cfg.max_batch_tokens {
                break;
            }
            tokens += len;
            end += 1;
        }
        let batch = &items[start..end];
        let seqs: Vec<&[u32]> = batch.iter().map(|it| it.2.as_slice()).collect();
        match engine.bert.embed_with(&seqs, scratch) {
            Ok(vectors) => {
                for (it, v) in batch.iter().zip(vectors) {
                    let p = &mut pending[it.0];
                    if p.reply.is_none() {
                        continue;
                    }
                    p.vectors[it.1] = v;
                    p.left -= 1;
                    if p.left == 0 {
                        let out = EmbedOutput {
                            vectors: std::mem::take(&mut p.vectors),
                            prompt_tokens: p.tokens,
                        };
                        p.answer(Ok(out));
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "embedding batch failed");
                for it in batch {
                    pending[it.0].answer(Err(EmbedError::Internal(e.to_string())));
                }
            }
        }
        start = end;
    }
    // Jobs with zero items (cannot happen: empty requests are refused before queueing) or
    // any left unanswered get an explicit error rather than a dropped channel.
    for p in &mut pending {
        p.answer(Err(EmbedError::Internal(
            "request finished without a result".into(),
        )));
    }
}

/// The worker thread's loop: returns when every sender is gone.
pub(crate) fn run(engine: Engine, cfg: EmbedderConfig, pool: rayon::ThreadPool, rx: Receiver<Job>) {
    // Activation buffers, reused by every batch.
    let mut scratch = Scratch::default();
    while let Ok(first) = rx.recv() {
        let mut n = first.inputs.len();
        let mut jobs = vec![first];
        while n < cfg.max_batch_sequences {
            match rx.try_recv() {
                Ok(j) => {
                    n += j.inputs.len();
                    jobs.push(j);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        pool.install(|| process(&engine, &cfg, jobs, &mut scratch));
    }
}
