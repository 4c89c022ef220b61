//! Greedy output equals llama.cpp's own greedy sampler, token for token.

use std::num::NonZeroU32;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::common::{engine, job, model_path, run};
use ingot_engine::{FinishReason, llama_backend};

/// Plain llama-cpp-2 loop: decode the prompt, then `LlamaSampler::greedy()` until EOG.
fn reference_greedy(prompt: &[u32], max_tokens: usize) -> Vec<Vec<u8>> {
    let backend = llama_backend().unwrap();
    let model =
        LlamaModel::load_from_file(backend, model_path().unwrap(), &LlamaModelParams::default())
            .unwrap();
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(1024))
        .with_n_batch(512);
    let mut ctx = model.new_context(backend, params).unwrap();
    let mut batch = LlamaBatch::new(512, 1);
    let last = prompt.len() - 1;
    for (i, &t) in prompt.iter().enumerate() {
        batch
            .add(LlamaToken::new(t as i32), i as i32, &[0], i == last)
            .unwrap();
    }
    ctx.decode(&mut batch).unwrap();
    let mut sampler = LlamaSampler::greedy();
    let mut out = Vec::new();
    for pos in (prompt.len() as i32..).take(max_tokens) {
        let tok = sampler.sample(&ctx, batch.n_tokens() - 1);
        sampler.accept(tok);
        if model.vocab().is_eog(tok) {
            break;
        }
        out.push(model.vocab().token_to_piece(tok, false, None));
        batch.clear();
        batch.add(tok, pos, &[0], true).unwrap();
        ctx.decode(&mut batch).unwrap();
    }
    out
}

#[test]
fn greedy_matches_llama_cpp_token_for_token() {
    let Some(engine) = engine() else { return };
    let prompts = [
        "What is the capital of France?",
        "Write a haiku about the sea.",
        "List three prime numbers and explain why they are prime.",
    ];
    for p in prompts {
        let mut j = job(p, 64);
        j.top_logprobs = Some(0);
        let prompt_tokens = engine.tokenize(&engine.render_prompt(&j).unwrap());
        let expected = reference_greedy(&prompt_tokens, 64);
        let got = run(&engine, j);
        let got_tokens: Vec<Vec<u8>> = got.logprobs.iter().map(|l| l.bytes.clone()).collect();
        assert!(!expected.is_empty());
        assert_eq!(got_tokens, expected, "prompt {p:?}");
        assert_eq!(got.completion_tokens as usize, expected.len());
        let text: Vec<u8> = expected.concat();
        assert_eq!(got.text, String::from_utf8_lossy(&text));
        let reason = if expected.len() == 64 {
            FinishReason::Length
        } else {
            FinishReason::Stop
        };
        assert_eq!(got.finish, Some(reason));
    }
}
