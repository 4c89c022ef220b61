//! Local chat: a GGUF model on ingot's chat engine, for text ids; for vision-chat ids the
//! same engine with the vision engine's intake in front (OCR and visual facts given to a
//! text model, or decoded pixels given to a vision-language model through its projector).

use std::collections::BTreeMap;

use futures::StreamExt;
use ingot_core::{
    Backend, BackendError, BackendFuture, ChatReply, ChunkStream, CompletionReply, ModelKind, Reply,
};
use ingot_engine::{ChatEngine, ChatEvent, ChatJob};
use ingot_protocol::chat::{ChatCompletionRequest, MessageContent, Role, ToolChoice};
use ingot_protocol::chat_response::{
    AssistantMessage, ChatChoice, ChatCompletionChunk, ChatCompletionResponse, ChoiceLogprobs,
    ChunkChoice, Delta, FinishReason, TokenLogprob, TopLogprob, Usage,
};
use ingot_protocol::completions::CompletionRequest;
use ingot_protocol::error::StreamError;
use ingot_vision::VisionEngine;

use super::job::{engine_error, finish, generation, unix_now};
use super::tool_calls::{Piece, Splitter};

/// How a chat backend reads images and video.
#[derive(Clone)]
pub enum Sight {
    /// Text only: media in a message is refused (422).
    Blind,
    /// Media become what OCR read and plain visual facts, given to the text model.
    Ocr(VisionEngine),
    /// Media become decoded pixels for the model's projector.
    Pixels(VisionEngine),
}

/// A local chat model serving chat or vision-chat ids.
pub struct LocalChat {
    engine: ChatEngine,
    sight: Sight,
}

impl LocalChat {
    /// A backend on `engine`, reading media as `sight` says.
    pub fn new(engine: ChatEngine, sight: Sight) -> Self {
        Self { engine, sight }
    }

    async fn complete(&self, req: ChatCompletionRequest) -> Result<ChatReply, BackendError> {
        let mut job = match &self.sight {
            Sight::Blind => to_job(&req)?,
            Sight::Ocr(vision) => to_job(&with_media_described(vision, &req).await?)?,
            Sight::Pixels(vision) => {
                let media = vision
                    .pixels(&req.messages, ingot_engine::MEDIA_MARKER)
                    .await
                    .map_err(vision_error)?;
                let mut with_markers = req.clone();
                with_markers.messages = media.messages;
                let mut job = to_job(&with_markers)?;
                job.images = media
                    .images
                    .into_iter()
                    .map(|img| ingot_engine::ImageInput {
                        width: img.width(),
                        height: img.height(),
                        rgb: img.into_raw(),
                    })
                    .collect();
                job
            }
        };
        let (constraint, tools) =
            super::tool_calls::plan(&req, self.engine.tool_format(), job.constraint.take())?;
        job.constraint = constraint;
        let handle = if job.images.is_empty() && job.constraint.is_none() {
            self.engine.submit(job)
        } else {
            // The projector's image preprocessing (resizing, normalising) and the compiling of
            // an output constraint run in `submit`.
            let engine = self.engine.clone();
            tokio::task::spawn_blocking(move || engine.submit(job))
                .await
                .map_err(|e| BackendError::Internal(e.to_string()))?
        }
        .map_err(engine_error)?;
        let meta = Meta {
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            created: unix_now(),
            model: req.model.clone(),
            n: req.n.unwrap_or(1),
            prompt_tokens: handle.prompt_tokens,
            cached: handle.cached_tokens_probe(),
            logprobs: req.logprobs == Some(true),
            tools,
            reasoning: self.engine.writes_reasoning(),
        };
        if req.is_stream() {
            Ok(Reply::Stream(ChunkStream {
                prompt_tokens: meta.prompt_tokens,
                chunks: chunks(meta, handle.events),
            }))
        } else {
            collect(meta, handle.events).await.map(Reply::Body)
        }
    }
}

impl Backend for LocalChat {
    fn kind(&self) -> ModelKind {
        match self.sight {
            Sight::Blind => ModelKind::Chat,
            Sight::Ocr(_) | Sight::Pixels(_) => ModelKind::VisionChat,
        }
    }

    fn chat(&self, req: ChatCompletionRequest) -> BackendFuture<'_, ChatReply> {
        Box::pin(self.complete(req))
    }

    fn completions(&self, req: CompletionRequest) -> BackendFuture<'_, CompletionReply> {
        Box::pin(super::completion::complete(&self.engine, req))
    }
}

