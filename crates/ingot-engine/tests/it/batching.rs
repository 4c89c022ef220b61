//! Continuous batching: concurrency, determinism, cancellation, queueing, chunked prefill.

use std::time::{Duration, Instant};

use ingot_engine::{ChatEvent, EngineError, FinishReason, SamplingParams};

use crate::common::{collect, engine, engine_with, job, run};

fn seeded(prompt: &str, seed: u64) -> ingot_engine::ChatJob {
    let mut j = job(prompt, 32);
    j.sampling = SamplingParams {
        temperature: 0.9,
        top_p: 0.95,
        top_k: 40,
        seed: Some(seed),
        ..SamplingParams::default()
    };
    j
}

#[test]
fn seeded_requests_reproduce_their_solo_output_when_concurrent() {
    let Some(engine) = engine() else { return };
    let jobs = [
        seeded("Tell me about cats.", 1),
        seeded("Tell me about dogs.", 2),
        seeded("What is the meaning of life?", 3),
        seeded("Describe a sunset.", 4),
    ];
    let solo: Vec<String> = jobs.iter().map(|j| run(&engine, j.clone()).text).collect();
    // all at once (4 slots), plus a greedy job joining mid-flight
    let handles: Vec<_> = jobs
        .iter()
        .map(|j| engine.submit(j.clone()).unwrap())
        .collect();
    let together: Vec<String> = handles
        .into_iter()
        .map(|h| collect(h, 1).remove(0).text)
        .collect();
    assert_eq!(solo, together);
    // same seed twice gives the same text; different seeds differ somewhere
    assert_eq!(run(&engine, jobs[0].clone()).text, solo[0]);
    let other = run(&engine, seeded("Tell me about cats.", 99)).text;
    assert_ne!(other, solo[0]);
}

#[test]
fn greedy_is_unchanged_by_batching_and_chunked_prefill() {
    // Solo references computed without the prefix cache: a prefix reused from another
    // prompt's large prefill batch may round differently (see `prefix_cache`).
    let Some(engine) = engine_with(|c| c.prefix_cache = false) else {
        return;
    };
    let long = format!(
        "Summarize this text: {}",
        "The quick brown fox jumps over the lazy dog. ".repeat(20)
    );
    let solo = run(&engine, job(&long, 24));
    // tiny batch: the prompt is prefilled in 16-token chunks while others decode
    let Some(chunked) = engine_with(|c| c.batch_tokens = 16) else {
        return;
    };
    let busy = chunked.submit(job("Count from one to fifty.", 60)).unwrap();
    let h = chunked.submit(job(&long, 24)).unwrap();
    assert!(h.prompt_tokens > 100);
    let out = collect(h, 1).remove(0);
    let busy = collect(busy, 1).remove(0);
    assert_eq!(out.text, solo.text);
    assert_eq!(
        busy.text,
        run(&engine, job("Count from one to fifty.", 60)).text
    );
}

#[test]
fn dropping_the_receiver_frees_the_slot() {
    let Some(engine) = engine_with(|c| {
        c.max_slots = 1;
        c.ctx_per_slot = 2048;
    }) else {
        return;
    };
    let mut h = engine
        .submit(job("Write a very long essay about history.", 2000))
        .unwrap();
    let first = h.events.blocking_recv();
    assert!(matches!(first, Some(ChatEvent::Delta { .. })), "{first:?}");
    drop(h);
    // the only slot must come back quickly, long before 2000 tokens could be generated
    let start = Instant::now();
    let out = run(&engine, job("Say hi.", 4));
    assert!(out.finish.is_some());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn full_queue_is_rejected_with_retry_hint() {
    let Some(engine) = engine_with(|c| {
        c.max_slots = 1;
        c.queue_capacity = 2;
    }) else {
        return;
    };
    let mut running = engine.submit(job("Write a long poem.", 200)).unwrap();
    // wait until it runs (left the queue)
    assert!(matches!(
        running.events.blocking_recv(),
        Some(ChatEvent::Delta { .. })
    ));
    let q1 = engine.submit(job("a", 2)).unwrap();
    let q2 = engine.submit(job("b", 2)).unwrap();
    match engine.submit(job("c", 2)) {
        Err(EngineError::QueueFull { retry_after_secs }) => assert!(retry_after_secs >= 1),
        other => panic!("expected QueueFull, got {other:?}"),
    }
    drop(running);
    // queued jobs still complete
    assert!(collect(q1, 1)[0].finish.is_some());
    assert!(collect(q2, 1)[0].finish.is_some());
    assert!(engine.submit(job("d", 2)).is_ok());
}

#[test]
fn streams_many_deltas_in_order() {
    let Some(engine) = engine() else { return };
    let out = run(&engine, job("Write two sentences about the moon.", 30));
    assert!(out.deltas > 3, "{out:?}");
    assert!(matches!(
        out.finish,
        Some(FinishReason::Stop | FinishReason::Length)
    ));
}

#[test]
fn chunked_prefill_does_not_stall_running_sequences() {
    let Some(engine) = engine_with(|c| c.batch_tokens = 16) else {
        return;
    };
    let mut busy_job = job("Count from one to one hundred.", 200);
    busy_job.ignore_eos = true; // keeps it running for the whole test
    let mut busy = engine.submit(busy_job).unwrap();
    assert!(matches!(
        busy.events.blocking_recv(),
        Some(ChatEvent::Delta { .. })
    ));
    let long = format!(
        "Summarize: {}",
        "The quick brown fox jumps over the lazy dog. ".repeat(25)
    );
    let mut late = engine.submit(job(&long, 4)).unwrap();
    let chunks = late.prompt_tokens / 16;
    assert!(chunks >= 15, "prompt of {} tokens", late.prompt_tokens);
    // Count the busy job's deltas that arrive before the long prompt's first token.
    let mut busy_deltas = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline);
        while let Ok(ev) = busy.events.try_recv() {
            busy_deltas += u32::from(matches!(ev, ChatEvent::Delta { .. }));
        }
        match late.events.try_recv() {
            Ok(_) => {
                break;
            }
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => panic!("closed"),
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    // One step per 16-token chunk, each also decoding the busy sequence.
    assert!(
        busy_deltas >= chunks / 2,
        "{busy_deltas} deltas during {chunks} prefill chunks"
    );
}
