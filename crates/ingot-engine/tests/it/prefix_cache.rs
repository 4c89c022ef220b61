//! Prompt-prefix cache: a prompt sharing a prefix with a finished sequence's KV cells skips
//! prefilling that prefix, and the output is exactly what a full prefill gives.

use ingot_engine::{ChatEngine, ChatEvent, ChatJob, ChatMessage, SamplingParams};

use crate::common::{Output, collect, engine, engine_with, job, run};

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

fn with_system(system: &str, user: &str, max_tokens: u32) -> ChatJob {
    let mut j = job(user, max_tokens);
    j.messages.insert(0, ChatMessage::new("system", system));
    j
}

/// Runs a job to the end; returns its output and the prompt tokens it got from the cache.
fn run_counting(h: ingot_engine::JobHandle) -> (Output, usize) {
    let mut h = h;
    let first = h.events.blocking_recv();
    let cached = h.cached_tokens() as usize;
    let mut out = collect(h, 1).remove(0);
    if let Some(ChatEvent::Delta { text, logprobs, .. }) = first {
        out.text.insert_str(0, &text);
        out.logprobs.splice(0..0, logprobs);
    }
    (out, cached)
}

#[test]
fn prompts_arriving_together_prefill_their_shared_prefix_once() {
    let Some(engine) = engine() else { return };
    // a system prompt longer than one batch (256 tokens here), so the first job is still
    // prefilling it when the others are admitted: they wait for it, then copy its cells
    let system = "You are a careful assistant who answers in one short sentence. ".repeat(30);
    let jobs: Vec<ChatJob> = [
        "Name a colour.",
        "Name a fruit.",
        "Name a river.",
        "Name a city.",
    ]
    .iter()
    .map(|q| {
        let mut j = with_system(&system, q, 8);
        j.top_logprobs = Some(5);
        j
    })
    .collect();
    let tokens: Vec<Vec<u32>> = jobs.iter().map(|j| prompt_tokens(&engine, j)).collect();
    let shared = tokens[0]
        .iter()
        .zip(&tokens[1])
        .take_while(|(a, b)| a == b)
        .count();
    assert!(shared > 256, "shared prefix {shared}");
    let handles: Vec<_> = jobs
        .iter()
        .map(|j| engine.submit(j.clone()).unwrap())
        .collect();
    let (outs, cached): (Vec<Output>, Vec<usize>) = handles.into_iter().map(run_counting).unzip();
    assert_eq!(cached, [0, shared, shared, shared]);
    let total: usize = tokens.iter().map(Vec::len).sum();
    let stats = engine.stats();
    assert_eq!(stats.prefilled_tokens as usize, total - 3 * shared);
    assert_eq!(stats.cached_tokens as usize, 3 * shared);
    assert_eq!(stats.kv_copies, 3);
    // The copied cells are the prompt's own: the first token's distribution is the one the
    // prompt gives alone on a fresh engine, up to the rounding of a different batch shape
    // (which may flip a near-tie later in the text, so the texts are not compared).
    let fresh = engine_fresh();
    for (j, out) in jobs.iter().zip(&outs) {
        let solo = run(&fresh, j.clone());
        let want = &solo.logprobs[0];
        let got = out.logprobs[0]
            .top
            .iter()
            .find(|(t, _, _)| *t == want.token)
            .unwrap_or_else(|| panic!("{:?} not in {:?}", want.token, out.logprobs[0].top));
        assert!(
            (got.2 - want.logprob).abs() < 0.3,
            "{:?}: {} alone, {} shared",
            want.token,
            want.logprob,
            got.2
        );
    }
}

#[test]
fn a_sequence_moved_into_a_gap_left_by_a_finished_one_continues_exactly() {
    let Some(engine) = engine() else { return };
    // System prompts that differ from their first word: nothing worth sharing between them.
    let jobs = [
        with_system("Speak like a pirate.", "Describe the sea.", 40),
        with_system("Be brief.", "Say yes.", 2),
        with_system("Answer as a poet.", "Describe a forest.", 40),
        with_system("Pretend you are a chef.", "Describe bread.", 40),
    ];
    // Alone first: each prompt's cells stay in slots 0..3 in turn, so run together each job
    // decodes from exactly the cells it had alone, whatever batch shape a prefill would get.
    let solo: Vec<String> = jobs.iter().map(|j| run(&engine, j.clone()).text).collect();
    let before = engine.stats().kv_copies;
    let handles: Vec<_> = jobs
        .iter()
        .map(|j| engine.submit(j.clone()).unwrap())
        .collect();
    let together: Vec<String> = handles
        .into_iter()
        .map(|h| collect(h, 1).remove(0).text)
        .collect();
    // Together they take slots 0..3 again; the short job on slot 1 ends first and the job on
    // slot 3 moves into its place, so the next steps compute one run of sequences, not two.
    // The move copies the cells exactly, and the text is what it was alone.
    assert_eq!(engine.stats().kv_copies - before, 1);
    assert_eq!(together, solo);
}

#[test]
fn jobs_starting_together_each_keep_the_slot_that_holds_their_own_history() {
    let Some(engine) = engine() else { return };
    // The default system prompt, then prompts that differ from their fourth word on.
    let essay = |i: usize, of: usize| job(&format!("Essay {i} of {of}. Write about rivers."), 4);
    let judge = |text: &str, max_tokens| {
        with_system(
            "You grade essays.",
            &format!("Grade this: {text}"),
            max_tokens,
        )
    };
    // Three essays and a grading conversation fill the four slots and stay cached.
    let first: Vec<ChatJob> = (1..=3)
        .map(|i| essay(i, 3))
        .chain([judge("short", 2)])
        .collect();
    let handles: Vec<_> = first
        .iter()
        .map(|j| engine.submit(j.clone()).unwrap())
        .collect();
    for h in handles {
        collect(h, 1);
    }
    // A long grading prompt takes the grading slot (its start shows as the grading system
    // prompt found in the cache) and keeps the scheduler prefilling it, in chunks of 256
    // tokens, while three new essays arrive: the three choose their slots together.
    let long = judge(&"The river runs to the sea. ".repeat(90), 2);
    let blocker = engine.submit(long).unwrap();
    let started = std::time::Instant::now();
    while blocker.cached_tokens() == 0 {
        assert!(
            started.elapsed().as_secs() < 30,
            "the long prompt never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let second: Vec<ChatJob> = (1..=3).map(|i| essay(i, 4)).collect();
    let handles: Vec<_> = second
        .iter()
        .map(|j| engine.submit(j.clone()).unwrap())
        .collect();
    let cached: Vec<usize> = handles.into_iter().map(|h| run_counting(h).1).collect();
    collect(blocker, 1);
    // Each reuses its own essay's cells up to "of": none took a slot another one's history
    // sits in.
    let want: Vec<usize> = (0..3)
        .map(|k| {
            let old = prompt_tokens(&engine, &first[k]);
            let new = prompt_tokens(&engine, &second[k]);
            old.iter().zip(&new).take_while(|(a, b)| a == b).count()
        })
        .collect();
    let system = {
        let a = prompt_tokens(&engine, &first[0]);
        let b = prompt_tokens(&engine, &first[1]);
        a.iter().zip(&b).take_while(|(x, y)| x == y).count()
    };
    assert!(want.iter().all(|&w| w > system), "{want:?} vs {system}");
    assert_eq!(cached, want);
}
