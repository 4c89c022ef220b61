//! Text completion on a local chat model: the prompt as it is (no chat template), or
//! fill-in-the-middle with the model's FIM tokens when the request has a `suffix`.
//!
//! Each prompt of a request is one engine job with `n` choices; choice `c` of prompt `p` is
//! `choices[p × n + c]`. Jobs go through the same scheduler, queue and limits as chat.

use futures::StreamExt;
use futures::stream::BoxStream;
use ingot_core::{BackendError, ChunkStream, CompletionReply, Reply};
use ingot_engine::{ChatEngine, ChatEvent, ChatJob, JobHandle, RawPrompt};
use ingot_protocol::chat_response::{FinishReason, Usage};
use ingot_protocol::completions::{
    CompletionChoice, CompletionLogprobs, CompletionRequest, CompletionResponse, OnePrompt,
};
use ingot_protocol::error::StreamError;
use tokio::sync::mpsc::Receiver;

use super::job::{engine_error, finish, generation, unix_now};

/// Answers a completion request on `engine`.
pub(super) async fn complete(
    engine: &ChatEngine,
    req: CompletionRequest,
) -> Result<CompletionReply, BackendError> {
    let echo = req.echo == Some(true);
    if echo && req.logprobs.is_some() {
        return Err(BackendError::invalid(
            "echo",
            "echo with logprobs asks for the prompt's log probabilities, which the local engine \
             does not compute; send one of the two",
        ));
    }
    if echo && req.suffix.is_some() {
        return Err(BackendError::invalid(
            "echo",
            "echo cannot be combined with suffix",
        ));
    }
    if req.suffix.is_some() && !engine.fills_middle() {
        return Err(BackendError::BadRequest {
            message: format!(
                "`{}` is served by {}, which has no fill-in-the-middle tokens; send the request \
                 without `suffix` or to a code model",
                req.model,
                engine.info().name
            ),
            param: Some("suffix".to_owned()),
        });
    }
    let gen_req = req.generation();
    let mut jobs = Vec::new();
    let mut echoes = Vec::new();
    for (i, p) in req.prompt.each().into_iter().enumerate() {
        let raw = match (p, &req.suffix) {
            (OnePrompt::Text(t), None) => RawPrompt::Text(t.to_owned()),
            (OnePrompt::Tokens(ids), None) => RawPrompt::Tokens(ids.to_vec()),
            (OnePrompt::Text(t), Some(suffix)) => RawPrompt::Fim {
                prefix: t.to_owned(),
                suffix: suffix.clone(),
            },
            (OnePrompt::Tokens(_), Some(_)) => {
                return Err(BackendError::invalid(
                    format!("prompt.{i}"),
                    "fill-in-the-middle (`suffix`) takes a text prompt, not token ids",
                ));
            }
        };
        echoes.push(match (echo, p) {
            (false, _) => String::new(),
            (true, OnePrompt::Text(t)) => t.to_owned(),
            (true, OnePrompt::Tokens(ids)) => engine.detokenize(ids),
        });
        let mut job = ChatJob::raw(raw);
        generation(&mut job, &gen_req)?;
        jobs.push(job);
    }
    let constrained = jobs.iter().any(|j| j.constraint.is_some());
    let handles = if constrained {
        // Compiling an output constraint (and the token trie on first use) is CPU work.
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || submit_all(&engine, jobs))
            .await
            .map_err(|e| BackendError::Internal(e.to_string()))??
    } else {
        submit_all(engine, jobs)?
    };
    let meta = Meta {
        id: format!("cmpl-{}", uuid::Uuid::new_v4().simple()),
        created: unix_now(),
        model: req.model.clone(),
        n: req.n.unwrap_or(1),
        prompt_tokens: handles.iter().map(|h| h.prompt_tokens).sum(),
        logprobs: req.logprobs,
    };
    let events: Vec<Receiver<ChatEvent>> = handles.into_iter().map(|h| h.events).collect();
    if req.is_stream() {
        Ok(Reply::Stream(ChunkStream {
            prompt_tokens: meta.prompt_tokens,
            chunks: chunks(meta, events, echoes),
        }))
    } else {
        collect(meta, events, echoes).await.map(Reply::Body)
    }
}

fn submit_all(engine: &ChatEngine, jobs: Vec<ChatJob>) -> Result<Vec<JobHandle>, BackendError> {
    // A refusal drops the handles already submitted, which cancels those jobs.
    jobs.into_iter()
        .map(|job| engine.submit(job).map_err(prompt_error))
        .collect()
}