/// The request with each image and video replaced by what the vision engine read and
/// measured in it, and a system hint that tells the text model how to use that.
async fn with_media_described(
    vision: &VisionEngine,
    req: &ChatCompletionRequest,
) -> Result<ChatCompletionRequest, BackendError> {
    let analysis = vision.analyze(&req.messages).await.map_err(vision_error)?;
    let mut out = req.clone();
    out.messages = analysis.messages;
    if !analysis.media.is_empty() {
        match out.messages.first_mut() {
            Some(m) if matches!(m.role, Role::System | Role::Developer) => {
                let text = m
                    .content
                    .as_ref()
                    .map(MessageContent::text)
                    .unwrap_or_default();
                m.content = Some(MessageContent::Text(format!(
                    "{text}\n\n{}",
                    ingot_vision::SYSTEM_HINT
                )));
            }
            _ => out.messages.insert(
                0,
                ingot_protocol::chat::ChatMessage::text(Role::System, ingot_vision::SYSTEM_HINT),
            ),
        }
    }
    Ok(out)
}

fn vision_error(e: ingot_vision::VisionError) -> BackendError {
    use ingot_vision::{ToolError, VisionError};
    if let Some(field) = e.field_error() {
        return BackendError::invalid(field.loc.join("."), field.message);
    }
    match e {
        VisionError::Tool(ToolError::Missing { .. }) => BackendError::Unavailable(e.to_string()),
        other => BackendError::Internal(other.to_string()),
    }
}

fn to_job(req: &ChatCompletionRequest) -> Result<ChatJob, BackendError> {
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        if m.content.as_ref().is_some_and(MessageContent::has_media) {
            return Err(BackendError::invalid(
                format!("messages.{i}.content"),
                format!(
                    "`{}` is a text-only model; send images and video to a vision model",
                    req.model
                ),
            ));
        }
        let role = match m.role {
            Role::Developer => "system",
            Role::Function => "tool",
            r => r.as_str(),
        };
        messages.push(ingot_engine::ChatMessage {
            role: role.to_owned(),
            // An assistant turn that only carries tool calls has no content; templates
            // without tool support cannot render a null, an empty text they can.
            content: Some(
                m.content
                    .as_ref()
                    .map(MessageContent::text)
                    .unwrap_or_default(),
            ),
            name: m.name.clone(),
            tool_calls: m
                .tool_calls
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok()),
            tool_call_id: m.tool_call_id.clone(),
        });
    }
    let mut job = ChatJob::new(messages);
    job.tools = req
        .tools
        .as_ref()
        .filter(|_| !matches!(&req.tool_choice, Some(ToolChoice::Mode(m)) if m == "none"))
        .and_then(|t| serde_json::to_value(t).ok());
    let mut kwargs = req.chat_template_kwargs.clone();
    // `reasoning_effort` reaches templates that read it (as `chat_template_kwargs` would).
    if let Some(effort) = req.extra.get("reasoning_effort") {
        kwargs
            .get_or_insert_with(Default::default)
            .entry("reasoning_effort")
            .or_insert_with(|| effort.clone());
    }
    job.template_kwargs = kwargs.map(serde_json::Value::Object);
    generation(&mut job, req)?;
    Ok(job)
}

struct Meta {
    id: String,
    created: i64,
    model: String,
    n: u32,
    prompt_tokens: u32,
    /// Prompt tokens the engine reused from its prefix cache.
    cached: ingot_engine::CachedTokens,
    logprobs: bool,
    /// Calls are read out of the text (the request has tools).
    tools: Option<ingot_engine::ToolFormat>,
    /// A leading `<think>` block is reasoning, not content.
    reasoning: bool,
}

impl Meta {
    fn usage(&self, completion_tokens: u32) -> Usage {
        Usage::new(self.prompt_tokens, completion_tokens).with_cached_tokens(self.cached.get())
    }

    fn chunk(&self, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
            system_fingerprint: None,
        }
    }
}

fn logprobs(lp: Vec<ingot_engine::TokenLogprob>) -> Vec<TokenLogprob> {
    lp.into_iter()
        .map(|t| TokenLogprob {
            token: t.token,
            logprob: t.logprob,
            bytes: Some(t.bytes),
            top_logprobs: t
                .top
                .into_iter()
                .map(|(token, bytes, logprob)| TopLogprob {
                    token,
                    logprob,
                    bytes: Some(bytes),
                })
                .collect(),
        })
        .collect()
}

#[derive(Default)]
struct ChoiceAcc {
    text: String,
    logprobs: Vec<TokenLogprob>,
    finish: Option<FinishReason>,
    tokens: u32,
}

