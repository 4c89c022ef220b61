//! The per-model scheduler thread: continuous batching with chunked prefill.
//!
//! Each step builds ONE llama.cpp batch holding the next token of every generating sequence
//! plus at most `batch_tokens - decoding` prompt tokens of jobs still prefilling, decodes it,
//! samples every sequence that produced logits, and streams the results. New jobs join between
//! steps whenever enough slots (sequences) are free; jobs whose receiver was dropped are freed
//! at the start of the next step.
//!
//! Prompt prefixes (`slots`): a finished (or cancelled) sequence keeps its KV cells and the
//! list of tokens they hold until its slot is reused. A new job takes the free slot whose
//! tokens share the longest prefix with its prompt and drops the cells past that prefix; when
//! another slot, running or free, holds a longer prefix, its cells are copied, and when a job
//! still prefilling will hold one, the new job waits for it. Only the rest is prefilled, so a
//! resent system prompt or conversation history is not computed again, nor is a system prompt
//! shared by requests that arrive together.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::mtmd::MtmdInputChunks;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc::error::TrySendError;

mod output;
mod placement;

use self::output::on_token;
use crate::engine::{Shared, default_threads, llama_backend, total_ctx};
use crate::error::EngineError;
use crate::sampler::{Sampler, choice_seed};
use crate::slots::{self, SlotCache};
use crate::stop::{StopMatcher, Utf8Buffer};
use crate::types::{ChatEvent, ChatJob, TokenLogprob};

/// How long an idle-but-draining scheduler waits for new work before retrying delivery.
const DRAIN_POLL: Duration = Duration::from_millis(2);

/// A validated, tokenized job on its way to the scheduler.
pub(crate) struct Request {
    /// The prompt's tokens; for a prompt with images, its text tokens only (the sampler's
    /// history), the whole prompt being `media`.
    pub(crate) prompt: Vec<LlamaToken>,
    /// Text and image chunks of a prompt with images, evaluated through the projector.
    pub(crate) media: Option<MtmdInputChunks>,
    pub(crate) max_new: u32,
    pub(crate) seed: u64,
    pub(crate) job: ChatJob,
    pub(crate) tx: tokio::sync::mpsc::Sender<ChatEvent>,
    pub(crate) submitted: Instant,
    /// Prompt tokens served from the prefix cache, set when the job starts.
    pub(crate) cached: Arc<AtomicU32>,
    /// The compiled output constraint; each choice decodes with its own copy.
    pub(crate) matcher: Option<llguidance::Matcher>,
}

/// Starts the scheduler thread; returns once its llama context exists.
pub(crate) fn spawn(shared: Arc<Shared>) -> Result<SyncSender<Request>, EngineError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Request>(shared.cfg.queue_capacity + 1);
    let (init_tx, init_rx) = std::sync::mpsc::channel::<Result<(), EngineError>>();
    let name = format!("ingot-chat-{}", shared.info.name);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || run(&shared, &rx, &init_tx))
        .map_err(|e| EngineError::Load(format!("cannot start scheduler thread: {e}")))?;
    match init_rx.recv() {
        Ok(Ok(())) => Ok(tx),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(EngineError::Load(
            "scheduler thread exited during start-up".into(),
        )),
    }
}

fn run(
    shared: &Arc<Shared>,
    rx: &Receiver<Request>,
    init_tx: &std::sync::mpsc::Sender<Result<(), EngineError>>,
) {
    let cfg = &shared.cfg;
    let threads = i32::try_from(cfg.threads.unwrap_or_else(default_threads)).unwrap_or(1);
    let ctx = llama_backend().and_then(|backend| {
        let params = LlamaContextParams::default()
            .with_n_ctx(total_ctx(cfg))
            .with_n_batch(cfg.batch_tokens)
            .with_n_ubatch(cfg.batch_tokens)
            .with_n_seq_max(cfg.max_slots)
            .with_kv_unified(cfg.unified_kv)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        shared
            .model
            .new_context(backend, params)
            .map_err(|e| EngineError::Load(format!("cannot create llama context: {e}")))
    });
    let ctx = match ctx {
        Ok(ctx) => ctx,
        Err(e) => {
            let _ = init_tx.send(Err(e));
            return;
        }
    };
    let _ = init_tx.send(Ok(()));
    let mut sched = Scheduler {
        shared: Arc::clone(shared),
        ctx,
        batch: LlamaBatch::new(cfg.batch_tokens as usize, 1),
        free: (0..cfg.max_slots)
            .rev()
            .filter_map(|s| i32::try_from(s).ok())
            .collect(),
        slots: (0..cfg.max_slots).map(|_| SlotCache::default()).collect(),
        tick: 0,
        active: Vec::new(),
        room: VecDeque::new(),
        disconnected: false,
        min_gain: slots::min_gain(cfg.unified_kv, cfg.ctx_per_slot),
    };
    while sched.admit(rx) {
        sched.drop_cancelled();
        sched.step();
        sched.flush_and_retire();
        let busy = sched.active.iter().map(|j| j.choices.len()).sum::<usize>();
        shared.active.store(busy, Ordering::Relaxed);
    }
    shared.active.store(0, Ordering::Relaxed);
    tracing::debug!(model = %shared.info.name, "scheduler stopped");
}

