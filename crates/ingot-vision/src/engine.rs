//! [`VisionEngine`]: intake → fetch → decode → OCR and facts (or video sampling), with the
//! blocking work on tokio's blocking pool and a semaphore bounding how many run at once.

use std::path::PathBuf;
use std::sync::Arc;

use image::RgbImage;
use ingot_protocol::chat::ChatMessage;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::analysis::{
    self, Analysis, FrameAnalysis, ImageAnalysis, ImageReport, MediaAnalysis, VideoAnalysis,
};
use crate::decode::{self, DecodeError, DecodeLimits, DecodedImage};
use crate::error::{InputError, InputErrorKind, Loc, MediaKind, ToolError, VisionError};
use crate::fetch::{FetchConfig, Fetcher};
use crate::intake::{self, Detail, IntakeLimits, MediaItem, MediaSource};
use crate::media;
use crate::ocr::{self, OcrConfig};
use crate::video::{self, SampleError, VideoConfig, VideoError};

/// Everything the engine needs; `Default` gives safe limits.
#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    /// Counts and sizes of media per request.
    pub intake: IntakeLimits,
    /// Remote media: timeouts, size cap, redirects, allowlist.
    pub fetch: FetchConfig,
    /// Decompression-bomb limits.
    pub decode: DecodeLimits,
    /// Tesseract.
    pub ocr: OcrConfig,
    /// ffmpeg frame sampling.
    pub video: VideoConfig,
    /// Images or frames analysed at once (each may run one Tesseract process).
    pub max_concurrent_jobs: usize,
    /// Most OCR characters quoted per picture in the prompt.
    pub max_text_chars: usize,
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            intake: IntakeLimits::default(),
            fetch: FetchConfig::default(),
            decode: DecodeLimits::default(),
            ocr: OcrConfig::default(),
            video: VideoConfig::default(),
            max_concurrent_jobs: std::thread::available_parallelism().map_or(2, usize::from),
            max_text_chars: 1500,
        }
    }
}

impl VisionConfig {
    /// Puts all temporary files under `dir`.
    #[must_use]
    pub fn with_temp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        self.ocr.temp_dir = Some(dir.clone());
        self.video.temp_dir = Some(dir);
        self
    }
}

/// Versions of the external tools, or why each is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolStatus {
    /// `tesseract --version`, first line.
    pub tesseract: Result<String, ToolError>,
    /// `ffmpeg -version`, first line (ffprobe checked too).
    pub ffmpeg: Result<String, ToolError>,
}

/// A request's media as pixels, for a vision-language model.
#[derive(Debug, Clone)]
pub struct MediaPixels {
    /// The messages as text, each image (and each sampled video frame) replaced by the
    /// marker, video frames labelled with their time; the marker is removed from the
    /// request's own text.
    pub messages: Vec<ChatMessage>,
    /// One decoded image per marker, in order.
    pub images: Vec<RgbImage>,
}

/// Analyses the images and videos of chat requests. Cheap to clone.
#[derive(Debug, Clone)]
pub struct VisionEngine {
    config: Arc<VisionConfig>,
    fetcher: Fetcher,
    jobs: Arc<Semaphore>,
}

/// An image scaled down (never up, aspect kept) to what OpenAI's `detail` promises a model
/// sees: within 512x512 for `low`, within 2048x2048 otherwise. The projector then resizes to
/// its own input; a dynamic-resolution one (Qwen2.5-VL…) gives a `low` image fewer tokens.
pub fn fit_for_detail(img: RgbImage, detail: Detail) -> RgbImage {
    let max = match detail {
        Detail::Low => 512,
        Detail::Auto | Detail::High => 2048,
    };
    crate::facts::shrink_to_fit(&img, max).unwrap_or(img)
}

/// The message with every occurrence of `marker` removed from its text.
fn without_marker(m: &ChatMessage, marker: &str) -> ChatMessage {
    use ingot_protocol::chat::{ContentPart, MessageContent};
    let mut m = m.clone();
    if marker.is_empty() {
        return m;
    }
    match &mut m.content {
        Some(MessageContent::Text(t)) => *t = t.replace(marker, ""),
        Some(MessageContent::Parts(parts)) => {
            for p in parts {
                if let ContentPart::Text { text } = p {
                    *text = text.replace(marker, "");
                }
            }
        }
        None => {}
    }
    m
}

