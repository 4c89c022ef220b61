//! `POST /v1/chat/completions` (wire-spec §2): forwarded for ids that upstreams serve,
//! otherwise on the local chat engine.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use ingot_core::ModelKind;
use ingot_engine::{ChatEvent, ChatJob, EngineError, SamplingParams};
use ingot_protocol::chat::{ChatCompletionRequest, FieldError, MessageContent, Role};
use ingot_protocol::chat_response::{
    AssistantMessage, ChatChoice, ChatCompletionChunk, ChatCompletionResponse, ChoiceLogprobs,
    ChunkChoice, Delta, FinishReason, TokenLogprob, TopLogprob, Usage,
};
use ingot_protocol::error::StreamError;

use super::{missing, now, resolve, upstream};
use crate::error::ApiError;
use crate::extract::AppJson;
use crate::observe::Tally;
use crate::sse;
use crate::state::AppState;

/// Handles a chat completion, streamed or not.
pub async fn completions(
    State(state): State<AppState>,
    tally: Option<Extension<Arc<Tally>>>,
    AppJson(req): AppJson<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let tally = tally.map(|Extension(t)| t);
    if let Some(t) = &tally {
        t.set_model(&req.model);
    }
    req.validate()?;
    let kinds = [ModelKind::Chat, ModelKind::VisionChat];
    if upstream::routed(&state, &req.model) {
        upstream::check_kind(&state, &req.model, &kinds)?;
        let endpoint = ingot_proxy::Endpoint::ChatCompletions;
        if let Some(resp) = upstream::forward(
            &state,
            endpoint,
            &req.model,
            &req,
            req.is_stream(),
            tally.as_ref(),
        )
        .await?
        {
            return Ok(resp);
        }
    }
    let entry = resolve(&state, &req.model, &kinds)?;
    let vlm = entry.kind == ModelKind::VisionChat && state.config().vision.mmproj.is_some();
    let engine = if vlm {
        state.engines().vlm.get()
    } else {
        state.engines().chat.get()
    }
    .ok_or_else(|| missing(&entry))?;
    let job = if vlm {
        let vision = state
            .engines()
            .vision
            .get()
            .ok_or_else(|| missing(&entry))?;
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
    } else if entry.kind == ModelKind::VisionChat {
        let vision = state
            .engines()
            .vision
            .get()
            .ok_or_else(|| missing(&entry))?;
        to_job(&with_media_described(vision, &req).await?)?
    } else {
        to_job(&req)?
    };
    let handle = if job.images.is_empty() {
        engine.submit(job)
    } else {
        // The projector's image preprocessing (resizing, normalising) runs in `submit`.
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || engine.submit(job))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
    }
    .map_err(engine_error)?;
    let meta = Meta {
        id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        created: now(),
        model: req.model.clone(),
        n: req.n.unwrap_or(1),
        prompt_tokens: handle.prompt_tokens,
        cached: handle.cached_tokens_probe(),
        logprobs: req.logprobs == Some(true),
        tally,
    };
    if req.is_stream() {
        Ok(stream(meta, handle.events, req.include_usage()))
    } else {
        collect(meta, handle.events)
            .await
            .map(|r| axum::Json(r).into_response())
    }
}

