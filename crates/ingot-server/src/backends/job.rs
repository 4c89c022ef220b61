//! What chat and text completion share on the way to the engine: the generation settings
//! of a job, the engine's errors as backend errors, finish reasons and timestamps.

use ingot_core::BackendError;
use ingot_engine::{ChatJob, EngineError, SamplingParams};
use ingot_protocol::chat::ChatCompletionRequest;
use ingot_protocol::chat_response::FinishReason;

/// Sets what chat and text completions share on `job`: sampling, limits, stop strings, `n`,
/// logprobs and the output constraint.
pub(super) fn generation(
    job: &mut ChatJob,
    req: &ChatCompletionRequest,
) -> Result<(), BackendError> {
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
        min_tokens: req.min_tokens.unwrap_or(0),
        // Negative seeds are accepted and mapped one-to-one onto the u64 range.
        seed: req.seed.map(|s| s.cast_unsigned()),
    };
    job.sampling = sampling;
    job.max_tokens = req.effective_max_tokens();
    job.stop = req.stop_sequences();
    job.n = req.n.unwrap_or(1);
    job.top_logprobs = (req.logprobs == Some(true)).then(|| req.top_logprobs.unwrap_or(0));
    job.ignore_eos = req.effective_ignore_eos();
    job.constraint = super::constraint::of(req)?;
    Ok(())
}

/// Unix seconds now.
pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The engine's refusals as backend errors (`messages` is the field a prompt came in).
pub(super) fn engine_error(e: EngineError) -> BackendError {
    match e {
        EngineError::PromptTooLong { .. } | EngineError::PromptTooLongText { .. } => {
            BackendError::BadRequest {
                message: e.to_string(),
                param: Some("messages".to_owned()),
            }
        }
        EngineError::QueueFull { retry_after_secs } => BackendError::Overloaded {
            what: "the chat model's queue is full".to_owned(),
            retry_after: retry_after_secs.max(1),
        },
        EngineError::Template(_) => BackendError::invalid("messages", e.to_string()),
        EngineError::Invalid { param, .. } => BackendError::invalid(param, e.to_string()),
        EngineError::Grammar { param, message } => BackendError::BadRequest {
            message,
            param: Some(param),
        },
        EngineError::Load(_) | EngineError::Internal(_) => BackendError::Internal(e.to_string()),
    }
}

/// The engine's finish reason on the wire.
pub(super) fn finish(r: ingot_engine::FinishReason) -> FinishReason {
    match r {
        ingot_engine::FinishReason::Stop => FinishReason::Stop,
        ingot_engine::FinishReason::Length => FinishReason::Length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
