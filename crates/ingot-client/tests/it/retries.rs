//! Retry policy: which failures are retried, how long the client waits, how retries are
//! reported.

use std::time::{Duration, Instant};

use ingot_client::{ApiError, Client, ClientConfig, ClientError};

use crate::support::{Canned, Server, chat_ok, chat_req};

fn problem(status: u16, title: &str) -> Canned {
    Canned::json(
        status,
        serde_json::json!({"status": status, "title": title}),
    )
}

#[tokio::test]
async fn retry_after_seconds_then_success() {
    let server = Server::start(vec![
        problem(429, "Too Many Requests").header("retry-after", "1"),
        chat_ok(),
    ])
    .await;
    let started = Instant::now();
    let resp = server.client().chat(&chat_req()).await.unwrap();
    assert_eq!(resp.choices[0].message.content.as_deref(), Some("hi"));
    assert_eq!(server.hits(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retry_after_ms_is_preferred_and_honoured() {
    let server = Server::start(vec![
        problem(503, "Service Unavailable")
            .header("retry-after-ms", "60")
            .header("retry-after", "30"),
        problem(503, "Service Unavailable").header("retry-after-ms", "60"),
        chat_ok(),
    ])
    .await;
    let started = Instant::now();
    server.client().chat(&chat_req()).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(server.hits(), 3);
    // Two 60 ms waits; exponential backoff would have taken at least 0.375 + 0.75 s.
    assert!(elapsed >= Duration::from_millis(120), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
}

#[tokio::test]
async fn x_should_retry_false_stops_retries() {
    let server = Server::start(vec![
        problem(429, "Too Many Requests").header("x-should-retry", "false"),
        chat_ok(),
    ])
    .await;
    let err = server.client().chat(&chat_req()).await.unwrap_err();
    assert_eq!(server.hits(), 1);
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retries(), 0);
}

#[tokio::test]
async fn x_should_retry_true_retries_a_400() {
    let server = Server::start(vec![
        problem(400, "Bad Request")
            .header("x-should-retry", "true")
            .header("retry-after-ms", "1"),
        chat_ok(),
    ])
    .await;
    server.client().chat(&chat_req()).await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    for status in [400, 401, 404, 422] {
        let server = Server::start(vec![problem(status, "No"), chat_ok()]).await;
        let err = server.client().chat(&chat_req()).await.unwrap_err();
        assert_eq!(server.hits(), 1, "{status}");
        assert_eq!((err.status(), err.retries()), (Some(status), 0));
    }
}

#[tokio::test]
async fn exhausted_retries_are_counted_on_the_error() {
    let server = Server::start(vec![
        Canned::json(
            500,
            serde_json::json!({"error": {"message": "engine crashed", "type": "InternalServerError", "param": null, "code": 500}}),
        )
        .header("retry-after-ms", "5"),
    ])
    .await;
    let err = server.client().chat(&chat_req()).await.unwrap_err();
    assert_eq!(server.hits(), 3);
    let ClientError::Api(api) = &err else {
        panic!("{err:?}")
    };
    let ApiError {
        status,
        retries,
        message,
        code,
        ..
    } = &**api;
    assert_eq!((*status, *retries), (500, 2));
    assert_eq!(
        (message.as_str(), code.as_deref()),
        ("engine crashed", Some("500"))
    );
    assert_eq!(
        err.to_string(),
        "[500] Internal Server Error: engine crashed"
    );
}

#[tokio::test]
async fn max_retries_zero_sends_once() {
    let server = Server::start(vec![problem(503, "Service Unavailable")]).await;
    let client = Client::new(server.config().with_max_retries(0)).unwrap();
    let err = client.chat(&chat_req()).await.unwrap_err();
    assert_eq!((server.hits(), err.retries()), (1, 0));
}

#[tokio::test]
async fn retry_after_above_the_cap_falls_back_to_backoff() {
    let server = Server::start(vec![
        problem(429, "Too Many Requests").header("retry-after", "3600"),
        chat_ok(),
    ])
    .await;
    let started = Instant::now();
    server.client().chat(&chat_req()).await.unwrap();
    let elapsed = started.elapsed();
    // First backoff: 0.5 s × jitter in (0.75, 1].
    assert!(
        elapsed >= Duration::from_millis(370) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn connection_errors_are_retried_and_counted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = ClientConfig::new(format!("http://{addr}/v1")).with_max_retries(1);
    let err = Client::new(config).unwrap().models().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Connection { retries: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("connection failed: "), "{err}");
}

#[tokio::test]
async fn slow_responses_time_out() {
    let server = Server::start(vec![chat_ok().delay(Duration::from_secs(3))]).await;
    let config = server
        .config()
        .with_timeout(Duration::from_millis(200))
        .with_max_retries(0);
    let started = Instant::now();
    let err = Client::new(config)
        .unwrap()
        .chat(&chat_req())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Timeout { retries: 0, .. }),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn streams_are_retried_before_the_body_starts() {
    let server = Server::start(vec![
        problem(502, "Bad Gateway").header("retry-after-ms", "1"),
        Canned::sse(&[
            "data: ",
            &crate::support::chunk("ok"),
            "\n\ndata: [DONE]\n\n",
        ]),
    ])
    .await;
    let mut stream = server.client().chat_stream(&chat_req()).await.unwrap();
    assert_eq!(stream.retries(), 1);
    use futures::StreamExt;
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.choices[0].delta.content.as_deref(), Some("ok"));
    assert!(stream.next().await.is_none());
    assert_eq!(server.hits(), 2);
}
