//! `VisionEngine::analyze` end to end: intake forms, fetching, errors as 422 details.

use std::net::IpAddr;
use std::sync::Arc;

use ingot_protocol::chat::MessageContent;
use ingot_vision::{
    Allowlist, FetchConfig, Fetcher, MediaAnalysis, StaticResolver, VisionConfig, VisionEngine,
    VisionError,
};
use serde_json::json;

use crate::common::{Reply, data_url, font, have_tools, messages, png, serve, word_png};

fn local_engine(allow: &[&str]) -> VisionEngine {
    let fetch = FetchConfig {
        allowlist: Allowlist::from_entries(allow).unwrap(),
        ..FetchConfig::default()
    };
    let fetcher = Fetcher::with_resolver(fetch, Arc::new(StaticResolver::new())).unwrap();
    VisionEngine::with_fetcher(VisionConfig::default(), fetcher)
}

fn image_text(m: &MediaAnalysis) -> &str {
    match m {
        MediaAnalysis::Image(i) => &i.report.ocr.text,
        MediaAnalysis::Video(_) => panic!("image expected"),
    }
}

#[tokio::test]
async fn object_bare_string_and_img_tag_forms_are_read_in_order() {
    let Some(font) = font() else { return };
    if !have_tools(&["tesseract"]) {
        return;
    }
    let [a, b, c] =
        ["APPLE", "BANANA", "CHERRY"].map(|w| data_url("image/png", &word_png(&font, w)));
    let msgs = messages(&json!([
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": [
            {"type": "text", "text": "Which fruits are named?"},
            {"type": "image_url", "image_url": {"url": a, "detail": "high"}},
            {"type": "image_url", "image_url": b},
            {"type": "text", "text": format!("and <img src=\"{c}\" /> too")}
        ]}
    ]));
    let analysis = local_engine(&[]).analyze(&msgs).await.unwrap();
    assert_eq!(analysis.media.len(), 3);
    for (m, w) in analysis.media.iter().zip(["APPLE", "BANANA", "CHERRY"]) {
        assert!(image_text(m).contains(w), "{w}: {:?}", image_text(m));
    }
    let prompt = analysis.to_prompt();
    let lines: Vec<&str> = prompt.lines().collect();
    assert_eq!(lines.len(), 3, "{prompt}");
    assert!(
        lines[0].starts_with("[Image 1: 640×160 landscape"),
        "{prompt}"
    );
    assert!(lines[2].contains("text (OCR): \"CHERRY\""), "{prompt}");

    assert_eq!(analysis.messages[0], msgs[0]);
    let Some(MessageContent::Text(user)) = &analysis.messages[1].content else {
        panic!("text expected")
    };
    assert!(
        user.starts_with("Which fruits are named?\n[Image 1: "),
        "{user}"
    );
    assert!(user.contains("\nand\n[Image 3: "), "{user}");
    assert!(user.ends_with("\ntoo"), "{user}");
    assert!(!user.contains("<img") && !user.contains("base64"), "{user}");
}

#[tokio::test]
async fn a_remote_image_from_an_allowlisted_server_is_read() {
    let Some(font) = font() else { return };
    if !have_tools(&["tesseract"]) {
        return;
    }
    let body = word_png(&font, "REMOTE");
    let server = serve("127.0.0.1".parse().unwrap(), move |_| Reply::Body {
        content_type: "image/png",
        body: body.clone(),
        length: true,
    })
    .await
    .unwrap();
    let engine = local_engine(&[&format!("{}/32", server.addr.ip())]);
    let msgs = messages(&json!([{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": server.url("/sign.png")}}
    ]}]));
    let analysis = engine.analyze(&msgs).await.unwrap();
    assert!(image_text(&analysis.media[0]).contains("REMOTE"));
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn a_refused_url_is_a_422_with_its_path_and_nothing_is_contacted() {
    let victim = serve("127.0.0.1".parse().unwrap(), |_| Reply::Body {
        content_type: "image/png",
        body: Vec::new(),
        length: true,
    })
    .await
    .unwrap();
    let msgs = messages(&json!([{"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": victim.url("/x.png")}}
    ]}]));
    let e = local_engine(&[]).analyze(&msgs).await.unwrap_err();
    assert!(e.is_client_error());
    let fe = e.field_error().unwrap();
    assert_eq!(
        fe.param().as_deref(),
        Some("messages.0.content.1.image_url.url")
    );
    assert!(fe.message.contains("loopback"), "{}", fe.message);
    assert_eq!(victim.connections(), 0);
}