/// The request with each image and video replaced by what the vision engine read and
/// measured in it, and a system hint that tells the text model how to use that.
async fn with_media_described(
    vision: &ingot_vision::VisionEngine,
    req: &ChatCompletionRequest,
) -> Result<ChatCompletionRequest, ApiError> {
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

fn vision_error(e: ingot_vision::VisionError) -> ApiError {
    use ingot_vision::{ToolError, VisionError};
    if let Some(field) = e.field_error() {
        return ApiError::Invalid(field);
    }
    match e {
        VisionError::Tool(ToolError::Missing { .. }) => ApiError::Unavailable(e.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
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
    tally: Option<Arc<Tally>>,
}

/// Counts a stream's completion tokens and reports its usage once: when the stream has
/// finished, or when it is dropped early because the client went away.
struct UsageGuard {
    tally: Option<Arc<Tally>>,
    prompt: u32,
    count: u32,
}

impl UsageGuard {
    fn tick(&self) {
        if let Some(t) = &self.tally {
            t.token();
        }
    }

    fn record(&self) {
        if let Some(t) = &self.tally {
            t.usage(u64::from(self.prompt), u64::from(self.count));
        }
    }
}

impl Drop for UsageGuard {
    fn drop(&mut self) {
        self.record();
    }
}

fn to_job(req: &ChatCompletionRequest) -> Result<ChatJob, ApiError> {
    let unsupported = |field: &str, what: &str| {
        ApiError::Invalid(FieldError::new(
            field,
            format!("{what} is not supported by the local chat engine"),
        ))
    };
    if req.effective_guided_json().is_some() || req.effective_guided_choice().is_some() {
        return Err(unsupported("guided_json", "guided decoding"));
    }
    if req.guided_regex.is_some() || req.guided_grammar.is_some() {
        return Err(unsupported("guided_regex", "guided decoding"));
    }
    if matches!(
        req.response_format,
        Some(ingot_protocol::chat::ResponseFormat::JsonObject)
            | Some(ingot_protocol::chat::ResponseFormat::JsonSchema { .. })
    ) {
        return Err(unsupported("response_format", "constrained JSON output"));
    }
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        if m.content.as_ref().is_some_and(MessageContent::has_media) {
            return Err(ApiError::Invalid(FieldError::new(
                &format!("messages.{i}.content"),
                format!(
                    "`{}` is a text-only model; send images and video to a vision model",
                    req.model
                ),
            )));
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
        let id = tok.parse::<u32>().map_err(|_| {
            ApiError::Invalid(FieldError::new(
                &format!("logit_bias.{tok}"),
                "not a token id",
            ))
        })?;
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

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::PromptTooLong { .. } => ApiError::BadRequest {
            message: e.to_string(),
            param: Some("messages".to_owned()),
        },
        EngineError::QueueFull { retry_after_secs } => ApiError::Overloaded {
            what: "the chat model's queue is full".to_owned(),
            retry_after: retry_after_secs.max(1),
        },
        EngineError::Template(_) => ApiError::Invalid(FieldError::new("messages", e.to_string())),
        EngineError::Invalid(ref m) => {
            ApiError::Invalid(FieldError::new(invalid_param(m), e.to_string()))
        }
        EngineError::Load(_) | EngineError::Internal(_) => ApiError::Internal(e.to_string()),
    }
}

/// The request field an engine validation message is about (it starts with the field's
/// name), else `messages`.
fn invalid_param(message: &str) -> &'static str {
    const FIELDS: [&str; 9] = [
        "n",
        "max_tokens",
        "temperature",
        "top_p",
        "min_p",
        "repetition_penalty",
        "presence_penalty",
        "logit_bias",
        "top_logprobs",
    ];
    let first = message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .unwrap_or_default();
    FIELDS
        .into_iter()
        .find(|f| *f == first)
        .unwrap_or("messages")
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
) -> Result<ChatCompletionResponse, ApiError> {
    // Reports the usage when done, or what was generated if the client goes away first.
    let mut usage = UsageGuard {
        tally: meta.tally.clone(),
        prompt: meta.prompt_tokens,
        count: 0,
    };
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
                usage.count += completion_tokens;
                finished += 1;
            }
            ChatEvent::Error(e) => return Err(ApiError::Internal(e)),
        }
    }
    if finished < meta.n {
        return Err(ApiError::Internal(
            "the chat engine stopped before finishing".into(),
        ));
    }
    let completion_tokens = choices.values().map(|c| c.tokens).sum();
    usage.record();
    Ok(ChatCompletionResponse {
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
        usage: Some(
            Usage::new(meta.prompt_tokens, completion_tokens).with_cached_tokens(meta.cached.get()),
        ),
        system_fingerprint: None,
        extra: Default::default(),
    })
}

