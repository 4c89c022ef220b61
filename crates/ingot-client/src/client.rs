//! [`Client`]: one method per endpoint, over a retrying request loop.

use std::borrow::{Borrow, Cow};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use ingot_protocol::chat::ChatCompletionRequest;
use ingot_protocol::chat_response::ChatCompletionResponse;
use ingot_protocol::completions::{CompletionRequest, CompletionResponse};
use ingot_protocol::embeddings::{EmbeddingRequest, EmbeddingResponse};
use ingot_protocol::models::{Model, ModelList};
use ingot_protocol::ranking::{RankingRequest, RankingResponse};
use ingot_protocol::trellis::{TrellisRequest, TrellisResponse};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::decode::{decode_embeddings, trellis_asset};
use crate::retry::{retry_delay, should_retry};
use crate::{ChatStream, ClientConfig, ClientError, CompletionStream};

/// Path of the TRELLIS endpoint under the generative base URL.
const TRELLIS_PATH: &str = "/genai/microsoft/trellis";
/// Pause between NVCF status polls of an asynchronous (202) TRELLIS job.
const NVCF_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Longest wait for a TCP/TLS connection, whatever the request timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of a NIM-compatible server: NVIDIA's hosted API or a self-hosted ingot.
///
/// Cheap to clone; clones share one connection pool.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
}

/// One HTTP exchange to perform, possibly several times.
struct Call {
    method: Method,
    url: String,
    body: Option<Bytes>,
    /// Keep the success body unread and hand back the response (SSE).
    stream: bool,
    timeout: Duration,
}

/// The outcome of one attempt that reached the server.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: ReplyBody,
}

enum ReplyBody {
    Full(Bytes),
    Stream(reqwest::Response),
}

