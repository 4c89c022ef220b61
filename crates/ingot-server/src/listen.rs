//! The accept loop: HTTP/1.1 and HTTP/2 connections with a header-read timeout (which also
//! closes idle keep-alive connections), a cap on open connections, and graceful shutdown.
//!
//! What the HTTP layer answers by itself is made to speak the API's JSON envelope where it
//! can be reached: a connection over the cap gets a 503 and a client speaking TLS to the plain
//! port a 400, both as JSON, before the connection is closed. hyper's own refusals of a
//! request head it cannot parse (431 for more than 100 headers or a head over 400 KiB, 400
//! for bytes that are not HTTP) are sent by hyper with an empty body; they cannot be reached
//! from here.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send a request's headers, from when the connection opened or went idle.
    pub header_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Time open requests get to finish after the shutdown signal.
    pub shutdown_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then gives open connections
/// `limits.shutdown_timeout` to finish their requests (new ones are refused) before it
/// returns and they are dropped.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tokio::spawn(refuse(
                stream,
                503,
                ApiError::Unavailable(format!(
                    "The server has {} connections open, its limit; retry shortly.",
                    limits.max_connections
                )),
            ));
            continue;
        };
        let builder = Arc::clone(&builder);
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            if speaks_tls(&stream).await {
                let err = ApiError::BadRequest {
                    message: "This port speaks plain HTTP; use http:// rather than https://."
                        .to_owned(),
                    param: None,
                };
                refuse(stream, 400, err).await;
                return;
            }
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    let open_now = limits.max_connections.max(1) - open.available_permits();
    if open_now > 0 {
        tracing::info!(
            connections = open_now,
            "waiting up to {} s for open requests",
            limits.shutdown_timeout.as_secs()
        );
    }
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        let left = limits.max_connections.max(1) - open.available_permits();
        tracing::warn!(
            connections = left,
            "shutdown deadline reached; closing the connections still open"
        );
    }
}

/// Whether the client's first bytes are a TLS handshake record (waits for them at most a
/// moment: a client that sends nothing first is served as usual).
async fn speaks_tls(stream: &TcpStream) -> bool {
    let mut first = [0u8; 3];
    match tokio::time::timeout(Duration::from_millis(500), stream.peek(&mut first)).await {
        Ok(Ok(3)) => first[0] == 0x16 && first[1] == 0x03 && first[2] <= 0x04,
        _ => false,
    }
}

/// Answers `err` as the API's JSON envelope over HTTP/1.1 and closes the connection.
async fn refuse(mut stream: TcpStream, status: u16, err: ApiError) {
    let body = serde_json::to_vec(&err.body()).unwrap_or_default();
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await
    })
    .await;
}