fn stream(
    meta: Meta,
    events: tokio::sync::mpsc::Receiver<ChatEvent>,
    include_usage: bool,
) -> Response {
    let chunk = move |choices: Vec<ChunkChoice>, usage: Option<Usage>| ChatCompletionChunk {
        id: meta.id.clone(),
        object: "chat.completion.chunk".to_owned(),
        created: meta.created,
        model: meta.model.clone(),
        choices,
        usage,
        system_fingerprint: None,
    };
    let choice = |index: u32, delta: Delta, lp: Option<ChoiceLogprobs>, f: Option<FinishReason>| {
        ChunkChoice {
            index,
            delta,
            logprobs: lp,
            finish_reason: f,
        }
    };
    let n = meta.n;
    let want_lp = meta.logprobs;
    let prompt_tokens = meta.prompt_tokens;
    let cached = meta.cached.clone();
    if let Some(t) = &meta.tally {
        t.expect_usage();
    }
    let guard = UsageGuard {
        tally: meta.tally.clone(),
        prompt: prompt_tokens,
        count: 0,
    };
    let first: Vec<Bytes> = (0..n)
        .map(|i| {
            sse::event(&chunk(
                vec![choice(
                    i,
                    Delta {
                        role: Some(Role::Assistant),
                        content: Some(String::new()),
                        ..Delta::default()
                    },
                    None,
                    None,
                )],
                None,
            ))
        })
        .collect();
    let state = (events, 0u32, guard, false);
    let body = futures::stream::iter(first).chain(futures::stream::unfold(
        state,
        move |(mut events, mut finished, mut tokens, done)| {
            let chunk = chunk.clone();
            let cached = cached.clone();
            async move {
                if done {
                    return None;
                }
                loop {
                    let Some(ev) = events.recv().await else {
                        let mut out = Vec::new();
                        if finished < n {
                            out.extend_from_slice(&sse::event(&StreamError::new(
                                "the chat engine stopped before finishing",
                                "InternalServerError",
                                500,
                            )));
                        } else {
                            tokens.record();
                            if include_usage {
                                out.extend_from_slice(&sse::event(&chunk(
                                    Vec::new(),
                                    Some(
                                        Usage::new(prompt_tokens, tokens.count)
                                            .with_cached_tokens(cached.get()),
                                    ),
                                )));
                            }
                        }
                        out.extend_from_slice(&sse::done());
                        return Some((Bytes::from(out), (events, finished, tokens, true)));
                    };
                    let bytes = match ev {
                        ChatEvent::Delta {
                            choice: i,
                            text,
                            logprobs: lp,
                        } => {
                            if text.is_empty() && lp.is_empty() {
                                continue;
                            }
                            tokens.tick();
                            let lp = want_lp.then(|| ChoiceLogprobs {
                                content: Some(logprobs(lp)),
                                refusal: None,
                            });
                            sse::event(&chunk(
                                vec![choice(
                                    i,
                                    Delta {
                                        content: Some(text),
                                        ..Delta::default()
                                    },
                                    lp,
                                    None,
                                )],
                                None,
                            ))
                        }
                        ChatEvent::Finished {
                            choice: i,
                            reason,
                            completion_tokens,
                        } => {
                            finished += 1;
                            tokens.count += completion_tokens;
                            sse::event(&chunk(
                                vec![choice(i, Delta::default(), None, Some(finish(reason)))],
                                None,
                            ))
                        }
                        ChatEvent::Error(e) => {
                            tracing::error!("chat stream failed: {e}");
                            let mut out = sse::event(&StreamError::new(
                                "the chat engine failed while generating",
                                "InternalServerError",
                                500,
                            ))
                            .to_vec();
                            out.extend_from_slice(&sse::done());
                            return Some((Bytes::from(out), (events, finished, tokens, true)));
                        }
                    };
                    return Some((bytes, (events, finished, tokens, false)));
                }
            }
        },
    ));
    let mut resp = Response::new(Body::from_stream(
        body.map(Ok::<_, std::convert::Infallible>),
    ));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_validation_messages_name_their_field() {
        assert_eq!(
            invalid_param("n must be between 1 and 4 (the engine's slots)"),
            "n"
        );
        assert_eq!(
            invalid_param("logit_bias token 99999999 is not in the vocabulary"),
            "logit_bias"
        );
        assert_eq!(
            invalid_param("top_logprobs must be at most 20"),
            "top_logprobs"
        );
        assert_eq!(invalid_param("the rendered prompt is empty"), "messages");
        assert_eq!(invalid_param(""), "messages");
    }
}
