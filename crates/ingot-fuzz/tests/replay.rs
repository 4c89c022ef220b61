//! The test command's share of fuzzing: every target replays its committed seed corpus
//! (`fuzz/corpus/<target>/`) and every crash input found so far (`fuzz/regressions/<target>/`),
//! then runs a fixed-seed batch of mutations of them. A panic here is a bug (or a
//! regression of a fixed one); the input is printed so it can be saved and replayed.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly on purpose"
)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use ingot_fuzz::mutate::Mutator;
use ingot_fuzz::{TARGETS, Target};

/// Mutated inputs per target: about a second per target in `--release`.
const MUTATIONS: usize = 10_000;
/// Longest mutated input.
const MAX_LEN: usize = 16 * 1024;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted by name (none when it does not exist).
fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p.display().to_string(), data)
        })
        .collect();
    files.sort();
    files
}

fn target(name: &str) -> Target {
    TARGETS.iter().find(|(n, _)| *n == name).unwrap().1
}

/// Runs `f` on `data`; on a panic, fails naming the input.
fn run_one(name: &str, what: &str, f: Target, data: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| f(data))).is_err() {
        panic!(
            "fuzz target `{name}` panicked on {what} ({} bytes): {:?}",
            data.len(),
            String::from_utf8_lossy(data)
        );
    }
}

fn replay_and_mutate(name: &str) {
    let f = target(name);
    let corpus = inputs("corpus", name);
    assert!(
        corpus.len() >= 3,
        "fuzz/corpus/{name} needs seed inputs (found {})",
        corpus.len()
    );
    let regressions = inputs("regressions", name);
    for (path, data) in corpus.iter().chain(&regressions) {
        run_one(name, path, f, data);
    }
    let seeds: Vec<Vec<u8>> = corpus
        .into_iter()
        .chain(regressions)
        .map(|(_, d)| d)
        .collect();
    // The seed is fixed per target, so every run tries the same inputs.
    let mut m = Mutator::new(name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }));
    for i in 0..MUTATIONS {
        let base = &seeds[m.below(seeds.len())];
        let input = m.mutate(base, &seeds, MAX_LEN);
        run_one(name, &format!("mutation {i}"), f, &input);
    }
}

#[test]
fn chat_request() {
    replay_and_mutate("chat_request");
}

#[test]
fn other_requests() {
    replay_and_mutate("other_requests");
}

#[test]
fn media_intake() {
    replay_and_mutate("media_intake");
}

#[test]
fn chat_template() {
    replay_and_mutate("chat_template");
}

#[test]
fn sse_client() {
    replay_and_mutate("sse_client");
}

#[test]
fn sse_proxy() {
    replay_and_mutate("sse_proxy");
}

#[test]
fn config() {
    replay_and_mutate("config");
}

#[test]
fn e5_container() {
    replay_and_mutate("e5_container");
}

#[test]
fn every_target_has_a_test_and_a_fuzz_binary() {
    let src = include_str!("replay.rs");
    for (name, _) in TARGETS {
        assert!(src.contains(&format!("fn {name}()")), "no test for {name}");
        let bin = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&bin).unwrap();
        assert!(
            text.contains(&format!("ingot_fuzz::{name}(data)")),
            "{} does not call ingot_fuzz::{name}",
            bin.display()
        );
    }
}

#[test]
fn the_real_templates_compile() {
    for (i, t) in ingot_fuzz::template::compiled().iter().enumerate() {
        assert!(t.is_ok(), "template {i}: {:?}", t.as_ref().err());
    }
    // SmolVLM's reads typed parts, the others plain strings; Qwen's and Llama's show tools.
    let typed: Vec<bool> = ingot_fuzz::template::compiled()
        .iter()
        .map(|t| t.as_ref().unwrap().typed_content())
        .collect();
    assert_eq!(typed, [false, false, false, false, true]);
    let tools: Vec<bool> = ingot_fuzz::template::compiled()
        .iter()
        .map(|t| t.as_ref().unwrap().shows_tools())
        .collect();
    assert_eq!(tools, [false, true, true, false, false]);
}

#[test]
fn the_e5_seed_is_a_whole_container() {
    let path = fuzz_dir().join("corpus/e5_container/tiny_valid.e5");
    let data = std::fs::read(path).unwrap();
    ingot_embed::parse_e5_container(&data).unwrap();
}
