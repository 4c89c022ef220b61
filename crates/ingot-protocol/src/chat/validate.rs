//! Semantic validation of requests, after they parsed.
//!
//! Errors carry the field path in NIM's (pydantic's) notation, `body -> messages -> 0 -> role`.

use std::fmt;

use super::{ChatCompletionRequest, ContentPart, MessageContent, Role};

/// A request field that is invalid, with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path below the body, e.g. `["messages", "0", "role"]`.
    pub loc: Vec<String>,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// An error at `loc` (segments separated by `.`).
    pub fn new(loc: &str, message: impl Into<String>) -> Self {
        Self {
            loc: loc
                .split('.')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            message: message.into(),
        }
    }

    /// `body -> messages -> 0 -> role: <message>`.
    pub fn detail(&self) -> String {
        let mut s = String::from("body");
        for seg in &self.loc {
            s.push_str(" -> ");
            s.push_str(seg);
        }
        format!("{s}: {}", self.message)
    }

    /// `messages.0.role`, or `None` for the body itself.
    pub fn param(&self) -> Option<String> {
        (!self.loc.is_empty()).then(|| self.loc.join("."))
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail())
    }
}

impl std::error::Error for FieldError {}

fn range(loc: &str, v: Option<f32>, lo: f32, hi: f32, open_lo: bool) -> Result<(), FieldError> {
    match v {
        Some(x) if x.is_nan() || x > hi || x < lo || (open_lo && x <= lo) => {
            let lo_br = if open_lo { "(" } else { "[" };
            Err(FieldError::new(
                loc,
                format!("Input should be in {lo_br}{lo}, {hi}], got {x}"),
            ))
        }
        _ => Ok(()),
    }
}

