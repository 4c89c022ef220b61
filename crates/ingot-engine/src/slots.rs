//! The sequence slots: what each holds, which one a new sequence takes, where a prompt's
//! prefix comes from, and keeping the busy ones consecutive.
//!
//! Every slot remembers the tokens its KV cells hold ([`SlotCache`]), while its job runs and
//! after it ends. A new sequence takes a slot by [`choose_slot`] (one holding more of the
//! prompt of a job starting with it than of its own only when no other is free); [`plan`]
//! then decides whether another slot (running, just prefilled or free) holds a longer prefix
//! of its prompt worth copying, or whether a job still prefilling will soon hold one worth
//! waiting for. So prompts that arrive together and share a system prompt prefill it once:
//! the first computes it, the others copy its cells and prefill only the rest.
//!
//! With one KV stream per sequence (the default), llama.cpp computes only sequences with
//! consecutive ids in one pass over the weights, so the busy slots are kept consecutive:
//! [`choose_slot`] places a new sequence next to the busy ones and [`packing`] moves
//! sequences into the gaps that finished ones leave. Copying is not free in that layout:
//! llama.cpp copies a whole stream, `ctx_per_slot` cells, whatever the prefix length.
//! [`min_gain`] weighs that against the prefill it saves.

use llama_cpp_2::token::LlamaToken;

/// What one sequence slot holds in the KV cache, kept after its job ends for prefix reuse.
#[derive(Default)]
pub(crate) struct SlotCache {
    /// Tokens in the slot's KV cells, at positions `0..tokens.len()`.
    pub(crate) tokens: Vec<LlamaToken>,
    /// When the slot was last released (scheduler ticks), for least-recently-used eviction.
    pub(crate) last_used: u64,
    /// The cells hold image embeddings, which `tokens` cannot describe: never reused.
    pub(crate) media: bool,
}

/// Length of the common prefix of two token lists.
pub(crate) fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Index in `free` of the slot a new sequence should take.
///
/// The first rule is to leave alone a slot that holds more of the prompt of a job starting
/// with this one (`others`, the jobs waiting to start) than of `prompt`: taking it would drop
/// the cells that job would reuse. With a KV stream per sequence (`streams`), llama.cpp
/// computes only sequences with consecutive ids in one pass: a decode step over sequences
/// {0, 1, 3} is two passes over the weights. So the next rule is to stay next to the busy
/// slots (a slot between two busy ones joins two runs, one beside a busy one extends a run);
/// a prefix held elsewhere can be copied ([`plan`]). Then: the longest common prefix with
/// `prompt`, an empty slot, the least recently used.
pub(crate) fn choose_slot(
    free: &[i32],
    slots: &[SlotCache],
    busy: impl Fn(i32) -> bool,
    prompt: &[LlamaToken],
    others: &[&[LlamaToken]],
    streams: bool,
) -> Option<usize> {
    let score = |seq: i32| {
        let neighbours = if streams {
            u8::from(seq > 0 && busy(seq - 1)) + u8::from(busy(seq + 1))
        } else {
            0
        };
        let slot = usize::try_from(seq).ok().and_then(|s| slots.get(s));
        slot.map_or((true, neighbours, 0, false, std::cmp::Reverse(0)), |s| {
            let own = common_prefix(&s.tokens, prompt);
            let unclaimed = others.iter().all(|p| common_prefix(&s.tokens, p) <= own);
            (
                unclaimed,
                neighbours,
                own,
                s.tokens.is_empty(),
                std::cmp::Reverse(s.last_used),
            )
        })
    };
    free.iter()
        .enumerate()
        .max_by_key(|&(_, &seq)| score(seq))
        .map(|(i, _)| i)
}

/// Moves `(from, to)` that make the busy slots consecutive, each `to` a slot not busy: the
/// window of `busy.len()`'s slots holding the most busy ones is kept, and the busy slots
/// outside it fill its holes (so as few sequences move as possible).
pub(crate) fn packing(busy: &[bool]) -> Vec<(i32, i32)> {
    let n = busy.iter().filter(|&&b| b).count();
    if n == 0 {
        return Vec::new();
    }
    let inside = |lo: usize| busy[lo..lo + n].iter().filter(|&&b| b).count();
    let (lo, most) = (0..=busy.len() - n)
        .map(|lo| (lo, inside(lo)))
        .fold((0, 0), |best, cur| if cur.1 > best.1 { cur } else { best });
    if most == n {
        return Vec::new();
    }
    let ids = (0..).zip(busy.iter().copied());
    let outside = ids
        .clone()
        .enumerate()
        .filter(|&(i, (_, b))| b && !(lo..lo + n).contains(&i))
        .map(|(_, (seq, _))| seq);
    let holes = ids
        .enumerate()
        .filter(|&(i, (_, b))| !b && (lo..lo + n).contains(&i))
        .map(|(_, (seq, _))| seq);
    outside.zip(holes).collect()
}

