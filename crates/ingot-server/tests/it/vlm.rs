//! Vision-language models through llama.cpp's `mtmd`: the vision-chat ids answered by a model
//! that sees the pixels. The text model is the real SmolLM2; the projector is a random-weight
//! one written by the test (`ingot_test_support::gguf`), so these tests check the whole path
//! (intake, decoding, marker placement, image encoding, decoding, streaming, usage, errors)
//! but not the quality of the answers.

use std::io::Cursor;
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::{
    bare_config, get_json, get_text, have_models, http, model_dir, post_json, spawn, sse_usage,
};
use ingot_test_support::chat_model_path;
use ingot_test_support::gguf::{ProjectorShape, write_mlp_projector};

const VISION_ID: &str = "meta/llama-3.2-11b-vision-instruct";
const TEXT_ID: &str = "meta/llama-3.1-8b-instruct";
/// 32x32 images in 8x8 patches: 16 image tokens per image.
const SHAPE: ProjectorShape = ProjectorShape {
    text_embd: 576,
    image_size: 32,
    patch: 8,
};

fn projector(name: &str, shape: ProjectorShape) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ingot-vlm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.gguf"));
    write_mlp_projector(&path, shape, 7);
    path
}

/// The chat model carries the projector (no `[vision] model`).
fn vlm_config(mmproj: PathBuf) -> ingot_server::Config {
    let mut c = bare_config();
    c.model_dir = model_dir();
    c.chat.enabled = true;
    c.chat.max_slots = 2;
    c.chat.ctx_per_slot = 1024;
    c.vision.mmproj = Some(mmproj);
    c
}

/// A PNG data URL of a `w`x`h` image whose pixels come from `f(x, y)`.
fn png_url(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> String {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)));
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png).unwrap();
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(buf.into_inner())
    )
}

fn red() -> String {
    png_url(40, 30, |_, _| [220, 20, 20])
}

fn stripes() -> String {
    png_url(
        64,
        64,
        |x, _| if x % 8 < 4 { [0, 0, 0] } else { [255, 255, 0] },
    )
}

fn with_images(urls: &[String], text: &str) -> Value {
    let mut parts: Vec<Value> = urls
        .iter()
        .map(|u| json!({"type":"image_url","image_url":{"url":u}}))
        .collect();
    parts.push(json!({"type":"text","text":text}));
    json!([{"role":"user","content":parts}])
}

async fn post(base: &str, body: Value) -> (u16, Value) {
    post_json(&format!("{base}/v1/chat/completions"), &body).await
}