/// One sequence's share of a batch.
enum Part {
    /// The next token of choice `choice` of job `job`.
    Decode { job: usize, choice: usize },
    /// The next prompt tokens of job `job` (`Active::in_batch` of them).
    Prefill { job: usize },
}

/// One choice of a job = one llama.cpp sequence.
struct Choice {
    index: u32,
    seq_id: i32,
    sampler: Sampler,
    utf8: Utf8Buffer,
    stop: StopMatcher,
    /// Tokens of this sequence in the KV cache.
    n_past: i32,
    /// Sampled token not yet decoded.
    next: Option<LlamaToken>,
    generated: u32,
    done: bool,
    pending_logprobs: Vec<TokenLogprob>,
    batch_idx: Option<i32>,
}

impl Choice {
    /// Choice `index` of `req` on sequence `seq_id`, whose KV holds `n_past` prompt tokens.
    fn new(
        req: &Request,
        index: u32,
        seq_id: i32,
        n_past: i32,
        n_vocab: usize,
        eog: &Arc<[u32]>,
    ) -> Self {
        let prompt_ids: Vec<u32> = req
            .prompt
            .iter()
            .map(|t| u32::try_from(t.0).unwrap_or(0))
            .collect();
        Self {
            index,
            seq_id,
            sampler: Sampler::new(
                req.job.sampling.clone(),
                choice_seed(req.seed, index),
                n_vocab,
                &prompt_ids,
                req.matcher.as_ref().map(llguidance::Matcher::deep_clone),
                Arc::clone(eog),
            ),
            utf8: Utf8Buffer::default(),
            stop: StopMatcher::new(&req.job.stop),
            n_past,
            next: None,
            generated: 0,
            done: false,
            pending_logprobs: Vec::new(),
            batch_idx: None,
        }
    }
}

struct Active {
    req: Request,
    /// Prompt tokens already in the KV cache of choice 0's sequence.
    prefilled: usize,
    /// Prompt tokens placed in the current batch.
    in_batch: usize,
    /// Batch index of the last prompt token when this step completes the prefill.
    prefill_logits: Option<i32>,
    choices: Vec<Choice>,
    outbox: VecDeque<ChatEvent>,
    failed: bool,
    /// Waiting for a job still prefilling to compute a prefix this prompt shares
    /// ([`Share::Wait`]); not prefilled meanwhile.
    waiting: bool,
}

impl Active {
    fn all_done(&self) -> bool {
        self.failed || self.choices.iter().all(|c| c.done)
    }

    /// A text prompt with tokens left to prefill, computing them itself (a possible donor).
    fn prefilling(&self) -> bool {
        !self.waiting
            && !self.failed
            && self.req.media.is_none()
            && self.prefilled < self.req.prompt.len()
    }
}

fn slot_mut(slots: &mut [SlotCache], seq: i32) -> Option<&mut SlotCache> {
    usize::try_from(seq).ok().and_then(|s| slots.get_mut(s))
}

struct Scheduler<'m> {
    shared: Arc<Shared>,
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    /// Slots not used by any job (their KV may still hold a resident prefix).
    free: Vec<i32>,
    /// Per slot (indexed by seq id): the tokens its KV cells hold.
    slots: Vec<SlotCache>,
    tick: u64,
    active: Vec<Active>,
    /// Jobs taken off the channel, not started yet (in arrival order).
    room: VecDeque<Request>,
    disconnected: bool,
    /// Fewest prompt tokens a prefix copy must save ([`slots::min_gain`]).
    min_gain: usize,
}

