//! Writes the random-weight multimodal projector of [`ingot_test_support::gguf`] for the
//! end-to-end tests: `ingot-test-projector OUT.gguf [TEXT_EMBD]` (default 576, SmolLM2's
//! width; 32x32 images in 8x8 patches, 16 tokens per image).

use std::path::PathBuf;
use std::process::ExitCode;

use ingot_test_support::gguf::{ProjectorShape, write_mlp_projector};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first() else {
        eprintln!("usage: ingot-test-projector OUT.gguf [TEXT_EMBD]");
        return ExitCode::from(2);
    };
    let text_embd = match args.get(1).map(|s| s.parse::<u64>()) {
        None => 576,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("TEXT_EMBD must be a positive integer");
            return ExitCode::from(2);
        }
    };
    let shape = ProjectorShape {
        text_embd,
        image_size: 32,
        patch: 8,
    };
    write_mlp_projector(&PathBuf::from(out), shape, 7);
    ExitCode::SUCCESS
}
