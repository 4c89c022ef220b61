//! [`ClientError`] and the parsing of error bodies.
//!
//! Servers answer errors in two envelopes (wire-spec §0): NVIDIA's problem details
//! `{"status","title","detail","requestId"}` and OpenAI's `{"error":{"message","type","param",
//! "code"}}`, where vLLM-based NIMs send `code` as an int and OpenAI as a string. ingot sends
//! both at once. Old gateways answer plain text; FastAPI answers `{"detail":[{loc,msg}]}`.
//! [`ClientError::Api`] is filled from whichever of these the body holds.

use std::error::Error as _;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

/// Longest piece of a non-JSON body kept in an error message.
const MAX_TEXT: usize = 1000;

/// Everything that can go wrong in a [`Client`](crate::Client) call or a media helper.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with a non-success status (after any retries).
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The server could not be reached, or the connection broke.
    #[error("connection failed: {message}")]
    Connection {
        /// The transport error with its causes.
        message: String,
        /// How many times the request was retried before giving up.
        retries: u32,
    },
    /// An attempt took longer than the configured timeout.
    #[error("request timed out after {}", secs(*after))]
    Timeout {
        /// The timeout that expired.
        after: Duration,
        /// How many times the request was retried before giving up.
        retries: u32,
    },
    /// A success response whose body is not what the endpoint should return.
    #[error("unexpected response body: {message}")]
    Decode {
        /// What did not parse.
        message: String,
    },
    /// The server reported an error inside an SSE stream that had already started.
    #[error("error in stream: {message}{}", kind.as_ref().map(|k| format!(" ({k})")).unwrap_or_default())]
    Stream {
        /// The error message of the event.
        message: String,
        /// Its `type`, e.g. `InternalServerError`.
        kind: Option<String>,
        /// Its `code`, as a string.
        code: Option<String>,
    },
    /// A local file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The caller's input cannot be used (unknown media type, undecodable image, bad URL).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// An error response of the API, parsed from either error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Problem-details `title`, else the status's reason phrase (`Unauthorized`).
    pub title: Option<String>,
    /// Problem-details `detail`, as sent.
    pub detail: Option<String>,
    /// The best human-readable explanation: `detail`, `error.message`, the text body, or
    /// the title.
    pub message: String,
    /// OpenAI `error.type`, e.g. `invalid_request_error`.
    pub kind: Option<String>,
    /// OpenAI `error.code`, as a string even when the server sent an int.
    pub code: Option<String>,
    /// OpenAI `error.param`: the request field at fault.
    pub param: Option<String>,
    /// `requestId` of the body, else the `x-request-id` / `nvcf-reqid` header.
    pub request_id: Option<String>,
    /// How many times the request was retried before giving up.
    pub retries: u32,
}

impl ClientError {
    /// How many times the request was retried before this error was returned (`0` for errors
    /// that are not about a request), so a CLI can say "retried N times".
    pub fn retries(&self) -> u32 {
        match self {
            ClientError::Api(e) => e.retries,
            ClientError::Connection { retries, .. } | ClientError::Timeout { retries, .. } => {
                *retries
            }
            _ => 0,
        }
    }

    /// The HTTP status of an [`Api`](ClientError::Api) error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api(e) => Some(e.status),
            _ => None,
        }
    }

    /// Sets the retry count of a request error.
    pub(crate) fn with_retries(mut self, n: u32) -> Self {
        match &mut self {
            ClientError::Api(e) => e.retries = n,
            ClientError::Connection { retries, .. } | ClientError::Timeout { retries, .. } => {
                *retries = n;
            }
            _ => {}
        }
        self
    }

    /// A transport error from reqwest, with its whole cause chain in the message.
    pub(crate) fn transport(err: &reqwest::Error, timeout: Duration) -> Self {
        if err.is_builder() {
            return ClientError::InvalidInput(chain(err));
        }
        if err.is_timeout() {
            return ClientError::Timeout {
                after: timeout,
                retries: 0,
            };
        }
        ClientError::Connection {
            message: chain(err),
            retries: 0,
        }
    }

    /// A success body that did not parse as `what`.
    pub(crate) fn decode(what: &str, err: impl fmt::Display) -> Self {
        ClientError::Decode {
            message: format!("not a valid {what}: {err}"),
        }
    }

    /// The error of a non-success response.
    pub(crate) fn from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> Self {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .filter(|v| !v.is_empty())
        };
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .map(str::to_owned);
        let mut e = ErrorFields::default();
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(obj)) => e = ErrorFields::from_object(&obj),
            _ => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if !text.is_empty() {
                    e.message = Some(truncate(text));
                }
            }
        }
        let message = e
            .message
            .clone()
            .or_else(|| header("www-authenticate"))
            .or_else(|| e.title.clone())
            .or_else(|| reason.clone())
            .unwrap_or_else(|| format!("HTTP {status}"));
        ClientError::Api(Box::new(ApiError {
            status,
            title: e.title.or(reason),
            detail: e.detail,
            message,
            kind: e.kind,
            code: e.code,
            param: e.param,
            request_id: e
                .request_id
                .or_else(|| header("x-request-id"))
                .or_else(|| header("nvcf-reqid")),
            retries: 0,
        }))
    }

    /// The error of an SSE event whose JSON has an `error` key.
    pub(crate) fn from_stream_event(obj: &Map<String, Value>) -> Self {
        let e = ErrorFields::from_object(obj);
        ClientError::Stream {
            message: e.message.unwrap_or_else(|| "unknown error".to_owned()),
            kind: e.kind,
            code: e.code,
        }
    }
}

/// The fields found in an error object, whichever envelope it used.
#[derive(Default)]
struct ErrorFields {
    title: Option<String>,
    detail: Option<String>,
    message: Option<String>,
    kind: Option<String>,
    code: Option<String>,
    param: Option<String>,
    request_id: Option<String>,
}

