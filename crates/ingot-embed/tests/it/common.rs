use std::path::PathBuf;

use ingot_embed::{EmbedInput, Embedder, EmbedderConfig};

/// `$INGOT_MODEL_DIR/<name>` (default `$HOME/.cache/ingot/models/<name>`), or `None` with a
/// skip message when `file` is missing there — unless `INGOT_REQUIRE_MODELS=1`, then panic.
pub fn model_dir(name: &str, file: &str) -> Option<PathBuf> {
    let base = std::env::var_os("INGOT_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/ingot/models")
        });
    let dir = base.join(name);
    if dir.join(file).is_file() {
        return Some(dir);
    }
    let msg = format!("model file {} not found", dir.join(file).display());
    if std::env::var("INGOT_REQUIRE_MODELS").is_ok_and(|v| v == "1") {
        panic!("{msg} and INGOT_REQUIRE_MODELS=1");
    }
    eprintln!("SKIPPED: {msg} (set INGOT_MODEL_DIR; INGOT_REQUIRE_MODELS=1 makes this fail)");
    None
}

pub fn minilm() -> Option<Embedder> {
    minilm_with(&EmbedderConfig::default())
}

pub fn minilm_with(cfg: &EmbedderConfig) -> Option<Embedder> {
    let dir = model_dir("all-minilm-l6-v2", "model.safetensors")?;
    Some(Embedder::load_minilm(&dir, cfg).expect("load MiniLM"))
}

pub fn e5() -> Option<Embedder> {
    let dir = model_dir("multilingual-e5-small", "e5-small-q4.bin")?;
    Some(Embedder::load_e5(&dir, &EmbedderConfig::default()).expect("load e5"))
}

pub fn texts<S: AsRef<str>>(items: &[S]) -> Vec<EmbedInput> {
    items
        .iter()
        .map(|s| EmbedInput::Text(s.as_ref().to_string()))
        .collect()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture JSON")
}

pub fn vec_of(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}