/// One image of bytes: decode, measure, OCR (decoding and measuring on the blocking pool,
/// Tesseract as a subprocess that ends with the returned future).
///
/// # Errors
/// [`VisionError::Input`] (at `loc`) for undecodable or oversized data,
/// [`VisionError::Tool`] when Tesseract is missing or fails.
pub async fn analyze_image_bytes(
    bytes: Vec<u8>,
    detail: Detail,
    limits: &DecodeLimits,
    ocr_config: &OcrConfig,
    loc: &Loc,
) -> Result<ImageReport, VisionError> {
    let (limits, cfg, at) = (*limits, ocr_config.clone(), loc.clone());
    let (facts, input) = tokio::task::spawn_blocking(move || {
        let img = decode_at(&bytes, &limits, &at)?;
        let facts = crate::facts::measure(&img.rgb);
        let input = ocr::prepare_input(&img.rgb, detail, &cfg)?;
        Ok::<_, VisionError>((facts, input))
    })
    .await
    .map_err(|e| VisionError::Internal(e.to_string()))??;
    let ocr = ocr::read(input, ocr_config).await?;
    let kind = facts.kind(&ocr);
    Ok(ImageReport { facts, ocr, kind })
}

/// Decodes an image, a failure being the input error of the media at `loc`.
fn decode_at(bytes: &[u8], limits: &DecodeLimits, loc: &Loc) -> Result<DecodedImage, VisionError> {
    decode::decode_image(bytes, limits)
        .map_err(|e| InputError::new(loc.clone(), InputErrorKind::Decode(e)).into())
}

/// A failed frame sampling as the error of the video at `loc`.
fn sample_error(e: SampleError, loc: &Loc) -> VisionError {
    match e {
        SampleError::Input(v) => InputError::new(loc.clone(), InputErrorKind::Video(v)).into(),
        SampleError::Tool(t) => VisionError::Tool(t),
    }
}

/// Measures and OCRs decoded pixels (measuring on the blocking pool).
///
/// # Errors
/// Tesseract is missing, times out or fails.
pub async fn analyze_pixels(
    rgb: RgbImage,
    detail: Detail,
    ocr_config: &OcrConfig,
) -> Result<ImageReport, ToolError> {
    let cfg = ocr_config.clone();
    let (facts, input) = tokio::task::spawn_blocking(move || {
        let facts = crate::facts::measure(&rgb);
        ocr::prepare_input(&rgb, detail, &cfg).map(|input| (facts, input))
    })
    .await
    .map_err(|e| ToolError::Io(format!("image analysis failed: {e}")))??;
    let ocr = ocr::read(input, ocr_config).await?;
    let kind = facts.kind(&ocr);
    Ok(ImageReport { facts, ocr, kind })
}

