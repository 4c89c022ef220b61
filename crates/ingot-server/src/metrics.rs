//! Prometheus metrics, served at `/metrics` and NIM's `/v1/metrics` in the text exposition
//! format (version 0.0.4).
//!
//! A small registry of its own: labelled counters and fixed-bucket histograms behind one
//! mutex each, plus gauges read at scrape time (queue depth, active sequences, requests in
//! flight, upstream counters). Label values are bounded: models are catalog ids (anything
//! else is counted as `other`), routes are the matched route templates.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use ingot_proxy::ReplicaStats;

use crate::managed::ManagedKeys;
use crate::ratelimit::RateLimits;
use crate::state::AppState;

/// Buckets of request durations, in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Buckets of time to first token, in seconds.
const TTFT_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
];
/// Buckets of inter-token latency, in seconds.
const ITL_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Clone)]
struct Histogram {
    buckets: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(buckets: &'static [f64]) -> Self {
        Self {
            buckets,
            counts: vec![0; buckets.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        for (i, b) in self.buckets.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

/// One metric family of counters.
#[derive(Debug, Default)]
struct CounterFamily(Mutex<BTreeMap<Labels, u64>>);

impl CounterFamily {
    fn add(&self, labels: Labels, n: u64) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(labels).or_default() += n;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (labels, v) in m.iter() {
            let _ = writeln!(out, "{name}{} {v}", render_labels(labels, None));
        }
    }
}

/// One metric family of histograms.
#[derive(Debug)]
struct HistogramFamily {
    buckets: &'static [f64],
    series: Mutex<BTreeMap<Labels, Histogram>>,
}

impl HistogramFamily {
    fn new(buckets: &'static [f64]) -> Self {
        Self {
            buckets,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    fn observe(&self, labels: Labels, v: f64) {
        let mut m = self.series.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(labels)
            .or_insert_with(|| Histogram::new(self.buckets))
            .observe(v);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let m = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (labels, h) in m.iter() {
            for (b, c) in h.buckets.iter().zip(&h.counts) {
                let le = format!("{b}");
                let _ = writeln!(out, "{name}_bucket{} {c}", render_labels(labels, Some(&le)));
            }
            let _ = writeln!(
                out,
                "{name}_bucket{} {}",
                render_labels(labels, Some("+Inf")),
                h.count
            );
            let _ = writeln!(out, "{name}_sum{} {}", render_labels(labels, None), h.sum);
            let _ = writeln!(
                out,
                "{name}_count{} {}",
                render_labels(labels, None),
                h.count
            );
        }
    }
}

fn render_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    requests: CounterFamily,
    duration: HistogramFamily,
    ttft: HistogramFamily,
    itl: HistogramFamily,
    tokens: CounterFamily,
    rate_limited: CounterFamily,
    in_flight: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: CounterFamily::default(),
            duration: HistogramFamily::new(DURATION_BUCKETS),
            ttft: HistogramFamily::new(TTFT_BUCKETS),
            itl: HistogramFamily::new(ITL_BUCKETS),
            tokens: CounterFamily::default(),
            rate_limited: CounterFamily::default(),
            in_flight: AtomicI64::new(0),
        }
    }
}

impl Metrics {
    /// A finished request: its route template, model label, status and duration.
    pub fn request(&self, route: &str, model: &str, status: u16, seconds: f64) {
        self.requests.add(
            vec![
                ("route", route.to_owned()),
                ("model", model.to_owned()),
                ("status", status.to_string()),
            ],
            1,
        );
        self.duration
            .observe(vec![("route", route.to_owned())], seconds);
    }

    /// Time from the request's arrival to its first generated token.
    pub fn time_to_first_token(&self, model: &str, seconds: f64) {
        self.ttft
            .observe(vec![("model", model.to_owned())], seconds);
    }

    /// Time between two generated tokens of one stream.
    pub fn inter_token_latency(&self, model: &str, seconds: f64) {
        self.itl.observe(vec![("model", model.to_owned())], seconds);
    }

    /// Tokens read (`prompt`) and written (`completion`).
    pub fn tokens(&self, model: &str, prompt: u64, completion: u64) {
        if prompt > 0 {
            self.tokens.add(
                vec![("model", model.to_owned()), ("kind", "prompt".to_owned())],
                prompt,
            );
        }
        if completion > 0 {
            self.tokens.add(
                vec![
                    ("model", model.to_owned()),
                    ("kind", "completion".to_owned()),
                ],
                completion,
            );
        }
    }

    /// A request refused by a per-key limit or a full queue.
    pub fn rate_limited(&self, reason: &str) {
        self.rate_limited
            .add(vec![("reason", reason.to_owned())], 1);
    }

    /// A request started (`+1`) or ended (`-1`).
    pub fn in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// The exposition text, with the scrape-time gauges of `state`.
    pub fn render(&self, state: &AppState) -> String {
        let mut out = String::with_capacity(8192);
        let _ = writeln!(
            out,
            "# HELP ingot_build_info The running build.\n# TYPE ingot_build_info gauge\ningot_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        self.requests.render(
            &mut out,
            "ingot_requests_total",
            "Requests answered, by route, model and HTTP status.",
        );
        self.duration.render(
            &mut out,
            "ingot_request_duration_seconds",
            "Time from a request's arrival to the end of its response body.",
        );
        self.ttft.render(
            &mut out,
            "ingot_time_to_first_token_seconds",
            "Time from a chat request's arrival to its first generated token.",
        );
        self.itl.render(
            &mut out,
            "ingot_inter_token_latency_seconds",
            "Time between consecutive generated tokens of a chat stream.",
        );
        self.tokens.render(
            &mut out,
            "ingot_tokens_total",
            "Tokens processed, by model and kind (prompt, completion).",
        );
        self.rate_limited.render(
            &mut out,
            "ingot_rate_limited_total",
            "Requests refused with 429, by reason.",
        );

        let _ = writeln!(
            out,
            "# HELP ingot_requests_in_flight Requests being answered.\n# TYPE ingot_requests_in_flight gauge\ningot_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        render_engines(&mut out, state);
        render_upstreams(&mut out, state);
        render_replicas(&mut out, state);
        render_state_errors(&mut out, state);
        out
    }
}

fn render_engines(out: &mut String, state: &AppState) {
    let engines: Vec<(String, ingot_engine::ChatEngine)> = state
        .chat_engines()
        .into_iter()
        .map(|(name, e)| (escape(&name), e))
        .collect();
    if engines.is_empty() {
        return;
    }
    type Get = fn(&ingot_engine::ChatEngine) -> u64;
    let families: [(&str, &str, &str, Get); 5] = [
        (
            "ingot_queue_depth",
            "Requests waiting for a sequence slot of a local model.",
            "gauge",
            |c| c.current_load().queued as u64,
        ),
        (
            "ingot_active_sequences",
            "Sequences being generated by a local model.",
            "gauge",
            |c| c.current_load().active as u64,
        ),
        (
            "ingot_prompt_tokens_prefilled_total",
            "Prompt tokens a local model computed.",
            "counter",
            |c| c.stats().prefilled_tokens,
        ),
        (
            "ingot_prompt_tokens_cached_total",
            "Prompt tokens a local model reused from its prefix cache.",
            "counter",
            |c| c.stats().cached_tokens,
        ),
        (
            "ingot_kv_copies_total",
            "Sequences a local model copied between KV slots (shared prefixes, compaction).",
            "counter",
            |c| c.stats().kv_copies,
        ),
    ];
    for (name, help, kind, get) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (model, engine) in &engines {
            let _ = writeln!(out, "{name}{{model=\"{model}\"}} {}", get(engine));
        }
    }
}

fn render_upstreams(out: &mut String, state: &AppState) {
    let stats = state.proxy().stats();
    if stats.is_empty() {
        return;
    }
    type Get = fn(&ingot_proxy::UpstreamStats) -> u64;
    let families: [(&str, &str, Get); 5] = [
        (
            "ingot_upstream_requests_total",
            "Requests forwarded to an upstream.",
            |s| s.requests,
        ),
        (
            "ingot_upstream_retries_total",
            "Retries of requests to an upstream.",
            |s| s.retries,
        ),
        (
            "ingot_upstream_errors_total",
            "Failed attempts against an upstream (connection errors, timeouts, 429, 5xx).",
            |s| s.connect_errors + s.timeouts + s.status_errors,
        ),
        (
            "ingot_upstream_failovers_total",
            "Requests an upstream failed after its retries (the next one was tried).",
            |s| s.failures,
        ),
        (
            "ingot_upstream_successes_total",
            "Requests an upstream answered successfully.",
            |s| s.successes,
        ),
    ];
    for (name, help, get) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for s in &stats {
            let _ = writeln!(out, "{name}{{upstream=\"{}\"}} {}", escape(&s.name), get(s));
        }
    }
}

/// Failed operations on the shared stores (Redis, PostgreSQL), by what they were for; only
/// when one is configured.
fn render_state_errors(out: &mut String, state: &AppState) {
    let mut counts: Vec<(&str, u64)> = Vec::new();
    if let RateLimits::Shared { limiter, .. } = state.rate_limits() {
        counts.push(("limits", limiter.failures()));
    }
    if let Some(ManagedKeys::Postgres(p)) = state.key_store() {
        let (keys, ledger) = p.failures();
        counts.extend([("keys", keys), ("ledger", ledger)]);
    }
    if counts.is_empty() {
        return;
    }
    let name = "ingot_state_errors_total";
    let _ = writeln!(
        out,
        "# HELP {name} Operations on the shared stores (Redis, PostgreSQL) that failed, by what they were for.\n# TYPE {name} counter"
    );
    for (store, n) in counts {
        let _ = writeln!(out, "{name}{{store=\"{store}\"}} {n}");
    }
}

/// Per-replica families: state, outstanding requests, errors by reason, ejections and the
/// latency of answered attempts.
fn render_replicas(out: &mut String, state: &AppState) {
    let replicas = state.proxy().replica_stats();
    if replicas.is_empty() {
        return;
    }
    let label = |r: &ReplicaStats| {
        format!(
            "upstream=\"{}\",replica=\"{}\"",
            escape(&r.upstream),
            escape(&r.base_url)
        )
    };
    type Get = fn(&ReplicaStats) -> u64;
    let families: [(&str, &str, &str, Get); 4] = [
        (
            "ingot_upstream_replica_up",
            "Whether a replica takes traffic (not ejected, health checks passing).",
            "gauge",
            |r| u64::from(r.up),
        ),
        (
            "ingot_upstream_replica_outstanding",
            "Requests in progress on a replica (streams until they end).",
            "gauge",
            |r| r.outstanding,
        ),
        (
            "ingot_upstream_replica_requests_total",
            "Attempts sent to a replica.",
            "counter",
            |r| r.requests,
        ),
        (
            "ingot_upstream_replica_ejections_total",
            "Times a replica was taken out (failures or a failed health check).",
            "counter",
            |r| r.ejections,
        ),
    ];
    for (name, help, kind, get) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for r in &replicas {
            let _ = writeln!(out, "{name}{{{}}} {}", label(r), get(r));
        }
    }
    let name = "ingot_upstream_replica_errors_total";
    let _ = writeln!(
        out,
        "# HELP {name} Failed attempts on a replica, by reason (connect, timeout, status).\n# TYPE {name} counter"
    );
    for r in &replicas {
        for (reason, n) in [
            ("connect", r.connect_errors),
            ("timeout", r.timeouts),
            ("status", r.status_errors),
            ("health_check", r.health_check_failures),
        ] {
            let _ = writeln!(out, "{name}{{{},reason=\"{reason}\"}} {n}", label(r));
        }
    }
    let name = "ingot_upstream_replica_latency_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time to a replica's answer (for streams, to the first byte).\n# TYPE {name} histogram"
    );
    for r in &replicas {
        let mut cumulative = 0;
        let bounds = ingot_proxy::replica::LATENCY_BUCKETS
            .iter()
            .map(f64::to_string);
        for (le, n) in bounds
            .chain(std::iter::once("+Inf".to_owned()))
            .zip(&r.latency_buckets)
        {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{},le=\"{le}\"}} {cumulative}",
                label(r)
            );
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "microseconds summed stay far below 2^53"
        )]
        let sum = r.latency_micros as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{}}} {sum}", label(r));
        let _ = writeln!(out, "{name}_count{{{}}} {}", label(r), r.latency_count);
    }
}

/// `GET /metrics` and `GET /v1/metrics`.
pub async fn handler(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(&state),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let f = HistogramFamily::new(&[0.1, 1.0]);
        f.observe(vec![("model", "m".into())], 0.05);
        f.observe(vec![("model", "m".into())], 0.5);
        f.observe(vec![("model", "m".into())], 5.0);
        let mut out = String::new();
        f.render(&mut out, "x", "help");
        assert!(
            out.contains("x_bucket{model=\"m\",le=\"0.1\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("x_bucket{model=\"m\",le=\"1\"} 2\n"), "{out}");
        assert!(
            out.contains("x_bucket{model=\"m\",le=\"+Inf\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("x_count{model=\"m\"} 3\n"), "{out}");
        assert!(out.contains("x_sum{model=\"m\"} 5.55\n"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        let c = CounterFamily::default();
        c.add(vec![("model", "a\"b\\c\nd".into())], 2);
        let mut out = String::new();
        c.render(&mut out, "y", "help");
        assert!(out.contains(r#"y{model="a\"b\\c\nd"} 2"#), "{out}");
    }
}
