//! Text in images, read by Tesseract through its command line (`tesseract … tsv`).
//!
//! The image is converted to grayscale (inverted when the background is dark), scaled so
//! small text gets enough pixels, padded with a white border and written as PNG. The TSV
//! output gives word boxes and confidences; low-confidence and symbol-only words are dropped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use image::imageops::{self, FilterType};
use image::{GrayImage, Luma, RgbImage};
use tokio::process::Command;

use crate::error::ToolError;
use crate::intake::Detail;
use crate::proc::{self, TempDir};

const HINT: &str = "install the Debian packages tesseract-ocr and tesseract-ocr-eng";
const BORDER: u32 = 16;

/// How OCR runs.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrConfig {
    /// The `tesseract` program.
    pub tesseract: PathBuf,
    /// Tesseract language codes, `+`-joined (`eng`, `eng+deu`).
    pub languages: String,
    /// Page segmentation mode (3 = automatic; 11 = sparse text).
    pub psm: u8,
    /// Time limit per image.
    pub timeout: Duration,
    /// Words below this confidence (0–100) are dropped.
    pub min_confidence: f32,
    /// Images whose longer side is shorter are upscaled towards it (at most 4×).
    pub min_side: u32,
    /// Images with more pixels are downscaled to this many (keeps tall receipts and wide
    /// banners at full width, unlike a side cap).
    pub max_pixels: u64,
    /// The longer side used for `detail: low`.
    pub low_detail_side: u32,
    /// Where temporary PNGs go (the system temp dir if `None`).
    pub temp_dir: Option<PathBuf>,
}

impl Default for OcrConfig {
    fn default() -> Self {
        Self {
            tesseract: PathBuf::from("tesseract"),
            languages: "eng".to_owned(),
            psm: 3,
            timeout: Duration::from_secs(30),
            min_confidence: 45.0,
            min_side: 1400,
            max_pixels: 12_000_000,
            low_detail_side: 1024,
            temp_dir: None,
        }
    }
}

/// One recognised word, in the coordinates of the image given to [`ocr`].
#[derive(Debug, Clone, PartialEq)]
pub struct OcrWord {
    /// The word.
    pub text: String,
    /// Tesseract's confidence, 0–100.
    pub confidence: f32,
    /// Left edge.
    pub left: u32,
    /// Top edge.
    pub top: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// The text of one image.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OcrText {
    /// Lines of text, `\n`-separated, in Tesseract's reading order.
    pub text: String,
    /// The kept words.
    pub words: Vec<OcrWord>,
    /// Share of the image covered by word boxes, 0–1.
    pub coverage: f32,
}

/// Runs `tesseract --version`.
///
/// # Errors
/// Tesseract is missing or fails.
pub async fn tesseract_version(cfg: &OcrConfig) -> Result<String, ToolError> {
    let mut cmd = Command::new(&cfg.tesseract);
    cmd.arg("--version");
    let out = proc::run(
        cmd,
        &tool_name(&cfg.tesseract),
        HINT,
        Duration::from_secs(10),
    )
    .await?;
    // Tesseract 4 prints the version on stderr, 5 on stdout.
    let text = [out.stdout, out.stderr].concat();
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .next()
        .unwrap_or("tesseract")
        .trim()
        .to_owned())
}

fn tool_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// An image made ready for Tesseract (grayscale, scaled, written to a private directory).
#[derive(Debug)]
pub struct OcrInput {
    /// Holds the image file; removed on drop. `None` for an empty image (nothing to read).
    dir: Option<(TempDir, PathBuf)>,
    scale: f32,
    size: (u32, u32),
}

/// Prepares `img` for [`read`]: the CPU part of OCR (blocking; run it off the async runtime).
///
/// # Errors
/// The image cannot be encoded or written.
pub fn prepare_input(
    img: &RgbImage,
    detail: Detail,
    cfg: &OcrConfig,
) -> Result<OcrInput, ToolError> {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Ok(OcrInput {
            dir: None,
            scale: 1.0,
            size: (w, h),
        });
    }
    let (prepared, scale) = prepare(img, detail, cfg);
    let dir = TempDir::new(cfg.temp_dir.as_deref())?;
    let mut png = std::io::Cursor::new(Vec::new());
    prepared
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| ToolError::Io(format!("cannot encode the OCR image: {e}")))?;
    let input = dir.write("ocr.png", png.get_ref())?;
    Ok(OcrInput {
        dir: Some((dir, input)),
        scale,
        size: (w, h),
    })
}

