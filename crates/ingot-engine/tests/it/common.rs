use std::path::PathBuf;
use std::time::{Duration, Instant};

use ingot_engine::{
    ChatEngine, ChatEngineConfig, ChatEvent, ChatJob, ChatMessage, FinishReason, JobHandle,
    SamplingParams, TokenLogprob,
};

pub const SMOLLM2: &str = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The test model, or `None` (with a skip message) when it is not installed.
pub fn model_path() -> Option<PathBuf> {
    let dir = std::env::var_os("INGOT_MODEL_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ingot/models")));
    let path = dir.map(|d| d.join(SMOLLM2));
    match path {
        Some(p) if p.is_file() => Some(p),
        other => {
            let msg = format!(
                "model {SMOLLM2} not found (looked at {other:?}); set INGOT_MODEL_DIR or run the setup script"
            );
            if std::env::var("INGOT_REQUIRE_MODELS").as_deref() == Ok("1") {
                panic!("INGOT_REQUIRE_MODELS=1: {msg}");
            }
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

pub fn config(path: PathBuf) -> ChatEngineConfig {
    ChatEngineConfig {
        ctx_per_slot: 1024,
        max_slots: 4,
        queue_capacity: 16,
        threads: None,
        batch_tokens: 256,
        ..ChatEngineConfig::new(path)
    }
}

pub fn engine_with(f: impl FnOnce(&mut ChatEngineConfig)) -> Option<ChatEngine> {
    let mut cfg = config(model_path()?);
    f(&mut cfg);
    Some(ChatEngine::load(cfg).expect("load engine"))
}

pub fn engine() -> Option<ChatEngine> {
    engine_with(|_| {})
}

pub fn job(user: &str, max_tokens: u32) -> ChatJob {
    let mut job = ChatJob::new(vec![ChatMessage::new("user", user)]);
    job.sampling = SamplingParams::greedy();
    job.max_tokens = Some(max_tokens);
    job
}

/// What one choice produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub text: String,
    pub logprobs: Vec<TokenLogprob>,
    pub finish: Option<FinishReason>,
    pub completion_tokens: u32,
    pub deltas: usize,
}

/// Reads a job to the end (with a generous deadline), one [`Output`] per choice.
pub fn collect(mut handle: JobHandle, n: usize) -> Vec<Output> {
    let mut outs = vec![Output::default(); n];
    let deadline = Instant::now() + Duration::from_secs(300);
    while let Some(ev) = handle.events.blocking_recv() {
        assert!(Instant::now() < deadline, "job took too long");
        match ev {
            ChatEvent::Delta {
                choice,
                text,
                logprobs,
            } => {
                let o = &mut outs[choice as usize];
                assert!(o.finish.is_none(), "delta after finish");
                assert!(!text.is_empty(), "empty delta");
                o.text.push_str(&text);
                o.logprobs.extend(logprobs);
                o.deltas += 1;
            }
            ChatEvent::Finished {
                choice,
                reason,
                completion_tokens,
            } => {
                let o = &mut outs[choice as usize];
                assert!(o.finish.is_none(), "finished twice");
                o.finish = Some(reason);
                o.completion_tokens = completion_tokens;
            }
            ChatEvent::Error(e) => panic!("engine error: {e}"),
        }
    }
    for o in &outs {
        assert!(o.finish.is_some(), "choice never finished: {o:?}");
    }
    outs
}

pub fn run(engine: &ChatEngine, job: ChatJob) -> Output {
    let n = job.n as usize;
    collect(engine.submit(job).expect("submit"), n).remove(0)
}
