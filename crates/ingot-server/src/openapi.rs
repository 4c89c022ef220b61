//! `GET /openapi.json`: the OpenAPI 3.1 document of the API.
//!
//! Request and response bodies are the JSON Schemas of `ingot_protocol`'s wire types
//! (`ingot_protocol::openapi::components`); this module adds the paths, the Bearer security
//! scheme, and the statuses each endpoint can answer, each error with the hybrid envelope
//! (`ErrorBody`) whose `status` equals the HTTP status.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error status, its component name under `#/components/responses`, and when it happens.
struct ErrorStatus {
    code: u16,
    name: &'static str,
    description: &'static str,
}

const ERRORS: &[ErrorStatus] = &[
    ErrorStatus {
        code: 400,
        name: "BadRequest",
        description: "A well-formed request the model cannot take: the prompt or an input is longer than the model's context, an asymmetric embedding model without `input_type`, `dimensions` on a fixed-size model, a model id sent to the wrong endpoint, or a body that could not be read.",
    },
    ErrorStatus {
        code: 401,
        name: "Unauthorized",
        description: "API keys are configured and the request has no `Authorization: Bearer <key>` header or a wrong key.",
    },
    ErrorStatus {
        code: 404,
        name: "NotFound",
        description: "The model id is unknown (`error.code` = `model_not_found`, `error.param` = `model`), or no route has this path.",
    },
    ErrorStatus {
        code: 405,
        name: "MethodNotAllowed",
        description: "The path exists but not with this method; `Allow` lists the methods it has.",
    },
    ErrorStatus {
        code: 408,
        name: "RequestTimeout",
        description: "The client paused longer than `body_timeout_secs` while sending the request body.",
    },
    ErrorStatus {
        code: 413,
        name: "PayloadTooLarge",
        description: "The body is larger than the server's limit (`body_limit`).",
    },
    ErrorStatus {
        code: 415,
        name: "UnsupportedMediaType",
        description: "The body is not sent as `Content-Type: application/json`.",
    },
    ErrorStatus {
        code: 422,
        name: "UnprocessableEntity",
        description: "The body does not match the request schema, or a value is out of range. `detail` names the field as NIM does (`body -> messages -> 0 -> role: …`) and `error.param` as a dotted path (`messages.0.role`).",
    },
    ErrorStatus {
        code: 429,
        name: "TooManyRequests",
        description: "A limit of the API key (requests or tokens per minute, concurrent requests) was reached, a model's queue is full, too many requests are in flight to upstreams, or every upstream of the model answered 429. Retry after `Retry-After` seconds. Keys with limits also get `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers, on every answer.",
    },
    ErrorStatus {
        code: 500,
        name: "InternalServerError",
        description: "An engine failed; the detail is in the server's log, under the response's `requestId`.",
    },
    ErrorStatus {
        code: 501,
        name: "NotImplemented",
        description: "The model id is known but nothing here serves it (its engine is not installed or not loaded, and no upstream routes it).",
    },
    ErrorStatus {
        code: 502,
        name: "BadGateway",
        description: "Every upstream that serves the model failed; `detail` names each one and its answer.",
    },
    ErrorStatus {
        code: 503,
        name: "ServiceUnavailable",
        description: "The server cannot take the request now: the key database cannot be read, or a model is still loading.",
    },
    ErrorStatus {
        code: 504,
        name: "GatewayTimeout",
        description: "Every upstream that serves the model timed out.",
    },
];

fn error_ref(code: u16) -> (String, Value) {
    let name = ERRORS
        .iter()
        .find(|e| e.code == code)
        .map_or("InternalServerError", |e| e.name);
    (
        code.to_string(),
        json!({"$ref": format!("#/components/responses/{name}")}),
    )
}

fn error_responses() -> Map<String, Value> {
    ERRORS
        .iter()
        .map(|e| {
            let mut headers = json!({"x-request-id": {"$ref": "#/components/headers/RequestId"}});
            match e.code {
                401 => {
                    headers["WWW-Authenticate"] = json!({
                        "description": "`Bearer realm=\"nim\", error=\"invalid_token\"`.",
                        "required": true,
                        "schema": {"type": "string"}
                    });
                }
                405 => {
                    headers["Allow"] = json!({
                        "description": "The methods the path has.",
                        "required": true,
                        "schema": {"type": "string"}
                    });
                }
                429 => {
                    headers["Retry-After"] = json!({
                        "description": "Seconds to wait before retrying.",
                        "required": true,
                        "schema": {"type": "integer", "minimum": 0}
                    });
                }
                _ => {}
            }
            let schema = json!({
                "allOf": [
                    {"$ref": "#/components/schemas/ErrorBody"},
                    {"properties": {"status": {"const": e.code}}}
                ]
            });
            (
                e.name.to_owned(),
                json!({
                    "description": e.description,
                    "headers": headers,
                    "content": {"application/json": {"schema": schema}}
                }),
            )
        })
        .collect()
}