/// A 1×1 PNG whose header is patched to declare `w`×`h`.
fn bomb_png(w: u32, h: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut b = png(&image::RgbImage::from_pixel(1, 1, image::Rgb([0, 0, 0])));
    b[16..20].copy_from_slice(&w.to_be_bytes());
    b[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&b[12..29]);
    b[29..33].copy_from_slice(&crc.to_be_bytes());
    b
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_before_decoding() {
    let bomb = bomb_png(50_000, 50_000);
    let msgs = messages(&json!([{"role": "user", "content": [
        {"type": "image_url", "image_url": data_url("image/png", &bomb)}
    ]}]));
    let t = std::time::Instant::now();
    let e = local_engine(&[]).analyze(&msgs).await.unwrap_err();
    assert!(t.elapsed().as_secs() < 2);
    assert_eq!(
        e.to_string(),
        "messages -> 0 -> content -> 0 -> image_url: the image declares 50000×50000 pixels, \
         more than the limit of 40000000 pixels (16384 per side)"
    );
}

#[tokio::test]
async fn bad_inputs_are_422_details() {
    let cases = [
        (
            json!({"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}),
            "unsupported URL scheme `file`",
        ),
        (
            json!({"type": "image_url", "image_url": "data:image/png;asset_id,5a1e-77"}),
            "NVCF asset references",
        ),
        (
            json!({"type": "image_url", "image_url": data_url("image/png", b"hello, not an image")}),
            "not a supported image",
        ),
        (
            json!({"type": "image_url", "image_url": "data:image/tiff;base64,SUkqAA=="}),
            "unsupported media type `image/tiff`",
        ),
        (
            json!({"type": "video_url", "video_url": {"url": data_url("video/mp4", b"plain text")}}),
            "not a supported video",
        ),
    ];
    let engine = local_engine(&[]);
    for (part, needle) in cases {
        let msgs = messages(&json!([{"role": "user", "content": [part]}]));
        let e = engine.analyze(&msgs).await.unwrap_err();
        assert!(matches!(e, VisionError::Input(_)), "{e:?}");
        let s = e.to_string();
        assert!(s.starts_with("messages -> 0 -> content -> 0 -> "), "{s}");
        assert!(s.contains(needle), "{needle}: {s}");
    }
}

#[tokio::test]
async fn text_only_requests_pass_through() {
    let msgs = messages(&json!([{"role": "user", "content": "hello <b>there</b>"}]));
    let a = local_engine(&[]).analyze(&msgs).await.unwrap();
    assert!(a.is_empty());
    assert_eq!(a.messages, msgs);
    assert_eq!(a.to_prompt(), "");
}

#[tokio::test]
async fn a_hostname_allowlist_entry_trusts_that_name_only() {
    let server = serve("127.0.0.1".parse().unwrap(), |_| Reply::Body {
        content_type: "text/html",
        body: b"<html>not an image</html>".to_vec(),
        length: true,
    })
    .await
    .unwrap();
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let resolver = StaticResolver::new()
        .with("images.test.example", [lo])
        .with("other.test.example", [lo]);
    let fetch = FetchConfig {
        allowlist: Allowlist::from_entries(["images.test.example"]).unwrap(),
        ..FetchConfig::default()
    };
    let engine = VisionEngine::with_fetcher(
        VisionConfig::default(),
        Fetcher::with_resolver(fetch, Arc::new(resolver)).unwrap(),
    );
    let port = server.addr.port();
    let ask = |host: &str, path: &str| {
        messages(&json!([{"role": "user", "content": [
            {"type": "image_url", "image_url": format!("http://{host}:{port}{path}")}
        ]}]))
    };
    // Allowed name: fetched, then refused as content (HTML is not an image).
    let e = engine
        .analyze(&ask("images.test.example", "/a.png"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Content-Type text/html"), "{e}");
    assert_eq!(server.connections(), 1);
    // Same address under another name: refused without a connection.
    let e = engine
        .analyze(&ask("other.test.example", "/a.png"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
    assert_eq!(server.connections(), 1);
    // A video URL in an image part gets a hint.
    let e = engine
        .analyze(&ask("images.test.example", "/clip.mp4"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("send it as a `video_url` part"),
        "{e}"
    );
}

#[tokio::test]
async fn pixels_place_a_marker_per_image_and_scale_to_the_detail_asked() {
    let big = image::RgbImage::from_pixel(3000, 1000, image::Rgb([10, 200, 30]));
    let small = image::RgbImage::from_pixel(40, 30, image::Rgb([200, 10, 30]));
    let (big_url, small_url) = (
        data_url("image/png", &png(&big)),
        data_url("image/png", &png(&small)),
    );
    let msgs = messages(&json!([
        {"role": "system", "content": "Typed <M> markers are only text."},
        {"role": "user", "content": [
            {"type": "text", "text": "Compare <M>"},
            {"type": "image_url", "image_url": {"url": big_url, "detail": "low"}},
            {"type": "image_url", "image_url": {"url": big_url}},
            {"type": "text", "text": format!("with <img src=\"{small_url}\" />")}
        ]}
    ]));
    let out = local_engine(&[]).pixels(&msgs, "<M>").await.unwrap();
    let dims: Vec<(u32, u32)> = out.images.iter().map(|i| i.dimensions()).collect();
    // low: within 512x512; auto: within 2048x2048; small images are never scaled up.
    assert_eq!(dims, vec![(512, 171), (2048, 683), (40, 30)]);
    assert_eq!(out.images[2].get_pixel(0, 0), &image::Rgb([200, 10, 30]));
    let Some(MessageContent::Text(system)) = &out.messages[0].content else {
        panic!("text expected")
    };
    assert_eq!(system, "Typed  markers are only text.");
    let Some(MessageContent::Text(user)) = &out.messages[1].content else {
        panic!("text expected")
    };
    // Text parts on their own lines, each marker glued to the text around it.
    assert_eq!(user, "Compare<M><M>with<M>");
}