impl Scheduler<'_> {
    /// Takes queued jobs while slots are free. Returns false when the engine is gone and
    /// nothing is left to do.
    ///
    /// Up to one job per free slot is taken off the channel into `room` first, so a job
    /// choosing its slot knows which cached prompts the jobs starting with it would reuse
    /// ([`slots::choose_slot`]).
    fn admit(&mut self, rx: &Receiver<Request>) -> bool {
        loop {
            self.fill_room(rx);
            let Some(req) = self.room.pop_front() else {
                return !(self.disconnected && self.active.is_empty());
            };
            if req.tx.is_closed() {
                self.shared.queued.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            if self.free.len() < req.job.n as usize {
                self.room.push_front(req);
                return true;
            }
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            self.start(req);
        }
    }

    /// Moves queued jobs from the channel into `room`, up to one per free slot (at least
    /// one). For the first it blocks when nothing is active and polls briefly when every
    /// active job is done (their last events are being flushed); the others are taken only
    /// if they are already there.
    fn fill_room(&mut self, rx: &Receiver<Request>) {
        while !self.disconnected && self.room.len() < self.free.len().max(1) {
            let first = self.room.is_empty();
            let next = if first && self.active.is_empty() {
                rx.recv().map_err(|_| ())
            } else if first && self.active.iter().all(Active::all_done) {
                match rx.recv_timeout(DRAIN_POLL) {
                    Ok(r) => Ok(r),
                    Err(RecvTimeoutError::Timeout) => return,
                    Err(RecvTimeoutError::Disconnected) => Err(()),
                }
            } else {
                match rx.try_recv() {
                    Ok(r) => Ok(r),
                    Err(TryRecvError::Empty) => return,
                    Err(TryRecvError::Disconnected) => Err(()),
                }
            };
            match next {
                Ok(r) => self.room.push_back(r),
                Err(()) => self.disconnected = true,
            }
        }
    }

    fn start(&mut self, req: Request) {
        if req.media.is_some() {
            self.start_media(req);
            return;
        }
        let n_vocab = self.shared.token_bytes.len();
        let mut choices = Vec::with_capacity(req.job.n as usize);
        let mut cached = 0;
        for index in 0..req.job.n {
            let seq_id = if index == 0 {
                let Some((seq, k)) = self.take_prefix_slot(&req.prompt) else {
                    break;
                };
                cached = k;
                seq
            } else {
                let Some(seq) = self.take_slot(&[]) else {
                    break;
                };
                self.reset_slot(seq);
                seq
            };
            let n_past = if index == 0 {
                i32::try_from(cached).unwrap_or(0)
            } else {
                0
            };
            choices.push(Choice::new(
                &req,
                index,
                seq_id,
                n_past,
                n_vocab,
                &self.shared.eog_tokens,
            ));
        }
        tracing::trace!(
            prompt_tokens = req.prompt.len(),
            cached_tokens = cached,
            n = req.job.n,
            "job admitted"
        );
        req.cached
            .store(u32::try_from(cached).unwrap_or(0), Ordering::Release);
        self.shared
            .cached_tokens
            .fetch_add(u64::try_from(cached).unwrap_or(0), Ordering::Relaxed);
        self.active.push(Active {
            req,
            prefilled: cached,
            in_batch: 0,
            prefill_logits: None,
            choices,
            outbox: VecDeque::new(),
            failed: false,
            waiting: false,
        });
        if let Some(i) = self.active.len().checked_sub(1) {
            self.share_prefix(i);
        }
    }

    /// Starts a job whose prompt holds images: the projector encodes them and the whole
    /// prompt is decoded at once (the other sequences wait meanwhile), then its choices
    /// sample their first token. Such a prompt is never served from, nor kept in, the prefix
    /// cache.
    fn start_media(&mut self, mut req: Request) {
        let n_vocab = self.shared.token_bytes.len();
        let chunks = req.media.take();
        let mut seqs = Vec::with_capacity(req.job.n as usize);
        for _ in 0..req.job.n {
            let Some(seq) = self.take_slot(&[]) else {
                break;
            };
            self.reset_slot(seq);
            if let Some(slot) = slot_mut(&mut self.slots, seq) {
                slot.media = true;
            }
            seqs.push(seq);
        }
        let mut choices: Vec<Choice> = (0..req.job.n)
            .zip(&seqs)
            .map(|(index, &seq_id)| {
                Choice::new(&req, index, seq_id, 0, n_vocab, &self.shared.eog_tokens)
            })
            .collect();
        let evaluated = match (chunks, &self.shared.mtmd, seqs.first()) {
            (Some(chunks), Some(mtmd), Some(&seq)) => {
                let n_batch = i32::try_from(self.shared.cfg.batch_tokens).unwrap_or(i32::MAX);
                match mtmd.lock() {
                    Ok(mut m) => chunks
                        .eval_chunks(&mut m, &mut self.ctx, 0, seq, n_batch, true)
                        .map(|n_past| (n_past, chunks.total_tokens()))
                        .map_err(|e| format!("image prompt failed: {e}")),
                    Err(_) => Err("projector lock poisoned".to_owned()),
                }
            }
            _ => Err("no projector or no free sequence for an image prompt".to_owned()),
        };
        let mut outbox = VecDeque::new();
        let mut freed = Vec::new();
        let mut failed = false;
        match evaluated {
            Ok((n_past, cells)) => {
                self.shared
                    .prefilled_tokens
                    .fetch_add(u64::try_from(cells).unwrap_or(0), Ordering::Relaxed);
                let src = seqs.first().copied().unwrap_or(0);
                for c in &mut choices {
                    if c.seq_id != src {
                        let _ = self.ctx.copy_kv_cache_seq(src, c.seq_id, None, None);
                    }
                    c.n_past = n_past;
                }
                let logits = self.ctx.get_logits_ith(-1);
                for c in &mut choices {
                    let tok = c.sampler.sample(logits);
                    on_token(&self.shared, &req, &mut outbox, c, tok, logits, &mut freed);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "image prompt failed");
                outbox.push_back(ChatEvent::Error(e));
                failed = true;
                for c in &mut choices {
                    c.done = true;
                    freed.push(c.seq_id);
                }
            }
        }
        for seq in freed {
            self.release(seq, false);
        }
        self.active.push(Active {
            prefilled: req.prompt.len(),
            req,
            in_batch: 0,
            prefill_logits: None,
            choices,
            outbox,
            failed,
            waiting: false,
        });
    }

    fn drop_cancelled(&mut self) {
        let mut i = 0;
        while i < self.active.len() {
            if self.active[i].req.tx.is_closed() {
                let job = self.active.swap_remove(i);
                for c in job.choices.iter().filter(|c| !c.done) {
                    self.release(c.seq_id, true);
                }
                tracing::trace!("job cancelled");
            } else {
                i += 1;
            }
        }
        // Keep admission order for fair prefill after swap_remove.
        self.active.sort_by_key(|a| a.req.submitted);
    }

    /// Builds and decodes one batch, then samples every sequence that got logits.
    fn step(&mut self) {
        self.resolve_waits();
        self.pack();
        self.batch.clear();
        let cap = self.shared.cfg.batch_tokens as usize;
        let mut parts: Vec<(i32, Part)> = Vec::new();
        for (j, job) in self.active.iter_mut().enumerate() {
            job.in_batch = 0;
            job.prefill_logits = None;
            for (k, c) in job.choices.iter_mut().enumerate() {
                c.batch_idx = None;
                if !c.done && c.next.is_some() {
                    parts.push((c.seq_id, Part::Decode { job: j, choice: k }));
                }
            }
        }
        let mut budget = cap.saturating_sub(parts.len());
        for (j, job) in self.active.iter_mut().enumerate() {
            if budget == 0 {
                break;
            }
            let remaining = job.req.prompt.len() - job.prefilled;
            if remaining == 0 || job.failed || job.waiting {
                continue;
            }
            let Some(seq) = job.choices.first().map(|c| c.seq_id) else {
                continue;
            };
            job.in_batch = remaining.min(budget);
            budget -= job.in_batch;
            parts.push((seq, Part::Prefill { job: j }));
        }
        // With a KV stream per sequence llama.cpp computes consecutive sequence ids in one
        // pass only when they come in that order.
        parts.sort_by_key(|&(seq, _)| seq);
        let mut ok = true;
        for (seq, part) in parts {
            match part {
                Part::Decode { job, choice } => {
                    let c = self
                        .active
                        .get_mut(job)
                        .and_then(|j| j.choices.get_mut(choice));
                    if let Some(c) = c
                        && let Some(tok) = c.next
                    {
                        c.batch_idx = Some(self.batch.n_tokens());
                        ok &= self.batch.add(tok, c.n_past, &[seq], true).is_ok();
                    }
                }
                Part::Prefill { job } => {
                    let Some(job) = self.active.get_mut(job) else {
                        continue;
                    };
                    for i in job.prefilled..job.prefilled + job.in_batch {
                        let last = i + 1 == job.req.prompt.len();
                        if last {
                            job.prefill_logits = Some(self.batch.n_tokens());
                        }
                        let pos = i32::try_from(i).unwrap_or(i32::MAX);
                        ok &= self.batch.add(job.req.prompt[i], pos, &[seq], last).is_ok();
                    }
                }
            }
        }
        if self.batch.n_tokens() == 0 {
            return;
        }
        let started = Instant::now();
        let result = if ok {
            self.ctx.decode(&mut self.batch).map_err(|e| e.to_string())
        } else {
            Err("batch overflow".to_owned())
        };
        tracing::trace!(
            tokens = self.batch.n_tokens(),
            jobs = self.active.len(),
            prefilling = self.active.iter().filter(|j| j.in_batch > 0).count(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "decoded"
        );
        if let Err(e) = result {
            tracing::error!(error = %e, "llama.cpp decode failed");
            self.fail_batch(&format!("decode failed: {e}"));
            return;
        }
        self.after_decode();
    }

    fn fail_batch(&mut self, msg: &str) {
        let mut freed = Vec::new();
        for job in &mut self.active {
            let involved = job.in_batch > 0 || job.choices.iter().any(|c| c.batch_idx.is_some());
            if !involved || job.failed {
                continue;
            }
            job.failed = true;
            job.outbox.push_back(ChatEvent::Error(msg.to_owned()));
            for c in &mut job.choices {
                if !c.done {
                    c.done = true;
                    freed.push(c.seq_id);
                }
            }
        }
        for seq in freed {
            self.release(seq, false);
        }
    }

    fn after_decode(&mut self) {
        let shared = Arc::clone(&self.shared);
        let mut freed = Vec::new();
        let slots = &mut self.slots;
        for job in &mut self.active {
            for c in &mut job.choices {
                if c.batch_idx.is_some() {
                    c.n_past += 1;
                    if let (Some(tok), Some(slot)) = (c.next.take(), slot_mut(slots, c.seq_id)) {
                        slot.tokens.push(tok);
                    }
                }
            }
            if job.in_batch > 0 {
                let decoded = &job.req.prompt[job.prefilled..job.prefilled + job.in_batch];
                if let Some(slot) = job.choices.first().and_then(|c| slot_mut(slots, c.seq_id)) {
                    slot.tokens.extend_from_slice(decoded);
                }
                shared
                    .prefilled_tokens
                    .fetch_add(u64::try_from(job.in_batch).unwrap_or(0), Ordering::Relaxed);
                job.prefilled += job.in_batch;
                if let Some(first) = job.choices.first_mut() {
                    first.n_past = i32::try_from(job.prefilled).unwrap_or(i32::MAX);
                }
            }
            if job.prefill_logits.is_some() {
                // Prompt done: share its KV with the other choices.
                let (src, n_past) = match job.choices.first() {
                    Some(c) => (c.seq_id, c.n_past),
                    None => continue,
                };
                let src_tokens = slot_mut(slots, src).map(|s| s.tokens.clone());
                for c in job.choices.iter_mut().skip(1) {
                    let _ = self.ctx.copy_kv_cache_seq(src, c.seq_id, None, None);
                    c.n_past = n_past;
                    if let (Some(t), Some(slot)) = (&src_tokens, slot_mut(slots, c.seq_id)) {
                        slot.tokens.clone_from(t);
                    }
                }
            }
            // Every choice samples from the prompt's last logits when its prefill just ended;
            // otherwise each decoding choice from its own.
            let prompt_logits = job.prefill_logits;
            for c in &mut job.choices {
                let Some(idx) = prompt_logits.or(c.batch_idx) else {
                    continue;
                };
                let logits = self.ctx.get_logits_ith(idx);
                let tok = c.sampler.sample(logits);
                on_token(
                    &shared,
                    &job.req,
                    &mut job.outbox,
                    c,
                    tok,
                    logits,
                    &mut freed,
                );
            }
        }
        for seq in freed {
            self.release(seq, true);
        }
    }

    /// Delivers buffered events; forgets jobs that are finished and delivered (or abandoned).
    fn flush_and_retire(&mut self) {
        let shared = &self.shared;
        self.active.retain_mut(|job| {
            while let Some(ev) = job.outbox.pop_front() {
                match job.req.tx.try_send(ev) {
                    Ok(()) => {}
                    Err(TrySendError::Full(ev)) => {
                        job.outbox.push_front(ev);
                        break;
                    }
                    Err(TrySendError::Closed(_)) => {
                        job.outbox.clear();
                        break;
                    }
                }
            }
            let finished = job.all_done() && (job.outbox.is_empty() || job.req.tx.is_closed());
            if finished {
                let ms = job.req.submitted.elapsed().as_millis();
                shared.record_job_time(u64::try_from(ms).unwrap_or(u64::MAX));
            }
            !finished
        });
    }
}
