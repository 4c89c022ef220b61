//! Video: the bytes go to a private temporary file, `ffprobe` reads the duration and size,
//! and `ffmpeg` extracts a few frames spread evenly over it (at most `max_fps` per second and
//! `max_frames` in all, scaled down to `max_side`), each the frame on screen at a known
//! timestamp: the middle of one of `n` equal slots. Videos up to two minutes are decoded in
//! one pass through an `fps` filter; longer ones are seeked once per frame.
//!
//! The demuxer is forced from the sniffed container (`mov` or `matroska`) and only the `file`
//! protocol is allowed, so a crafted file cannot make ffmpeg open playlists, other files or
//! URLs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::error::ToolError;
use crate::media::{self, VideoContainer};
use crate::proc::{self, TempDir};

const HINT: &str = "install the Debian package ffmpeg";

/// How frames are sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    /// The `ffmpeg` program.
    pub ffmpeg: PathBuf,
    /// The `ffprobe` program.
    pub ffprobe: PathBuf,
    /// Most frames per second of video.
    pub max_fps: f64,
    /// Most frames per video.
    pub max_frames: usize,
    /// Frames are scaled so neither side exceeds this.
    pub max_side: u32,
    /// Time limit per ffprobe/ffmpeg run.
    pub timeout: Duration,
    /// Where temporary files go (the system temp dir if `None`).
    pub temp_dir: Option<PathBuf>,
}

impl Default for VideoConfig {
    fn default() -> Self {
        Self {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
            max_fps: 1.0,
            max_frames: 8,
            max_side: 768,
            timeout: Duration::from_secs(30),
            temp_dir: None,
        }
    }
}

/// Why a video cannot be used (the client's problem: 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VideoError {
    /// Not MP4, MOV or WebM.
    #[error("the data is not a supported video (found {found}); supported: MP4, MOV, WebM")]
    Unsupported {
        /// What it looks like.
        found: String,
    },
    /// ffprobe or ffmpeg could not read it.
    #[error("the video could not be read: {detail}")]
    Unreadable {
        /// ffmpeg's message.
        detail: String,
    },
    /// The file has no video stream.
    #[error("the file contains no video stream")]
    NoVideoStream,
    /// No frame could be extracted.
    #[error("no frame could be extracted from the video")]
    NoFrames,
}

/// A failure of [`sample_frames`]: the input's fault or the tools'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleError {
    /// Bad video.
    Input(VideoError),
    /// ffmpeg missing, timed out, or temp files failed.
    Tool(ToolError),
}

impl From<ToolError> for SampleError {
    fn from(e: ToolError) -> Self {
        SampleError::Tool(e)
    }
}

/// What ffprobe says.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// MP4/MOV or WebM.
    pub container: VideoContainer,
    /// Duration in seconds, when known.
    pub duration_s: Option<f64>,
    /// Width of the video stream.
    pub width: u32,
    /// Height of the video stream.
    pub height: u32,
}

/// One extracted frame.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledFrame {
    /// Position in the video, seconds.
    pub timestamp_s: f64,
    /// The frame as PNG.
    pub png: Vec<u8>,
}

/// Runs `ffmpeg -version` and `ffprobe -version`.
///
/// # Errors
/// Either is missing or fails.
pub async fn ffmpeg_version(cfg: &VideoConfig) -> Result<String, ToolError> {
    let mut version = String::new();
    for tool in [&cfg.ffmpeg, &cfg.ffprobe] {
        let mut cmd = Command::new(tool);
        cmd.arg("-version");
        let out = proc::run(
            cmd,
            &tool.display().to_string(),
            HINT,
            Duration::from_secs(10),
        )
        .await?;
        if version.is_empty() {
            version = String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
        }
    }
    Ok(version)
}

/// Which moments to sample: `n` slots of `interval_ms` each, one frame at the middle of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplePlan {
    /// Slot length in milliseconds.
    pub interval_ms: u64,
    /// Number of frames.
    pub frames: usize,
}

impl SamplePlan {
    /// `n = clamp(duration × max_fps, 1, max_frames)` slots spread over the duration; without a
    /// duration, `max_frames` slots of `1 / max_fps` (extraction stops at the end).
    pub fn new(duration_s: Option<f64>, max_fps: f64, max_frames: usize) -> Self {
        let max_frames = max_frames.max(1);
        let fps = if max_fps.is_finite() && max_fps > 0.0 {
            max_fps
        } else {
            1.0
        };
        match duration_s.filter(|d| d.is_finite() && *d > 0.0) {
            Some(d) => {
                let n = ((d * fps).floor() as usize).clamp(1, max_frames);
                let interval_ms = ((d * 1000.0 / n as f64).round() as u64).max(2);
                Self {
                    interval_ms,
                    frames: n,
                }
            }
            None => Self {
                interval_ms: ((1000.0 / fps).round() as u64).max(2),
                frames: max_frames,
            },
        }
    }