/// Engine errors, with "messages" (the chat field) read as "prompt".
fn prompt_error(e: ingot_engine::EngineError) -> BackendError {
    match engine_error(e) {
        BackendError::BadRequest { message, param } => BackendError::BadRequest {
            message,
            param: param.map(|p| {
                if p == "messages" {
                    "prompt".to_owned()
                } else {
                    p
                }
            }),
        },
        BackendError::Invalid { param, message } if param == "messages" => {
            BackendError::invalid("prompt", message)
        }
        other => other,
    }
}

struct Meta {
    id: String,
    created: i64,
    model: String,
    n: u32,
    prompt_tokens: u32,
    /// `logprobs: k`.
    logprobs: Option<u32>,
}

impl Meta {
    fn response(&self, choices: Vec<CompletionChoice>, usage: Option<Usage>) -> CompletionResponse {
        CompletionResponse {
            id: self.id.clone(),
            object: "text_completion".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
            system_fingerprint: None,
        }
    }
}

/// Logprobs of one piece of text in the legacy shape; `offset` is where the piece starts in
/// the choice's text (characters) and moves past it.
fn legacy(lp: Vec<ingot_engine::TokenLogprob>, offset: &mut u32) -> CompletionLogprobs {
    let mut out = CompletionLogprobs::default();
    for t in lp {
        out.text_offset.push(*offset);
        *offset += u32::try_from(t.token.chars().count()).unwrap_or(u32::MAX);
        let mut top: std::collections::BTreeMap<String, f32> = t
            .top
            .into_iter()
            .map(|(token, _, logprob)| (token, logprob))
            .collect();
        top.entry(t.token.clone()).or_insert(t.logprob);
        out.token_logprobs.push(Some(t.logprob));
        out.tokens.push(t.token);
        out.top_logprobs.push(Some(top));
    }
    out
}

fn extend(acc: &mut CompletionLogprobs, more: CompletionLogprobs) {
    acc.text_offset.extend(more.text_offset);
    acc.token_logprobs.extend(more.token_logprobs);
    acc.tokens.extend(more.tokens);
    acc.top_logprobs.extend(more.top_logprobs);
}

fn chars(s: &str) -> u32 {
    u32::try_from(s.chars().count()).unwrap_or(u32::MAX)
}

struct ChoiceAcc {
    text: String,
    logprobs: CompletionLogprobs,
    offset: u32,
    finish: Option<FinishReason>,
}

async fn collect(
    meta: Meta,
    events: Vec<Receiver<ChatEvent>>,
    echoes: Vec<String>,
) -> Result<CompletionResponse, BackendError> {
    let mut choices = Vec::new();
    let mut completion_tokens = 0;
    for (mut rx, echo) in events.into_iter().zip(echoes) {
        let mut acc: Vec<ChoiceAcc> = (0..meta.n)
            .map(|_| ChoiceAcc {
                offset: chars(&echo),
                text: echo.clone(),
                logprobs: CompletionLogprobs::default(),
                finish: None,
            })
            .collect();
        while let Some(ev) = rx.recv().await {
            match ev {
                ChatEvent::Delta {
                    choice,
                    text,
                    logprobs,
                } => {
                    if let Some(c) = acc.get_mut(choice as usize) {
                        c.text.push_str(&text);
                        let more = legacy(logprobs, &mut c.offset);
                        extend(&mut c.logprobs, more);
                    }
                }
                ChatEvent::Finished {
                    choice,
                    reason,
                    completion_tokens: t,
                } => {
                    completion_tokens += t;
                    if let Some(c) = acc.get_mut(choice as usize) {
                        c.finish = Some(finish(reason));
                    }
                }
                ChatEvent::Error(e) => return Err(BackendError::Internal(e)),
            }
        }
        if acc.iter().any(|c| c.finish.is_none()) {
            return Err(BackendError::Internal(
                "the chat engine stopped before finishing".into(),
            ));
        }
        choices.extend(acc);
    }
    let choices = choices
        .into_iter()
        .enumerate()
        .map(|(i, c)| CompletionChoice {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            text: c.text,
            logprobs: meta.logprobs.map(|_| c.logprobs),
            finish_reason: c.finish,
        })
        .collect();
    let usage = Usage::new(meta.prompt_tokens, completion_tokens);
    Ok(meta.response(choices, Some(usage)))
}

