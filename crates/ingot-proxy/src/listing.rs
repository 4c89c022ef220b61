//! Upstreams' own model lists (`list_models`): `GET models` on a replica that is up, kept
//! until the next refresh, so ids an upstream serves are routed and listed without naming
//! them in `models`. A failed refresh keeps the last list.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::proxy::Proxy;
use crate::upstream::Upstream;

/// Longest wait for an upstream's model list.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of a model list read.
const LIST_LIMIT: usize = 4 << 20;

#[derive(Deserialize)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

impl Proxy {
    /// Starts the refresh of every upstream with `list_models`: one task each, which lists
    /// at once and then every `models_refresh`, and calls `changed` when its list changed.
    /// Each ends when the proxy is dropped. Call it once, on a Tokio runtime.
    pub fn spawn_model_listing(
        self: &Arc<Self>,
        changed: Arc<dyn Fn() + Send + Sync>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.spawn_per_upstream(
            |spec| spec.list_models.then_some(spec.models_refresh),
            move |proxy, i| {
                let changed = Arc::clone(&changed);
                async move {
                    if proxy.refresh_models(i).await {
                        changed();
                    }
                }
            },
        )
    }

    /// Refreshes upstream `i`'s model list; whether it changed.
    pub async fn refresh_models(&self, i: usize) -> bool {
        let Some(up) = self.upstreams.get(i) else {
            return false;
        };
        match self.fetch_models(up).await {
            Ok(ids) => {
                let mut listed = up.listed.write().unwrap_or_else(|e| e.into_inner());
                if *listed == ids {
                    return false;
                }
                tracing::info!(
                    upstream = %up.spec.name,
                    ids = ids.len(),
                    "the upstream's model list changed"
                );
                *listed = ids;
                true
            }
            Err(why) => {
                tracing::warn!(
                    upstream = %up.spec.name,
                    "could not refresh the upstream's model list (the last one stays): {why}"
                );
                false
            }
        }
    }

    async fn fetch_models(&self, up: &Upstream) -> Result<Vec<String>, String> {
        let client = self.client.as_ref().ok_or("no HTTP client")?;
        let now = Instant::now();
        let replica = up
            .replicas
            .iter()
            .find(|r| r.available(now))
            .or_else(|| up.replicas.first())
            .ok_or("no replica")?;
        let mut rb = client.get(replica.models_url.clone());
        if let Some(key) = &up.spec.api_key {
            rb = rb.bearer_auth(key.expose());
        }
        let fetch = async {
            let resp = rb.send().await.map_err(|e| e.without_url().to_string())?;
            let status = resp.status();
            if !status.is_success() {
                return Err(format!(
                    "{} answered {}",
                    replica.models_url,
                    status.as_u16()
                ));
            }
            if resp.content_length().is_some_and(|n| n > LIST_LIMIT as u64) {
                return Err(format!("the list is over {LIST_LIMIT} bytes"));
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| e.without_url().to_string())?;
            if body.len() > LIST_LIMIT {
                return Err(format!("the list is over {LIST_LIMIT} bytes"));
            }
            parse(&body)
        };
        tokio::time::timeout(LIST_TIMEOUT, fetch)
            .await
            .map_err(|_| format!("no answer within {} s", LIST_TIMEOUT.as_secs()))?
    }
}

/// The ids of an OpenAI model list, each once, in its order.
fn parse(body: &[u8]) -> Result<Vec<String>, String> {
    let list: ModelList =
        serde_json::from_slice(body).map_err(|e| format!("not an OpenAI model list: {e}"))?;
    let mut ids: Vec<String> = Vec::with_capacity(list.data.len());
    for id in list.data.into_iter().map(|m| m.id) {
        let id = id.trim();
        if !id.is_empty() && !ids.iter().any(|i| i == id) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_in_order_without_repeats() {
        let body = br#"{"object":"list","data":[{"id":"b","object":"model"},{"id":"a"},{"id":"b"},{"id":" "}]}"#;
        assert_eq!(parse(body).unwrap(), ["b", "a"]);
        assert!(
            parse(b"{\"models\":[]}")
                .unwrap_err()
                .contains("model list")
        );
        assert!(parse(b"<html>").is_err());
    }
}