fn ok_json(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "headers": {"x-request-id": {"$ref": "#/components/headers/RequestId"}},
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

/// The statuses every authenticated endpoint can answer besides its own (503: the key
/// database cannot be read).
const AUTHED: &[u16] = &[401, 429, 503];
/// The statuses of a JSON body endpoint.
const BODY: &[u16] = &[400, 413, 415, 422, 500];
/// The statuses of an endpoint that may forward to upstreams.
const FORWARDED: &[u16] = &[502, 503, 504];

fn operation(
    id: &str,
    tag: &str,
    summary: &str,
    ok: Value,
    errors: &[&[u16]],
    request: Option<&str>,
) -> Value {
    let mut responses = Map::new();
    responses.insert("200".to_owned(), ok);
    let mut codes: Vec<u16> = errors.iter().flat_map(|e| e.iter().copied()).collect();
    codes.sort_unstable();
    codes.dedup();
    for code in codes {
        let (k, v) = error_ref(code);
        responses.insert(k, v);
    }
    let mut op = json!({
        "operationId": id,
        "tags": [tag],
        "summary": summary,
        "responses": responses,
    });
    if let Some(schema) = request {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
        });
    }
    op
}

fn public(mut op: Value) -> Value {
    op["security"] = json!([]);
    op
}

