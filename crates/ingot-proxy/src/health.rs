//! Active health checks: every `health_interval`, a `GET` of each replica's health URL; a
//! 2xx brings the replica back (ending a passive ejection), anything else (or nothing
//! within [`CHECK_TIMEOUT`]) takes it out until a check passes.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::proxy::Proxy;
use crate::replica::Replica;
use crate::spec::UpstreamSpec;
use crate::upstream::Upstream;

/// Longest wait for one health check's answer (shorter when the interval is).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

impl Proxy {
    /// Starts the active health checks of every upstream with a `health_path`: one task
    /// each, which ends when the proxy is dropped. Call it once, on a Tokio runtime.
    pub fn spawn_health_checks(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        self.spawn_per_upstream(
            |spec| spec.health_path.is_some().then_some(spec.health_interval),
            |proxy, i| async move { proxy.check_upstream(i).await },
        )
    }

    /// Runs `job(proxy, i)` for every upstream `i` to which `every` gives an interval: at
    /// once, then at that interval, one task per upstream, until the proxy is dropped.
    pub(crate) fn spawn_per_upstream<J, F>(
        self: &Arc<Self>,
        every: impl Fn(&UpstreamSpec) -> Option<Duration>,
        job: J,
    ) -> Vec<tokio::task::JoinHandle<()>>
    where
        J: Fn(Arc<Self>, usize) -> F + Clone + Send + 'static,
        F: Future<Output = ()> + Send,
    {
        let mut tasks = Vec::new();
        for (i, up) in self.upstreams.iter().enumerate() {
            let Some(period) = every(&up.spec) else {
                continue;
            };
            let proxy: Weak<Self> = Arc::downgrade(self);
            let job = job.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(proxy) = proxy.upgrade() else { return };
                    job(proxy, i).await;
                }
            }));
        }
        tasks
    }

    /// One round of checks of upstream `i`'s replicas, all at once.
    pub(crate) async fn check_upstream(&self, i: usize) {
        let Some(up) = self.upstreams.get(i) else {
            return;
        };
        let checks = up.replicas.iter().map(|r| self.check(up, r));
        futures::future::join_all(checks).await;
    }

    async fn check(&self, up: &Upstream, replica: &Replica) {
        let (Some(url), Some(client)) = (&replica.health_url, &self.client) else {
            return;
        };
        let mut rb = client.get(url.clone());
        if let Some(key) = &up.spec.api_key {
            rb = rb.bearer_auth(key.expose());
        }
        let limit = CHECK_TIMEOUT.min(up.spec.health_interval);
        let outcome = match tokio::time::timeout(limit, rb.send()).await {
            Ok(Ok(resp)) if resp.status().is_success() => Ok(()),
            Ok(Ok(resp)) => Err(format!("answered {}", resp.status().as_u16())),
            Ok(Err(e)) => Err(e.without_url().to_string()),
            Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
        };
        let was_up = replica.available(tokio::time::Instant::now());
        replica.checked(outcome.is_ok());
        match outcome {
            Ok(()) if !was_up => tracing::info!(
                upstream = %up.spec.name,
                replica = %replica.base,
                "replica back: its health check passed"
            ),
            Err(why) if was_up => tracing::warn!(
                upstream = %up.spec.name,
                replica = %replica.base,
                "replica out: its health check failed ({why})"
            ),
            _ => {}
        }
    }
}
