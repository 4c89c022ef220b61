//! Local chat: a GGUF model on ingot's chat engine, for text ids; for vision-chat ids the
//! same engine with the vision engine's intake in front (OCR and visual facts given to a
//! text model, or decoded pixels given to a vision-language model through its projector).

use std::collections::BTreeMap;

use futures::StreamExt;
use ingot_core::{Backend, BackendError, BackendFuture, ChatReply, ChunkStream, ModelKind, Reply};
use ingot_engine::{ChatEngine, ChatEvent, ChatJob, EngineError, SamplingParams};
use ingot_protocol::chat::{
    ChatCompletionRequest, MessageContent, ResponseFormat, Role, ToolChoice,
};
use ingot_protocol::chat_response::{
    AssistantMessage, ChatChoice, ChatCompletionChunk, ChatCompletionResponse, ChoiceLogprobs,
    ChunkChoice, Delta, FinishReason, TokenLogprob, TopLogprob, Usage,
};
use ingot_protocol::error::StreamError;
use ingot_vision::VisionEngine;

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
        unsupported_fields(&req)?;
        let job = match &self.sight {
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
        let handle = if job.images.is_empty() {
            self.engine.submit(job)
        } else {
            // The projector's image preprocessing (resizing, normalising) runs in `submit`.
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
}

/// Fields the local engine cannot honour yet: a 422 naming the first one, never a silent
/// free-text answer.
fn unsupported_fields(req: &ChatCompletionRequest) -> Result<(), BackendError> {
    let refuse = |field: &str, what: &str| {
        Err(BackendError::invalid(
            field,
            format!("{what} (`{field}`) is not supported by the local chat engine"),
        ))
    };
    let nv = req.nvext.as_ref();
    let guided: [(&str, bool); 8] = [
        ("guided_json", req.guided_json.is_some()),
        ("guided_choice", req.guided_choice.is_some()),
        ("guided_regex", req.guided_regex.is_some()),
        ("guided_grammar", req.guided_grammar.is_some()),
        (
            "nvext.guided_json",
            nv.is_some_and(|n| n.guided_json.is_some()),
        ),
        (
            "nvext.guided_choice",
            nv.is_some_and(|n| n.guided_choice.is_some()),
        ),
        (
            "nvext.guided_regex",
            nv.is_some_and(|n| n.guided_regex.is_some()),
        ),
        (
            "nvext.guided_grammar",
            nv.is_some_and(|n| n.guided_grammar.is_some()),
        ),
    ];
    if let Some((field, _)) = guided.into_iter().find(|(_, set)| *set) {
        return refuse(field, "guided decoding");
    }
    if matches!(
        req.response_format,
        Some(ResponseFormat::JsonObject) | Some(ResponseFormat::JsonSchema { .. })
    ) {
        return refuse("response_format", "constrained JSON output");
    }
    if req.min_tokens.is_some_and(|n| n > 0) {
        return refuse("min_tokens", "a minimum output length");
    }
    // Tools are shown to the model through its template; whether it calls one is its
    // choice, so only `auto` and `none` can be honoured.
    if matches!(
        req.tool_choice,
        Some(ToolChoice::Mode(ref m)) if m == "required"
    ) || matches!(req.tool_choice, Some(ToolChoice::Named(_)))
    {
        return refuse("tool_choice", "forcing a tool call");
    }
    Ok(())
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

fn engine_error(e: EngineError) -> BackendError {
    match e {
        EngineError::PromptTooLong { .. } => BackendError::BadRequest {
            message: e.to_string(),
            param: Some("messages".to_owned()),
        },
        EngineError::QueueFull { retry_after_secs } => BackendError::Overloaded {
            what: "the chat model's queue is full".to_owned(),
            retry_after: retry_after_secs.max(1),
        },
        EngineError::Template(_) => BackendError::invalid("messages", e.to_string()),
        EngineError::Invalid { param, .. } => BackendError::invalid(param, e.to_string()),
        EngineError::Load(_) | EngineError::Internal(_) => BackendError::Internal(e.to_string()),
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
    let mut logit_bias = Vec::new();
    for (tok, bias) in req.logit_bias.iter().flatten() {
        let id = tok
            .parse::<u32>()
            .map_err(|_| BackendError::invalid(format!("logit_bias.{tok}"), "not a token id"))?;
        logit_bias.push((id, *bias));
    }
    let sampling = SamplingParams {
        temperature: req.temperature.unwrap_or(1.0),
        top_p: req.top_p.unwrap_or(1.0),
        top_k: req.effective_top_k().unwrap_or(0),
        min_p: req.effective_min_p().unwrap_or(0.0),
        repetition_penalty: req.effective_repetition_penalty().unwrap_or(1.0),
        presence_penalty: req.presence_penalty.unwrap_or(0.0),
        frequency_penalty: req.frequency_penalty.unwrap_or(0.0),
        logit_bias,
        // Negative seeds are accepted and mapped one-to-one onto the u64 range.
        seed: req.seed.map(|s| s.cast_unsigned()),
    };
    let mut job = ChatJob::new(messages);
    job.tools = req
        .tools
        .as_ref()
        .filter(|_| !matches!(&req.tool_choice, Some(ToolChoice::Mode(m)) if m == "none"))
        .and_then(|t| serde_json::to_value(t).ok());
    job.sampling = sampling;
    job.max_tokens = req.effective_max_tokens();
    job.stop = req.stop_sequences();
    job.n = req.n.unwrap_or(1);
    job.top_logprobs = (req.logprobs == Some(true)).then(|| req.top_logprobs.unwrap_or(0));
    job.template_kwargs = req
        .chat_template_kwargs
        .as_ref()
        .map(|m| serde_json::Value::Object(m.clone()));
    job.ignore_eos = req.effective_ignore_eos();
    Ok(job)
}

/// Unix seconds now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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

fn finish(r: ingot_engine::FinishReason) -> FinishReason {
    match r {
        ingot_engine::FinishReason::Stop => FinishReason::Stop,
        ingot_engine::FinishReason::Length => FinishReason::Length,
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
            .map(|(index, c)| ChatChoice {
                index,
                message: AssistantMessage {
                    role: Role::Assistant,
                    content: Some(c.text),
                    refusal: None,
                    tool_calls: None,
                    reasoning_content: None,
                },
                logprobs: meta.logprobs.then_some(ChoiceLogprobs {
                    content: Some(c.logprobs),
                    refusal: None,
                }),
                finish_reason: c.finish,
            })
            .collect(),
        system_fingerprint: None,
        extra: Default::default(),
    })
}

/// The engine's events as chunks: a role chunk per choice, a chunk per text delta and per
/// finish, then one usage chunk (`choices: []`); an engine failure is the last item.
struct Chunker {
    meta: Meta,
    events: tokio::sync::mpsc::Receiver<ChatEvent>,
    finished: u32,
    completion_tokens: u32,
    done: bool,
}

impl Chunker {
    async fn next(&mut self) -> Option<Result<ChatCompletionChunk, StreamError>> {
        if self.done {
            return None;
        }
        loop {
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
            let choice = match ev {
                ChatEvent::Delta {
                    choice,
                    text,
                    logprobs: lp,
                } => {
                    if text.is_empty() && lp.is_empty() {
                        continue;
                    }
                    ChunkChoice {
                        index: choice,
                        delta: Delta {
                            content: Some(text),
                            ..Delta::default()
                        },
                        logprobs: self.meta.logprobs.then(|| ChoiceLogprobs {
                            content: Some(logprobs(lp)),
                            refusal: None,
                        }),
                        finish_reason: None,
                    }
                }
                ChatEvent::Finished {
                    choice,
                    reason,
                    completion_tokens,
                } => {
                    self.finished += 1;
                    self.completion_tokens += completion_tokens;
                    ChunkChoice {
                        index: choice,
                        delta: Delta::default(),
                        logprobs: None,
                        finish_reason: Some(finish(reason)),
                    }
                }
                ChatEvent::Error(e) => {
                    tracing::error!("chat stream failed: {e}");
                    self.done = true;
                    return Some(Err(StreamError::new(
                        "the chat engine failed while generating",
                        "InternalServerError",
                        500,
                    )));
                }
            };
            return Some(Ok(self.meta.chunk(vec![choice], None)));
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
    let chunker = Chunker {
        meta,
        events,
        finished: 0,
        completion_tokens: 0,
        done: false,
    };
    let rest = futures::stream::unfold(chunker, |mut c| async move {
        c.next().await.map(|item| (item, c))
    });
    futures::stream::iter(first).chain(rest).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: serde_json::Value) -> ChatCompletionRequest {
        let mut base = serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}]
        });
        if let (Some(b), Some(extra)) = (base.as_object_mut(), v.as_object()) {
            b.extend(extra.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn fields_the_engine_cannot_honour_are_named() {
        for (body, field) in [
            (serde_json::json!({"guided_regex": "a+"}), "guided_regex"),
            (
                serde_json::json!({"nvext": {"guided_regex": "a+"}}),
                "nvext.guided_regex",
            ),
            (
                serde_json::json!({"nvext": {"guided_choice": ["a"]}}),
                "nvext.guided_choice",
            ),
            (serde_json::json!({"guided_json": {}}), "guided_json"),
            (
                serde_json::json!({"response_format": {"type": "json_object"}}),
                "response_format",
            ),
            (serde_json::json!({"min_tokens": 5}), "min_tokens"),
            (
                serde_json::json!({"tool_choice": "required"}),
                "tool_choice",
            ),
        ] {
            match unsupported_fields(&req(body.clone())) {
                Err(BackendError::Invalid { param, .. }) => assert_eq!(param, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        for ok in [
            serde_json::json!({"response_format": {"type": "text"}}),
            serde_json::json!({"min_tokens": 0, "tool_choice": "auto"}),
            serde_json::json!({"nvext": {"top_k": 5}}),
        ] {
            assert!(unsupported_fields(&req(ok.clone())).is_ok(), "{ok}");
        }
    }

    #[test]
    fn engine_validation_errors_keep_their_field() {
        let e = engine_error(EngineError::invalid("top_p", "top_p must be in (0, 1]"));
        assert!(matches!(e, BackendError::Invalid { ref param, .. } if param == "top_p"));
        let e = engine_error(EngineError::QueueFull {
            retry_after_secs: 0,
        });
        assert!(matches!(e, BackendError::Overloaded { retry_after: 1, .. }));
    }
}
