//! Prompt-prefix cache: a prompt sharing a prefix with a finished sequence's KV cells skips
//! prefilling that prefix, and the output is exactly what a full prefill gives.

use ingot_engine::{ChatEngine, ChatEvent, ChatJob, ChatMessage, SamplingParams};

use crate::common::{collect, engine, engine_with, job, run};

fn prompt_tokens(engine: &ChatEngine, j: &ChatJob) -> Vec<u32> {
    engine.tokenize(&engine.render_prompt(j).unwrap())
}

/// Runs a job; returns its text and the prompt tokens it got from the cache.
fn run_cached(engine: &ChatEngine, j: ChatJob) -> (String, u32) {
    let mut handle = engine.submit(j).unwrap();
    // The count is set when the job starts, before its first event.
    let first = handle.events.blocking_recv();
    let cached = handle.cached_tokens();
    let mut out = collect(handle, 1).remove(0);
    match first {
        Some(ChatEvent::Delta { text, .. }) => out.text.insert_str(0, &text),
        other => panic!("expected a first delta, got {other:?}"),
    }
    (out.text, cached)
}

#[test]
fn repeated_prompt_reuses_the_whole_prefix_with_identical_output() {
    let Some(engine) = engine() else { return };
    let j = job("Write a haiku about the sea.", 40);
    let n = prompt_tokens(&engine, &j).len();
    let (first, cached) = run_cached(&engine, j.clone());
    assert_eq!(cached, 0, "nothing to reuse on a fresh engine");
    assert_eq!(engine.stats().cached_tokens, 0);
    assert_eq!(engine.stats().prefilled_tokens, n as u64);
    let (second, cached) = run_cached(&engine, j.clone());
    // everything but the last prompt token, which is decoded again for its logits
    assert_eq!(cached as usize, n - 1);
    assert_eq!(second, first);
    let stats = engine.stats();
    assert_eq!(stats.cached_tokens, (n - 1) as u64);
    assert_eq!(stats.prefilled_tokens, n as u64 + 1);
    // and a fresh engine agrees
    let fresh = engine_fresh();
    assert_eq!(run(&fresh, j).text, first);
}

fn engine_fresh() -> ChatEngine {
    engine().unwrap()
}

#[test]
fn next_turn_of_a_conversation_reuses_the_history() {
    let Some(engine) = engine() else { return };
    let turn1 = job("Name a fruit that is red.", 24);
    let n1 = prompt_tokens(&engine, &turn1).len();
    let (answer, _) = run_cached(&engine, turn1.clone());
    let mut turn2 = turn1;
    turn2.messages.push(ChatMessage::new("assistant", answer));
    turn2
        .messages
        .push(ChatMessage::new("user", "And one that is yellow?"));
    let (text, cached) = run_cached(&engine, turn2.clone());
    assert!(
        cached as usize >= n1 - 1,
        "reused {cached} tokens, first turn's prompt had {n1}"
    );
    let fresh = engine_fresh();
    let (expected, fresh_cached) = run_cached(&fresh, turn2);
    assert_eq!(fresh_cached, 0);
    assert_eq!(text, expected);
}

#[test]
fn diverging_prompt_reuses_only_the_common_part() {
    let Some(engine) = engine() else { return };
    let a = job("Tell me about cats and their habits.", 16);
    let mut b = job("Tell me about the history of Rome.", 16);
    b.sampling = SamplingParams::greedy();
    let ta = prompt_tokens(&engine, &a);
    let tb = prompt_tokens(&engine, &b);
    let common = ta.iter().zip(&tb).take_while(|(x, y)| x == y).count();
    assert!(
        common > 0 && common < tb.len() - 1,
        "common prefix {common}"
    );
    run_cached(&engine, a);
    let (text, cached) = run_cached(&engine, b.clone());
    assert_eq!(cached as usize, common);
    assert_eq!(text, run(&engine_fresh(), b).text);
}

#[test]
fn n_choices_after_reuse_and_disabled_cache() {
    let Some(engine) = engine() else { return };
    let j = job("What is the capital of France?", 24);
    let (first, _) = run_cached(&engine, j.clone());
    // choice 0 reuses the prompt, choice 1 gets a copy of it in another (cleared) slot
    let mut two = j.clone();
    two.n = 2;
    let handle = engine.submit(two).unwrap();
    let outs = collect(handle, 2);
    assert!(engine.stats().cached_tokens > 0);
    assert_eq!(outs[0].text, first);
    assert_eq!(outs[1].text, first);
    // without the cache nothing is reused
    let Some(off) = engine_with(|c| c.prefix_cache = false) else {
        return;
    };
    let n = prompt_tokens(&off, &j).len() as u64;
    assert_eq!(run_cached(&off, j.clone()), (first.clone(), 0));
    assert_eq!(run_cached(&off, j), (first, 0));
    assert_eq!(off.stats().cached_tokens, 0);
    assert_eq!(off.stats().prefilled_tokens, 2 * n);
}