async fn collect(
    meta: Meta,
    mut events: tokio::sync::mpsc::Receiver<ChatEvent>,
) -> Result<ChatCompletionResponse, BackendError> {
    let mut choices: BTreeMap<u32, ChoiceAcc> =
        (0..meta.n).map(|i| (i, ChoiceAcc::default())).collect();
    let mut finished = 0;
    while let Some(ev) = events.recv().await {
        match ev {
            ChatEvent::Delta {
                choice,
                text,
                logprobs: lp,
            } => {
                let c = choices.entry(choice).or_default();
                c.text.push_str(&text);
                c.logprobs.extend(logprobs(lp));
            }
            ChatEvent::Finished {
                choice,
                reason,
                completion_tokens,
            } => {
                let c = choices.entry(choice).or_default();
                c.finish = Some(finish(reason));
                c.tokens = completion_tokens;
                finished += 1;
            }
            ChatEvent::Error(e) => return Err(BackendError::Internal(e)),
        }
    }
    if finished < meta.n {
        return Err(BackendError::Internal(
            "the chat engine stopped before finishing".into(),
        ));
    }
    let completion_tokens = choices.values().map(|c| c.tokens).sum();
    Ok(ChatCompletionResponse {
        usage: Some(meta.usage(completion_tokens)),
        id: meta.id,
        object: "chat.completion".to_owned(),
        created: meta.created,
        model: meta.model,
        choices: choices
            .into_iter()
            .map(|(index, c)| {
                let (reasoning, text) = if meta.reasoning {
                    super::reasoning::split(&c.text)
                } else {
                    (None, c.text)
                };
                let (content, calls) = match &meta.tools {
                    Some(format) => format.parse(&text),
                    None => (Some(text), Vec::new()),
                };
                let called = !calls.is_empty();
                ChatChoice {
                    index,
                    message: AssistantMessage {
                        role: Role::Assistant,
                        content: if called {
                            content
                        } else {
                            content.or(Some(String::new()))
                        },
                        refusal: None,
                        tool_calls: called.then(|| super::tool_calls::to_wire(calls)),
                        reasoning_content: reasoning,
                    },
                    logprobs: meta.logprobs.then_some(ChoiceLogprobs {
                        content: Some(c.logprobs),
                        refusal: None,
                    }),
                    finish_reason: if called {
                        Some(FinishReason::ToolCalls)
                    } else {
                        c.finish
                    },
                }
            })
            .collect(),
        system_fingerprint: None,
        extra: Default::default(),
    })
}

/// The engine's events as chunks: a role chunk per choice, a chunk per text delta (or
/// tool-call piece) and per finish, then one usage chunk (`choices: []`); an engine failure
/// is the last item.
struct Chunker {
    meta: Meta,
    events: tokio::sync::mpsc::Receiver<ChatEvent>,
    finished: u32,
    completion_tokens: u32,
    done: bool,
    /// Per choice, when the model reasons: reasoning split from the answer.
    thinkers: BTreeMap<u32, super::reasoning::Splitter>,
    /// Per choice, when the request has tools: text held while it may be a call.
    splitters: BTreeMap<u32, Splitter>,
    /// Logprobs of text not let out yet, per choice.
    held: BTreeMap<u32, Vec<TokenLogprob>>,
    pending: std::collections::VecDeque<ChatCompletionChunk>,
}

