//! Runs outputs through the Khronos glTF-Validator (npm `gltf-validator`,
//! pinned in `crates/ingot-gen3d/validator/`). Install it with
//! `scripts/gltf-validator.sh`; the test looks for it via env
//! `INGOT_GLTF_VALIDATOR` (validate.mjs or its directory) or the default cache
//! `$HOME/.cache/ingot/gltf-validator`. Missing tool: skipped with a message,
//! unless `INGOT_REQUIRE_TOOLS=1`, then the test fails.

use std::path::PathBuf;
use std::process::Command;

use crate::common::{gen_ok, png, test_image, text, with_image};
use ingot_gen3d::Gen3dParams;

fn validator_script() -> Option<PathBuf> {
    let candidate = match std::env::var_os("INGOT_GLTF_VALIDATOR") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/ingot/gltf-validator"),
    };
    let script = if candidate.is_dir() {
        candidate.join("validate.mjs")
    } else {
        candidate
    };
    let installed = script
        .parent()
        .map(|d| d.join("node_modules/gltf-validator").is_dir())
        .unwrap_or(false);
    let node = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    (script.is_file() && installed && node).then_some(script)
}

fn require_tools() -> bool {
    std::env::var("INGOT_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Validates `bytes`; returns (errors, warnings, infos, messages).
fn validate(script: &PathBuf, name: &str, bytes: &[u8]) -> (u64, u64, u64, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("ingot-gen3d-validator-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.glb"));
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new("node")
        .arg(script)
        .arg(&file)
        .output()
        .expect("running node");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "validator output for {name} is not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let issues = &report["issues"];
    let n = |k: &str| issues[k].as_u64().unwrap_or(u64::MAX);
    let messages = issues["messages"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    format!(
                        "[sev {}] {} {} at {}",
                        m["severity"], m["code"], m["message"], m["pointer"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let errors = n("numErrors");
    assert_eq!(
        out.status.success(),
        errors == 0,
        "exit status disagrees with report for {name}"
    );
    let _ = std::fs::remove_file(&file);
    (errors, n("numWarnings"), n("numInfos"), messages)
}

#[test]
fn khronos_validator_reports_no_errors() {
    let Some(script) = validator_script() else {
        let msg = "SKIPPED khronos_validator_reports_no_errors: glTF validator not installed; run \
                   `scripts/gltf-validator.sh` (needs node + npm) or set INGOT_GLTF_VALIDATOR";
        assert!(!require_tools(), "{msg} (INGOT_REQUIRE_TOOLS=1)");
        eprintln!("{msg}");
        return;
    };
    let mut alpha = image::RgbaImage::from_pixel(48, 48, image::Rgba([0, 0, 0, 0]));
    for y in 8..40 {
        for x in 12..36 {
            alpha.put_pixel(x, y, image::Rgba([200, 180, 40, 255]));
        }
    }
    let cases: Vec<(&str, Gen3dParams)> = vec![
        ("chair", text("a wooden chair", 42, 10)),
        ("car", text("a red car", 7, 25)),
        ("golem", text("a small stone golem", 1, 50)),
        ("glass_vase", text("a glass vase", 3, 15)),
        (
            "rocket_plain",
            Gen3dParams {
                no_texture: true,
                ..text("a white rocket with red fins", 5, 20)
            },
        ),
        ("house", text("a brick house", 8, 30)),
        ("lamp", text("an architect desk lamp", 4, 12)),
        ("mug", text("a coffee mug", 2, 40)),
        ("fallback", text("the sound of silence", 9, 10)),
        ("relief", with_image(png(&test_image(160, 120)), 3, 20)),
        ("relief_big", with_image(png(&test_image(320, 200)), 3, 50)),
        (
            "relief_alpha_plain",
            Gen3dParams {
                no_texture: true,
                ..with_image(png(&alpha), 1, 10)
            },
        ),
    ];
    let mut failures = Vec::new();
    for (name, p) in &cases {
        let asset = gen_ok(p);
        let (errors, warnings, infos, messages) = validate(&script, name, &asset.bytes);
        eprintln!(
            "validator {name}: {errors} errors, {warnings} warnings, {infos} infos ({} triangles)",
            asset.triangle_count
        );
        for m in &messages {
            eprintln!("    {m}");
        }
        if errors > 0 || warnings > 0 {
            failures.push(format!(
                "{name}: {errors} errors, {warnings} warnings: {messages:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "validator issues:\n{}",
        failures.join("\n")
    );
}
