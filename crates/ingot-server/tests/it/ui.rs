//! The web playground: `/` and its assets, their headers, turning it off, and that it
//! needs no key while the API still does.

use crate::common::{bare_config, http, spawn};

const ASSETS: &[(&str, &str)] = &[
    ("/ui/app.js", "text/javascript"),
    ("/ui/api.js", "text/javascript"),
    ("/ui/markdown.js", "text/javascript"),
    ("/ui/viewer.js", "text/javascript"),
    ("/ui/code.js", "text/javascript"),
    ("/ui/app.css", "text/css"),
];

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn ui_page_and_assets_are_served_with_a_strict_policy() {
    let s = spawn(bare_config(), false).await;
    let r = http().get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/html"));
    let csp = header(&r, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("http") && !csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    let html = r.text().await.unwrap();
    assert!(html.contains("<script type=\"module\" src=\"/ui/app.js\">"));
    for (path, ctype) in ASSETS {
        let r = http()
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(header(&r, "content-type").starts_with(ctype), "{path}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert!(!header(&r, "content-security-policy").is_empty(), "{path}");
        assert!(!r.text().await.unwrap().is_empty(), "{path}");
    }
    // HEAD works like GET; unknown files and paths are the usual 404 envelope.
    let r = http().head(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    for path in ["/ui/nope.js", "/ui/../Cargo.toml", "/ui/", "/index.html"] {
        let r = http()
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = http().post(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn ui_turned_off_in_the_config_is_not_served() {
    let mut cfg = bare_config();
    cfg.ui.enabled = false;
    let s = spawn(cfg, false).await;
    for path in ["/", "/ui/app.js", "/ui/app.css"] {
        let r = http()
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["error"]["message"].is_string(), "{v}");
    }
    let r = http()
        .get(format!("{}/v1/models", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the API is unchanged");
}

#[tokio::test]
async fn ui_needs_no_key_while_the_api_does() {
    let mut cfg = bare_config();
    cfg.api_keys = vec!["ui-test-key".to_owned()];
    let s = spawn(cfg, false).await;
    for path in ["/", "/ui/app.js"] {
        let r = http()
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let url = format!("{}/v1/models", s.base);
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .get(&url)
        .bearer_auth("ui-test-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
