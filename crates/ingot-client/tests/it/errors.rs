//! Error bodies in every envelope a server may use, parsed over real HTTP.

use ingot_client::protocol::error::ErrorBody;
use ingot_client::{ApiError, ClientError};

use crate::support::{Canned, Server, chat_req};

async fn error_for(canned: Canned) -> ClientError {
    let server = Server::start(vec![canned]).await;
    server.client().chat(&chat_req()).await.unwrap_err()
}

#[tokio::test]
async fn nvidia_problem_details() {
    let err = error_for(Canned::json(
        403,
        serde_json::json!({"status": 403, "title": "Forbidden", "detail": "Authorization failed", "requestId": "req-9"}),
    ))
    .await;
    let ClientError::Api(api) = &err else {
        panic!("{err:?}")
    };
    let ApiError {
        status,
        title,
        detail,
        message,
        request_id,
        code,
        ..
    } = &**api;
    assert_eq!(*status, 403);
    assert_eq!(title.as_deref(), Some("Forbidden"));
    assert_eq!(detail.as_deref(), Some("Authorization failed"));
    assert_eq!(message, "Authorization failed");
    assert_eq!(request_id.as_deref(), Some("req-9"));
    assert_eq!(*code, None);
    assert_eq!(
        err.to_string(),
        "[403] Forbidden: Authorization failed (request id req-9)"
    );
}

#[tokio::test]
async fn openai_envelope_with_string_code() {
    let err = error_for(Canned::json(
        401,
        serde_json::json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
    ))
    .await;
    let ClientError::Api(api) = &err else {
        panic!("{err:?}")
    };
    let ApiError {
        title,
        kind,
        code,
        param,
        ..
    } = &**api;
    assert_eq!(title.as_deref(), Some("Unauthorized"));
    assert_eq!(kind.as_deref(), Some("invalid_request_error"));
    assert_eq!(code.as_deref(), Some("invalid_api_key"));
    assert_eq!(*param, None);
    assert_eq!(
        err.to_string(),
        "[401] Unauthorized: Incorrect API key provided"
    );
}

#[tokio::test]
async fn vllm_envelope_with_int_code() {
    let err = error_for(Canned::json(
        400,
        serde_json::json!({"error": {"message": "max_tokens is too large", "type": "BadRequestError", "param": "max_tokens", "code": 400}}),
    ))
    .await;
    let ClientError::Api(api) = &err else {
        panic!("{err:?}")
    };
    let ApiError {
        code,
        param,
        message,
        ..
    } = &**api;
    assert_eq!(code.as_deref(), Some("400"));
    assert_eq!(param.as_deref(), Some("max_tokens"));
    assert_eq!(message, "max_tokens is too large");
}

#[tokio::test]
async fn ingot_hybrid_body_fills_both_halves() {
    let mut body = ErrorBody::new(
        404,
        "Not Found",
        "The model `x/y` does not exist".into(),
        "invalid_request_error",
        Some("model".into()),
        Some("model_not_found"),
    );
    body.request_id = Some("abc".into());
    let err = error_for(Canned::json(404, serde_json::to_value(&body).unwrap())).await;
    let ClientError::Api(api) = &err else {
        panic!("{err:?}")
    };
    let ApiError {
        title,
        code,
        param,
        request_id,
        detail,
        ..
    } = &**api;
    assert_eq!(title.as_deref(), Some("Not Found"));
    assert_eq!(detail.as_deref(), Some("The model `x/y` does not exist"));
    assert_eq!(
        (code.as_deref(), param.as_deref()),
        (Some("model_not_found"), Some("model"))
    );
    assert_eq!(request_id.as_deref(), Some("abc"));
    assert_eq!(
        err.to_string(),
        "[404] Not Found: The model `x/y` does not exist (request id abc)"
    );
}

#[tokio::test]
async fn plain_text_body_and_request_id_header() {
    let err = error_for(
        Canned::new(401, "Bearer token is malformed")
            .header("content-type", "text/plain")
            .header("x-request-id", "hdr-1"),
    )
    .await;
    let ClientError::Api(api) = &err else {
        panic!("{err:?}")
    };
    let ApiError {
        message,
        request_id,
        ..
    } = &**api;
    assert_eq!(message, "Bearer token is malformed");
    assert_eq!(request_id.as_deref(), Some("hdr-1"));
    assert_eq!(
        err.to_string(),
        "[401] Unauthorized: Bearer token is malformed (request id hdr-1)"
    );
}

#[tokio::test]
async fn undecodable_success_body_is_a_decode_error() {
    let err = error_for(Canned::json(200, serde_json::json!({"unexpected": true}))).await;
    assert!(matches!(err, ClientError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("chat completion"), "{err}");
}