/// What a job does about the prefix its prompt shares with other sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Share {
    /// Nothing elsewhere beats the job's own cells by enough: prefill the rest itself.
    Own,
    /// Copy slot `from`'s cells and keep the first `len` (they are this prompt's first `len`).
    Copy { from: i32, len: usize },
    /// A job still prefilling will hold this prompt's first `len` tokens within a few steps:
    /// wait for it rather than compute them twice.
    Wait { len: usize },
}

/// Decides where the prompt's prefix comes from.
///
/// - `own`: the job's slot, already holding `have` tokens of `prompt`.
/// - `slots`: every slot, indexed by sequence id; `usable(seq)` says whether its cells can be
///   copied (no media, no positions dropped by a sliding window).
/// - `in_flight`: the prompts of other jobs still prefilling (and not waiting themselves).
/// - `min_gain`: fewest tokens a copy or a wait must save over what the job has.
///
/// The last prompt token is always left to decode, for its logits.
pub(crate) fn plan<'a>(
    slots: &[SlotCache],
    own: i32,
    have: usize,
    prompt: &[LlamaToken],
    usable: impl Fn(i32) -> bool,
    in_flight: impl Iterator<Item = &'a [LlamaToken]>,
    min_gain: usize,
) -> Share {
    let limit = prompt.len().saturating_sub(1);
    let min_gain = min_gain.max(1);
    let mut best: Option<(i32, usize)> = None;
    for (seq, slot) in (0..).zip(slots) {
        if seq == own || slot.media {
            continue;
        }
        let len = common_prefix(&slot.tokens, prompt).min(limit);
        if len > best.map_or(0, |(_, l)| l) && usable(seq) {
            best = Some((seq, len));
        }
    }
    let now = best.map_or(0, |(_, l)| l);
    let later = in_flight
        .map(|p| common_prefix(p, prompt).min(limit))
        .max()
        .unwrap_or(0);
    if later >= now.max(have) + min_gain {
        return Share::Wait { len: later };
    }
    match best {
        Some((from, len)) if len >= have + min_gain => Share::Copy { from, len },
        _ => Share::Own,
    }
}