impl VisionEngine {
    /// An engine fetching with the system resolver.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(config: VisionConfig) -> Result<Self, VisionError> {
        let fetcher =
            Fetcher::new(config.fetch.clone()).map_err(|e| VisionError::Internal(e.to_string()))?;
        Ok(Self::with_fetcher(config, fetcher))
    }

    /// An engine with a given fetcher (e.g. one with an injected resolver); `config.fetch`
    /// is then unused.
    pub fn with_fetcher(config: VisionConfig, fetcher: Fetcher) -> Self {
        let jobs = Arc::new(Semaphore::new(config.max_concurrent_jobs.max(1)));
        Self {
            config: Arc::new(config),
            fetcher,
            jobs,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &VisionConfig {
        &self.config
    }

    /// Runs the tools' `--version`.
    pub async fn check_tools(&self) -> ToolStatus {
        ToolStatus {
            tesseract: ocr::tesseract_version(&self.config.ocr).await,
            ffmpeg: video::ffmpeg_version(&self.config.video).await,
        }
    }

    /// Finds, fetches and analyses every image and video in `messages`.
    ///
    /// # Errors
    /// [`VisionError::Input`] with the JSON path for anything wrong with the media (answer
    /// 422), [`VisionError::Tool`] when Tesseract or ffmpeg is missing or fails.
    pub async fn analyze(&self, messages: &[ChatMessage]) -> Result<Analysis, VisionError> {
        let mut intake = intake::extract(messages, &self.config.intake)?;
        let items = std::mem::take(&mut intake.media);
        let media = self
            .each_item(
                items,
                |this, item| async move { this.analyze_item(item).await },
            )
            .await?;
        let max = self.config.max_text_chars;
        let messages = intake.text_messages(messages, |k| {
            media
                .get(k)
                .map(|m| analysis::describe(m, max))
                .unwrap_or_default()
        });
        Ok(Analysis {
            media,
            messages,
            max_text_chars: max,
        })
    }

    /// Finds, fetches and decodes every image of `messages`, and samples every video's
    /// frames, for a model that takes pixels: the messages come back with `marker` where each
    /// picture goes, laid out as llama.cpp's server does (text parts joined by newlines, an
    /// image's marker right next to the text around it; a video is a block of lines, one
    /// timed marker per frame). No OCR runs, so Tesseract is not needed (ffmpeg is, for
    /// video).
    ///
    /// # Errors
    /// As [`VisionEngine::analyze`].
    pub async fn pixels(
        &self,
        messages: &[ChatMessage],
        marker: &str,
    ) -> Result<MediaPixels, VisionError> {
        let cleaned: Vec<ChatMessage> =
            messages.iter().map(|m| without_marker(m, marker)).collect();
        let mut intake = intake::extract(&cleaned, &self.config.intake)?;
        let items = std::mem::take(&mut intake.media);
        let done = self
            .each_item(items, |this, item| {
                let marker = marker.to_owned();
                async move { this.pixels_of(item, marker).await }
            })
            .await?;
        let messages = intake.marker_messages(&cleaned, |k| {
            done.get(k)
                .map(|(text, _)| text.clone())
                .unwrap_or_default()
        });
        let images = done.into_iter().flat_map(|(_, imgs)| imgs).collect();
        Ok(MediaPixels { messages, images })
    }

    /// Runs `job` on every item concurrently (one task each) and returns the results in item
    /// order; the first error cancels the rest.
    async fn each_item<T, F, Fut>(
        &self,
        items: Vec<MediaItem>,
        job: F,
    ) -> Result<Vec<T>, VisionError>
    where
        T: Send + 'static,
        F: Fn(Self, MediaItem) -> Fut,
        Fut: std::future::Future<Output = Result<T, VisionError>> + Send + 'static,
    {
        let mut tasks = JoinSet::new();
        for (k, item) in items.into_iter().enumerate() {
            let fut = job(self.clone(), item);
            tasks.spawn(async move { (k, fut.await) });
        }
        let mut done: Vec<Option<T>> = std::iter::repeat_with(|| None).take(tasks.len()).collect();
        while let Some(joined) = tasks.join_next().await {
            let (k, result) = joined.map_err(|e| VisionError::Internal(e.to_string()))?;
            // Returning drops the JoinSet, which cancels the remaining items.
            done[k] = Some(result?);
        }
        Ok(done.into_iter().flatten().collect())
    }

    /// One item's prompt text (markers in place) and pictures.
    async fn pixels_of(
        &self,
        item: MediaItem,
        marker: String,
    ) -> Result<(String, Vec<RgbImage>), VisionError> {
        let MediaItem {
            kind,
            number,
            source,
            detail,
            loc,
            ..
        } = item;
        let bytes = self.bytes_of(source, kind, &loc).await?;
        let _permit = self.permit().await?;
        let cfg = Arc::clone(&self.config);
        let sampled = match kind {
            MediaKind::Image => None,
            MediaKind::Video => Some(
                video::sample_frames(&bytes, &cfg.video)
                    .await
                    .map_err(|e| sample_error(e, &loc))?,
            ),
        };
        tokio::task::spawn_blocking(move || match sampled {
            None => {
                let img = decode_at(&bytes, &cfg.decode, &loc)?;
                Ok((marker, vec![fit_for_detail(img.rgb, detail)]))
            }
            Some((info, frames)) => {
                let mut lines = vec![match info.duration_s {
                    Some(d) => format!("Video {number} ({}):", analysis::clock(d)),
                    None => format!("Video {number}:"),
                }];
                let mut images = Vec::with_capacity(frames.len());
                for f in frames {
                    let img = decode_at(&f.png, &cfg.decode, &loc)?;
                    lines.push(format!("[{}] {marker}", analysis::clock(f.timestamp_s)));
                    images.push(img.rgb);
                }
                // A block of its own lines (the marker layout glues items to their text).
                Ok((format!("\n{}\n", lines.join("\n")), images))
            }
        })
        .await
        .map_err(|e| VisionError::Internal(e.to_string()))?
    }

    async fn analyze_item(&self, item: MediaItem) -> Result<MediaAnalysis, VisionError> {
        let MediaItem {
            kind,
            number,
            source,
            detail,
            loc,
            ..
        } = item;
        let bytes = self.bytes_of(source, kind, &loc).await?;
        match kind {
            MediaKind::Image => {
                let report = self.image_job(bytes, detail, loc.clone()).await?;
                Ok(MediaAnalysis::Image(ImageAnalysis {
                    number,
                    loc,
                    report,
                }))
            }
            MediaKind::Video => self.video_job(bytes, number, loc).await,
        }
    }

    async fn bytes_of(
        &self,
        source: MediaSource,
        kind: MediaKind,
        loc: &Loc,
    ) -> Result<Vec<u8>, VisionError> {
        let url = match source {
            MediaSource::Inline(d) => return Ok(d.bytes),
            MediaSource::Remote(url) => url,
        };
        let max = match kind {
            MediaKind::Image => self.config.intake.max_image_bytes,
            MediaKind::Video => self.config.intake.max_video_bytes,
        };
        let fetched = self
            .fetcher
            .fetch(&url, max)
            .await
            .map_err(|e| InputError::new(loc.clone(), InputErrorKind::Fetch(e)))?;
        let ok = match kind {
            MediaKind::Image => media::sniff_image(&fetched.bytes).is_some(),
            MediaKind::Video => media::sniff_video(&fetched.bytes).is_some(),
        };
        if !ok {
            let mut found = media::describe_content(&fetched.bytes);
            if let Some(ct) = &fetched.content_type {
                found.push_str(&format!(", Content-Type {ct}"));
            }
            let other = match kind {
                MediaKind::Image => MediaKind::Video,
                MediaKind::Video => MediaKind::Image,
            };
            if media::kind_from_extension(url.path()) == Some(other) {
                found.push_str(&format!(
                    "; the URL names a {}: send it as a `{}_url` part",
                    other.as_str(),
                    other.as_str()
                ));
            }
            let kind = match kind {
                MediaKind::Image => InputErrorKind::Decode(DecodeError::Unsupported { found }),
                MediaKind::Video => InputErrorKind::Video(VideoError::Unsupported { found }),
            };
            return Err(InputError::new(loc.clone(), kind).into());
        }
        Ok(fetched.bytes)
    }

    /// Decode + facts + OCR under a job permit.
    async fn image_job(
        &self,
        bytes: Vec<u8>,
        detail: Detail,
        loc: Loc,
    ) -> Result<ImageReport, VisionError> {
        let _permit = self.permit().await?;
        analyze_image_bytes(bytes, detail, &self.config.decode, &self.config.ocr, &loc).await
    }

    async fn video_job(
        &self,
        bytes: Vec<u8>,
        number: usize,
        loc: Loc,
    ) -> Result<MediaAnalysis, VisionError> {
        let sampled = {
            let _permit = self.permit().await?;
            video::sample_frames(&bytes, &self.config.video).await
        };
        let (info, frames) = sampled.map_err(|e| sample_error(e, &loc))?;
        let mut tasks = JoinSet::new();
        for (i, f) in frames.into_iter().enumerate() {
            let this = self.clone();
            let loc = loc.clone();
            tasks.spawn(async move {
                let report = this.image_job(f.png, Detail::Auto, loc).await;
                (i, f.timestamp_s, report)
            });
        }
        let mut out = Vec::with_capacity(tasks.len());
        while let Some(joined) = tasks.join_next().await {
            let (i, timestamp_s, report) =
                joined.map_err(|e| VisionError::Internal(e.to_string()))?;
            out.push((
                i,
                FrameAnalysis {
                    timestamp_s,
                    report: report?,
                },
            ));
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(MediaAnalysis::Video(VideoAnalysis {
            number,
            loc,
            info,
            frames: out.into_iter().map(|(_, f)| f).collect(),
        }))
    }

    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, VisionError> {
        Arc::clone(&self.jobs)
            .acquire_owned()
            .await
            .map_err(|e| VisionError::Internal(e.to_string()))
    }
}
