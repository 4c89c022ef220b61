//! Plain, deterministic visual facts: size, orientation, named dominant colours, brightness,
//! contrast, edge density, and whether the image is mostly text, a photo or a graphic.

use std::collections::BTreeMap;
use std::fmt;

use image::RgbImage;
use image::imageops::{self, FilterType};

use crate::ocr::OcrText;

/// Longer side of the thumbnail the statistics are computed on.
const THUMB: u32 = 192;

/// Landscape, portrait or square (sides within 5 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// Wider than tall.
    Landscape,
    /// Taller than wide.
    Portrait,
    /// About as wide as tall.
    Square,
}

impl fmt::Display for Orientation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Orientation::Landscape => "landscape",
            Orientation::Portrait => "portrait",
            Orientation::Square => "square",
        })
    }
}

/// A named colour and the share of the image it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct ColourShare {
    /// Plain name: `white`, `dark blue`, `brown`, …
    pub name: &'static str,
    /// Share of pixels, 0–1.
    pub share: f32,
}

/// What the image mostly is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// One flat colour.
    Blank,
    /// Mostly text: a document, a slide, a screenshot of text.
    Text,
    /// A photo-like image with some readable text.
    PhotoWithText,
    /// A flat-colour image (drawing, chart, UI) with some readable text.
    GraphicWithText,
    /// A photo-like image without readable text.
    Photo,
    /// A flat-colour image without readable text.
    Graphic,
}

impl fmt::Display for ImageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageKind::Blank => "blank image",
            ImageKind::Text => "mostly text",
            ImageKind::PhotoWithText => "photo with some text",
            ImageKind::GraphicWithText => "graphic with some text",
            ImageKind::Photo => "photo",
            ImageKind::Graphic => "graphic or drawing",
        })
    }
}

/// Measurements of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct VisualFacts {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// From the aspect ratio.
    pub orientation: Orientation,
    /// Up to four colours covering at least 3 % each, largest first.
    pub colours: Vec<ColourShare>,
    /// Mean luma, 0 (black) – 1 (white).
    pub brightness: f32,
    /// Standard deviation of luma, 0–0.5.
    pub contrast: f32,
    /// Share of thumbnail pixels on a strong edge, 0–1.
    pub edge_density: f32,
    /// Distinct 12-bit colours holding at least 0.1 % of the pixels (photos have many).
    pub colour_variety: u32,
}

impl VisualFacts {
    /// `dark`, `dim`, `medium brightness` or `bright`.
    pub fn brightness_label(&self) -> &'static str {
        match self.brightness {
            b if b < 0.25 => "dark",
            b if b < 0.45 => "dim",
            b if b < 0.70 => "medium brightness",
            _ => "bright",
        }
    }

    /// Whether the colour statistics look like a photo rather than flat colours.
    pub fn photo_like(&self) -> bool {
        self.colour_variety >= 100
    }

    /// Combines the facts with the OCR result.
    pub fn kind(&self, ocr: &OcrText) -> ImageKind {
        let top = self.colours.first().map_or(0.0, |c| c.share);
        if self.contrast < 0.02 && top > 0.97 && ocr.words.is_empty() {
            return ImageKind::Blank;
        }
        let words = ocr.words.len();
        // Flat images need less coverage than photos to count as text (a slide, a label).
        let needed = if self.photo_like() { 0.12 } else { 0.04 };
        if words >= 1 && (ocr.coverage >= needed || (words >= 15 && ocr.coverage >= 0.04)) {
            return ImageKind::Text;
        }
        match (self.photo_like(), words > 0) {
            (true, true) => ImageKind::PhotoWithText,
            (false, true) => ImageKind::GraphicWithText,
            (true, false) => ImageKind::Photo,
            (false, false) => ImageKind::Graphic,
        }
    }
}

