//! Same params → byte-identical output; different seeds → different output.

use crate::common::{gen_ok, png, test_image, text, with_image};
use ingot_gen3d::{Gen3dParams, OutputFormat};

#[test]
fn same_seed_is_byte_identical() {
    for p in [
        text("a wooden chair", 42, 20),
        text("something strange", 42, 20),
        Gen3dParams {
            format: OutputFormat::Stl,
            ..text("a robot", 5, 10)
        },
        with_image(png(&test_image(96, 64)), 42, 10),
    ] {
        assert_eq!(gen_ok(&p).bytes, gen_ok(&p).bytes, "{:?}", p.prompt);
    }
}

#[test]
fn different_seeds_differ() {
    for prompt in ["a wooden chair", "a red car", "a tree", "an unknown thing"] {
        let a = gen_ok(&text(prompt, 1, 10));
        let b = gen_ok(&text(prompt, 2, 10));
        assert_ne!(a.bytes, b.bytes, "{prompt}");
    }
}