/// Reads the text of `img` (prepares it on the blocking pool, then runs Tesseract).
///
/// # Errors
/// Tesseract is missing, times out or fails (e.g. language data not installed).
pub async fn ocr(img: RgbImage, detail: Detail, cfg: &OcrConfig) -> Result<OcrText, ToolError> {
    let c = cfg.clone();
    let input = tokio::task::spawn_blocking(move || prepare_input(&img, detail, &c))
        .await
        .map_err(|e| ToolError::Io(format!("OCR preparation failed: {e}")))??;
    read(input, cfg).await
}

/// Runs Tesseract on a prepared image.
///
/// # Errors
/// Tesseract is missing, times out or fails (e.g. language data not installed).
pub async fn read(input: OcrInput, cfg: &OcrConfig) -> Result<OcrText, ToolError> {
    let OcrInput { dir, scale, size } = input;
    let (w, h) = size;
    let Some((_dir, input)) = dir else {
        return Ok(OcrText::default());
    };
    let mut cmd = Command::new(&cfg.tesseract);
    cmd.arg(&input)
        .arg("stdout")
        .args(["-l", &cfg.languages])
        .args(["--psm", &cfg.psm.to_string()])
        .args(["--dpi", "300"])
        .arg("tsv")
        // One thread per process: concurrency is bounded by the engine instead.
        .env("OMP_THREAD_LIMIT", "1");
    let tool = tool_name(&cfg.tesseract);
    let out = proc::run(cmd, &tool, HINT, cfg.timeout).await?;
    if !out.status.success() {
        let tail = out.stderr_tail();
        let hint = if tail.contains("Failed loading language") || tail.contains("traineddata") {
            format!(
                "; install the language data (Debian tesseract-ocr-{})",
                cfg.languages
            )
        } else {
            String::new()
        };
        return Err(ToolError::Failed {
            tool,
            detail: format!("{}: {tail}{hint}", out.status),
        });
    }
    let tsv = String::from_utf8_lossy(&out.stdout);
    let words = parse_tsv(&tsv, cfg.min_confidence, scale, (w, h));
    let area: f64 = words
        .iter()
        .map(|(_, wd)| f64::from(wd.width) * f64::from(wd.height))
        .sum();
    let coverage = (area / (f64::from(w) * f64::from(h))).min(1.0) as f32;
    let text = words_to_text(&words);
    Ok(OcrText {
        text,
        words: words.into_iter().map(|(_, wd)| wd).collect(),
        coverage,
    })
}

/// Grayscale, dark backgrounds inverted, scaled, white border. Returns the scale used.
fn prepare(img: &RgbImage, detail: Detail, cfg: &OcrConfig) -> (GrayImage, f32) {
    let mut gray = imageops::grayscale(img);
    let n = u64::from(gray.width()) * u64::from(gray.height());
    let mean = gray.pixels().map(|p| u64::from(p.0[0])).sum::<u64>() / n.max(1);
    if mean < 110 {
        imageops::invert(&mut gray);
    }
    let longer = gray.width().max(gray.height()) as f32;
    let pixels = n as f32;
    let (min_side, max_side) = match detail {
        Detail::Low => {
            let low = cfg.low_detail_side as f32;
            (low.min(cfg.min_side as f32), low)
        }
        Detail::Auto | Detail::High => (cfg.min_side as f32, f32::INFINITY),
    };
    let mut scale = if longer < min_side {
        (min_side / longer).min(4.0)
    } else {
        1.0
    };
    scale = scale.min(max_side / longer);
    let max_pixels = cfg.max_pixels.max(1) as f32;
    if pixels * scale * scale > max_pixels {
        scale = (max_pixels / pixels).sqrt();
    }
    let scaled = if (scale - 1.0).abs() > f32::EPSILON {
        let nw = ((gray.width() as f32 * scale).round() as u32).max(1);
        let nh = ((gray.height() as f32 * scale).round() as u32).max(1);
        let filter = if scale > 1.0 {
            FilterType::CatmullRom
        } else {
            FilterType::Triangle
        };
        imageops::resize(&gray, nw, nh, filter)
    } else {
        gray
    };
    let mut canvas = GrayImage::from_pixel(
        scaled.width() + 2 * BORDER,
        scaled.height() + 2 * BORDER,
        Luma([255]),
    );
    imageops::replace(&mut canvas, &scaled, i64::from(BORDER), i64::from(BORDER));
    (canvas, scale)
}

/// Line key (page, block, paragraph, line) and the word in original coordinates.
type KeyedWord = ((u32, u32, u32, u32), OcrWord);

