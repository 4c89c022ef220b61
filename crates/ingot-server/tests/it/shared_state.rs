//! `[state]`: two instances sharing one real `redis-server` (and PostgreSQL for the keys and
//! the ledger) admit exactly a key's limit between them, the ledger adds up to the usage
//! clients got, and a store dying gives the configured behaviour (503 or fail-open) without
//! a hang, then recovers.

use std::time::{Duration, Instant};

use axum::routing::post;
use ingot_keys::{KeyStore, Limits};
use ingot_server::config::UpstreamConfig;
use ingot_state::PgKeyStore;
use ingot_state::testing::{PgServer, RedisServer};
use serde_json::{Value, json};

use crate::common::{bare_config, get_text, http, spawn};
use crate::keys::temp_db;

const MODEL: &str = "meta/llama-3.1-8b-instruct";

/// An upstream answering every chat with 3 prompt and 2 completion tokens.
async fn upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            axum::Json(json!({"id":"c","object":"chat.completion","created":1,"model":MODEL,
                "choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],
                "usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

async fn config(
    name: &str,
    limits: Limits,
    redis: &RedisServer,
) -> (ingot_server::Config, String, String) {
    let db = temp_db(name);
    let (rec, secret) = KeyStore::open(&db).unwrap().create(name, limits).unwrap();
    let mut cfg = bare_config();
    cfg.keys_db = Some(db);
    cfg.state.redis_url = Some(redis.url());
    cfg.upstreams = vec![UpstreamConfig {
        name: "up".into(),
        base_url: upstream().await,
        models: vec!["meta/*".into()],
        ..UpstreamConfig::default()
    }];
    (cfg, rec.id, secret)
}

async fn chat(base: &str, secret: &str) -> reqwest::Response {
    http()
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(secret)
        .json(&json!({"model": MODEL, "messages":[{"role":"user","content":"Hi"}]}))
        .send()
        .await
        .unwrap()
}

/// `n` chats at once, spread over the instances at `bases`; their statuses and bodies.
async fn burst(bases: &[&str], secret: &str, n: usize) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (base, secret) = (bases[i % bases.len()].to_owned(), secret.to_owned());
            tokio::spawn(async move {
                let r = chat(&base, &secret).await;
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_admit_exactly_the_limit_and_the_ledger_adds_up() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let limits = Limits {
        rpm: Some(10),
        ..Limits::default()
    };
    let (cfg, key_id, secret) = config("shared", limits, &redis).await;
    let db = cfg.keys_db.clone().unwrap();
    let a = spawn(cfg.clone(), false).await;
    let b = spawn(cfg, false).await;
    let (mut ok, mut limited, mut prompt, mut completion) = (0, 0, 0, 0);
    for answer in burst(&[&a.base, &b.base], &secret, 40).await {
        match answer {
            (200, body) => {
                ok += 1;
                prompt += body["usage"]["prompt_tokens"].as_u64().unwrap();
                completion += body["usage"]["completion_tokens"].as_u64().unwrap();
            }
            (429, body) => {
                limited += 1;
                assert_eq!(body["error"]["code"], "rate_limit_exceeded");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        (ok, limited),
        (10, 30),
        "10 per minute across both instances"
    );
    let rows = KeyStore::open(&db).unwrap().usage(Some(&key_id)).unwrap();
    let row = rows.iter().find(|r| r.model == MODEL).unwrap();
    assert_eq!(
        (row.requests, row.prompt_tokens, row.completion_tokens),
        (10, prompt, completion)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_is_a_quick_503_and_its_return_is_noticed() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let limits = Limits {
        rpm: Some(1000),
        ..Limits::default()
    };
    let (cfg, _, secret) = config("redis-down", limits, &redis).await;
    let s = spawn(cfg, false).await;
    assert_eq!(chat(&s.base, &secret).await.status(), 200);
    let ready = format!("{}/v1/health/ready", s.base);
    assert_eq!(http().get(&ready).send().await.unwrap().status(), 200);

    redis.stop();
    let t0 = Instant::now();
    let r = chat(&s.base, &secret).await;
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "state_unavailable", "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        !detail.contains("127.0.0.1"),
        "internal details stay in the log: {detail}"
    );
    let r = http().get(&ready).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let m = get_text(&format!("{}/metrics", s.base)).await;
    assert!(
        m.contains("ingot_state_errors_total{store=\"limits\"}"),
        "{m}"
    );

    redis.restart();
    assert_eq!(chat(&s.base, &secret).await.status(), 200);
    assert_eq!(http().get(&ready).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_lets_requests_through_while_redis_is_away() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let limits = Limits {
        rpm: Some(2),
        ..Limits::default()
    };
    let (mut cfg, _, secret) = config("fail-open", limits, &redis).await;
    cfg.state.fail_open = true;
    let s = spawn(cfg, false).await;
    redis.stop();
    for _ in 0..4 {
        let r = chat(&s.base, &secret).await;
        assert_eq!(r.status(), 200, "unlimited while Redis is away");
        assert!(!r.headers().contains_key("x-ratelimit-limit-requests"));
    }
    let ready = format!("{}/v1/health/ready", s.base);
    assert_eq!(http().get(&ready).send().await.unwrap().status(), 200);
    redis.restart();
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(chat(&s.base, &secret).await.status().as_u16());
        }
        v
    };
    assert_eq!(
        statuses,
        [200, 200, 429],
        "limits apply again once it is back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_and_ledger_in_postgres_are_shared_by_both_instances() {
    let (Some(redis), Some(mut pg)) = (RedisServer::start(), PgServer::start()) else {
        return;
    };
    let store = PgKeyStore::new(&pg.url(), Duration::from_secs(5)).unwrap();
    let limits = Limits {
        rpm: Some(10),
        ..Limits::default()
    };
    let (rec, secret) = store.create("pg", limits).await.unwrap();
    let (mut cfg, _, _) = config("pg-unused", Limits::default(), &redis).await;
    cfg.keys_db = None;
    cfg.state.postgres_url = Some(pg.url());
    let a = spawn(cfg.clone(), false).await;
    let b = spawn(cfg, false).await;
    assert_eq!(chat(&a.base, "ingot-wrong").await.status(), 401);
    let mut ok = 0;
    let mut prompt = 0;
    for (status, body) in burst(&[&a.base, &b.base], &secret, 30).await {
        if status == 200 {
            ok += 1;
            prompt += body["usage"]["prompt_tokens"].as_u64().unwrap();
        } else {
            assert_eq!(status, 429, "{body}");
        }
    }
    assert_eq!(ok, 10);
    // The ledger is written in the background: wait for the last rows.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = store.usage(Some(&rec.id)).await.unwrap();
        if let Some(r) = rows.iter().find(|r| r.model == MODEL)
            && r.requests == 10
        {
            assert_eq!((r.prompt_tokens, r.completion_tokens), (prompt, 20));
            break;
        }
        assert!(Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A key revoked in PostgreSQL is refused by both instances at once.
    let (_, second) = store.create("second", Limits::default()).await.unwrap();
    assert_eq!(chat(&b.base, &second).await.status(), 200);
    store.revoke("second").await.ok();
    let revoked = store.list().await.unwrap();
    let id = revoked
        .iter()
        .find(|k| k.name == "second")
        .unwrap()
        .id
        .clone();
    store.revoke(&id).await.unwrap();
    assert_eq!(chat(&a.base, &second).await.status(), 401);
    assert_eq!(chat(&b.base, &second).await.status(), 401);

    // PostgreSQL away: a managed key cannot be checked, a quick 503; then it is back.
    pg.stop();
    let t0 = Instant::now();
    let r = chat(&a.base, &secret).await;
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "state_unavailable", "{body}");
    let ready = format!("{}/v1/health/ready", a.base);
    assert_eq!(http().get(&ready).send().await.unwrap().status(), 503);
    pg.restart();
    let r = chat(&a.base, &secret).await;
    assert!(matches!(r.status().as_u16(), 200 | 429), "{}", r.status());
    assert_eq!(http().get(&ready).send().await.unwrap().status(), 200);
}
