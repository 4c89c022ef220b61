//! Managed keys, per-key limits, the usage ledger and the metrics, over HTTP.

use std::path::PathBuf;
use std::time::Duration;

use ingot_keys::{KeyStore, Limits};
use serde_json::{Value, json};

use crate::common::{bare_config, get_text, have_models, http, model_dir, spawn, sse_usage};

pub fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ingot-it-keys-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("keys.db")
}

fn trellis_body() -> Value {
    json!({"prompt": "a small red cube", "seed": 3, "ss_sampling_steps": 10, "slat_sampling_steps": 10})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_keys_authenticate_and_revocation_takes_effect() {
    let db = temp_db("auth");
    let store = KeyStore::open(&db).unwrap();
    let (rec, secret) = store.create("ci", Limits::default()).unwrap();
    let mut cfg = bare_config();
    cfg.keys_db = Some(db.clone());
    let s = spawn(cfg, false).await;
    let url = format!("{}/v1/models", s.base);
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(
        r.status(),
        401,
        "a key database with keys turns authentication on"
    );
    let r = http()
        .get(&url)
        .bearer_auth("ingot-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http().get(&url).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Revoked by another process (the CLI) while the server runs.
    KeyStore::open(&db).unwrap().revoke(&rec.id).unwrap();
    let r = http().get(&url).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["title"], "Unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_minute_under_concurrent_load_are_never_over_admitted() {
    let db = temp_db("rpm");
    let (_, secret) = KeyStore::open(&db)
        .unwrap()
        .create(
            "limited",
            Limits {
                rpm: Some(5),
                ..Limits::default()
            },
        )
        .unwrap();
    let mut cfg = bare_config();
    cfg.keys_db = Some(db);
    let s = spawn(cfg, false).await;
    let url = format!("{}/v1/models", s.base);
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let (url, secret) = (url.clone(), secret.clone());
            tokio::spawn(async move { http().get(&url).bearer_auth(&secret).send().await.unwrap() })
        })
        .collect();
    let mut ok = 0;
    let mut limited = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status().as_u16() {
            200 => {
                ok += 1;
                assert_eq!(r.headers()["x-ratelimit-limit-requests"], "5");
            }
            429 => limited.push(r),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(limited.len(), 19);
    let r = limited.pop().unwrap();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(r.headers()["x-ratelimit-remaining-requests"], "0");
    assert!(r.headers().contains_key("x-ratelimit-reset-requests"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], 429);
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("5 requests per minute")
    );

    let metrics = http()
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("ingot_rate_limited_total{reason=\"requests per minute\"} 19"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_holds_until_the_response_ends() {
    let db = temp_db("conc");
    let (_, secret) = KeyStore::open(&db)
        .unwrap()
        .create(
            "one-at-a-time",
            Limits {
                concurrency: Some(1),
                ..Limits::default()
            },
        )
        .unwrap();
    let mut cfg = bare_config();
    cfg.keys_db = Some(db);
    let s = spawn(cfg, false).await;
    let url = format!("{}/v1/genai/microsoft/trellis", s.base);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (url, secret) = (url.clone(), secret.clone());
            tokio::spawn(async move {
                let r = http()
                    .post(&url)
                    .bearer_auth(&secret)
                    .json(&trellis_body())
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.headers().get("retry-after").cloned())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<_> = statuses.iter().filter(|(s, _)| *s == 429).collect();
    assert!(ok >= 1 && ok + refused.len() == 4, "{statuses:?}");
    assert!(
        refused
            .iter()
            .all(|(_, ra)| ra.as_ref().is_some_and(|v| v == "1"))
    );
    // Once the in-flight request has ended, the key is admitted again.
    let r = http()
        .post(&url)
        .bearer_auth(&secret)
        .json(&trellis_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_matches_the_usage_clients_got_and_survives_a_restart() {
    if !have_models() {
        return;
    }
    let db = temp_db("ledger");
    let (rec, secret) = KeyStore::open(&db)
        .unwrap()
        .create(
            "ledger",
            Limits {
                tpm: Some(1_000_000),
                ..Limits::default()
            },
        )
        .unwrap();
    let mut cfg = bare_config();
    cfg.keys_db = Some(db.clone());
    cfg.model_dir = model_dir();
    cfg.chat.enabled = true;
    cfg.chat.max_slots = 2;
    cfg.chat.ctx_per_slot = 1024;
    cfg.embeddings.enabled = true;
    let s = spawn(cfg.clone(), true).await;
    let chat = format!("{}/v1/chat/completions", s.base);
    let model = "meta/llama-3.1-8b-instruct";
    let msg = json!([{"role": "user", "content": "Count to five."}]);
    let (mut prompt, mut completion) = (0u64, 0u64);
    let r: Value = http()
        .post(&chat)
        .bearer_auth(&secret)
        .json(&json!({"model": model, "messages": msg, "max_tokens": 12}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    prompt += r["usage"]["prompt_tokens"].as_u64().unwrap();
    completion += r["usage"]["completion_tokens"].as_u64().unwrap();
    let body = http()
        .post(&chat)
        .bearer_auth(&secret)
        .json(
            &json!({"model": model, "messages": msg, "max_tokens": 9, "stream": true,
                      "stream_options": {"include_usage": true}}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let usage = sse_usage(&body);
    prompt += usage["prompt_tokens"].as_u64().unwrap();
    completion += usage["completion_tokens"].as_u64().unwrap();
    let emb: Value = http()
        .post(format!("{}/v1/embeddings", s.base))
        .bearer_auth(&secret)
        .json(&json!({"model": "nvidia/nv-embed-v1", "input": ["a", "b c"], "input_type": "query"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let emb_tokens = emb["usage"]["prompt_tokens"].as_u64().unwrap();

    let rows = KeyStore::open(&db).unwrap().usage(Some(&rec.id)).unwrap();
    let chat_row = rows.iter().find(|r| r.model == model).unwrap();
    assert_eq!(chat_row.requests, 2);
    assert_eq!(
        (chat_row.prompt_tokens, chat_row.completion_tokens),
        (prompt, completion)
    );
    let emb_row = rows
        .iter()
        .find(|r| r.model == "nvidia/nv-embed-v1")
        .unwrap();
    assert_eq!((emb_row.requests, emb_row.prompt_tokens), (1, emb_tokens));

    // The token window was charged: the headers of the next request show it.
    let r = http()
        .get(format!("{}/v1/models", s.base))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    let remaining: u64 = r.headers()["x-ratelimit-remaining-tokens"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(remaining, 1_000_000 - prompt - completion - emb_tokens);

    // Metrics saw the same tokens and the stream's first token.
    let text = get_text(&format!("{}/v1/metrics", s.base)).await;
    assert!(
        text.contains(&format!(
            "ingot_tokens_total{{kind=\"completion\",model=\"{model}\"}} {completion}"
        )) || text.contains(&format!(
            "ingot_tokens_total{{model=\"{model}\",kind=\"completion\"}} {completion}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ingot_time_to_first_token_seconds_count{{model=\"{model}\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains("ingot_inter_token_latency_seconds_count"),
        "{text}"
    );
    assert!(
        text.contains("ingot_requests_total{route=\"/v1/chat/completions\""),
        "{text}"
    );
    assert!(text.contains("ingot_active_sequences"), "{text}");
    assert!(text.contains("ingot_prompt_tokens_cached_total"), "{text}");
    assert!(
        text.contains("# TYPE ingot_kv_copies_total counter"),
        "{text}"
    );
    drop(s);

    // A restart keeps keys and ledger.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut cfg2 = bare_config();
    cfg2.keys_db = Some(db.clone());
    let s = spawn(cfg2, false).await;
    let r = http()
        .get(format!("{}/v1/models", s.base))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rows = KeyStore::open(&db).unwrap().usage(Some(&rec.id)).unwrap();
    assert_eq!(
        rows.iter()
            .find(|r| r.model == model)
            .unwrap()
            .completion_tokens,
        completion
    );
}
