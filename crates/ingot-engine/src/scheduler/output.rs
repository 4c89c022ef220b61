//! One sampled token of one choice: end-of-generation, logprobs, UTF-8 and stop strings,
//! and the events the job's receiver gets.

use std::collections::VecDeque;

use llama_cpp_2::token::LlamaToken;

use super::{Choice, Request};
use crate::engine::Shared;
use crate::sampler::logprobs;
use crate::stop::StopOutcome;
use crate::types::{ChatEvent, FinishReason, TokenLogprob};

/// Handles one sampled token of one choice: streams text, detects the end.
pub(super) fn on_token(
    shared: &Shared,
    req: &Request,
    outbox: &mut VecDeque<ChatEvent>,
    c: &mut Choice,
    id: u32,
    logits: &[f32],
    freed: &mut Vec<i32>,
) {
    let tok = LlamaToken::new(i32::try_from(id).unwrap_or(0));
    // A constrained choice ends at end-of-generation even with `ignore_eos`: its grammar
    // allows nothing else once complete.
    if c.sampler.constraint_failed()
        || ((!req.job.ignore_eos || c.sampler.is_constrained()) && shared.is_eog(tok))
    {
        finish(outbox, c, FinishReason::Stop, freed);
        return;
    }
    c.sampler.accept(id);
    c.generated += 1;
    let bytes: &[u8] = shared
        .token_bytes
        .get(id as usize)
        .map_or(&[], Vec::as_slice);
    if let Some(k) = req.job.top_logprobs {
        let (lp, top) = logprobs(logits, id, k as usize);
        let entry = |t: u32| {
            let b = shared
                .token_bytes
                .get(t as usize)
                .cloned()
                .unwrap_or_default();
            (String::from_utf8_lossy(&b).into_owned(), b)
        };
        c.pending_logprobs.push(TokenLogprob {
            token: String::from_utf8_lossy(bytes).into_owned(),
            bytes: bytes.to_vec(),
            logprob: lp,
            top: top
                .into_iter()
                .map(|(t, l)| {
                    let (s, b) = entry(t);
                    (s, b, l)
                })
                .collect(),
        });
    }
    let text = c.utf8.push(bytes);
    match c.stop.push(&text) {
        StopOutcome::Stopped(t) => {
            emit(outbox, c, t);
            c.pending_logprobs.clear();
            finish(outbox, c, FinishReason::Stop, freed);
            return;
        }
        StopOutcome::Continue(t) => emit(outbox, c, t),
    }
    if c.sampler.constraint_complete() {
        finish(outbox, c, FinishReason::Stop, freed);
    } else if c.generated >= req.max_new {
        finish(outbox, c, FinishReason::Length, freed);
    } else {
        c.next = Some(tok);
    }
}

fn emit(outbox: &mut VecDeque<ChatEvent>, c: &mut Choice, text: String) {
    if text.is_empty() {
        return;
    }
    outbox.push_back(ChatEvent::Delta {
        choice: c.index,
        text,
        logprobs: std::mem::take(&mut c.pending_logprobs),
    });
}

/// Ends a choice: releases text held back for UTF-8 or stop matching (unless that completes
/// a stop string), then reports the finish.
fn finish(
    outbox: &mut VecDeque<ChatEvent>,
    c: &mut Choice,
    mut reason: FinishReason,
    freed: &mut Vec<i32>,
) {
    let tail = c.utf8.finish();
    match c.stop.push(&tail) {
        StopOutcome::Stopped(t) => {
            emit(outbox, c, t);
            reason = FinishReason::Stop;
        }
        StopOutcome::Continue(t) => {
            let rest = c.stop.finish();
            emit(outbox, c, t + &rest);
        }
    }
    c.pending_logprobs.clear();
    outbox.push_back(ChatEvent::Finished {
        choice: c.index,
        reason,
        completion_tokens: c.generated,
    });
    c.done = true;
    c.next = None;
    freed.push(c.seq_id);
}