/// Measures `img`.
pub fn measure(img: &RgbImage) -> VisualFacts {
    let (width, height) = img.dimensions();
    let orientation = {
        let (a, b) = (f64::from(width), f64::from(height));
        if (a - b).abs() <= 0.05 * a.max(b) {
            Orientation::Square
        } else if a > b {
            Orientation::Landscape
        } else {
            Orientation::Portrait
        }
    };
    let thumb = thumbnail(img);
    let n = (thumb.width() * thumb.height()).max(1) as f32;

    let mut names: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut bins = vec![0u32; 4096];
    let mut luma = Vec::with_capacity(n as usize);
    for p in thumb.pixels() {
        let [r, g, b] = p.0;
        *names.entry(colour_name(r, g, b)).or_default() += 1;
        bins[(usize::from(r >> 4) << 8) | (usize::from(g >> 4) << 4) | usize::from(b >> 4)] += 1;
        luma.push((0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b)) / 255.0);
    }
    let mut colours: Vec<ColourShare> = names
        .into_iter()
        .map(|(name, c)| ColourShare {
            name,
            share: c as f32 / n,
        })
        .collect();
    // Stable sort over the name-ordered map: ties stay alphabetical, so output is fixed.
    colours.sort_by(|a, b| b.share.total_cmp(&a.share));
    let keep = colours
        .iter()
        .filter(|c| c.share >= 0.03)
        .count()
        .clamp(1, 4);
    colours.truncate(keep);

    let mean = luma.iter().sum::<f32>() / n;
    let var = luma.iter().map(|l| (l - mean) * (l - mean)).sum::<f32>() / n;
    let min_bin = ((n * 0.001).ceil() as u32).max(1);
    let colour_variety = bins.iter().filter(|c| **c >= min_bin).count() as u32;

    VisualFacts {
        width,
        height,
        orientation,
        colours,
        brightness: mean,
        contrast: var.sqrt(),
        edge_density: edge_density(&luma, thumb.width() as usize, thumb.height() as usize),
        colour_variety,
    }
}

fn thumbnail(img: &RgbImage) -> RgbImage {
    shrink_to_fit(img, THUMB).unwrap_or_else(|| img.clone())
}

/// `img` scaled down (aspect kept) so its longer side is `max`; `None` when it already fits.
pub(crate) fn shrink_to_fit(img: &RgbImage, max: u32) -> Option<RgbImage> {
    let (w, h) = img.dimensions();
    let longer = w.max(h);
    if longer <= max {
        return None;
    }
    let s = max as f32 / longer as f32;
    let nw = ((w as f32 * s).round() as u32).max(1);
    let nh = ((h as f32 * s).round() as u32).max(1);
    Some(imageops::resize(img, nw, nh, FilterType::Triangle))
}

fn edge_density(luma: &[f32], w: usize, h: usize) -> f32 {
    if w < 2 || h < 2 {
        return 0.0;
    }
    let mut edges = 0u32;
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            let i = y * w + x;
            let g = (luma[i + 1] - luma[i]).abs() + (luma[i + w] - luma[i]).abs();
            if g > 0.16 {
                edges += 1;
            }
        }
    }
    edges as f32 / ((w - 1) * (h - 1)) as f32
}

