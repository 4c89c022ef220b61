//! `image_data_url` and `video_data_url` on real files.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use image::{ImageFormat, Rgb, RgbImage};
use ingot_client::{ClientError, image_data_url};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ingot-client-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn noisy(w: u32, h: u32) -> RgbImage {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    RgbImage::from_fn(w, h, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let [a, b, c, ..] = state.to_le_bytes();
        Rgb([a, b, c])
    })
}

fn decode(url: &str, prefix: &str) -> Vec<u8> {
    let data = url
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{}", &url[..40]));
    STANDARD.decode(data).unwrap()
}

#[test]
fn large_noisy_png_is_downscaled_to_fit() {
    let dir = TempDir::new("large");
    let path = dir.0.join("noise.png");
    noisy(1200, 800)
        .save_with_format(&path, ImageFormat::Png)
        .unwrap();
    let original = std::fs::metadata(&path).unwrap().len();
    let max = 150_000;
    assert!(original > max as u64 * 10);

    let url = image_data_url(&path, max).unwrap();
    assert!(url.len() <= max, "{} > {max}", url.len());
    let jpeg = decode(&url, "data:image/jpeg;base64,");
    let img = image::load_from_memory_with_format(&jpeg, ImageFormat::Jpeg).unwrap();
    assert!(
        img.width() < 1200 && img.width() >= 1200 / 16,
        "{}",
        img.width()
    );
    // Aspect ratio kept (3:2), within rounding.
    let ratio = f64::from(img.width()) / f64::from(img.height());
    assert!(
        (ratio - 1.5).abs() < 0.05,
        "{}x{}",
        img.width(),
        img.height()
    );
}

#[test]
fn small_image_is_sent_unchanged_with_its_sniffed_type() {
    let dir = TempDir::new("small");
    // A PNG named .jpg: the content decides the type.
    let path = dir.0.join("tiny.jpg");
    noisy(8, 8)
        .save_with_format(&path, ImageFormat::Png)
        .unwrap();
    let url = image_data_url(&path, 1 << 20).unwrap();
    assert_eq!(
        decode(&url, "data:image/png;base64,"),
        std::fs::read(&path).unwrap()
    );
}

#[test]
fn non_images_and_missing_files_are_rejected() {
    let dir = TempDir::new("bad");
    let path = dir.0.join("notes.png");
    std::fs::write(&path, b"just text").unwrap();
    assert!(matches!(
        image_data_url(&path, 1000),
        Err(ClientError::InvalidInput(_))
    ));
    let err = image_data_url(&dir.0.join("missing.png"), 1000).unwrap_err();
    assert!(matches!(err, ClientError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.png"), "{err}");
}

#[test]
fn impossible_budget_is_an_error() {
    let dir = TempDir::new("budget");
    let path = dir.0.join("a.png");
    noisy(64, 64)
        .save_with_format(&path, ImageFormat::Png)
        .unwrap();
    let err = image_data_url(&path, 40).unwrap_err();
    assert!(matches!(err, ClientError::InvalidInput(_)), "{err:?}");
}