    /// The sampled moments, seconds: the middle of each slot.
    pub fn timestamps(&self) -> Vec<f64> {
        (0..self.frames as u64)
            .map(|k| (k * self.interval_ms * 2 + self.interval_ms) as f64 / 2000.0)
            .collect()
    }
}

/// Videos up to this long are decoded in one pass (exact "frame shown at t"); longer ones
/// are seeked per frame (first frame at or after t), which avoids decoding all of it.
const ONE_PASS_MAX_S: f64 = 120.0;

/// Probes `bytes` and extracts frames.
///
/// # Errors
/// [`SampleError::Input`] for a video that is not MP4/MOV/WebM or cannot be read,
/// [`SampleError::Tool`] when ffmpeg is missing or times out.
pub async fn sample_frames(
    bytes: &[u8],
    cfg: &VideoConfig,
) -> Result<(VideoInfo, Vec<SampledFrame>), SampleError> {
    let Some(container) = media::sniff_video(bytes) else {
        return Err(SampleError::Input(VideoError::Unsupported {
            found: media::describe_content(bytes),
        }));
    };
    let dir = TempDir::new(cfg.temp_dir.as_deref())?;
    let input = dir.write(&format!("input.{}", container.extension()), bytes)?;
    let info = probe(&input, container, cfg).await?;
    let plan = SamplePlan::new(info.duration_s, cfg.max_fps, cfg.max_frames);
    let src = Source {
        input: &input,
        container,
        dir: dir.path(),
        cfg,
    };
    let (frames, error) = match info.duration_s {
        Some(d) if d > ONE_PASS_MAX_S => src.seek_each(&plan).await?,
        _ => src.one_pass(&plan).await?,
    };
    if frames.is_empty() {
        return Err(SampleError::Input(match error {
            Some(detail) if !detail.is_empty() => VideoError::Unreadable { detail },
            _ => VideoError::NoFrames,
        }));
    }
    Ok((info, frames))
}

struct Source<'a> {
    input: &'a Path,
    container: VideoContainer,
    dir: &'a Path,
    cfg: &'a VideoConfig,
}

/// Frames found, and ffmpeg's last complaint.
type Extracted = (Vec<SampledFrame>, Option<String>);

impl Source<'_> {
    fn command(&self, seek: Option<f64>) -> Command {
        let mut cmd = Command::new(&self.cfg.ffmpeg);
        cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error"])
            .args(["-protocol_whitelist", "file", "-f"])
            .arg(self.container.demuxer());
        if let Some(t) = seek {
            cmd.args(["-ss", &format!("{t:.3}")]);
        }
        cmd.arg("-i")
            .arg(self.input)
            .args(["-map", "0:v:0", "-an", "-sn", "-dn"]);
        cmd
    }

    fn scale(&self) -> String {
        let side = self.cfg.max_side.max(16);
        format!("scale='min({side},iw)':'min({side},ih)':force_original_aspect_ratio=decrease")
    }

    /// One decode: timestamps shifted by half a slot, then `fps` with `round=down` keeps, for
    /// slot k, the last frame shown before the middle of the slot.
    async fn one_pass(&self, plan: &SamplePlan) -> Result<Extracted, ToolError> {
        let half = plan.interval_ms as f64 / 2000.0;
        let filter = format!(
            "setpts=PTS-STARTPTS+{half:.4}/TB,fps=fps=1000/{}:start_time=0:round=down,{}",
            plan.interval_ms,
            self.scale()
        );
        let mut cmd = self.command(None);
        cmd.args(["-vf", &filter])
            .args(["-frames:v", &plan.frames.to_string()])
            .args(["-f", "image2", "-c:v", "png", "-y"])
            .arg(self.dir.join("s%03d.png"));
        let out = proc::run(cmd, "ffmpeg", HINT, self.cfg.timeout).await?;
        let mut frames = Vec::new();
        for (k, t) in plan.timestamps().into_iter().enumerate() {
            match std::fs::read(self.dir.join(format!("s{:03}.png", k + 1))) {
                Ok(png) if !png.is_empty() => frames.push(SampledFrame {
                    timestamp_s: t,
                    png,
                }),
                _ => break,
            }
        }
        let error = (!out.status.success()).then(|| strip_paths(&out.stderr_tail(), self.input));
        Ok((frames, error))
    }

    /// One seek per frame, for long videos.
    async fn seek_each(&self, plan: &SamplePlan) -> Result<Extracted, ToolError> {
        let mut frames = Vec::new();
        let mut error = None;
        for (k, t) in plan.timestamps().into_iter().enumerate() {
            let path = self.dir.join(format!("k{k:03}.png"));
            let mut cmd = self.command(Some(t));
            cmd.args(["-vf", &self.scale()])
                .args(["-frames:v", "1", "-f", "image2", "-c:v", "png", "-y"])
                .arg(&path);
            let out = proc::run(cmd, "ffmpeg", HINT, self.cfg.timeout).await?;
            match std::fs::read(&path) {
                Ok(png) if out.status.success() && !png.is_empty() => {
                    frames.push(SampledFrame {
                        timestamp_s: t,
                        png,
                    });
                }
                _ => error = Some(strip_paths(&out.stderr_tail(), self.input)),
            }
        }
        Ok((frames, error))
    }
}

