//! A short video made here with ffmpeg from rendered frames whose text changes each second.

use std::path::Path;
use std::process::Command;

use ingot_vision::{MediaAnalysis, VisionConfig, VisionEngine, VisionError};
use serde_json::json;

use crate::common::{data_url, font, have_tools, messages, png, render};

const WORDS: [&str; 3] = ["ALPHA", "BRAVO", "CHARLIE"];

/// Encodes one picture per second from `WORDS` into `out` with `codec` (and any other output
/// options); false if ffmpeg fails.
fn make_video(dir: &Path, codec: &[&str], out: &str) -> bool {
    let Some(font) = font() else { return false };
    for (i, w) in WORDS.iter().enumerate() {
        let img = render(&font, &[w], (640, 360), 80.0, [0, 0, 0], [255, 255, 255]);
        std::fs::write(dir.join(format!("f{}.png", i + 1)), png(&img)).unwrap();
    }
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-framerate", "1", "-i"])
        .arg(dir.join("f%d.png"))
        .args(codec)
        .args(["-pix_fmt", "yuv420p"])
        .arg(dir.join(out))
        .status()
        .unwrap();
    status.success()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ingot-vision-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn analyze_video(
    bytes: &[u8],
    mime: &str,
    tmp: &Path,
) -> (ingot_vision::VideoAnalysis, String) {
    let engine = VisionEngine::new(VisionConfig::default().with_temp_dir(tmp)).unwrap();
    let msgs = messages(&json!([{"role": "user", "content": [
        {"type": "text", "text": "What words appear, and when?"},
        {"type": "video_url", "video_url": {"url": data_url(mime, bytes)}}
    ]}]));
    let analysis = engine.analyze(&msgs).await.unwrap();
    let prompt = analysis.to_prompt();
    match analysis.media.into_iter().next() {
        Some(MediaAnalysis::Video(v)) => (v, prompt),
        other => panic!("video expected, got {other:?}"),
    }
}

/// Each sampled frame shows the word on screen at its timestamp (word k during second k).
fn check_frames(v: &ingot_vision::VideoAnalysis) {
    assert!(!v.frames.is_empty());
    for f in &v.frames {
        let w = WORDS[(f.timestamp_s.floor() as usize).min(2)];
        assert!(
            f.report.ocr.text.contains(w),
            "at {} s expected {w}, read {:?}",
            f.timestamp_s,
            f.report.ocr.text
        );
        assert!(f.report.facts.width <= 768 && f.report.facts.height <= 768);
    }
}

#[tokio::test]
async fn an_mp4_is_sampled_with_timestamps_and_its_text_read() {
    if !have_tools(&["ffmpeg", "ffprobe", "tesseract"]) {
        return;
    }
    let dir = scratch("mp4");
    if !make_video(&dir, &["-c:v", "mpeg4", "-q:v", "2", "-r", "10"], "v.mp4") {
        panic!("ffmpeg could not encode the test video");
    }
    let tmp = dir.join("engine-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let bytes = std::fs::read(dir.join("v.mp4")).unwrap();
    let (v, prompt) = analyze_video(&bytes, "video/mp4", &tmp).await;
    check_frames(&v);
    let times: Vec<f64> = v.frames.iter().map(|f| f.timestamp_s).collect();
    assert_eq!(times, vec![0.5, 1.5, 2.5]);
    assert!(
        prompt.starts_with("[Video 1: 0:03 long, 640×360, 3 frames sampled]"),
        "{prompt}"
    );
    for (t, w) in ["0:00.5", "0:01.5", "0:02.5"].iter().zip(WORDS) {
        assert!(prompt.contains(&format!("[Video 1 at {t}: ")), "{prompt}");
        assert!(prompt.contains(&format!("text (OCR): \"{w}\"")), "{prompt}");
    }
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "temporary files left behind"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_sparse_webm_gives_the_frame_shown_at_each_timestamp() {
    if !have_tools(&["ffmpeg", "ffprobe", "tesseract"]) {
        return;
    }
    let dir = scratch("webm");
    // Three frames at 0, 1 and 2 s (variable frame rate); WebM stores no last-frame duration,
    // so the file lasts 2.1 s and two moments are sampled, each inside a frame's lifetime.
    if !make_video(
        &dir,
        &["-c:v", "libvpx", "-b:v", "1M", "-deadline", "realtime"],
        "v.webm",
    ) {
        eprintln!("SKIPPED: this ffmpeg cannot encode VP8 (libvpx)");
        return;
    }
    let bytes = std::fs::read(dir.join("v.webm")).unwrap();
    let (v, _) = analyze_video(&bytes, "video/webm", &dir).await;
    check_frames(&v);
    assert!(v.frames.len() >= 2, "{:?}", v.frames.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_corrupt_video_is_a_422() {
    if !have_tools(&["ffmpeg", "ffprobe"]) {
        return;
    }
    let mut bytes = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2".to_vec();
    bytes.extend(std::iter::repeat_n(0xAB, 4000));
    let engine = VisionEngine::new(VisionConfig::default()).unwrap();
    let msgs = messages(&json!([{"role": "user", "content": [
        {"type": "video_url", "video_url": data_url("video/mp4", &bytes)}
    ]}]));
    let e = engine.analyze(&msgs).await.unwrap_err();
    assert!(matches!(e, VisionError::Input(_)), "{e:?}");
    let s = e.to_string();
    assert!(
        s.starts_with("messages -> 0 -> content -> 0 -> video_url: "),
        "{s}"
    );
    assert!(!s.contains("ingot-vision-"), "temporary paths leak: {s}");
}
