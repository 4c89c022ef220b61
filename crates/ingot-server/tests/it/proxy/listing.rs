//! `list_models`: the ids an upstream's own `GET models` names are listed in `/v1/models`
//! and routed to it, follow its list as it changes, and stay when a refresh fails.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{chat, completion, json_reply, mock, upstream};
use crate::common::{bare_config, get_json, http, spawn};

async fn listed(base: &str) -> Vec<String> {
    let v: Value = get_json(&format!("{base}/v1/models")).await;
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn wait_for(base: &str, what: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ids = listed(base).await;
        if ok(&ids) {
            return ids;
        }
        assert!(Instant::now() < deadline, "{what}: {ids:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_upstreams_own_list_is_listed_routed_and_refreshed() {
    let ids = Arc::new(Mutex::new(vec!["acme/chat-a", "acme/embed-b"]));
    let down = Arc::new(Mutex::new(false));
    let (list, fail) = (Arc::clone(&ids), Arc::clone(&down));
    let up = mock(move |_, seen| {
        if seen.path == "/v1/models" {
            if *fail.lock().unwrap() {
                return json_reply(503, &json!({"error": "busy"}));
            }
            let data: Vec<Value> = list
                .lock()
                .unwrap()
                .iter()
                .map(|id| json!({"id": id, "object": "model", "owned_by": "acme"}))
                .collect();
            return json_reply(200, &json!({"object": "list", "data": data}));
        }
        json_reply(200, &completion(seen.body["model"].as_str().unwrap_or("")))
    })
    .await;
    let mut u = upstream("acme", &up.base_url, &[]);
    u.list_models = true;
    u.models_refresh_secs = 1;
    let mut cfg = bare_config();
    cfg.upstreams = vec![u];
    let s = spawn(cfg, false).await;

    let got = wait_for(&s.base, "the upstream's ids are listed", |ids| {
        ids.iter().any(|i| i == "acme/chat-a")
    })
    .await;
    assert!(got.iter().any(|i| i == "acme/embed-b"), "{got:?}");
    let v: Value = get_json(&format!("{}/v1/models/acme/chat-a", s.base)).await;
    assert_eq!(v["root"], "acme/chat-a", "{v}");
    let send = |model: &str| {
        http()
            .post(format!("{}/v1/chat/completions", s.base))
            .json(&chat(model))
            .send()
    };
    let resp = send("acme/chat-a").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ingot-upstream"], "acme");
    assert_eq!(send("acme/unlisted").await.unwrap().status(), 404);

    // The upstream's list changes: the next refresh follows it.
    *ids.lock().unwrap() = vec!["acme/chat-c"];
    wait_for(&s.base, "the new list replaces the old one", |ids| {
        ids.iter().any(|i| i == "acme/chat-c") && !ids.iter().any(|i| i == "acme/chat-a")
    })
    .await;
    assert_eq!(send("acme/chat-a").await.unwrap().status(), 404);
    assert_eq!(send("acme/chat-c").await.unwrap().status(), 200);

    // A failing refresh keeps the last list.
    *down.lock().unwrap() = true;
    let refreshes = up.seen().iter().filter(|r| r.path == "/v1/models").count();
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.seen().iter().filter(|r| r.path == "/v1/models").count() < refreshes + 2 {
        assert!(Instant::now() < deadline, "no refresh");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listed(&s.base).await.iter().any(|i| i == "acme/chat-c"));
    assert_eq!(send("acme/chat-c").await.unwrap().status(), 200);
}