async fn probe(
    input: &Path,
    container: VideoContainer,
    cfg: &VideoConfig,
) -> Result<VideoInfo, SampleError> {
    let mut cmd = Command::new(&cfg.ffprobe);
    cmd.args(["-v", "error", "-protocol_whitelist", "file", "-f"])
        .arg(container.demuxer())
        .args(["-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=width,height,duration:format=duration",
        ])
        .args(["-of", "json"])
        .arg(input);
    let out = proc::run(cmd, "ffprobe", HINT, cfg.timeout).await?;
    if !out.status.success() {
        return Err(SampleError::Input(VideoError::Unreadable {
            detail: strip_paths(&out.stderr_tail(), input),
        }));
    }
    let json: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        SampleError::Tool(ToolError::Failed {
            tool: "ffprobe".to_owned(),
            detail: format!("unexpected output: {e}"),
        })
    })?;
    let Some(stream) = json["streams"].as_array().and_then(|s| s.first()) else {
        return Err(SampleError::Input(VideoError::NoVideoStream));
    };
    let secs = |v: &Value| v.as_str().and_then(|s| s.parse::<f64>().ok());
    let dim = |k: &str| {
        stream[k]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0)
    };
    Ok(VideoInfo {
        container,
        duration_s: secs(&json["format"]["duration"])
            .or_else(|| secs(&stream["duration"]))
            .filter(|d| d.is_finite() && *d > 0.0),
        width: dim("width"),
        height: dim("height"),
    })
}

/// Keeps temporary paths out of client-facing messages.
fn strip_paths(msg: &str, input: &Path) -> String {
    let mut s = msg.replace(&input.display().to_string(), "input");
    if let Some(dir) = input.parent() {
        s = s.replace(&dir.display().to_string(), "");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_bounded_and_spread() {
        let ts = |d, fps, n| SamplePlan::new(d, fps, n).timestamps();
        assert_eq!(ts(Some(3.0), 1.0, 8), vec![0.5, 1.5, 2.5]);
        assert_eq!(ts(Some(100.0), 1.0, 4), vec![12.5, 37.5, 62.5, 87.5]);
        assert_eq!(ts(Some(0.4), 1.0, 8), vec![0.2]);
        assert_eq!(ts(Some(2.1), 1.0, 8), vec![0.525, 1.575]);
        assert_eq!(ts(Some(10.0), 0.5, 8).len(), 5);
        assert_eq!(ts(None, 2.0, 3), vec![0.25, 0.75, 1.25]);
        assert_eq!(ts(Some(f64::NAN), 1.0, 2), vec![0.5, 1.5]);
        assert_eq!(
            SamplePlan::new(Some(3.0), 1.0, 8),
            SamplePlan {
                interval_ms: 1000,
                frames: 3
            }
        );
    }

    #[tokio::test]
    async fn non_videos_are_refused_before_any_tool_runs() {
        let cfg = VideoConfig {
            ffmpeg: PathBuf::from("/nonexistent/ffmpeg"),
            ffprobe: PathBuf::from("/nonexistent/ffprobe"),
            ..VideoConfig::default()
        };
        let e = sample_frames(b"#EXTM3U\n#EXTINF:10,\nhttp://169.254.169.254/", &cfg)
            .await
            .unwrap_err();
        assert!(
            matches!(e, SampleError::Input(VideoError::Unsupported { .. })),
            "{e:?}"
        );
        let e = sample_frames(b"\0\0\0\x20ftypisom\0\0\0\0", &cfg)
            .await
            .unwrap_err();
        assert!(
            matches!(e, SampleError::Tool(ToolError::Missing { .. })),
            "{e:?}"
        );
    }
}
