//! Which slot a sequence uses, and where its cells come from: taking a slot, sharing a
//! prefix with another slot, waiting for one, moving sequences into gaps, releasing a slot
//! with its cells kept as a prefix cache. The decisions are [`crate::slots`]'s; this acts on
//! them in the llama context.

use std::sync::atomic::Ordering;

use llama_cpp_2::token::LlamaToken;

use super::{Scheduler, slot_mut};
use crate::slots::{self, Share, common_prefix};

/// Fewest tokens a sequence must have left to generate for a move into a gap to pay: a gap
/// costs about one extra pass per step, a move about one pass once.
const MIN_LEFT_TO_MOVE: u32 = 4;

impl Scheduler<'_> {
    /// Takes the free slot that best serves `prompt` ([`slots::choose_slot`]), leaving the
    /// cached prompts of the jobs in the waiting room to them.
    pub(super) fn take_slot(&mut self, prompt: &[LlamaToken]) -> Option<i32> {
        let free = &self.free;
        let busy = |seq: i32| {
            usize::try_from(seq).is_ok_and(|s| s < self.slots.len()) && !free.contains(&seq)
        };
        let streams = !self.shared.cfg.unified_kv;
        let others: Vec<&[LlamaToken]> = self
            .room
            .iter()
            .filter(|r| r.media.is_none())
            .map(|r| r.prompt.as_slice())
            .collect();
        let pos = slots::choose_slot(free, &self.slots, busy, prompt, &others, streams)?;
        Some(self.free.swap_remove(pos))
    }

    /// Takes a slot for choice 0 of a job with this prompt and keeps the longest usable
    /// prefix of its KV cells. Returns the slot and the prompt tokens already in its cache
    /// (always fewer than the prompt, so the last prompt token is decoded for its logits).
    pub(super) fn take_prefix_slot(&mut self, prompt: &[LlamaToken]) -> Option<(i32, usize)> {
        let seq = self.take_slot(prompt)?;
        let Some(slot) = usize::try_from(seq).ok().and_then(|s| self.slots.get(s)) else {
            return Some((seq, 0));
        };
        let k = if self.shared.cfg.prefix_cache {
            common_prefix(&slot.tokens, prompt).min(prompt.len().saturating_sub(1))
        } else {
            0
        };
        // A cache that dropped old positions (sliding-window attention) cannot serve a
        // prefix; neither can one that refuses partial removal (recurrent state).
        let usable = k > 0
            && self.ctx.kv_cache_seq_pos_min(seq) == 0
            && u32::try_from(k).ok().is_some_and(|p0| {
                matches!(
                    self.ctx
                        .clear_kv_cache_seq(u32::try_from(seq).ok(), Some(p0), None),
                    Ok(true)
                )
            });
        if !usable {
            self.reset_slot(seq);
            return Some((seq, 0));
        }
        if let Some(slot) = slot_mut(&mut self.slots, seq) {
            slot.tokens.truncate(k);
        }
        Some((seq, k))
    }

    /// Empties a slot's KV cells and token list.
    pub(super) fn reset_slot(&mut self, seq: i32) {
        let _ = self
            .ctx
            .clear_kv_cache_seq(u32::try_from(seq).ok(), None, None);
        if let Some(slot) = slot_mut(&mut self.slots, seq) {
            slot.tokens.clear();
            slot.media = false;
        }
    }

    /// Plans where job `i`'s prefix comes from ([`slots::plan`]) and acts on it: copies
    /// another slot's cells, waits for a prefill in flight, or leaves the job to prefill.
    pub(super) fn share_prefix(&mut self, i: usize) {
        let Some(job) = self.active.get(i) else {
            return;
        };
        let Some(own) = job.choices.first().map(|c| c.seq_id) else {
            return;
        };
        if !self.shared.cfg.prefix_cache || job.failed || job.req.media.is_some() {
            return;
        }
        let ctx = &self.ctx;
        let share = slots::plan(
            &self.slots,
            own,
            job.prefilled,
            &job.req.prompt,
            |seq| ctx.kv_cache_seq_pos_min(seq) == 0,
            self.active
                .iter()
                .enumerate()
                .filter(|&(j, a)| j != i && a.prefilling())
                .map(|(_, a)| a.req.prompt.as_slice()),
            self.min_gain,
        );
        let had = job.prefilled;
        let held = match share {
            Share::Own => had,
            Share::Wait { .. } => {
                if let Some(job) = self.active.get_mut(i) {
                    job.waiting = true;
                }
                return;
            }
            Share::Copy { from, len } => self.copy_prefix(from, own, len),
        };
        let Some(job) = self.active.get_mut(i) else {
            return;
        };
        job.waiting = false;
        job.prefilled = held;
        if let Some(first) = job.choices.first_mut() {
            first.n_past = i32::try_from(held).unwrap_or(0);
        }
        job.req
            .cached
            .store(u32::try_from(held).unwrap_or(0), Ordering::Release);
        if held > had {
            self.shared
                .cached_tokens
                .fetch_add(u64::try_from(held - had).unwrap_or(0), Ordering::Relaxed);
            tracing::trace!(seq = own, tokens = held, "prefix copied");
        }
    }

    /// Makes slot `to` hold the first `len` cells of slot `from`. Returns the tokens `to`
    /// holds after: `len`, or 0 when the cache cannot drop the copied cells past `len` (the
    /// slot is then emptied).
    pub(super) fn copy_prefix(&mut self, from: i32, to: i32, len: usize) -> usize {
        let tokens = usize::try_from(from)
            .ok()
            .and_then(|s| self.slots.get(s))
            .and_then(|s| s.tokens.get(..len))
            .map(<[LlamaToken]>::to_vec);
        let (Some(tokens), Ok(dst), Ok(p0)) = (tokens, u32::try_from(to), u32::try_from(len))
        else {
            return 0;
        };
        // With a stream per sequence llama.cpp copies the whole stream (at the next decode),
        // then the cells past `len` are dropped; with a unified cache the cells are shared.
        let _ = self.ctx.clear_kv_cache_seq(Some(dst), None, None);
        let copied = self.ctx.copy_kv_cache_seq(from, to, None, None).is_ok()
            && matches!(
                self.ctx.clear_kv_cache_seq(Some(dst), Some(p0), None),
                Ok(true)
            );
        if !copied {
            self.reset_slot(to);
            return 0;
        }
        if let Some(slot) = slot_mut(&mut self.slots, to) {
            slot.tokens = tokens;
            slot.media = false;
        }
        self.shared.kv_copies.fetch_add(1, Ordering::Relaxed);
        len
    }

    /// Moves sequences into the gaps finished ones left, so the busy slots are consecutive
    /// ([`slots::packing`]): with a KV stream per sequence each run of consecutive ids costs a
    /// pass over the weights per step, and one stream copy costs less than that. The slot a
    /// sequence leaves keeps its cells as a prefix cache.
    pub(super) fn pack(&mut self) {
        if self.shared.cfg.unified_kv {
            return;
        }
        let busy: Vec<bool> = (0..self.slots.len())
            .map(|s| i32::try_from(s).is_ok_and(|s| !self.free.contains(&s)))
            .collect();
        for (from, to) in slots::packing(&busy) {
            // A sequence about to end leaves a gap for a step or two anyway: not worth a copy.
            let ending = self.active.iter().any(|j| {
                j.prefilled == j.req.prompt.len()
                    && j.choices.iter().any(|c| {
                        c.seq_id == from
                            && !c.done
                            && j.req.max_new.saturating_sub(c.generated) < MIN_LEFT_TO_MOVE
                    })
            });
            let Some(pos) = self.free.iter().position(|&s| s == to) else {
                continue;
            };
            if ending || self.ctx.copy_kv_cache_seq(from, to, None, None).is_err() {
                continue;
            }
            self.free.swap_remove(pos);
            let moved = self
                .active
                .iter_mut()
                .flat_map(|j| j.choices.iter_mut())
                .find(|c| c.seq_id == from && !c.done);
            if let Some(c) = moved {
                c.seq_id = to;
            }
            let (tokens, media) = slot_mut(&mut self.slots, from)
                .map(|s| (s.tokens.clone(), s.media))
                .unwrap_or_default();
            if let Some(slot) = slot_mut(&mut self.slots, to) {
                slot.tokens = tokens;
                slot.media = media;
            }
            self.release(from, true);
            self.shared.kv_copies.fetch_add(1, Ordering::Relaxed);
            tracing::trace!(from, to, "sequence moved");
        }
    }

    /// Gives each waiting job the prefix it waited for, once a donor holds it (or stops
    /// prefilling).
    pub(super) fn resolve_waits(&mut self) {
        for i in 0..self.active.len() {
            if self.active[i].waiting {
                self.share_prefix(i);
            }
        }
    }

    /// Returns a slot to the free list. With `keep`, its KV cells stay resident for prefix
    /// reuse; otherwise (its cache state is unknown, e.g. after a failed decode) it is emptied.
    pub(super) fn release(&mut self, seq_id: i32, keep: bool) {
        let media = slot_mut(&mut self.slots, seq_id).is_some_and(|s| s.media);
        if !keep || media || !self.shared.cfg.prefix_cache {
            self.reset_slot(seq_id);
        }
        self.tick += 1;
        if let Some(slot) = slot_mut(&mut self.slots, seq_id) {
            slot.last_used = self.tick;
        }
        self.free.push(seq_id);
    }
}
