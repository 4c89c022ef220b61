//! ingot's sampling policy over the raw logits llama.cpp returns.
//!
//! One [`Sampler`] per sequence: it owns the sequence's RNG (so a seeded sequence draws the
//! same numbers whatever else is batched with it) and its token statistics for penalties.

use std::collections::HashMap;

use crate::types::SamplingParams;

/// Candidates sorted first when looking for the top-p nucleus; the whole list is sorted only
/// when these do not reach the requested mass.
const TOP_P_FIRST_PASS: usize = 256;

/// xoshiro256** seeded through SplitMix64: small, fast, and good enough for sampling.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        let mut st = seed;
        Self {
            s: [
                splitmix64(&mut st),
                splitmix64(&mut st),
                splitmix64(&mut st),
                splitmix64(&mut st),
            ],
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        // 53 random bits → exact f64 in [0, 1).
        #[expect(clippy::cast_precision_loss, reason = "53-bit value is exact in f64")]
        let v = (self.next_u64() >> 11) as f64;
        v / (1u64 << 53) as f64
    }
}

/// The seed of choice `choice` of a job seeded with `seed`: choice 0 uses the seed itself, so
/// `n = 1` and the first of `n > 1` choices agree.
pub(crate) fn choice_seed(seed: u64, choice: u32) -> u64 {
    if choice == 0 {
        seed
    } else {
        let mut st = seed ^ u64::from(choice).wrapping_mul(0xD1B5_4A32_D192_ED03);
        splitmix64(&mut st)
    }
}

/// A random seed for jobs that did not ask for one.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

