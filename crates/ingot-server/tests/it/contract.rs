//! NIM's contract that does not depend on a model: listing, errors, auth, limits, health.

use serde_json::{Value, json};

use crate::common::{bare_config, get_json, get_text, http, spawn};

async fn json_of(resp: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    assert_eq!(
        headers["content-type"], "application/json",
        "status {status}"
    );
    (status, headers, resp.json().await.unwrap())
}

fn assert_envelope(body: &Value, status: u16, headers: &reqwest::header::HeaderMap) {
    assert_eq!(body["status"], status);
    assert_eq!(body["type"], "about:blank");
    assert!(body["title"].is_string() && body["detail"].is_string());
    assert_eq!(body["error"]["message"], body["detail"]);
    let rid = body["requestId"].as_str().expect("requestId is a string");
    assert_eq!(headers["x-request-id"], rid);
}

#[tokio::test]
async fn lists_every_reference_id_with_owner_and_root() {
    let s = spawn(bare_config(), false).await;
    let (st, _, body) = json_of(
        http()
            .get(format!("{}/v1/models", s.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(body["object"], "list");
    let data = body["data"].as_array().unwrap();
    for id in ingot_core::catalog::CHAT_IDS
        .iter()
        .chain(ingot_core::catalog::VISION_IDS)
    {
        let m = data
            .iter()
            .find(|m| m["id"] == *id)
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(m["object"], "model");
        assert!(m["created"].is_i64());
        assert!(m["owned_by"].is_string() && m["root"].is_string());
    }
    let trellis = data
        .iter()
        .find(|m| m["id"] == "microsoft/trellis")
        .unwrap();
    assert_eq!(trellis["root"], ingot_server::backends::gen3d::GEN3D_ROOT);
}

#[tokio::test]
async fn model_ids_with_slashes_raw_and_encoded() {
    let s = spawn(bare_config(), false).await;
    for path in [
        "meta/llama-3.3-70b-instruct",
        "meta%2Fllama-3.3-70b-instruct",
    ] {
        let (st, _, m) = json_of(
            http()
                .get(format!("{}/v1/models/{path}", s.base))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(st, 200, "{path}");
        assert_eq!(m["id"], "meta/llama-3.3-70b-instruct");
        assert_eq!(m["owned_by"], "meta");
    }
    let (st, h, e) = json_of(
        http()
            .get(format!("{}/v1/models/nope%2Fx", s.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 404);
    assert_envelope(&e, 404, &h);
    assert_eq!(e["error"]["code"], "model_not_found");
    assert_eq!(e["error"]["param"], "model");
}

#[tokio::test]
async fn unknown_model_route_and_method() {
    let s = spawn(bare_config(), false).await;
    let (st, h, e) = json_of(
        http()
            .post(format!("{}/v1/chat/completions", s.base))
            .json(&json!({"model":"nope/x","messages":[{"role":"user","content":"hi"}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 404);
    assert_envelope(&e, 404, &h);
    assert_eq!(e["error"]["code"], "model_not_found");
    let (st, h, e) = json_of(
        http()
            .get(format!("{}/v1/nothing", s.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 404);
    assert_envelope(&e, 404, &h);
    let (st, h, e) = json_of(
        http()
            .delete(format!("{}/v1/models", s.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 405);
    assert_envelope(&e, 405, &h);
}

#[tokio::test]
async fn invalid_bodies_get_422_with_path_415_and_413() {
    let mut cfg = bare_config();
    cfg.body_limit = 1024;
    let s = spawn(cfg, false).await;
    let url = format!("{}/v1/chat/completions", s.base);
    let (st, h, e) = json_of(
        http()
            .post(&url)
            .json(&json!({"model":"meta/llama-3.1-8b-instruct","messages":[{"role":"wizard","content":"x"}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 422);
    assert_envelope(&e, 422, &h);
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .starts_with("body -> messages -> 0 -> role: ")
    );
    assert_eq!(e["error"]["param"], "messages.0.role");
    let (st, ..) = json_of(
        http()
            .post(&url)
            .json(&json!({"model":"meta/llama-3.1-8b-instruct","messages":[{"role":"user","content":"x"}],"temperature":5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 422);
    let (st, ..) = json_of(http().post(&url).body("{}").send().await.unwrap()).await;
    assert_eq!(st, 415);
    let big = json!({"model":"m","messages":[{"role":"user","content":"x".repeat(4096)}]});
    let (st, h, e) = json_of(http().post(&url).json(&big).send().await.unwrap()).await;
    assert_eq!(st, 413);
    assert_envelope(&e, 413, &h);
    let (st, ..) = json_of(
        http()
            .post(&url)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 422);
}

#[tokio::test]
async fn kinds_without_engine_say_what_is_missing() {
    let s = spawn(bare_config(), false).await;
    let (st, _, e) = json_of(
        http()
            .post(format!("{}/v1/chat/completions", s.base))
            .json(&json!({"model":"nvidia/nemotron-nano-12b-v2-vl","messages":[{"role":"user","content":"hi"}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 501);
    assert!(e["detail"].as_str().unwrap().contains("vision"), "{e}");
    let (st, _, e) = json_of(
        http()
            .post(format!("{}/v1/embeddings", s.base))
            .json(&json!({"model":"baai/bge-m3","input":"hi"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 501);
    assert!(e["detail"].as_str().unwrap().contains("disabled"), "{e}");
    let (st, _, e) = json_of(
        http()
            .post(format!("{}/v1/embeddings", s.base))
            .json(&json!({"model":"meta/llama-3.1-8b-instruct","input":"hi"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("/v1/chat/completions"),
        "{e}"
    );
}

#[tokio::test]
async fn api_keys_guard_every_v1_route() {
    let mut cfg = bare_config();
    cfg.api_keys = vec!["k1".into(), "k2".into()];
    let s = spawn(cfg, false).await;
    let url = format!("{}/v1/models", s.base);
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic k1"),
        Some("Bearer k1x"),
    ] {
        let mut r = http().get(&url);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let (st, h, e) = json_of(r.send().await.unwrap()).await;
        assert_eq!(st, 401, "{auth:?}");
        assert_envelope(&e, 401, &h);
        assert_eq!(e["title"], "Unauthorized");
        assert!(e["detail"].as_str().unwrap().contains("API key"));
        assert!(
            h["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
    for key in ["k1", "k2"] {
        let r = http().get(&url).bearer_auth(key).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = http()
        .post(format!("{}/v1/genai/microsoft/trellis", s.base))
        .json(&json!({"prompt":"a mug"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Health probes, the version and the metrics stay open for load balancers and scrapers.
    for path in ["/v1/health/live", "/health", "/version"] {
        let r = http()
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let v = get_json(&format!("{}/version", s.base)).await;
    assert_eq!(v["name"], "ingot");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let metrics = get_text(&format!("{}/metrics", s.base)).await;
    assert!(
        metrics.contains(&format!(
            "ingot_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn health_probes() {
    let s = spawn(bare_config(), false).await;
    let (st, _, b) = json_of(
        http()
            .get(format!("{}/v1/health/ready", s.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((st, &b["ready"]), (200, &json!(true)));
    assert_eq!(b["object"], "health.response");
    // A configured model that cannot load keeps the server unready, saying why.
    let mut cfg = bare_config();
    cfg.chat.enabled = true;
    cfg.model_dir = "/nonexistent".into();
    let s = spawn(cfg, false).await;
    ingot_server::load_engines(s.state.clone()).await;
    let (st, _, b) = json_of(
        http()
            .get(format!("{}/v1/health/ready", s.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 503);
    assert!(
        b["message"].as_str().unwrap().contains("setup-models"),
        "{b}"
    );
}

#[tokio::test]
async fn trellis_both_paths_both_shapes_and_validation() {
    let s = spawn(bare_config(), false).await;
    for path in ["/v1/genai/microsoft/trellis", "/v1/infer"] {
        let (st, _, b) = json_of(
            http()
                .post(format!("{}{path}", s.base))
                .json(&json!({"prompt":"A red car","seed":42,"output_format":"stl"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(b["artifacts"][0]["finishReason"], "SUCCESS");
        assert_eq!(b["artifacts"][0]["seed"], 42);
        assert_eq!(b["output"]["stl"], b["artifacts"][0]["base64"]);
    }
    let (st, _, e) = json_of(
        http()
            .post(format!("{}/v1/genai/microsoft/trellis", s.base))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 422);
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("Input needs to be either image or prompt")
    );
    let (st, _, e) = json_of(
        http()
            .post(format!("{}/v1/genai/microsoft/trellis", s.base))
            .json(&json!({"image":"data:image/png;base64,AAAA"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 422, "{e}");
    assert_eq!(e["error"]["param"], "image");
}
