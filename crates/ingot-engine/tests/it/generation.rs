//! Stop strings, limits, errors, logprobs and n > 1 on the real model.

use ingot_engine::{ChatMessage, EngineError, FinishReason, SamplingParams};

use crate::common::{collect, engine, engine_with, job, run};

#[test]
fn max_tokens_finishes_with_length() {
    let Some(engine) = engine() else { return };
    let out = run(&engine, job("Tell me a long story about a dragon.", 7));
    assert_eq!(out.finish, Some(FinishReason::Length));
    assert_eq!(out.completion_tokens, 7);
    assert!(!out.text.is_empty());
}

#[test]
fn max_tokens_is_clamped_to_the_slot_context() {
    let Some(engine) = engine_with(|c| c.ctx_per_slot = 64) else {
        return;
    };
    let j = job(
        "Tell me a long story about a dragon, with many details.",
        10_000,
    );
    let handle = engine.submit(j).unwrap();
    let room = 64 - handle.prompt_tokens;
    let out = collect(handle, 1).remove(0);
    assert!(out.completion_tokens <= room);
    if out.finish == Some(FinishReason::Length) {
        assert_eq!(out.completion_tokens, room);
    }
}

#[test]
fn stop_string_across_token_boundary_is_excluded() {
    let Some(engine) = engine() else { return };
    let mut base = job("Write a haiku about the sea.", 40);
    base.top_logprobs = Some(0);
    let full = run(&engine, base.clone());
    // Build a stop string from the end of one token and the start of the next.
    let toks: Vec<String> = full.logprobs.iter().map(|l| l.token.clone()).collect();
    let i = toks
        .iter()
        .enumerate()
        .skip(3)
        .position(|(i, t)| {
            t.chars().count() >= 2 && toks.get(i + 1).is_some_and(|n| n.chars().count() >= 2)
        })
        .map(|p| p + 3)
        .expect("two adjacent multi-char tokens");
    let tail: String = toks[i]
        .chars()
        .rev()
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let head: String = toks[i + 1].chars().take(2).collect();
    let stop = format!("{tail}{head}");
    let expected = &full.text[..full.text.find(&stop).unwrap()];
    let mut j = base;
    j.stop = vec!["never-appears-xyz".into(), stop.clone()];
    let out = run(&engine, j);
    assert_eq!(out.text, expected, "stop {stop:?}");
    assert_eq!(out.finish, Some(FinishReason::Stop));
    assert!(!out.text.contains(&stop));
}

#[test]
fn prompt_too_long_reports_both_counts() {
    let Some(engine) = engine_with(|c| c.ctx_per_slot = 128) else {
        return;
    };
    let long = "word ".repeat(400);
    match engine.submit(job(&long, 8)) {
        Err(EngineError::PromptTooLong {
            prompt_tokens,
            max_context,
        }) => {
            assert!(prompt_tokens > 400);
            assert_eq!(max_context, 128);
            let msg = EngineError::PromptTooLong {
                prompt_tokens,
                max_context,
            }
            .to_string();
            assert!(
                msg.contains(&prompt_tokens.to_string()) && msg.contains("128"),
                "{msg}"
            );
        }
        other => panic!("expected PromptTooLong, got {other:?}"),
    }
}

#[test]
fn invalid_requests_are_rejected() {
    let Some(engine) = engine() else { return };
    let mut j = job("hi", 4);
    j.n = 5;
    assert!(matches!(engine.submit(j), Err(EngineError::Invalid { .. })));
    let mut j = job("hi", 4);
    j.sampling.top_p = 0.0;
    assert!(matches!(engine.submit(j), Err(EngineError::Invalid { .. })));
    let mut j = job("hi", 4);
    j.sampling.logit_bias = vec![(u32::MAX, 1.0)];
    assert!(matches!(engine.submit(j), Err(EngineError::Invalid { .. })));
    let mut j = job("hi", 4);
    j.messages.clear();
    assert!(matches!(engine.submit(j), Err(EngineError::Invalid { .. })));
}

#[test]
fn logprobs_are_consistent_with_greedy() {
    let Some(engine) = engine() else { return };
    let mut j = job("What is 2 + 2?", 8);
    j.top_logprobs = Some(3);
    let out = run(&engine, j);
    assert_eq!(out.logprobs.len() as u32, out.completion_tokens);
    for lp in &out.logprobs {
        assert_eq!(lp.top.len(), 3);
        assert!(lp.logprob <= 0.0);
        // greedy picks the most likely raw token (no penalties/bias here)
        assert_eq!(lp.top[0].1, lp.bytes);
        assert!((lp.top[0].2 - lp.logprob).abs() < 1e-5);
        assert!(lp.top[0].2 >= lp.top[1].2 && lp.top[1].2 >= lp.top[2].2);
    }
}

#[test]
fn logit_bias_forces_a_token() {
    let Some(engine) = engine() else { return };
    let target = engine.tokenize("Banana")[0];
    let mut j = job("Say something.", 3);
    j.sampling.logit_bias = vec![(target, 100.0)];
    j.top_logprobs = Some(0);
    let out = run(&engine, j);
    // every generated token is the biased one ("Banana" starts with token "Ban")
    assert_eq!(out.logprobs.len(), 3);
    assert!(
        out.logprobs
            .iter()
            .all(|l| l.bytes == out.logprobs[0].bytes)
    );
    assert!(
        out.text.starts_with("Ban") && "Banana".starts_with(out.logprobs[0].token.as_str()),
        "{:?}",
        out.text
    );
}

#[test]
fn n_choices_share_the_prompt() {
    let Some(engine) = engine() else { return };
    // greedy: all choices identical
    let mut j = job("Name a color.", 12);
    j.n = 3;
    let outs = collect(engine.submit(j.clone()).unwrap(), 3);
    assert_eq!(outs[0].text, outs[1].text);
    assert_eq!(outs[1].text, outs[2].text);
    let solo = run(&engine, {
        let mut s = j.clone();
        s.n = 1;
        s
    });
    assert_eq!(outs[0].text, solo.text);
    // sampled with a seed: choice 0 equals the n = 1 run with that seed; choices differ
    j.sampling = SamplingParams {
        temperature: 1.2,
        seed: Some(1234),
        ..SamplingParams::default()
    };
    j.max_tokens = Some(24);
    let outs = collect(engine.submit(j.clone()).unwrap(), 3);
    j.n = 1;
    let solo = run(&engine, j);
    assert_eq!(outs[0].text, solo.text);
    assert!(
        outs[0].text != outs[1].text || outs[1].text != outs[2].text,
        "{outs:?}"
    );
}

#[test]
fn model_template_renders_multi_turn_with_system() {
    let Some(engine) = engine() else { return };
    let mut j = job("unused", 4);
    j.messages = vec![
        ChatMessage::new("system", "You are terse."),
        ChatMessage::new("user", "Hi"),
        ChatMessage::new("assistant", "Hello."),
        ChatMessage::new("user", "Bye"),
    ];
    let prompt = engine.render_prompt(&j).unwrap();
    assert_eq!(
        prompt,
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
         <|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
    );
    // special tokens are parsed as single tokens
    let toks = engine.tokenize("<|im_start|>user");
    assert_eq!(toks.len(), 2, "{toks:?}");
    assert!(
        engine.info().name.to_lowercase().contains("smollm2"),
        "{:?}",
        engine.info()
    );
    assert!(engine.info().n_ctx_train >= 2048);
}