/// The first token's alternatives of a chat completion with `top_logprobs`.
fn top_logprobs(v: &Value) -> Vec<(String, f64)> {
    v["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["token"].as_str().unwrap().to_owned(),
                t["logprob"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Greedy first-token alternatives for `messages` on the vision id.
async fn first_token_logprobs(base: &str, messages: Value) -> Vec<(String, f64)> {
    let (status, v) = post(
        base,
        json!({"model":VISION_ID,"messages":messages,"max_tokens":1,"temperature":0,
               "logprobs":true,"top_logprobs":5}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    top_logprobs(&v)
}

#[tokio::test]
async fn vision_ids_see_the_pixels_through_the_projector() {
    if !have_models() {
        return;
    }
    let mmproj = projector("shared", SHAPE);
    let s = spawn(vlm_config(mmproj), true).await;

    // /v1/models names what serves the vision ids: the GGUF and its projector.
    let models: Value = get_json(&format!("{}/v1/models", s.base)).await;
    let entry = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == VISION_ID)
        .unwrap()
        .clone();
    assert!(
        entry["root"].as_str().unwrap().ends_with("+shared.gguf"),
        "{entry}"
    );

    // One image: its 16 image tokens count in the prompt; two images: 16 more (plus the
    // newline between them).
    let q = "Describe the picture.";
    let (status, one) = post(
        &s.base,
        json!({"model":VISION_ID,"messages":with_images(&[red()], q),"max_tokens":8,"temperature":0}),
    )
    .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["choices"][0]["message"]["role"], "assistant");
    assert!(
        !one["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let (status, two) = post(
        &s.base,
        json!({"model":VISION_ID,"messages":with_images(&[red(), stripes()], q),"max_tokens":8,"temperature":0}),
    )
    .await;
    assert_eq!(status, 200, "{two}");
    let p1 = one["usage"]["prompt_tokens"].as_u64().unwrap();
    let p2 = two["usage"]["prompt_tokens"].as_u64().unwrap();
    let extra = p2 - p1;
    assert!(
        (SHAPE.image_tokens()..=SHAPE.image_tokens() + 3).contains(&extra),
        "one image {p1}, two images {p2}"
    );

    // The pixels reach the model: another image changes the next-token distribution, the
    // same image gives the same one.
    let a = first_token_logprobs(&s.base, with_images(&[red()], q)).await;
    let a2 = first_token_logprobs(&s.base, with_images(&[red()], q)).await;
    let b = first_token_logprobs(&s.base, with_images(&[stripes()], q)).await;
    assert_eq!(a, a2);
    assert_ne!(a, b);

    // Streaming, with usage, and a marker typed by the user is just text.
    let r = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&json!({"model":VISION_ID,"stream":true,"stream_options":{"include_usage":true},
            "max_tokens":6,"temperature":0,
            "messages":with_images(&[red()], &format!("{} what is this?", ingot_engine::MEDIA_MARKER))}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    let usage = sse_usage(&body);
    assert!(usage["prompt_tokens"].as_u64().unwrap() > SHAPE.image_tokens());

    // n > 1 with an image: every choice answers.
    let (status, v) = post(
        &s.base,
        json!({"model":VISION_ID,"messages":with_images(&[red()], q),"max_tokens":4,"n":2,"seed":3}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"].as_array().unwrap().len(), 2);

    // Text ids on the same engine still refuse images; text-only requests to either work.
    let (status, v) = post(
        &s.base,
        json!({"model":TEXT_ID,"messages":with_images(&[red()], q),"max_tokens":4}),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    for id in [TEXT_ID, VISION_ID] {
        let (status, v) = post(
            &s.base,
            json!({"model":id,"messages":[{"role":"user","content":"Say hi"}],"max_tokens":4}),
        )
        .await;
        assert_eq!(status, 200, "{id}: {v}");
    }

    // Undecodable image data: 422 naming the part, nothing run.
    let (status, v) = post(
        &s.base,
        json!({"model":VISION_ID,"messages":with_images(&["data:image/png;base64,iVBORw0KGgoAAAAA".to_owned()], q)}),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["error"]["param"]
            .as_str()
            .unwrap()
            .starts_with("messages.0.content.0"),
        "{v}"
    );
}

#[tokio::test]
async fn image_and_text_requests_run_together_on_one_engine() {
    if !have_models() {
        return;
    }
    let s = spawn(vlm_config(projector("together", SHAPE)), true).await;
    let image = post(
        &s.base,
        json!({"model":VISION_ID,"messages":with_images(&[stripes()], "What is it?"),
               "max_tokens":16,"temperature":0}),
    );
    let text = post(
        &s.base,
        json!({"model":TEXT_ID,"messages":[{"role":"user","content":"Count to five."}],
               "max_tokens":16,"temperature":0}),
    );
    let ((si, vi), (st, vt)) = tokio::join!(image, text);
    assert_eq!(si, 200, "{vi}");
    assert_eq!(st, 200, "{vt}");
    // The text answer is the same as alone: the image job did not disturb its sequence.
    let (_, alone) = post(
        &s.base,
        json!({"model":TEXT_ID,"messages":[{"role":"user","content":"Count to five."}],
               "max_tokens":16,"temperature":0}),
    )
    .await;
    assert_eq!(
        vt["choices"][0]["message"]["content"],
        alone["choices"][0]["message"]["content"]
    );
}

#[tokio::test]
async fn a_separate_vision_model_and_a_projector_that_does_not_fit() {
    if !have_models() {
        return;
    }
    // `[vision] model`: a second engine serves the vision ids.
    let mut c = vlm_config(projector("separate", SHAPE));
    c.vision.model = Some(chat_model_path());
    let s = spawn(c, true).await;
    let (status, v) = post(
        &s.base,
        json!({"model":VISION_ID,"messages":with_images(&[red()], "What colour?"),"max_tokens":4}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    // Both engines report their own load and prompt tokens; only the VLM has prefilled any.
    let metrics = get_text(&format!("{}/metrics", s.base)).await;
    let prefilled: Vec<u64> = metrics
        .lines()
        .filter(|l| l.starts_with("ingot_prompt_tokens_prefilled_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(prefilled.len(), 2, "{metrics}");
    assert_eq!(prefilled[0], 0);
    assert!(prefilled[1] > SHAPE.image_tokens());
    drop(s);

    // A projector for a 64-wide text model, as a separate engine or on the chat model: the
    // vision ids say why they are unavailable (501, as for any id without a working
    // engine), the text ids are unaffected.
    let narrow = projector(
        "too-narrow",
        ProjectorShape {
            text_embd: 64,
            ..SHAPE
        },
    );
    for separate in [true, false] {
        let mut c = vlm_config(narrow.clone());
        if separate {
            c.vision.model = Some(chat_model_path());
        }
        // The server is ready: only the vision ids are affected.
        let s = spawn(c, true).await;
        let (status, v) = post(
            &s.base,
            json!({"model":VISION_ID,"messages":with_images(&[red()], "What colour?")}),
        )
        .await;
        assert_eq!(status, 501, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("too-narrow.gguf"),
            "{v}"
        );
        let (status, v) = post(
            &s.base,
            json!({"model":TEXT_ID,"messages":[{"role":"user","content":"Hi"}],"max_tokens":2}),
        )
        .await;
        assert_eq!(status, 200, "separate {separate}: {v}");
    }
}

/// Whether `ffmpeg` and `ffprobe` run; panics when tools are required
/// (`INGOT_REQUIRE_TOOLS=1`) but missing.
fn have_ffmpeg() -> bool {
    let ok = ["ffmpeg", "ffprobe"].iter().all(|t| {
        std::process::Command::new(t)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        assert!(
            std::env::var("INGOT_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "ffmpeg/ffprobe missing: install Debian's ffmpeg"
        );
        eprintln!("SKIPPED: ffmpeg/ffprobe missing");
    }
    ok
}

#[tokio::test]
async fn a_video_becomes_timed_frames_for_the_vision_model() {
    if !have_models() || !have_ffmpeg() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ingot-vlm-video-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mp4 = dir.join("clip.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=duration=3:size=96x64:rate=10")
        .args(["-pix_fmt", "yuv420p"])
        .arg(&mp4)
        .status()
        .unwrap();
    assert!(status.success());
    let url = format!(
        "data:video/mp4;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&mp4).unwrap())
    );
    let s = spawn(vlm_config(projector("video", SHAPE)), true).await;
    let q = "What happens in the video?";
    let (status, v) = post(
        &s.base,
        json!({"model":VISION_ID,"max_tokens":4,"temperature":0,"messages":[{"role":"user","content":[
            {"type":"video_url","video_url":{"url":url}},{"type":"text","text":q}]}]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (_, text_only) = post(
        &s.base,
        json!({"model":VISION_ID,"max_tokens":4,"messages":[{"role":"user","content":q}]}),
    )
    .await;
    // Three seconds at the default one frame per second: three frames of 16 tokens each,
    // plus their time labels.
    let with_video = v["usage"]["prompt_tokens"].as_u64().unwrap();
    let without = text_only["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(
        with_video >= without + 3 * SHAPE.image_tokens(),
        "{with_video} vs {without}"
    );
}

/// The same chat request with images to ingot and to llama.cpp's own server, both on
/// SmolLM2 + the same projector: one prompt (same token count, images placed alike), the same
/// greedy answer and first-token log-probabilities.
#[tokio::test]
async fn image_prompts_match_llama_server() {
    if !have_models() {
        return;
    }
    let mmproj = projector("parity", SHAPE);
    let Some(peer) = ingot_test_support::llama_server::start(
        &chat_model_path(),
        &["--mmproj", mmproj.to_str().unwrap(), "-c", "2048"],
    )
    .await
    else {
        return;
    };
    let s = spawn(vlm_config(mmproj), true).await;
    let img = |u: String| json!({"type":"image_url","image_url":{"url":u}});
    let txt = |t: &str| json!({"type":"text","text":t});
    for content in [
        json!([img(stripes()), txt("What is in this image?")]),
        json!([
            txt("Compare"),
            img(red()),
            img(stripes()),
            txt("Which is brighter?")
        ]),
    ] {
        let body = |model: &str| {
            json!({"model":model,"temperature":0,"max_tokens":8,"logprobs":true,"top_logprobs":3,
                   "messages":[{"role":"system","content":"You describe images."},
                               {"role":"user","content":content}]})
        };
        let (status, ours) = post(&s.base, body(VISION_ID)).await;
        assert_eq!(status, 200, "{ours}");
        let theirs: Value = http()
            .post(format!("{}/chat/completions", peer.base_url))
            .json(&body("smollm2"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            ours["usage"]["prompt_tokens"], theirs["usage"]["prompt_tokens"],
            "{content}"
        );
        assert_eq!(
            ours["choices"][0]["message"]["content"],
            theirs["choices"][0]["message"]["content"]
        );
        let (a, b) = (top_logprobs(&ours), top_logprobs(&theirs));
        assert_eq!(a.len(), b.len());
        for ((ta, la), (tb, lb)) in a.iter().zip(&b) {
            assert_eq!(ta, tb);
            assert!((la - lb).abs() < 0.01, "{a:?} vs {b:?}");
        }
    }
}