impl ChatCompletionRequest {
    /// Checks value ranges and message shapes that the types cannot express.
    ///
    /// # Errors
    /// The first invalid field, with its path.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.model.trim().is_empty() {
            return Err(FieldError::new("model", "Field required (empty string)"));
        }
        if self.messages.is_empty() {
            return Err(FieldError::new(
                "messages",
                "List should have at least 1 item after validation, not 0",
            ));
        }
        self.validate_generation()?;
        for (i, m) in self.messages.iter().enumerate() {
            validate_message(i, m)?;
        }
        Ok(())
    }

    /// Checks the generation fields (sampling, limits, `n`, logprobs, `logit_bias`): what
    /// chat and text completions share.
    ///
    /// # Errors
    /// The first invalid field, with its path.
    pub fn validate_generation(&self) -> Result<(), FieldError> {
        range("temperature", self.temperature, 0.0, 2.0, false)?;
        range("top_p", self.top_p, 0.0, 1.0, true)?;
        range("presence_penalty", self.presence_penalty, -2.0, 2.0, false)?;
        range(
            "frequency_penalty",
            self.frequency_penalty,
            -2.0,
            2.0,
            false,
        )?;
        range("min_p", self.min_p, 0.0, 1.0, false)?;
        range(
            "repetition_penalty",
            self.repetition_penalty,
            0.0,
            2.0,
            true,
        )?;
        if let Some(nv) = &self.nvext {
            range("nvext.min_p", nv.min_p, 0.0, 1.0, false)?;
            range(
                "nvext.repetition_penalty",
                nv.repetition_penalty,
                0.0,
                2.0,
                true,
            )?;
        }
        for (loc, v) in [
            ("max_tokens", self.max_tokens),
            ("max_completion_tokens", self.max_completion_tokens),
        ] {
            if v == Some(0) {
                return Err(FieldError::new(
                    loc,
                    "Input should be greater than or equal to 1",
                ));
            }
        }
        match self.n {
            Some(0) => {
                return Err(FieldError::new(
                    "n",
                    "Input should be greater than or equal to 1",
                ));
            }
            Some(n) if n > 128 => {
                return Err(FieldError::new(
                    "n",
                    "Input should be less than or equal to 128",
                ));
            }
            _ => {}
        }
        if let Some(k) = self.top_logprobs {
            if k > 20 {
                return Err(FieldError::new(
                    "top_logprobs",
                    "Input should be less than or equal to 20",
                ));
            }
            if k > 0 && self.logprobs != Some(true) {
                return Err(FieldError::new(
                    "top_logprobs",
                    "top_logprobs requires logprobs to be true",
                ));
            }
        }
        if let Some(bias) = &self.logit_bias {
            for (tok, b) in bias {
                if tok.parse::<u32>().is_err() {
                    return Err(FieldError::new(
                        &format!("logit_bias.{tok}"),
                        "keys must be token ids (non-negative integers as strings)",
                    ));
                }
                if !(-100.0..=100.0).contains(b) {
                    return Err(FieldError::new(
                        &format!("logit_bias.{tok}"),
                        "bias must be in [-100, 100]",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn validate_message(i: usize, m: &super::ChatMessage) -> Result<(), FieldError> {
    let at = |field: &str| format!("messages.{i}.{field}");
    match (&m.content, m.role) {
        (None, Role::Assistant) if m.tool_calls.as_ref().is_some_and(|t| !t.is_empty()) => {}
        (None, _) => {
            return Err(FieldError::new(
                &at("content"),
                "Field required: content may be null only on an assistant message with tool_calls",
            ));
        }
        (Some(MessageContent::Parts(parts)), role) => {
            for (j, p) in parts.iter().enumerate() {
                let media = !matches!(p, ContentPart::Text { .. });
                if media && role != Role::User {
                    return Err(FieldError::new(
                        &format!("messages.{i}.content.{j}"),
                        format!(
                            "`{}` parts are only allowed in user messages, not {}",
                            p.kind(),
                            role.as_str()
                        ),
                    ));
                }
            }
        }
        (Some(MessageContent::Text(_)), _) => {}
    }
    if m.role == Role::Tool && m.tool_call_id.is_none() {
        return Err(FieldError::new(
            &at("tool_call_id"),
            "Field required for a tool message",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> ChatCompletionRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn paths_use_nim_notation() {
        let e = req(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":3}"#)
            .validate()
            .unwrap_err();
        assert_eq!(e.param().as_deref(), Some("temperature"));
        assert!(
            e.detail()
                .starts_with("body -> temperature: Input should be in [0, 2]"),
            "{e}"
        );
    }

    #[test]
    fn rejects_empty_messages_and_bad_ranges() {
        assert!(req(r#"{"model":"m","messages":[]}"#).validate().is_err());
        let base = r#"{"model":"m","messages":[{"role":"user","content":"x"}]"#;
        for extra in [
            r#","top_p":0"#,
            r#","max_tokens":0"#,
            r#","n":0"#,
            r#","top_logprobs":3"#,
            r#","logprobs":true,"top_logprobs":21"#,
            r#","logit_bias":{"abc":1}"#,
            r#","presence_penalty":-3"#,
        ] {
            let r = req(&format!("{base}{extra}}}"));
            assert!(r.validate().is_err(), "{extra} should be rejected");
        }
        let ok = req(&format!(
            "{base},\"temperature\":0,\"top_p\":1,\"logprobs\":true,\"top_logprobs\":5,\"logit_bias\":{{\"42\":-100}}}}"
        ));
        ok.validate().unwrap();
    }

    #[test]
    fn message_shapes() {
        let e = req(r#"{"model":"m","messages":[{"role":"user"}]}"#)
            .validate()
            .unwrap_err();
        assert_eq!(e.param().as_deref(), Some("messages.0.content"));
        req(r#"{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"18C"}]}"#)
            .validate()
            .unwrap();
        let e = req(r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#)
            .validate()
            .unwrap_err();
        assert_eq!(e.param().as_deref(), Some("messages.0.tool_call_id"));
        let e = req(r#"{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":"data:x"}]}]}"#)
            .validate()
            .unwrap_err();
        assert_eq!(e.param().as_deref(), Some("messages.0.content.0"));
    }
}