impl Client {
    /// A client with its own connection pool.
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] if a base URL does not parse or the HTTP stack cannot
    /// be set up.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("ingot-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.timeout.min(MAX_CONNECT_TIMEOUT))
            .build()
            .map_err(|e| ClientError::InvalidInput(format!("cannot build HTTP client: {e}")))?;
        Self::with_http_client(config, http)
    }

    /// A client over a caller-built `reqwest::Client` (custom TLS roots, proxies, …). The
    /// config's timeouts are still applied per request.
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] if a base URL does not parse.
    pub fn with_http_client(
        config: ClientConfig,
        http: reqwest::Client,
    ) -> Result<Self, ClientError> {
        for url in [&config.base_url, &config.genai_base_url] {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| ClientError::InvalidInput(format!("invalid base URL {url:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ClientError::InvalidInput(format!(
                    "invalid base URL {url:?}: the scheme must be http or https"
                )));
            }
        }
        Ok(Self {
            http,
            config: Arc::new(config),
        })
    }

    /// A client configured by [`ClientConfig::from_env`].
    ///
    /// # Errors
    /// As [`Client::new`].
    pub fn from_env() -> Result<Self, ClientError> {
        Self::new(ClientConfig::from_env())
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// `GET /models`: the models the server offers.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn models(&self) -> Result<ModelList, ClientError> {
        let url = format!("{}/models", self.config.base_url);
        self.json(self.get(url), "model list").await
    }

    /// `GET /models/{id}`. The id's `/` is sent as `%2F`, as openai-python does.
    ///
    /// # Errors
    /// [`ClientError::Api`] with status 404 for an unknown model; see [`ClientError`].
    pub async fn model(&self, id: &str) -> Result<Model, ClientError> {
        let url = format!(
            "{}/models/{}",
            self.config.base_url,
            encode_path_segment(id)
        );
        self.json(self.get(url), "model").await
    }

    /// `POST /chat/completions`, non-streaming (`stream: true` in `req` is overridden).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn chat(
        &self,
        req: impl Borrow<ChatCompletionRequest>,
    ) -> Result<ChatCompletionResponse, ClientError> {
        let req = req.borrow();
        let req = if req.stream == Some(true) {
            let mut r = req.clone();
            r.stream = Some(false);
            r.stream_options = None;
            Cow::Owned(r)
        } else {
            Cow::Borrowed(req)
        };
        let call = self.post(format!("{}/chat/completions", self.config.base_url), &*req)?;
        self.json(call, "chat completion").await
    }

    /// `POST /chat/completions` with `stream: true`: the chunks as they arrive.
    ///
    /// Errors before the first byte of the body (including HTTP errors) are retried and
    /// returned here; later errors are items of the stream.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn chat_stream(
        &self,
        req: impl Borrow<ChatCompletionRequest>,
    ) -> Result<ChatStream, ClientError> {
        let req = req.borrow();
        let req = if req.stream == Some(true) {
            Cow::Borrowed(req)
        } else {
            let mut r = req.clone();
            r.stream = Some(true);
            Cow::Owned(r)
        };
        let mut call = self.post(format!("{}/chat/completions", self.config.base_url), &*req)?;
        call.stream = true;
        let (reply, retries) = self.send(&call).await?;
        let body = match reply.body {
            ReplyBody::Stream(resp) => resp.bytes_stream().boxed(),
            ReplyBody::Full(bytes) => futures::stream::iter([Ok(bytes)]).boxed(),
        };
        Ok(ChatStream::new(body, self.config.timeout, retries))
    }

    /// `POST /completions`, non-streaming (`stream: true` in `req` is overridden).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn completions(
        &self,
        req: impl Borrow<CompletionRequest>,
    ) -> Result<CompletionResponse, ClientError> {
        let mut req = req.borrow().clone();
        req.stream = Some(false);
        req.stream_options = None;
        let call = self.post(format!("{}/completions", self.config.base_url), &req)?;
        self.json(call, "completion").await
    }

    /// `POST /completions` with `stream: true`: the chunks as they arrive (each holds the
    /// new text in `choices[].text`).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn completions_stream(
        &self,
        req: impl Borrow<CompletionRequest>,
    ) -> Result<CompletionStream, ClientError> {
        let mut req = req.borrow().clone();
        req.stream = Some(true);
        let mut call = self.post(format!("{}/completions", self.config.base_url), &req)?;
        call.stream = true;
        let (reply, retries) = self.send(&call).await?;
        let body = match reply.body {
            ReplyBody::Stream(resp) => resp.bytes_stream().boxed(),
            ReplyBody::Full(bytes) => futures::stream::iter([Ok(bytes)]).boxed(),
        };
        Ok(CompletionStream::new(body, self.config.timeout, retries))
    }

    /// `POST /ranking` (NeMo Retriever reranking): every passage's index and score, most
    /// relevant first.
    ///
    /// # Errors
    /// [`ClientError::Decode`] if an index does not name a passage; see [`ClientError`].
    pub async fn ranking(&self, req: &RankingRequest) -> Result<RankingResponse, ClientError> {
        let call = self.post(format!("{}/ranking", self.config.base_url), req)?;
        let resp: RankingResponse = self.json(call, "ranking").await?;
        if let Some(r) = resp
            .rankings
            .iter()
            .find(|r| r.index as usize >= req.passages.len())
        {
            return Err(ClientError::decode(
                "ranking",
                format!("index {} for {} passages", r.index, req.passages.len()),
            ));
        }
        Ok(resp)
    }

    /// `POST /embeddings`, returning the response as sent (floats or base64).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn embeddings(
        &self,
        req: &EmbeddingRequest,
    ) -> Result<EmbeddingResponse, ClientError> {
        let call = self.post(format!("{}/embeddings", self.config.base_url), req)?;
        self.json(call, "embedding response").await
    }

    /// `POST /embeddings`, returning one `Vec<f32>` per input in input order, whichever
    /// `encoding_format` was requested (base64 is little-endian f32).
    ///
    /// # Errors
    /// [`ClientError::Decode`] if a vector is malformed or the count does not match the
    /// inputs; see [`ClientError`].
    pub async fn embed(&self, req: &EmbeddingRequest) -> Result<Vec<Vec<f32>>, ClientError> {
        let resp = self.embeddings(req).await?;
        let vectors = decode_embeddings(&resp)?;
        if vectors.len() != req.input.len() {
            return Err(ClientError::decode(
                "embedding response",
                format!("{} vectors for {} inputs", vectors.len(), req.input.len()),
            ));
        }
        Ok(vectors)
    }

    /// `POST {genai_base_url}/genai/microsoft/trellis`: the generated asset's bytes (GLB,
    /// or STL when requested). Reads `artifacts[0].base64`, else `output.glb`/`output.stl`.
    /// An NVCF `202 Accepted` is polled until the job finishes.
    ///
    /// # Errors
    /// [`ClientError::Decode`] if the response holds no asset (e.g. `CONTENT_FILTERED`);
    /// see [`ClientError`].
    pub async fn trellis(&self, req: &TrellisRequest) -> Result<Vec<u8>, ClientError> {
        let body = self.trellis_body(req).await?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| ClientError::decode("TRELLIS response", e))?;
        trellis_asset(&value)
    }

    /// Like [`trellis`](Self::trellis), returning the typed response instead of the bytes.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn trellis_response(
        &self,
        req: &TrellisRequest,
    ) -> Result<TrellisResponse, ClientError> {
        let body = self.trellis_body(req).await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::decode("TRELLIS response", e))
    }

    async fn trellis_body(&self, req: &TrellisRequest) -> Result<Bytes, ClientError> {
        let mut call = self.post(format!("{}{TRELLIS_PATH}", self.config.genai_base_url), req)?;
        call.timeout = self.config.trellis_timeout;
        let (mut reply, _) = self.send(&call).await?;
        let started = Instant::now();
        while reply.status == StatusCode::ACCEPTED {
            let Some(id) = reply
                .headers
                .get("nvcf-reqid")
                .and_then(|v| v.to_str().ok())
            else {
                break;
            };
            if started.elapsed() > self.config.trellis_timeout {
                return Err(ClientError::Timeout {
                    after: self.config.trellis_timeout,
                    retries: 0,
                });
            }
            tokio::time::sleep(NVCF_POLL_INTERVAL).await;
            let mut poll = self.get(nvcf_status_url(&self.config.genai_base_url, id));
            poll.timeout = self.config.trellis_timeout;
            reply = self.send(&poll).await?.0;
        }
        match reply.body {
            ReplyBody::Full(bytes) => Ok(bytes),
            ReplyBody::Stream(resp) => resp
                .bytes()
                .await
                .map_err(|e| ClientError::transport(&e, call.timeout)),
        }
    }

    fn get(&self, url: String) -> Call {
        Call {
            method: Method::GET,
            url,
            body: None,
            stream: false,
            timeout: self.config.timeout,
        }
    }

    fn post(&self, url: String, body: &impl serde::Serialize) -> Result<Call, ClientError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| ClientError::InvalidInput(format!("cannot serialise the request: {e}")))?;
        Ok(Call {
            method: Method::POST,
            url,
            body: Some(Bytes::from(body)),
            stream: false,
            timeout: self.config.timeout,
        })
    }

    /// Sends `call` and parses the success body as `T`.
    async fn json<T: DeserializeOwned>(&self, call: Call, what: &str) -> Result<T, ClientError> {
        let (reply, _) = self.send(&call).await?;
        let ReplyBody::Full(body) = reply.body else {
            return Err(ClientError::decode(what, "unexpected streamed body"));
        };
        serde_json::from_slice(&body).map_err(|e| ClientError::decode(what, e))
    }

    /// Sends `call`, retrying as [`crate::retry`] describes; returns the success reply and
    /// the number of retries it took.
    async fn send(&self, call: &Call) -> Result<(Reply, u32), ClientError> {
        let mut retries = 0;
        loop {
            let outcome = match tokio::time::timeout(call.timeout, self.attempt(call)).await {
                Err(_) => Err(ClientError::Timeout {
                    after: call.timeout,
                    retries: 0,
                }),
                Ok(Err(e)) => Err(ClientError::transport(&e, call.timeout)),
                Ok(Ok(reply)) => Ok(reply),
            };
            let retryable = match &outcome {
                Ok(reply) if reply.status.is_success() => false,
                Ok(reply) => should_retry(reply.status.as_u16(), &reply.headers),
                Err(e) => matches!(
                    e,
                    ClientError::Connection { .. } | ClientError::Timeout { .. }
                ),
            };
            if retryable && retries < self.config.max_retries {
                let headers = outcome.as_ref().ok().map(|r| &r.headers);
                let delay = retry_delay(headers, retries, self.config.max_retry_after);
                drop(outcome);
                tokio::time::sleep(delay).await;
                retries += 1;
                continue;
            }
            return match outcome {
                Ok(reply) if reply.status.is_success() => Ok((reply, retries)),
                Ok(reply) => {
                    let body = match &reply.body {
                        ReplyBody::Full(b) => b.clone(),
                        ReplyBody::Stream(_) => Bytes::new(),
                    };
                    Err(
                        ClientError::from_response(reply.status.as_u16(), &reply.headers, &body)
                            .with_retries(retries),
                    )
                }
                Err(e) => Err(e.with_retries(retries)),
            };
        }
    }

    /// One try: sends the request and, unless it is a successful stream, reads the body.
    async fn attempt(&self, call: &Call) -> reqwest::Result<Reply> {
        let accept = if call.stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let mut builder = self
            .http
            .request(call.method.clone(), &call.url)
            .header(ACCEPT, accept);
        if let Some(key) = &self.config.api_key {
            builder = builder.header(AUTHORIZATION, format!("Bearer {key}"));
        }
        if let Some(body) = &call.body {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let resp = builder.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = if call.stream && status.is_success() {
            ReplyBody::Stream(resp)
        } else {
            ReplyBody::Full(resp.bytes().await?)
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// Percent-encodes one path segment: everything but RFC 3986 unreserved characters and
/// sub-delimiters, so `/` becomes `%2F` (openai-python's `_utils/_path.py`).
pub(crate) fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// NVCF's status URL for a request id, on the host of the generative base URL
/// (`https://ai.api.nvidia.com/v1` → `https://ai.api.nvidia.com/v2/nvcf/pexec/status/{id}`).
fn nvcf_status_url(genai_base: &str, id: &str) -> String {
    let root = genai_base.strip_suffix("/v1").unwrap_or(genai_base);
    format!("{root}/v2/nvcf/pexec/status/{}", encode_path_segment(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_one_segment() {
        assert_eq!(
            encode_path_segment("meta/llama-3.1-8b-instruct"),
            "meta%2Fllama-3.1-8b-instruct"
        );
        assert_eq!(encode_path_segment("a b?#%"), "a%20b%3F%23%25");
        assert_eq!(encode_path_segment("é"), "%C3%A9");
    }

    #[test]
    fn nvcf_status_url_is_on_the_genai_host() {
        assert_eq!(
            nvcf_status_url("https://ai.api.nvidia.com/v1", "abc"),
            "https://ai.api.nvidia.com/v2/nvcf/pexec/status/abc"
        );
    }
}