fn paths() -> Value {
    let chat_ok = json!({
        "description": "The completion: one JSON body, or with `\"stream\": true` server-sent events, one `ChatCompletionChunk` per `data:` line (a final usage chunk with `stream_options.include_usage`; a `StreamError` if generation fails midway), ending with `data: [DONE]`.",
        "headers": {"x-request-id": {"$ref": "#/components/headers/RequestId"}},
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionResponse"}},
            "text/event-stream": {"schema": {
                "description": "One server-sent event.",
                "type": "object",
                "required": ["data"],
                "properties": {"data": {"anyOf": [
                    {"const": "[DONE]"},
                    {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"anyOf": [
                            {"$ref": "#/components/schemas/ChatCompletionChunk"},
                            {"$ref": "#/components/schemas/StreamError"}
                        ]}
                    }
                ]}}
            }}
        }
    });
    let mut completions_ok = chat_ok.clone();
    completions_ok["description"] = json!(
        "The completion: one JSON body, or with `\"stream\": true` server-sent events, one `CompletionResponse` chunk per `data:` line (the new text in `choices[].text`; a final usage chunk with `stream_options.include_usage`; a `StreamError` if generation fails midway), ending with `data: [DONE]`."
    );
    completions_ok["content"]["application/json"]["schema"]["$ref"] =
        json!("#/components/schemas/CompletionResponse");
    completions_ok["content"]["text/event-stream"]["schema"]["properties"]["data"]["anyOf"][1]["contentSchema"]
        ["anyOf"][0]["$ref"] = json!("#/components/schemas/CompletionResponse");
    let trellis_ok = ok_json(
        "The asset, base64-encoded, in both shapes: `artifacts[0].base64` (what hosted and self-hosted NIM return) and `output.glb` / `output.stl`.",
        "TrellisResponse",
    );
    let trellis = |id: &str, summary: &str| {
        operation(
            id,
            "3d",
            summary,
            trellis_ok.clone(),
            &[AUTHED, BODY, FORWARDED],
            Some("TrellisRequest"),
        )
    };
    let metrics = |id: &str| {
        public(operation(
            id,
            "operations",
            "Prometheus metrics",
            json!({
                "description": "Metrics in the Prometheus text exposition format.",
                "headers": {"x-request-id": {"$ref": "#/components/headers/RequestId"}},
                "content": {"text/plain": {"schema": {"type": "string"}}}
            }),
            &[],
            None,
        ))
    };
    let health = |id: &str, summary: &str| {
        public(operation(
            id,
            "operations",
            summary,
            ok_json("The probe holds.", "HealthResponse"),
            &[],
            None,
        ))
    };
    let mut ready = health("healthReady", "Readiness probe");
    ready["responses"]["503"] = json!({
        "description": "A configured local model is still loading or failed to load; `message` says which.",
        "headers": {"x-request-id": {"$ref": "#/components/headers/RequestId"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HealthResponse"}}}
    });
    json!({
        "/v1/models": {"get": operation(
            "listModels", "models", "List the model ids",
            ok_json("Every model id this server knows, local models first.", "ModelList"),
            &[AUTHED], None,
        )},
        "/v1/models/{model}": {
            "parameters": [{
                "name": "model",
                "in": "path",
                "required": true,
                "description": "A model id. Ids contain `/` (`meta/llama-3.1-8b-instruct`): send it raw or encoded as `%2F`.",
                "schema": {"type": "string"}
            }],
            "get": operation(
                "getModel", "models", "Describe one model",
                ok_json("The model.", "Model"),
                &[AUTHED, &[404]], None,
            )
        },
        "/v1/metadata": {"get": operation(
            "getMetadata", "models", "Deployment metadata (NIM): the version and every served id with what serves it",
            ok_json("The version, and `modelInfo`: each served id (`shortName`) and its weights or upstream id (`modelUrl`).", "Metadata"),
            &[AUTHED], None,
        )},
        "/v1/chat/completions": {"post": operation(
            "createChatCompletion", "chat", "Chat completion (JSON or server-sent events)",
            chat_ok, &[AUTHED, BODY, FORWARDED, &[404, 501]], Some("ChatCompletionRequest"),
        )},
        "/v1/embeddings": {"post": operation(
            "createEmbeddings", "embeddings", "Embed texts or token ids",
            ok_json("One vector per input, in input order.", "EmbeddingResponse"),
            &[AUTHED, BODY, FORWARDED, &[404, 501]], Some("EmbeddingRequest"),
        )},
        "/v1/completions": {"post": operation(
            "createCompletion", "completions", "Text completion and fill-in-the-middle (JSON or server-sent events)",
            completions_ok, &[AUTHED, BODY, FORWARDED, &[404, 501]], Some("CompletionRequest"),
        )},
        "/v1/ranking": {"post": operation(
            "createRanking", "ranking", "Rank passages by relevance to a query",
            ok_json("Every passage's index and score, most relevant first.", "RankingResponse"),
            &[AUTHED, BODY, FORWARDED, &[404, 501]], Some("RankingRequest"),
        )},
        "/v1/genai/microsoft/trellis": {"post": trellis(
            "generateTrellis", "Generate a 3D asset (TRELLIS, hosted API path)",
        )},
        "/v1/infer": {"post": trellis(
            "inferTrellis", "Generate a 3D asset (TRELLIS, self-hosted NIM path)",
        )},
        "/v1/health/live": {"get": health("healthLive", "Liveness probe")},
        "/health": {"get": health("health", "Liveness probe (the path load balancers try first)")},
        "/version": {"get": public(operation(
            "version", "operations", "The server's name and version",
            json!({
                "description": "Name and version of the running build.",
                "headers": {"x-request-id": {"$ref": "#/components/headers/RequestId"}},
                "content": {"application/json": {"schema": {
                    "type": "object",
                    "required": ["name", "version"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
                }}},
            }),
            &[],
            None,
        ))},
        "/v1/health/ready": {"get": ready},
        "/metrics": {"get": metrics("metrics")},
        "/v1/metrics": {"get": metrics("metricsV1")},
        "/openapi.json": {"get": public(operation(
            "openapi", "operations", "This document",
            json!({
                "description": "The OpenAPI 3.1 document.",
                "headers": {"x-request-id": {"$ref": "#/components/headers/RequestId"}},
                "content": {"application/json": {"schema": {"type": "object"}}}
            }),
            &[], None,
        ))},
    })
}

/// The OpenAPI 3.1 document of every endpoint.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ingot",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "A self-hosted NVIDIA NIM API server",
            "description": "The NVIDIA NIM flavour of the OpenAI API (models, chat completions, text completions, embeddings), NVIDIA's retriever reranking and the TRELLIS 3D endpoint. Requests are lenient like NIM's: unknown fields are accepted and ignored (or forwarded to upstreams). Every error body carries both RFC 7807 problem details (`status`, `title`, `detail`, `requestId`) and an OpenAI `error` object. A method a path does not have answers 405 (`#/components/responses/MethodNotAllowed`); a path with no route answers 404. When the server forwards a model to an upstream, the upstream's own 4xx answers are passed through as they are.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "tags": [
            {"name": "models"}, {"name": "chat"}, {"name": "completions"}, {"name": "embeddings"},
            {"name": "ranking"}, {"name": "3d"},
            {"name": "operations", "description": "Probes, metrics and this document; no key needed."}
        ],
        "security": [{"bearer": []}],
        "paths": paths(),
        "components": {
            "schemas": ingot_protocol::openapi::components(),
            "responses": error_responses(),
            "headers": {"RequestId": {
                "description": "The request's id; error bodies repeat it as `requestId`, and the server's log names it.",
                "required": true,
                "schema": {"type": "string"}
            }},
            "securitySchemes": {"bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "`Authorization: Bearer <API key>`, required when the server has API keys (`api_keys`, `INGOT_API_KEYS`, or keys made with `ingot keys create`)."
            }}
        }
    })
}

/// Serves [`document`], built once.
pub async fn handler() -> Response {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    let body =
        BODY.get_or_init(|| Bytes::from(serde_json::to_vec(&document()).unwrap_or_default()));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.clone(),
    )
        .into_response()
}
