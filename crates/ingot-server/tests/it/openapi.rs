//! `GET /openapi.json`: the document is served, complete (every route, every error status
//! the server answers), self-consistent (every `$ref` resolves), and agrees with the routes.

use ingot_protocol::chat::FieldError;
use ingot_server::ApiError;
use serde_json::{Value, json};

use crate::common::{bare_config, http, spawn};

const OPERATIONS: &[(&str, &str)] = &[
    ("get", "/v1/models"),
    ("get", "/v1/models/{model}"),
    ("get", "/v1/metadata"),
    ("post", "/v1/chat/completions"),
    ("post", "/v1/embeddings"),
    ("post", "/v1/completions"),
    ("post", "/v1/ranking"),
    ("post", "/v1/genai/microsoft/trellis"),
    ("post", "/v1/infer"),
    ("get", "/v1/health/live"),
    ("get", "/v1/health/ready"),
    ("get", "/health"),
    ("get", "/version"),
    ("get", "/metrics"),
    ("get", "/v1/metrics"),
    ("get", "/openapi.json"),
];

fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("external ref {reference}"));
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("dangling ref {reference}"))
}

fn each_ref(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                f(r);
            }
            m.values().for_each(|v| each_ref(v, f));
        }
        Value::Array(a) => a.iter().for_each(|v| each_ref(v, f)),
        _ => {}
    }
}

/// The statuses an operation documents.
fn statuses(doc: &Value, method: &str, path: &str) -> Vec<u16> {
    doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not documented"))
        .keys()
        .map(|k| k.parse().unwrap())
        .collect()
}

#[tokio::test]
async fn document_is_served_and_resolves() {
    let s = spawn(bare_config(), false).await;
    let resp = http()
        .get(format!("{}/openapi.json", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc, ingot_server::openapi::document());
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut n = 0;
    each_ref(&doc, &mut |r| {
        resolve(&doc, r);
        n += 1;
    });
    assert!(n > 50, "{n} refs");
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| {
            p.as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
                .count()
        })
        .sum();
    assert_eq!(documented, OPERATIONS.len());
    for (method, path) in OPERATIONS {
        let op = &doc["paths"][path][method];
        assert!(op["operationId"].is_string(), "{method} {path}");
        let ok = &op["responses"]["200"];
        assert!(ok["content"].is_object(), "{method} {path}");
        // Probes, metrics and the document need no key; everything under /v1 else does.
        let public = op["security"] == json!([]);
        assert_eq!(
            public,
            !path.starts_with("/v1/") || path.starts_with("/v1/health") || *path == "/v1/metrics",
            "{method} {path}"
        );
        let codes = statuses(&doc, method, path);
        if !public {
            for c in [401, 429] {
                assert!(codes.contains(&c), "{method} {path} lacks {c}");
            }
        }
        if *method == "post" {
            for c in [400, 413, 415, 422, 500] {
                assert!(codes.contains(&c), "{method} {path} lacks {c}");
            }
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            assert!(resolve(&doc, body["$ref"].as_str().unwrap()).is_object());
        }
    }
    let chat = &doc["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"];
    assert!(chat["text/event-stream"].is_object());
    let too_many = &doc["components"]["responses"]["TooManyRequests"];
    assert_eq!(too_many["headers"]["Retry-After"]["required"], true);
    let unprocessable = &doc["components"]["responses"]["UnprocessableEntity"];
    assert_eq!(
        unprocessable["content"]["application/json"]["schema"]["allOf"][1]["properties"]["status"]
            ["const"],
        422
    );
}

/// Every status an `ApiError` maps to has a documented response, with the envelope.
#[test]
fn every_error_status_is_documented() {
    let doc = ingot_server::openapi::document();
    let documented: Vec<u64> = doc["components"]["responses"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| {
            let schema = &r["content"]["application/json"]["schema"];
            assert_eq!(schema["allOf"][0]["$ref"], "#/components/schemas/ErrorBody");
            schema["allOf"][1]["properties"]["status"]["const"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let samples = [
        ApiError::Unauthorized,
        ApiError::ModelNotFound { model: "m".into() },
        ApiError::WrongEndpoint {
            model: "m".into(),
            kind: "chat",
            endpoint: "/v1/chat/completions",
        },
        ApiError::RouteNotFound {
            method: "GET".into(),
            path: "/x".into(),
        },
        ApiError::MethodNotAllowed {
            method: "PUT".into(),
            path: "/v1/models".into(),
        },
        ApiError::PayloadTooLarge { limit: 1 },
        ApiError::UnsupportedMediaType,
        ApiError::BodyTimeout { secs: 30 },
        ApiError::Invalid(FieldError::new("model", "x")),
        ApiError::BadRequest {
            message: "x".into(),
            param: None,
        },
        ApiError::NoEngine {
            model: "m".into(),
            kind: "chat",
            reason: "x".into(),
        },
        ApiError::Overloaded {
            what: "q".into(),
            retry_after: 1,
        },
        ApiError::RateLimited {
            limit: "1 request per minute".into(),
            retry_after: 1,
        },
        ApiError::Unavailable("x".into()),
        ApiError::UpstreamFailed {
            detail: "x".into(),
            timeout: false,
        },
        ApiError::UpstreamFailed {
            detail: "x".into(),
            timeout: true,
        },
        ApiError::UpstreamRateLimited {
            detail: "x".into(),
            retry_after: 1,
        },
        ApiError::Internal("x".into()),
    ];
    for e in samples {
        let status = u64::from(e.status().as_u16());
        assert!(documented.contains(&status), "{status} ({e}) undocumented");
    }
}

/// Each documented operation is routed with its method (no 404/405 from the router), and
/// answers one of its documented statuses.
#[tokio::test]
async fn documented_operations_are_routed() {
    let s = spawn(bare_config(), false).await;
    let doc = ingot_server::openapi::document();
    for (method, path) in OPERATIONS {
        let url = format!(
            "{}{}",
            s.base,
            path.replace("{model}", "meta/llama-3.1-8b-instruct")
        );
        let req = match *method {
            "get" => http().get(&url),
            _ => http().post(&url).json(&json!({})),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        assert!(
            statuses(&doc, method, path).contains(&status),
            "{method} {path} answered undocumented {status}"
        );
        assert!(
            status != 404 && status != 405,
            "{method} {path} is not routed"
        );
        assert!(resp.headers().contains_key("x-request-id"), "{path}");
    }
}

/// Found by schemathesis-style probing: a model id that is not UTF-8 once percent-decoded
/// got axum's plain-text 400; it is a 404 with the envelope, as documented.
#[tokio::test]
async fn undecodable_model_id_is_a_documented_404() {
    let s = spawn(bare_config(), false).await;
    let resp = http()
        .get(format!("{}/v1/models/%ff%fe", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["error"]["code"], "model_not_found");
}
