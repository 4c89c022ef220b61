//! The web playground: one HTML page and its scripts and styles, embedded in the binary and
//! served at `/` and under `/ui/`. The page talks to the server's own public API (the same
//! requests any client sends), so it needs no route of its own beyond these files.
//!
//! The files are public: the API key is typed into the page and sent by the page with each
//! API request, never needed to load the page. Every response carries a strict
//! Content-Security-Policy (scripts, styles and connections to this origin only; images
//! from this origin, `data:` and `blob:`), `X-Content-Type-Options: nosniff`, and refuses
//! framing. Off with `[ui] enabled = false` or `ingot serve --no-ui`.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::state::AppState;

/// The policy of every playground response: nothing from other origins, no inline script
/// or style, no plugins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file: its name under `/ui/`, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_str!("../ui/index.html"),
};

const JS: &str = "text/javascript; charset=utf-8";

/// The files under `/ui/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../ui/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: JS,
        body: include_str!("../ui/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: JS,
        body: include_str!("../ui/api.js"),
    },
    Asset {
        name: "markdown.js",
        content_type: JS,
        body: include_str!("../ui/markdown.js"),
    },
    Asset {
        name: "viewer.js",
        content_type: JS,
        body: include_str!("../ui/viewer.js"),
    },
    Asset {
        name: "code.js",
        content_type: JS,
        body: include_str!("../ui/code.js"),
    },
];

/// The playground's routes, or none when `[ui] enabled = false` (then `/` is the usual 404).
pub fn router(enabled: bool) -> Router<AppState> {
    if !enabled {
        return Router::new();
    }
    Router::new()
        .route("/", get(index))
        .route("/ui/{file}", get(asset))
}

/// Total bytes of the page and its assets, uncompressed (what the README states).
pub fn page_weight() -> usize {
    INDEX.body.len() + ASSETS.iter().map(|a| a.body.len()).sum::<usize>()
}

async fn index() -> Response {
    respond(&INDEX)
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => respond(a),
        None => ApiError::RouteNotFound {
            method: "GET".to_owned(),
            path: format!("/ui/{file}"),
        }
        .into_response(),
    }
}

fn respond(a: &Asset) -> Response {
    let mut resp = (StatusCode::OK, a.body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The files change with the binary: revalidate rather than keep a stale copy.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_served() {
        let mut sources = vec![INDEX.body];
        sources.extend(ASSETS.iter().map(|a| a.body));
        for src in sources {
            for part in src.split("/ui/").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                    .collect();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "/ui/{name} is referenced but not embedded"
                );
            }
            for part in src.split("from './").skip(1) {
                let name = part.split('\'').next().unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "./{name} is imported but not embedded"
                );
            }
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for src in std::iter::once(INDEX.body).chain(ASSETS.iter().map(|a| a.body)) {
            for needle in [
                "http://",
                "https://",
                "//cdn",
                "<script>",
                " onclick=",
                "style=\"",
            ] {
                // URLs only appear in the code samples, built from the page's own origin.
                assert!(!src.contains(needle), "{needle} found in an embedded file");
            }
        }
        assert!(page_weight() < 200_000, "{}", page_weight());
    }
}