/// Parses Tesseract TSV (level 5 rows are words), keeping confident, non-junk words.
fn parse_tsv(tsv: &str, min_conf: f32, scale: f32, (w, h): (u32, u32)) -> Vec<KeyedWord> {
    let mut words = Vec::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 12 || cols[0] != "5" {
            continue;
        }
        let num = |i: usize| cols[i].trim().parse::<f32>().unwrap_or(-1.0);
        let text = cols[11..].join(" ").trim().to_owned();
        let conf = num(10);
        if text.is_empty() || conf < min_conf || !text.chars().any(char::is_alphanumeric) {
            continue;
        }
        let key = (num(1) as u32, num(2) as u32, num(3) as u32, num(4) as u32);
        let unscale = |v: f32, off: f32, lim: u32| (((v - off) / scale).max(0.0) as u32).min(lim);
        let b = BORDER as f32;
        let left = unscale(num(6), b, w);
        let top = unscale(num(7), b, h);
        let width = unscale(num(8), 0.0, w - left);
        let height = unscale(num(9), 0.0, h - top);
        words.push((
            key,
            OcrWord {
                text,
                confidence: conf,
                left,
                top,
                width,
                height,
            },
        ));
    }
    words
}

fn words_to_text(words: &[KeyedWord]) -> String {
    let mut out = String::new();
    let mut last = None;
    for (key, w) in words {
        match last {
            Some(k) if k == *key => out.push(' '),
            Some(_) => out.push('\n'),
            None => {}
        }
        out.push_str(&w.text);
        last = Some(*key);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSV: &str = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext
1\t1\t0\t0\t0\t0\t0\t0\t832\t332\t-1\t
5\t1\t1\t1\t1\t1\t36\t66\t200\t50\t96.5\tINVOICE
5\t1\t1\t1\t1\t2\t256\t66\t120\t50\t91\t1042
5\t1\t1\t1\t2\t1\t36\t136\t40\t40\t12.0\tjunk
5\t1\t1\t1\t2\t2\t96\t136\t40\t40\t88\t~~
5\t1\t2\t1\t1\t1\t36\t236\t160\t40\t90.1\tTotal:
";

    #[test]
    fn tsv_keeps_confident_words_by_line() {
        let words = parse_tsv(TSV, 45.0, 2.0, (400, 150));
        assert_eq!(words_to_text(&words), "INVOICE 1042\nTotal:");
        let first = &words[0].1;
        assert_eq!(
            (first.left, first.top, first.width, first.height),
            (10, 25, 100, 25)
        );
    }

    #[test]
    fn small_images_are_upscaled_and_dark_ones_inverted() {
        let img = RgbImage::from_pixel(100, 50, image::Rgb([10, 10, 10]));
        let (g, s) = prepare(&img, Detail::Auto, &OcrConfig::default());
        assert!((s - 4.0).abs() < 1e-6);
        assert_eq!(g.dimensions(), (400 + 2 * BORDER, 200 + 2 * BORDER));
        assert!(g.get_pixel(100, 100).0[0] > 200);
        let big = RgbImage::from_pixel(4000, 1000, image::Rgb([250, 250, 250]));
        let (g, s) = prepare(&big, Detail::Low, &OcrConfig::default());
        assert!(s < 1.0);
        assert_eq!(g.width(), 1024 + 2 * BORDER);
        let (g, s) = prepare(&big, Detail::Auto, &OcrConfig::default());
        assert!((s - 1.0).abs() < 1e-6);
        assert_eq!(g.width(), 4000 + 2 * BORDER);
        let cfg = OcrConfig {
            max_pixels: 1_000_000,
            ..OcrConfig::default()
        };
        let (g, _) = prepare(&big, Detail::High, &cfg);
        let inner = u64::from(g.width() - 2 * BORDER) * u64::from(g.height() - 2 * BORDER);
        assert!((990_000..=1_001_000).contains(&inner), "{inner}");
    }

    #[tokio::test]
    async fn missing_tesseract_is_a_clear_error() {
        let cfg = OcrConfig {
            tesseract: PathBuf::from("/nonexistent/tesseract"),
            ..OcrConfig::default()
        };
        let img = RgbImage::from_pixel(8, 8, image::Rgb([255, 255, 255]));
        let e = ocr(img, Detail::Auto, &cfg).await.unwrap_err();
        assert!(matches!(e, ToolError::Missing { .. }), "{e:?}");
        assert!(e.to_string().contains("tesseract-ocr"), "{e}");
    }
}