/// The jobs' events as chunks, prompt by prompt interleaved as they come: the echoed
/// prompts first, a chunk per text delta and per finish, then the usage chunk.
fn chunks(
    meta: Meta,
    events: Vec<Receiver<ChatEvent>>,
    echoes: Vec<String>,
) -> BoxStream<'static, Result<CompletionResponse, StreamError>> {
    let n = meta.n;
    let jobs = events.len();
    let merged = futures::stream::select_all(events.into_iter().enumerate().map(|(p, rx)| {
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) })
            .map(move |e| (p, e))
            .boxed()
    }));
    let mut offsets: Vec<u32> = echoes
        .iter()
        .flat_map(|e| std::iter::repeat_n(chars(e), n as usize))
        .collect();
    let first: Vec<_> = echoes
        .into_iter()
        .enumerate()
        .filter(|(_, e)| !e.is_empty())
        .flat_map(|(p, e)| {
            (0..n)
                .map(|c| {
                    let index = u32::try_from(p).unwrap_or(u32::MAX) * n + c;
                    Ok(meta.response(vec![choice(index, e.clone(), None, None)], None))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let want = u32::try_from(jobs).unwrap_or(u32::MAX) * n;
    let mut finished = 0u32;
    let mut completion_tokens = 0u32;
    let mut failed = false;
    let rest = merged
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .filter_map(move |item| {
            let out = if failed {
                None
            } else {
                match item {
                    Some((p, ev)) => {
                        let p = u32::try_from(p).unwrap_or(u32::MAX);
                        match ev {
                            ChatEvent::Delta {
                                choice: c,
                                text,
                                logprobs,
                            } => {
                                let index = p * n + c;
                                let lp = meta.logprobs.map(|_| {
                                    let mut unknown = 0;
                                    let offset =
                                        offsets.get_mut(index as usize).unwrap_or(&mut unknown);
                                    legacy(logprobs, offset)
                                });
                                Some(Ok(meta.response(vec![choice(index, text, lp, None)], None)))
                            }
                            ChatEvent::Finished {
                                choice: c,
                                reason,
                                completion_tokens: t,
                            } => {
                                finished += 1;
                                completion_tokens += t;
                                let f = Some(finish(reason));
                                let lp = meta.logprobs.map(|_| CompletionLogprobs::default());
                                Some(Ok(meta.response(
                                    vec![choice(p * n + c, String::new(), lp, f)],
                                    None,
                                )))
                            }
                            ChatEvent::Error(e) => {
                                tracing::error!("completion stream failed: {e}");
                                failed = true;
                                Some(Err(StreamError::new(
                                    "the chat engine failed while generating",
                                    "InternalServerError",
                                    500,
                                )))
                            }
                        }
                    }
                    None if finished < want => Some(Err(StreamError::new(
                        "the chat engine stopped before finishing",
                        "InternalServerError",
                        500,
                    ))),
                    None => {
                        let usage = Usage::new(meta.prompt_tokens, completion_tokens);
                        Some(Ok(meta.response(Vec::new(), Some(usage))))
                    }
                }
            };
            futures::future::ready(out)
        });
    futures::stream::iter(first).chain(rest).boxed()
}

fn choice(
    index: u32,
    text: String,
    logprobs: Option<CompletionLogprobs>,
    finish_reason: Option<FinishReason>,
) -> CompletionChoice {
    CompletionChoice {
        index,
        text,
        logprobs,
        finish_reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_logprobs_carry_offsets_and_the_sampled_token() {
        let lp = vec![
            ingot_engine::TokenLogprob {
                token: "Hé".into(),
                bytes: "Hé".as_bytes().to_vec(),
                logprob: -0.5,
                top: vec![("Hi".into(), b"Hi".to_vec(), -0.2)],
            },
            ingot_engine::TokenLogprob {
                token: "!".into(),
                bytes: b"!".to_vec(),
                logprob: -0.1,
                top: vec![],
            },
        ];
        let mut offset = 3;
        let out = legacy(lp, &mut offset);
        assert_eq!(out.text_offset, vec![3, 5]);
        assert_eq!(offset, 6);
        assert_eq!(out.tokens, vec!["Hé", "!"]);
        let top = out.top_logprobs[0].as_ref().unwrap();
        assert_eq!(top.len(), 2);
        assert_eq!(top["Hé"], -0.5);
    }
}