impl ErrorFields {
    fn from_object(obj: &Map<String, Value>) -> Self {
        let mut e = ErrorFields {
            title: obj.get("title").and_then(scalar),
            detail: obj.get("detail").and_then(detail_text),
            request_id: obj
                .get("requestId")
                .or_else(|| obj.get("request_id"))
                .and_then(scalar),
            ..ErrorFields::default()
        };
        let mut error_message = None;
        match obj.get("error") {
            Some(Value::Object(err)) => {
                error_message = err.get("message").and_then(scalar);
                e.kind = err.get("type").and_then(scalar);
                e.code = err.get("code").and_then(scalar);
                e.param = err.get("param").and_then(scalar);
            }
            Some(other) => error_message = scalar(other),
            None => {}
        }
        let top_message = ["message", "reason"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(scalar));
        e.message = e.detail.clone().or(error_message).or(top_message);
        if e.kind.is_none() {
            e.kind = obj
                .get("type")
                .and_then(scalar)
                .filter(|t| t != "about:blank");
        }
        e
    }
}

/// A string, or a number rendered as one; `None` for null, empty strings and containers.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `detail` as text: a string as is, FastAPI's `[{"loc":[...],"msg":...}]` as
/// `body -> messages -> 0: msg` lines, anything else as compact JSON.
fn detail_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Array(items)
            if items.iter().all(|i| i.get("msg").is_some()) && !items.is_empty() =>
        {
            let lines: Vec<String> = items
                .iter()
                .map(|i| {
                    let msg = i.get("msg").and_then(scalar).unwrap_or_default();
                    match i.get("loc").and_then(Value::as_array) {
                        Some(loc) => {
                            let loc: Vec<String> = loc.iter().filter_map(scalar).collect();
                            format!("{}: {msg}", loc.join(" -> "))
                        }
                        None => msg,
                    }
                })
                .collect();
            Some(lines.join("; "))
        }
        Value::String(_) | Value::Number(_) | Value::Bool(_) => scalar(v),
        other => Some(truncate(&other.to_string())),
    }
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// An error and its sources, joined by `: `, skipping repeats.
fn chain(err: &reqwest::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// `[401] Unauthorized: message (request id …)`.
impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.status)?;
        match self.title.as_deref() {
            Some(t) if t == self.message => write!(f, " {t}")?,
            Some(t) => write!(f, " {t}: {}", self.message)?,
            None => write!(f, " {}", self.message)?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn parse(status: u16, body: &str) -> ClientError {
        ClientError::from_response(status, &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn nvidia_problem_details() {
        let e = parse(
            404,
            r#"{"status":404,"title":"Not Found","detail":"Function 'x': Not found","requestId":"r-1"}"#,
        );
        let ClientError::Api(api) = &e else { panic!() };
        let ApiError {
            title,
            detail,
            message,
            request_id,
            ..
        } = &**api;
        assert_eq!(title.as_deref(), Some("Not Found"));
        assert_eq!(detail.as_deref(), Some("Function 'x': Not found"));
        assert_eq!(message, "Function 'x': Not found");
        assert_eq!(request_id.as_deref(), Some("r-1"));
        assert_eq!(
            e.to_string(),
            "[404] Not Found: Function 'x': Not found (request id r-1)"
        );
        assert_eq!(
            parse(429, r#"{"status":429,"title":"Too Many Requests"}"#).to_string(),
            "[429] Too Many Requests"
        );
    }

    #[test]
    fn openai_envelope_with_string_or_int_code() {
        let e = parse(
            401,
            r#"{"error":{"message":"bad key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        );
        let ClientError::Api(api) = &e else { panic!() };
        let ApiError {
            code, kind, param, ..
        } = &**api;
        assert_eq!(code.as_deref(), Some("invalid_api_key"));
        assert_eq!(kind.as_deref(), Some("invalid_request_error"));
        assert_eq!(*param, None);
        assert_eq!(e.to_string(), "[401] Unauthorized: bad key");
        let e = parse(
            400,
            r#"{"error":{"message":"m","type":"BadRequestError","param":"n","code":400}}"#,
        );
        let ClientError::Api(api) = &e else { panic!() };
        let ApiError { code, param, .. } = &**api;
        assert_eq!(
            (code.as_deref(), param.as_deref()),
            (Some("400"), Some("n"))
        );
    }

    #[test]
    fn fastapi_detail_list_and_plain_text() {
        let e = parse(
            422,
            r#"{"detail":[{"loc":["body","messages",0,"role"],"msg":"Input should be 'user'"}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "[422] Unprocessable Entity: body -> messages -> 0 -> role: Input should be 'user'"
        );
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("hdr-7"));
        let e = ClientError::from_response(502, &h, b"upstream connect error\n");
        assert_eq!(
            e.to_string(),
            "[502] Bad Gateway: upstream connect error (request id hdr-7)"
        );
        let mut h = HeaderMap::new();
        h.insert(
            "www-authenticate",
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        let e = ClientError::from_response(401, &h, b"");
        assert!(
            e.to_string().starts_with("[401] Unauthorized: Bearer"),
            "{e}"
        );
    }

    #[test]
    fn stream_event_error() {
        let v: Value = serde_json::from_str(
            r#"{"error":{"object":"error","message":"boom","type":"InternalServerError","param":null,"code":500}}"#,
        )
        .unwrap();
        let e = ClientError::from_stream_event(v.as_object().unwrap());
        assert_eq!(e.to_string(), "error in stream: boom (InternalServerError)");
        let ClientError::Stream { code, .. } = e else {
            panic!()
        };
        assert_eq!(code.as_deref(), Some("500"));
    }
}