impl Chunker {
    async fn next(&mut self) -> Option<Result<ChatCompletionChunk, StreamError>> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                return Some(Ok(c));
            }
            if self.done {
                return None;
            }
            let Some(ev) = self.events.recv().await else {
                self.done = true;
                if self.finished < self.meta.n {
                    return Some(Err(StreamError::new(
                        "the chat engine stopped before finishing",
                        "InternalServerError",
                        500,
                    )));
                }
                let usage = self.meta.usage(self.completion_tokens);
                return Some(Ok(self.meta.chunk(Vec::new(), Some(usage))));
            };
            match ev {
                ChatEvent::Delta {
                    choice,
                    text,
                    logprobs: lp,
                } => {
                    if self.meta.logprobs {
                        self.held.entry(choice).or_default().extend(logprobs(lp));
                    }
                    let answer = self.reason(choice, text, false);
                    let pieces = match self.splitters.get_mut(&choice) {
                        Some(s) => s.push(&answer),
                        None => vec![Piece::Content(answer)],
                    };
                    self.let_out(choice, pieces);
                }
                ChatEvent::Finished {
                    choice,
                    reason,
                    completion_tokens,
                } => {
                    self.finished += 1;
                    self.completion_tokens += completion_tokens;
                    let answer = self.reason(choice, String::new(), true);
                    let (pieces, called) = match self.splitters.get_mut(&choice) {
                        Some(s) => {
                            let mut p = s.push(&answer);
                            p.extend(s.finish());
                            (p, s.calls > 0)
                        }
                        None => (vec![Piece::Content(answer)], false),
                    };
                    self.let_out(choice, pieces);
                    let finish_reason = if called {
                        FinishReason::ToolCalls
                    } else {
                        finish(reason)
                    };
                    let choice = ChunkChoice {
                        index: choice,
                        delta: Delta::default(),
                        logprobs: None,
                        finish_reason: Some(finish_reason),
                    };
                    self.pending.push_back(self.meta.chunk(vec![choice], None));
                }
                ChatEvent::Error(e) => {
                    tracing::error!("chat stream failed: {e}");
                    self.done = true;
                    self.pending.clear();
                    return Some(Err(StreamError::new(
                        "the chat engine failed while generating",
                        "InternalServerError",
                        500,
                    )));
                }
            }
        }
    }

    /// Queues reasoning chunks for a choice's new text (or its end); returns the answer text.
    fn reason(&mut self, choice: u32, text: String, end: bool) -> String {
        let Some(t) = self.thinkers.get_mut(&choice) else {
            return text;
        };
        let mut parts = t.push(&text);
        if end {
            parts.extend(t.finish());
        }
        let mut answer = String::new();
        for part in parts {
            match part {
                super::reasoning::Part::Answer(a) => answer.push_str(&a),
                super::reasoning::Part::Reasoning(r) => {
                    let c = ChunkChoice {
                        index: choice,
                        delta: Delta {
                            reasoning_content: Some(r),
                            ..Delta::default()
                        },
                        logprobs: None,
                        finish_reason: None,
                    };
                    self.pending.push_back(self.meta.chunk(vec![c], None));
                }
            }
        }
        answer
    }

    /// Queues a chunk per piece of a choice; held logprobs go with the first text piece.
    fn let_out(&mut self, choice: u32, pieces: Vec<Piece>) {
        for piece in pieces {
            let delta = match piece {
                Piece::Content(text) if text.is_empty() => continue,
                Piece::Content(text) => Delta {
                    content: Some(text),
                    ..Delta::default()
                },
                Piece::Calls(calls) => {
                    for call in calls {
                        let c = ChunkChoice {
                            index: choice,
                            delta: Delta {
                                tool_calls: Some(vec![call]),
                                ..Delta::default()
                            },
                            logprobs: None,
                            finish_reason: None,
                        };
                        self.pending.push_back(self.meta.chunk(vec![c], None));
                    }
                    continue;
                }
            };
            let logprobs = self.meta.logprobs.then(|| ChoiceLogprobs {
                content: Some(self.held.remove(&choice).unwrap_or_default()),
                refusal: None,
            });
            let c = ChunkChoice {
                index: choice,
                delta,
                logprobs,
                finish_reason: None,
            };
            self.pending.push_back(self.meta.chunk(vec![c], None));
        }
    }
}

fn chunks(
    meta: Meta,
    events: tokio::sync::mpsc::Receiver<ChatEvent>,
) -> futures::stream::BoxStream<'static, Result<ChatCompletionChunk, StreamError>> {
    let first: Vec<_> = (0..meta.n)
        .map(|i| {
            Ok(meta.chunk(
                vec![ChunkChoice {
                    index: i,
                    delta: Delta {
                        role: Some(Role::Assistant),
                        content: Some(String::new()),
                        ..Delta::default()
                    },
                    logprobs: None,
                    finish_reason: None,
                }],
                None,
            ))
        })
        .collect();
    let thinkers = if meta.reasoning {
        (0..meta.n)
            .map(|i| (i, super::reasoning::Splitter::new()))
            .collect()
    } else {
        BTreeMap::new()
    };
    let splitters = match &meta.tools {
        Some(format) => (0..meta.n).map(|i| (i, Splitter::new(*format))).collect(),
        None => BTreeMap::new(),
    };
    let chunker = Chunker {
        meta,
        events,
        finished: 0,
        completion_tokens: 0,
        done: false,
        thinkers,
        splitters,
        held: BTreeMap::new(),
        pending: std::collections::VecDeque::new(),
    };
    let rest = futures::stream::unfold(chunker, |mut c| async move {
        c.next().await.map(|item| (item, c))
    });
    futures::stream::iter(first).chain(rest).boxed()
}