/// A plain name for an sRGB colour, from its hue, saturation and lightness.
pub fn colour_name(r: u8, g: u8, b: u8) -> &'static str {
    let (rf, gf, bf) = (
        f32::from(r) / 255.0,
        f32::from(g) / 255.0,
        f32::from(b) / 255.0,
    );
    let max = rf.max(gf).max(bf);
    let min = rf.min(gf).min(bf);
    let d = max - min;
    let l = (max + min) / 2.0;
    let s = if d == 0.0 {
        0.0
    } else {
        d / (1.0 - (2.0 * l - 1.0).abs())
    };
    if d < 0.08 || s < 0.15 {
        return match l {
            l if l < 0.13 => "black",
            l if l < 0.38 => "dark gray",
            l if l < 0.66 => "gray",
            l if l < 0.88 => "light gray",
            _ => "white",
        };
    }
    if l < 0.10 {
        return "black";
    }
    if l > 0.95 {
        return "white";
    }
    let hue = if max == rf {
        60.0 * ((gf - bf) / d).rem_euclid(6.0)
    } else if max == gf {
        60.0 * ((bf - rf) / d + 2.0)
    } else {
        60.0 * ((rf - gf) / d + 4.0)
    };
    // Dark by both lightness and perceived luma, so navy is dark but green (0,128,0) is not.
    let luma = 0.299 * rf + 0.587 * gf + 0.114 * bf;
    let dark = l < 0.3 && luma < 0.2;
    let light = l > 0.75;
    let pick = |d: &'static str, m: &'static str, li: &'static str| {
        if dark {
            d
        } else if light {
            li
        } else {
            m
        }
    };
    match hue {
        h if !(15.0..345.0).contains(&h) => pick("dark red", "red", "pink"),
        h if h < 45.0 => {
            if l < 0.35 || (l < 0.5 && s < 0.6) {
                "brown"
            } else if l > 0.8 {
                "beige"
            } else {
                "orange"
            }
        }
        h if h < 70.0 => pick("olive", "yellow", "light yellow"),
        h if h < 165.0 => pick("dark green", "green", "light green"),
        h if h < 190.0 => {
            if dark {
                "dark teal"
            } else if l > 0.72 {
                "light cyan"
            } else if s > 0.7 && l > 0.45 {
                "cyan"
            } else {
                "teal"
            }
        }
        h if h < 255.0 => pick("dark blue", "blue", "light blue"),
        h if h < 290.0 => pick("dark purple", "purple", "lavender"),
        // Dark magenta is what people call purple.
        _ if l < 0.3 => "purple",
        _ => pick("purple", "magenta", "pink"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::OcrWord;

    #[test]
    fn names_common_colours() {
        for (rgb, name) in [
            ([255, 255, 255], "white"),
            ([0, 0, 0], "black"),
            ([128, 128, 128], "gray"),
            ([200, 200, 205], "light gray"),
            ([255, 0, 0], "red"),
            ([0, 128, 0], "green"),
            ([0, 0, 255], "blue"),
            ([0, 0, 128], "dark blue"),
            ([255, 255, 0], "yellow"),
            ([255, 165, 0], "orange"),
            ([139, 69, 19], "brown"),
            ([128, 0, 128], "purple"),
            ([255, 192, 203], "pink"),
            ([0, 255, 255], "cyan"),
            ([0, 128, 128], "teal"),
            ([173, 216, 230], "light blue"),
        ] {
            assert_eq!(colour_name(rgb[0], rgb[1], rgb[2]), name, "{rgb:?}");
        }
    }

    #[test]
    fn measures_a_two_colour_landscape() {
        let img = RgbImage::from_fn(800, 600, |_, y| {
            if y < 400 {
                image::Rgb([255, 255, 255])
            } else {
                image::Rgb([0, 0, 128])
            }
        });
        let f = measure(&img);
        assert_eq!(
            (f.width, f.height, f.orientation),
            (800, 600, Orientation::Landscape)
        );
        assert_eq!(f.colours[0].name, "white");
        assert!((f.colours[0].share - 0.667).abs() < 0.02, "{:?}", f.colours);
        assert_eq!(f.colours[1].name, "dark blue");
        assert_eq!(f.colours.len(), 2, "{:?}", f.colours);
        assert_eq!(f.brightness_label(), "medium brightness");
        assert!(!f.photo_like());
        assert_eq!(f.kind(&OcrText::default()), ImageKind::Graphic);
        assert_eq!(measure(&img), f, "deterministic");
    }

    #[test]
    fn kinds() {
        let blank = measure(&RgbImage::from_pixel(100, 100, image::Rgb([250, 250, 250])));
        assert_eq!(blank.orientation, Orientation::Square);
        assert_eq!(blank.kind(&OcrText::default()), ImageKind::Blank);
        assert_eq!(blank.brightness_label(), "bright");
        let noisy = measure(&RgbImage::from_fn(300, 200, |x, y| {
            let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) as u8;
            image::Rgb([v, v.wrapping_mul(7), v.wrapping_mul(13)])
        }));
        assert!(noisy.photo_like(), "{}", noisy.colour_variety);
        assert!(noisy.edge_density > 0.3);
        let word = OcrWord {
            text: "HELLO".into(),
            confidence: 90.0,
            left: 0,
            top: 0,
            width: 10,
            height: 10,
        };
        let text = OcrText {
            text: "HELLO".into(),
            words: vec![word],
            coverage: 0.3,
        };
        assert_eq!(blank.kind(&text), ImageKind::Text);
        let sparse = OcrText {
            coverage: 0.01,
            ..text
        };
        assert_eq!(noisy.kind(&sparse), ImageKind::PhotoWithText);
    }
}
