//! Bring-your-own-key: an upstream with `forward_client_key` gets the caller's key instead
//! of its own, and a refusal of that key goes back to the caller as is.

use serde_json::json;

use super::{CHAT_ID, chat, completion, json_reply, mock, upstream};
use crate::common::{bare_config, http, spawn};

#[tokio::test]
async fn the_callers_key_is_forwarded_only_where_configured() {
    let up = mock(|_, seen| match seen.header("authorization") {
        Some("Bearer refused-key") => json_reply(
            401,
            &json!({"status": 401, "title": "Unauthorized", "detail": "Invalid key"}),
        ),
        _ => json_reply(200, &completion(CHAT_ID)),
    })
    .await;
    let own = mock(|_, _| json_reply(200, &completion("mistralai/x"))).await;
    let mut byok = upstream("byok", &up.base_url, &["meta/*"]);
    byok.forward_client_key = true;
    let mut cfg = bare_config();
    cfg.upstreams = vec![byok, upstream("own", &own.base_url, &["mistralai/*"])];
    let s = spawn(cfg, false).await;
    let send = |model: &'static str, key: Option<&'static str>| {
        let mut rb = http()
            .post(format!("{}/v1/chat/completions", s.base))
            .json(&chat(model));
        if let Some(k) = key {
            rb = rb.bearer_auth(k);
        }
        async move { rb.send().await.unwrap() }
    };

    assert_eq!(send(CHAT_ID, Some("caller-key")).await.status(), 200);
    assert_eq!(send(CHAT_ID, None).await.status(), 200);
    let seen = up.seen();
    assert_eq!(seen[0].header("authorization"), Some("Bearer caller-key"));
    // No key from the caller: the configured one.
    assert_eq!(seen[1].header("authorization"), Some("Bearer key-of-byok"));

    // The upstream refuses the caller's key: the caller gets that 401, not a 502.
    let resp = send(CHAT_ID, Some("refused-key")).await;
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["detail"], "Invalid key", "{body}");
    assert_eq!(up.seen().len(), 3, "a refused key is not retried");

    // An upstream without the option never sees the caller's key.
    assert_eq!(send("mistralai/x", Some("caller-key")).await.status(), 200);
    assert_eq!(
        own.seen()[0].header("authorization"),
        Some("Bearer key-of-own")
    );
}

#[tokio::test]
async fn an_ingot_key_is_never_forwarded() {
    let up = mock(|_, _| json_reply(200, &completion(CHAT_ID))).await;
    let mut byok = upstream("byok", &up.base_url, &["meta/*"]);
    byok.forward_client_key = true;
    let mut cfg = bare_config();
    cfg.api_keys = vec!["ingot-secret".into()];
    cfg.upstreams = vec![byok];
    let s = spawn(cfg, false).await;
    let resp = http()
        .post(format!("{}/v1/chat/completions", s.base))
        .bearer_auth("ingot-secret")
        .json(&chat(CHAT_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // This server requires its own keys: the bearer is one of them, and stays here.
    assert_eq!(
        up.seen()[0].header("authorization"),
        Some("Bearer key-of-byok")
    );
}
