//! One chat turn: the question with its media, and the answer shown: the text on standard output as it arrives, the model's reasoning
//! on standard error before it (dimmed on a terminal), or the raw JSON with `--json`.

use std::io::{IsTerminal as _, Write as _};

use anyhow::Context as _;
use futures::StreamExt as _;
use ingot_client::Client;
use ingot_protocol::chat::{
    ChatCompletionRequest, ChatMessage, ContentPart, ImageUrl, MediaUrl, MessageContent,
};

use crate::cli::GenerationArgs;
use crate::exit::Result;

/// The request for `messages` with the command line's sampling options.
pub fn request(
    g: &GenerationArgs,
    model: String,
    messages: Vec<ChatMessage>,
) -> ChatCompletionRequest {
    ChatCompletionRequest {
        model,
        messages,
        max_tokens: Some(g.max_tokens),
        temperature: g.temperature,
        top_p: g.top_p,
        seed: g.seed,
        ..ChatCompletionRequest::default()
    }
}

/// Sends `req` and shows the answer, appending its text to `text` as it arrives, so a caller
/// that stops waiting (Ctrl-C in an interactive chat) keeps what was shown.
pub async fn show(
    client: &Client,
    json: bool,
    no_stream: bool,
    req: &ChatCompletionRequest,
    text: &mut String,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if no_stream {
        let resp = client.chat(req).await?;
        let first = resp.choices.first();
        text.push_str(
            first
                .and_then(|c| c.message.content.as_deref())
                .unwrap_or_default(),
        );
        if json {
            writeln!(out, "{}", to_json(&resp)?)?;
            return Ok(());
        }
        if let Some(r) = first.and_then(|c| c.message.reasoning_content.as_deref()) {
            let mut thinking = Thinking::new();
            thinking.write(r)?;
            thinking.end()?;
        }
        writeln!(out, "{text}")?;
        return Ok(());
    }
    let mut stream = client.chat_stream(req).await?;
    let mut ended_with_newline = true;
    let mut thinking = Thinking::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if json {
            writeln!(out, "{}", to_json(&chunk)?)?;
        }
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            if let Some(piece) = choice.delta.content.as_ref().filter(|t| !t.is_empty()) {
                text.push_str(piece);
            }
            if json {
                continue;
            }
            if let Some(r) = &choice.delta.reasoning_content {
                thinking.write(r)?;
            }
            if let Some(piece) = choice.delta.content.as_ref().filter(|t| !t.is_empty()) {
                thinking.end()?;
                write!(out, "{piece}")?;
                ended_with_newline = piece.ends_with('\n');
            }
        }
        out.flush()?;
    }
    thinking.end()?;
    if !json && !ended_with_newline {
        writeln!(out)?;
    }
    Ok(())
}

/// A question with media: the text first, then the images (URLs) and the video.
pub fn media_content(text: String, images: &[String], video: Option<String>) -> MessageContent {
    let mut parts = vec![ContentPart::Text { text }];
    parts.extend(images.iter().map(|url| ContentPart::ImageUrl {
        image_url: ImageUrl {
            url: url.clone(),
            detail: None,
            bare: false,
        },
    }));
    if let Some(url) = video {
        parts.push(ContentPart::VideoUrl {
            video_url: MediaUrl { url, bare: false },
        });
    }
    MessageContent::Parts(parts)
}

/// One line of JSON output (`--json`).
pub fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_string(v).context("serialising the response")?)
}

/// A model's reasoning, shown on standard error as it arrives (dimmed on a terminal), so the
/// answer on standard output stays clean for pipes.
struct Thinking {
    dim: bool,
    open: bool,
    ended_with_newline: bool,
}

impl Thinking {
    fn new() -> Self {
        Self {
            dim: std::io::stderr().is_terminal(),
            open: false,
            ended_with_newline: true,
        }
    }

    fn write(&mut self, text: &str) -> std::io::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let mut err = std::io::stderr().lock();
        if !self.open {
            self.open = true;
            if self.dim {
                write!(err, "\x1b[2m")?;
            }
        }
        write!(err, "{text}")?;
        self.ended_with_newline = text.ends_with('\n');
        err.flush()
    }

    /// Closes the reasoning block (once), before the answer starts.
    fn end(&mut self) -> std::io::Result<()> {
        if !self.open {
            return Ok(());
        }
        self.open = false;
        let mut err = std::io::stderr().lock();
        if self.dim {
            write!(err, "\x1b[0m")?;
        }
        if !self.ended_with_newline {
            writeln!(err)?;
        }
        writeln!(err)?;
        err.flush()
    }
}