/// Index of the largest value; the first one on ties (as llama.cpp's greedy sampler).
pub(crate) fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate().skip(1) {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Per-sequence sampler state.
#[derive(Clone)]
pub(crate) struct Sampler {
    /// The output constraint: tokens it does not allow are masked before anything else.
    constraint: Option<llguidance::Matcher>,
    /// End-of-generation tokens, masked until `min_tokens` were generated.
    eog: std::sync::Arc<[u32]>,
    /// Tokens accepted so far.
    generated: u32,
    params: SamplingParams,
    rng: Rng,
    /// Tokens of prompt + output, for the repetition penalty.
    seen: Vec<bool>,
    /// Occurrences of each token in the output, for presence/frequency penalties.
    output_counts: HashMap<u32, u32>,
    scratch: Vec<f32>,
    candidates: Vec<(u32, f32)>,
}

impl Sampler {
    pub(crate) fn new(
        params: SamplingParams,
        seed: u64,
        n_vocab: usize,
        prompt: &[u32],
        constraint: Option<llguidance::Matcher>,
        eog: std::sync::Arc<[u32]>,
    ) -> Self {
        let mut seen = Vec::new();
        if params.repetition_penalty != 1.0 {
            seen = vec![false; n_vocab];
            for &t in prompt {
                if let Some(s) = seen.get_mut(t as usize) {
                    *s = true;
                }
            }
        }
        Self {
            constraint,
            eog,
            generated: 0,
            params,
            rng: Rng::new(seed),
            seen,
            output_counts: HashMap::new(),
            scratch: Vec::new(),
            candidates: Vec::new(),
        }
    }

    fn is_plain_greedy(&self) -> bool {
        self.params.temperature <= 0.0
            && self.params.logit_bias.is_empty()
            && self.params.repetition_penalty == 1.0
            && self.params.presence_penalty == 0.0
            && self.params.frequency_penalty == 0.0
    }

    /// Whether an output constraint applies.
    pub(crate) fn is_constrained(&self) -> bool {
        self.constraint.is_some()
    }

    /// Whether the output constraint is in an error state (the sequence must end).
    pub(crate) fn constraint_failed(&self) -> bool {
        self.constraint
            .as_ref()
            .is_some_and(llguidance::Matcher::is_error)
    }

    /// Whether the output constraint is complete and allows no further token.
    pub(crate) fn constraint_complete(&self) -> bool {
        self.constraint
            .as_ref()
            .is_some_and(llguidance::Matcher::is_stopped)
    }

    /// Records a generated token (for penalties and the constraint).
    pub(crate) fn accept(&mut self, token: u32) {
        self.generated = self.generated.saturating_add(1);
        if let Some(m) = &mut self.constraint
            && !m.is_stopped()
            && let Err(e) = m.consume_token(token)
        {
            tracing::warn!(error = %e, token, "output constraint rejected a sampled token");
        }
        if let Some(s) = self.seen.get_mut(token as usize) {
            *s = true;
        }
        *self.output_counts.entry(token).or_insert(0) += 1;
    }

    /// Picks the next token from the raw logits.
    pub(crate) fn sample(&mut self, raw: &[f32]) -> u32 {
        if raw.is_empty() {
            return 0;
        }
        let hold_eog = self.generated < self.params.min_tokens;
        if self.constraint.is_none() && !hold_eog && self.is_plain_greedy() {
            return to_u32(argmax(raw));
        }
        let mut logits = std::mem::take(&mut self.scratch);
        logits.clear();
        logits.extend_from_slice(raw);
        self.apply_constraint(&mut logits);
        if hold_eog {
            self.hold_eog(&mut logits);
        }
        self.apply_bias_and_penalties(&mut logits);
        let token = if self.params.temperature <= 0.0 {
            to_u32(argmax(&logits))
        } else {
            self.sample_distribution(&logits)
        };
        self.scratch = logits;
        token
    }

    /// Masks every token the constraint does not allow now (only end-of-generation once it is
    /// complete). A constraint that failed masks nothing: the caller ends the sequence on
    /// [`Sampler::constraint_failed`] before using the token.
    fn apply_constraint(&mut self, logits: &mut [f32]) {
        let Some(m) = &mut self.constraint else {
            return;
        };
        match m.compute_mask_or_eos() {
            Ok(mask) => {
                for (i, l) in logits.iter_mut().enumerate() {
                    if !mask.is_allowed(to_u32(i)) {
                        *l = f32::NEG_INFINITY;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "output constraint failed; ending the sequence"),
        }
    }

    /// Masks end-of-generation, unless nothing else is left (a complete output constraint).
    fn hold_eog(&self, logits: &mut [f32]) {
        let is_eog = |i: usize| self.eog.contains(&to_u32(i));
        let other = logits
            .iter()
            .enumerate()
            .any(|(i, l)| l.is_finite() && !is_eog(i));
        if other {
            for &t in self.eog.iter() {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
    }

    fn apply_bias_and_penalties(&self, logits: &mut [f32]) {
        for &(tok, bias) in &self.params.logit_bias {
            if let Some(l) = logits.get_mut(tok as usize) {
                *l += bias;
            }
        }
        let rp = self.params.repetition_penalty;
        if rp != 1.0 {
            for (l, &s) in logits.iter_mut().zip(&self.seen) {
                if s {
                    *l = if *l > 0.0 { *l / rp } else { *l * rp };
                }
            }
        }
        let (pp, fp) = (self.params.presence_penalty, self.params.frequency_penalty);
        if pp != 0.0 || fp != 0.0 {
            for (&tok, &count) in &self.output_counts {
                if let Some(l) = logits.get_mut(tok as usize) {
                    #[expect(clippy::cast_precision_loss, reason = "token counts are small")]
                    let c = count as f32;
                    *l -= pp + fp * c;
                }
            }
        }
    }

    fn sample_distribution(&mut self, logits: &[f32]) -> u32 {
        let inv_t = 1.0 / self.params.temperature;
        let mut cands = std::mem::take(&mut self.candidates);
        cands.clear();
        cands.extend(
            logits
                .iter()
                .enumerate()
                .filter(|(_, l)| l.is_finite())
                .map(|(i, &l)| (to_u32(i), l * inv_t)),
        );
        if cands.is_empty() {
            self.candidates = cands;
            return to_u32(argmax(logits));
        }
        truncate_distribution(&mut cands, &self.params);
        let total: f64 = cands.iter().map(|&(_, p)| f64::from(p)).sum();
        let mut target = self.rng.next_f64() * total;
        let mut chosen = cands[cands.len() - 1].0;
        for &(tok, p) in &cands {
            target -= f64::from(p);
            if target < 0.0 {
                chosen = tok;
                break;
            }
        }
        self.candidates = cands;
        chosen
    }
}

fn to_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn desc(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Turns scaled logits into probabilities and applies top-k, top-p and min-p.
/// On return `cands` holds (token, probability) pairs (not renormalised).
pub(crate) fn truncate_distribution(cands: &mut Vec<(u32, f32)>, params: &SamplingParams) {
    let k = params.top_k as usize;
    if k > 0 && k < cands.len() {
        cands.select_nth_unstable_by(k - 1, desc);
        cands.truncate(k);
    }
    let max = cands.iter().map(|c| c.1).fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for c in cands.iter_mut() {
        c.1 = (c.1 - max).exp();
        sum += f64::from(c.1);
    }
    #[expect(clippy::cast_possible_truncation, reason = "probabilities fit f32")]
    let inv = (1.0 / sum) as f32;
    for c in cands.iter_mut() {
        c.1 *= inv;
    }
    if params.top_p < 1.0 {
        let target = f64::from(params.top_p);
        let mut cut = None;
        if cands.len() > TOP_P_FIRST_PASS {
            cands.select_nth_unstable_by(TOP_P_FIRST_PASS - 1, desc);
            cands[..TOP_P_FIRST_PASS].sort_unstable_by(desc);
            cut = nucleus_len(&cands[..TOP_P_FIRST_PASS], target);
        }
        if cut.is_none() {
            cands.sort_unstable_by(desc);
            cut = nucleus_len(cands, target);
        }
        cands.truncate(cut.unwrap_or(cands.len()).max(1));
    }
    if params.min_p > 0.0 {
        let top = cands.iter().map(|c| c.1).fold(0.0f32, f32::max);
        let threshold = top * params.min_p;
        cands.retain(|c| c.1 >= threshold);
    }
}

/// Length of the shortest prefix of `sorted` (descending) whose mass reaches `target`.
fn nucleus_len(sorted: &[(u32, f32)], target: f64) -> Option<usize> {
    let mut acc = 0.0f64;
    for (i, c) in sorted.iter().enumerate() {
        acc += f64::from(c.1);
        if acc >= target {
            return Some(i + 1);
        }
    }
    None
}

/// Log-softmax of the raw logits at `token`, with the `k` most likely alternatives.
pub(crate) fn logprobs(raw: &[f32], token: u32, k: usize) -> (f32, Vec<(u32, f32)>) {
    let max = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = raw.iter().map(|&l| f64::from(l - max).exp()).sum();
    #[expect(clippy::cast_possible_truncation, reason = "log-sum-exp fits f32")]
    let lse = max + sum.ln() as f32;
    let lp = raw
        .get(token as usize)
        .map_or(f32::NEG_INFINITY, |&l| l - lse);
    let mut top = Vec::new();
    if k > 0 {
        let mut idx: Vec<(u32, f32)> = raw
            .iter()
            .enumerate()
            .map(|(i, &l)| (to_u32(i), l))
            .collect();
        let k = k.min(idx.len());
        if k < idx.len() {
            idx.select_nth_unstable_by(k - 1, desc);
            idx.truncate(k);
        }
        idx.sort_unstable_by(desc);
        top = idx.into_iter().map(|(t, l)| (t, l - lse)).collect();
    }
    (lp, top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_eog() -> std::sync::Arc<[u32]> {
        std::sync::Arc::from(Vec::new())
    }

    #[test]
    fn min_tokens_holds_end_of_generation_back() {
        let params = SamplingParams {
            min_tokens: 2,
            ..SamplingParams::greedy()
        };
        let mut s = Sampler::new(params, 1, 3, &[], None, std::sync::Arc::from(vec![2u32]));
        let logits = [0.0, 1.0, 5.0];
        assert_eq!(s.sample(&logits), 1);
        s.accept(1);
        assert_eq!(s.sample(&logits), 1);
        s.accept(1);
        assert_eq!(s.sample(&logits), 2, "free to end after two tokens");
        // With nothing but end-of-generation left, it is drawn anyway.
        let mut s = Sampler::new(
            SamplingParams {
                min_tokens: 5,
                ..SamplingParams::greedy()
            },
            1,
            2,
            &[],
            None,
            std::sync::Arc::from(vec![1u32]),
        );
        assert_eq!(s.sample(&[f32::NEG_INFINITY, 0.0]), 1);
    }

    fn params() -> SamplingParams {
        SamplingParams {
            temperature: 1.0,
            ..SamplingParams::default()
        }
    }

    fn cands(logits: &[f32]) -> Vec<(u32, f32)> {
        logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (to_u32(i), l))
            .collect()
    }

    fn tokens(c: &[(u32, f32)]) -> Vec<u32> {
        let mut t: Vec<u32> = c.iter().map(|c| c.0).collect();
        t.sort_unstable();
        t
    }

    #[test]
    fn argmax_takes_first_on_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[5.0]), 0);
    }

    #[test]
    fn greedy_ignores_rng() {
        let mut s = Sampler::new(SamplingParams::greedy(), 1, 4, &[], None, no_eog());
        assert_eq!(s.sample(&[0.1, 0.9, 0.3, -1.0]), 1);
    }

    #[test]
    fn top_k_keeps_k_best() {
        let mut c = cands(&[1.0, 4.0, 3.0, 2.0, 0.0]);
        truncate_distribution(
            &mut c,
            &SamplingParams {
                top_k: 2,
                ..params()
            },
        );
        assert_eq!(tokens(&c), vec![1, 2]);
        let sum: f32 = c.iter().map(|c| c.1).sum();
        assert!((sum - 1.0).abs() < 1e-6);
    }

    #[test]
    fn top_p_keeps_smallest_nucleus() {
        // probabilities 0.5, 0.25, 0.125, 0.125 (log2 spaced logits)
        let l = [0.5f32.ln(), 0.25f32.ln(), 0.125f32.ln(), 0.125f32.ln()];
        let mut c = cands(&l);
        truncate_distribution(
            &mut c,
            &SamplingParams {
                top_p: 0.7,
                ..params()
            },
        );
        assert_eq!(tokens(&c), vec![0, 1]);
        let mut c = cands(&l);
        truncate_distribution(
            &mut c,
            &SamplingParams {
                top_p: 0.4,
                ..params()
            },
        );
        assert_eq!(tokens(&c), vec![0]);
    }

    #[test]
    fn top_p_on_large_vocab_matches_full_sort() {
        let l: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f32 / 100.0)
            .collect();
        let mut a = cands(&l);
        truncate_distribution(
            &mut a,
            &SamplingParams {
                top_p: 0.9,
                ..params()
            },
        );
        // reference: full sort
        let mut b = cands(&l);
        truncate_distribution(
            &mut b,
            &SamplingParams {
                top_p: 1.0,
                ..params()
            },
        );
        b.sort_by(desc);
        let n = nucleus_len(&b, 0.9).unwrap();
        assert_eq!(a.len(), n);
        let mut bt = tokens(&b[..n]);
        bt.sort_unstable();
        assert_eq!(tokens(&a), bt);
    }

    #[test]
    fn min_p_drops_unlikely() {
        let l = [0.6f32.ln(), 0.3f32.ln(), 0.05f32.ln(), 0.05f32.ln()];
        let mut c = cands(&l);
        truncate_distribution(
            &mut c,
            &SamplingParams {
                min_p: 0.2,
                ..params()
            },
        );
        assert_eq!(tokens(&c), vec![0, 1]);
    }

    #[test]
    fn penalties_and_bias() {
        let p = SamplingParams {
            temperature: 0.0,
            repetition_penalty: 2.0,
            presence_penalty: 0.5,
            frequency_penalty: 0.25,
            logit_bias: vec![(3, -10.0)],
            ..SamplingParams::default()
        };
        let mut s = Sampler::new(p, 0, 4, &[0], None, no_eog());
        s.accept(1);
        s.accept(1);
        let mut l = vec![4.0, 3.0, -1.0, 10.0];
        s.apply_bias_and_penalties(&mut l);
        // token 0: seen in prompt → 4/2; token 1: 3/2 - 0.5 - 0.25*2; token 3: biased
        assert_eq!(l, vec![2.0, 0.5, -1.0, 0.0]);
        // negative logits are multiplied
        let mut s2 = Sampler::new(
            SamplingParams {
                temperature: 0.0,
                repetition_penalty: 2.0,
                ..SamplingParams::default()
            },
            0,
            2,
            &[1],
            None,
            no_eog(),
        );
        let mut l2 = vec![0.0, -1.5];
        s2.apply_bias_and_penalties(&mut l2);
        assert_eq!(l2, vec![0.0, -3.0]);
        assert_eq!(s2.sample(&[0.0, -1.5]), 0);
    }

    #[test]
    fn seeded_sampling_is_reproducible_and_follows_distribution() {
        let l = [0.0f32, 1.0f32.ln() + 1.0, -50.0];
        let draw = |seed| {
            let mut s = Sampler::new(params(), seed, 3, &[], None, no_eog());
            (0..2000).map(|_| s.sample(&l)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let d = draw(7);
        let ones = d.iter().filter(|&&t| t == 1).count() as f64 / d.len() as f64;
        let expected = 1.0f64.exp() / (1.0 + 1.0f64.exp());
        assert!((ones - expected).abs() < 0.05, "{ones} vs {expected}");
        assert!(!d.contains(&2));
    }

    #[test]
    fn logprobs_are_log_softmax() {
        let (lp, top) = logprobs(&[0.0, 0.0, 2.0f32.ln()], 2, 2);
        assert!((lp - 0.5f32.ln()).abs() < 1e-6);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].0, 2);
        assert!((top[1].1 - 0.25f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn choice_seeds_differ_but_choice_zero_is_seed() {
        assert_eq!(choice_seed(42, 0), 42);
        assert_ne!(choice_seed(42, 1), choice_seed(42, 2));
    }
}