/// Fewest prompt tokens a copy must save. With a unified KV cache a copy only marks cells as
/// shared, so one token is enough. With a stream per sequence it copies the whole stream
/// (`ctx_per_slot` cells of every layer): on SmolLM2-135M, whose KV rows are large next to
/// its weights, about 3.5 ms per 1,024 cells on 2 cores, what prefilling one token costs.
/// The bar is twice that, `ctx_per_slot / 512` tokens, and never under 4.
pub(crate) fn min_gain(unified_kv: bool, ctx_per_slot: u32) -> usize {
    if unified_kv {
        1
    } else {
        usize::try_from(ctx_per_slot / 512)
            .unwrap_or(usize::MAX)
            .max(4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().copied().map(LlamaToken::new).collect()
    }

    fn slot(ids: &[i32]) -> SlotCache {
        SlotCache {
            tokens: toks(ids),
            ..SlotCache::default()
        }
    }

    const PROMPT: &[i32] = &[1, 2, 3, 4, 5, 6, 7, 8, 9];

    #[test]
    fn copies_the_longest_prefix_held_elsewhere() {
        let slots = [slot(&[]), slot(&[1, 2, 3, 9]), slot(&[1, 2, 3, 4, 5, 6, 0])];
        let p = toks(PROMPT);
        let got = plan(&slots, 0, 0, &p, |_| true, std::iter::empty(), 2);
        assert_eq!(got, Share::Copy { from: 2, len: 6 });
    }

    #[test]
    fn keeps_its_own_cells_unless_a_copy_gains_enough() {
        let slots = [slot(&[1, 2, 3, 4, 5]), slot(&[1, 2, 3, 4, 5, 6])];
        let p = toks(PROMPT);
        assert_eq!(
            plan(&slots, 0, 5, &p, |_| true, std::iter::empty(), 2),
            Share::Own
        );
        assert_eq!(
            plan(&slots, 0, 5, &p, |_| true, std::iter::empty(), 1),
            Share::Copy { from: 1, len: 6 }
        );
    }

    #[test]
    fn never_takes_the_last_prompt_token_nor_unusable_cells() {
        let p = toks(PROMPT);
        let whole = [slot(&[]), slot(PROMPT)];
        assert_eq!(
            plan(&whole, 0, 0, &p, |_| true, std::iter::empty(), 1),
            Share::Copy { from: 1, len: 8 }
        );
        assert_eq!(
            plan(&whole, 0, 0, &p, |s| s != 1, std::iter::empty(), 1),
            Share::Own
        );
        let mut media = slot(PROMPT);
        media.media = true;
        let slots = [slot(&[]), media];
        assert_eq!(
            plan(&slots, 0, 0, &p, |_| true, std::iter::empty(), 1),
            Share::Own
        );
    }

    #[test]
    fn waits_for_a_prefill_in_flight_that_will_hold_more() {
        let slots = [slot(&[]), slot(&[1, 2])];
        let p = toks(PROMPT);
        let other = toks(&[1, 2, 3, 4, 5, 6, 42]);
        let got = plan(
            &slots,
            0,
            0,
            &p,
            |_| true,
            [other.as_slice()].into_iter(),
            2,
        );
        assert_eq!(got, Share::Wait { len: 6 });
        // once it holds them, copy
        let slots = [slot(&[]), slot(&[1, 2, 3, 4, 5, 6])];
        let got = plan(
            &slots,
            0,
            0,
            &p,
            |_| true,
            [other.as_slice()].into_iter(),
            2,
        );
        assert_eq!(got, Share::Copy { from: 1, len: 6 });
        // a wait that gains too little is not worth it
        let slots = [slot(&[]), slot(&[1, 2, 3, 4, 5])];
        let got = plan(
            &slots,
            0,
            0,
            &p,
            |_| true,
            [other.as_slice()].into_iter(),
            2,
        );
        assert_eq!(got, Share::Copy { from: 1, len: 5 });
    }

    #[test]
    fn a_new_sequence_stays_next_to_the_busy_ones() {
        let p = toks(PROMPT);
        let slots: Vec<SlotCache> = (0..6)
            .map(|s| if s == 5 { slot(PROMPT) } else { slot(&[]) })
            .collect();
        let free = [0, 3, 5];
        let busy = |s: i32| s == 1 || s == 2 || s == 4;
        // 3 joins the runs {1, 2} and {4}; 5 holds the whole prompt but would stand apart
        // from nothing, and 0 extends {1, 2}
        assert_eq!(choose_slot(&free, &slots, busy, &p, &[], true), Some(1));
        // with one stream for all, the prefix decides
        assert_eq!(choose_slot(&free, &slots, busy, &p, &[], false), Some(2));
        // nothing busy: the prefix decides too
        assert_eq!(
            choose_slot(&free, &slots, |_| false, &p, &[], true),
            Some(2)
        );
        // among equals, an empty slot before a used one, then the least recently used
        let mut slots = vec![slot(&[7]), slot(&[]), slot(&[8])];
        slots[2].last_used = 1;
        assert_eq!(
            choose_slot(&[0, 2], &slots, |_| false, &p, &[], true),
            Some(0)
        );
        assert_eq!(
            choose_slot(&[0, 1, 2], &slots, |_| false, &p, &[], true),
            Some(1)
        );
        assert_eq!(choose_slot(&[], &slots, |_| false, &p, &[], true), None);
    }

    #[test]
    fn a_slot_holding_more_of_a_starting_job_is_left_to_it() {
        // Two conversations cached in slots 1 and 4, both answered again at once; slot 2 is busy.
        let a = toks(&[1, 2, 3, 10, 11, 12]);
        let b = toks(&[1, 2, 3, 20, 21, 22]);
        let mut slots: Vec<SlotCache> = (0..5).map(|_| slot(&[])).collect();
        slots[1] = slot(&[1, 2, 3, 20, 21, 99]);
        slots[4] = slot(&[1, 2, 3, 10, 11, 98]);
        let free = [0, 1, 3, 4];
        let busy = |s: i32| s == 2;
        // Alone, `a` would take slot 1: next to the busy one and 3 tokens of its prompt.
        assert_eq!(choose_slot(&free, &slots, busy, &a, &[], true), Some(1));
        // With `b` starting too, slot 1 holds 5 of b's tokens: `a` takes slot 3 (next to the
        // busy one, and its own prefix can be copied from slot 4), `b` then takes slot 1.
        assert_eq!(choose_slot(&free, &slots, busy, &a, &[&b], true), Some(2));
        let busy = |s: i32| s == 2 || s == 3;
        assert_eq!(
            choose_slot(&[0, 1, 4], &slots, busy, &b, &[], true),
            Some(1)
        );
        // A slot that holds as much of this prompt as of the other's is not claimed.
        slots[1] = slot(&[1, 2, 3]);
        assert_eq!(
            choose_slot(&free, &slots, |s| s == 2, &a, &[&b], true),
            Some(1)
        );
    }

    #[test]
    fn packing_fills_the_gaps_with_the_fewest_moves() {
        let b = |s: &str| s.chars().map(|c| c == '#').collect::<Vec<_>>();
        assert!(packing(&b("")).is_empty());
        assert!(packing(&b("....")).is_empty());
        assert!(packing(&b("..###...")).is_empty());
        assert_eq!(packing(&b("##.#")), vec![(3, 2)]);
        assert_eq!(packing(&b("#..##")), vec![(0, 2)]);
        assert_eq!(packing(&b("#.#.#.#.")), vec![(4, 1), (6, 3)]);
        assert_eq!(packing(&b(".#....##")), vec![(1, 5)]);
    }

    #[test]
    fn the_bar_follows_the_kv_layout() {
        assert_eq!(min_gain(true, 4096), 1);
        assert_eq!(min_gain(false, 4096), 8);
        assert_eq!(min_gain(false, 1024), 4);
        assert_eq!(min_gain(false, 32768), 64);
    }
}
