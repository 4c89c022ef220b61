//! Tesseract on rendered text, and the visual facts next to it.

use ingot_vision::analysis::describe_report;
use ingot_vision::decode::DecodeLimits;
use ingot_vision::facts::ImageKind;
use ingot_vision::ocr::OcrConfig;
use ingot_vision::{Detail, Loc, ToolError, VisionError, analyze_image_bytes};

use crate::common::{font, have_tools, png, render};

/// Runs a future to its end on a runtime of its own.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn analyze(bytes: &[u8]) -> ingot_vision::ImageReport {
    block_on(analyze_image_bytes(
        bytes.to_vec(),
        Detail::Auto,
        &DecodeLimits::default(),
        &OcrConfig::default(),
        &Loc::default(),
    ))
    .unwrap()
}

#[test]
fn reads_rendered_document_text() {
    let Some(font) = font() else { return };
    if !have_tools(&["tesseract"]) {
        return;
    }
    let img = render(
        &font,
        &["INVOICE 1042", "Total due 99 EUR"],
        (900, 320),
        56.0,
        [0, 0, 0],
        [255, 255, 255],
    );
    let r = analyze(&png(&img));
    for w in ["INVOICE", "1042", "Total", "due", "99", "EUR"] {
        assert!(r.ocr.text.contains(w), "{w} missing from {:?}", r.ocr.text);
    }
    assert_eq!(r.ocr.text.lines().count(), 2, "{:?}", r.ocr.text);
    assert_eq!(r.kind, ImageKind::Text, "coverage {}", r.ocr.coverage);
    assert_eq!(r.facts.colours[0].name, "white");
    assert_eq!(r.facts.brightness_label(), "bright");
    let line = describe_report(&r, 500);
    assert!(
        line.starts_with("900×320 landscape, mostly text; bright; colours: white"),
        "{line}"
    );
    assert!(
        line.contains("text (OCR): \"INVOICE 1042 / Total due 99 EUR\""),
        "{line}"
    );
}

#[test]
fn reads_light_text_on_a_dark_background() {
    let Some(font) = font() else { return };
    if !have_tools(&["tesseract"]) {
        return;
    }
    let img = render(
        &font,
        &["HELLO WORLD"],
        (700, 180),
        64.0,
        [255, 255, 255],
        [0, 0, 110],
    );
    let r = analyze(&png(&img));
    assert!(r.ocr.text.contains("HELLO WORLD"), "{:?}", r.ocr.text);
    assert_eq!(
        r.facts.colours[0].name, "dark blue",
        "{:?}",
        r.facts.colours
    );
    assert!(
        matches!(r.facts.brightness_label(), "dark" | "dim"),
        "{}",
        r.facts.brightness
    );
}

#[test]
fn upscales_small_text() {
    let Some(font) = font() else { return };
    if !have_tools(&["tesseract"]) {
        return;
    }
    let img = render(
        &font,
        &["SMALL PRINT 7"],
        (220, 40),
        18.0,
        [20, 20, 20],
        [250, 250, 250],
    );
    let r = analyze(&png(&img));
    assert!(r.ocr.text.contains("SMALL PRINT"), "{:?}", r.ocr.text);
}

#[test]
fn a_smooth_colourful_picture_has_no_text() {
    if !have_tools(&["tesseract"]) {
        return;
    }
    let img = image::RgbImage::from_fn(400, 300, |x, y| {
        image::Rgb([(x * 255 / 400) as u8, (y * 255 / 300) as u8, 160])
    });
    let r = analyze(&png(&img));
    assert!(r.ocr.text.is_empty(), "{:?}", r.ocr.text);
    assert_eq!(
        r.kind,
        ImageKind::Photo,
        "variety {}",
        r.facts.colour_variety
    );
    assert!(describe_report(&r, 100).ends_with("; no readable text"));
}

#[test]
fn a_missing_tesseract_is_a_tool_error() {
    let cfg = OcrConfig {
        tesseract: "/nonexistent/bin/tesseract".into(),
        ..OcrConfig::default()
    };
    let img = image::RgbImage::from_pixel(20, 20, image::Rgb([255, 255, 255]));
    let e = block_on(analyze_image_bytes(
        png(&img),
        Detail::Auto,
        &DecodeLimits::default(),
        &cfg,
        &Loc::default(),
    ))
    .unwrap_err();
    assert!(
        matches!(e, VisionError::Tool(ToolError::Missing { .. })),
        "{e:?}"
    );
    assert!(!e.is_client_error());
    assert!(e.to_string().contains("tesseract-ocr"), "{e}");
}
