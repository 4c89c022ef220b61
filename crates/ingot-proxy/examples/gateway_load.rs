//! The open-loop load generator of `bench/gateway`: sends chat requests at a fixed rate
//! (each at its scheduled time, whether or not earlier ones have answered, so a slow server
//! cannot slow the load down and hide its latency), reads every answer whole, and prints one
//! JSON line: requests sent, answered, errors, achieved rate and latency percentiles, each
//! latency counted from the request's scheduled time.
//!
//! `gateway_load --url http://127.0.0.1:8000/v1/chat/completions --rate 1000 --seconds 10
//!   [--model bench/json] [--stream] [--timeout-ms 2000]`
//!
//! Built on the project's own HTTP client (reqwest over hyper), on two threads.

use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list"
    )]
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[expect(clippy::cast_precision_loss, reason = "counts far below 2^53")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = arg(&args, "--url").ok_or("--url is required")?;
    let rate: f64 = arg(&args, "--rate").ok_or("--rate is required")?.parse()?;
    let seconds: f64 = arg(&args, "--seconds")
        .unwrap_or_else(|| "10".into())
        .parse()?;
    let model = arg(&args, "--model").unwrap_or_else(|| "bench/json".into());
    let timeout = Duration::from_millis(
        arg(&args, "--timeout-ms")
            .unwrap_or_else(|| "2000".into())
            .parse()?,
    );
    let stream = args.iter().any(|a| a == "--stream");
    let body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8,
        "stream": stream,
    })
    .to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(4096)
            .tcp_nodelay(true)
            .build()?;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a request count"
        )]
        let total = (rate * seconds).round() as u64;
        let interval = Duration::from_secs_f64(1.0 / rate);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let start = Instant::now() + Duration::from_millis(50);
        for i in 0..total {
            let at = start + interval.mul_f64(i as f64);
            tokio::time::sleep_until(at.into()).await;
            let (client, url, body, tx) = (client.clone(), url.clone(), body.clone(), tx.clone());
            tokio::spawn(async move {
                let ok = async {
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .ok()?;
                    let status = r.status();
                    let bytes = r.bytes().await.ok()?;
                    let whole = !stream || bytes.windows(12).any(|w| w == b"data: [DONE]");
                    (status.is_success() && whole).then_some(())
                }
                .await
                .is_some();
                let _ = tx.send((ok, at.elapsed().as_secs_f64() * 1000.0));
            });
        }
        drop(tx);
        let mut latencies = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut errors = 0u64;
        while let Some((ok, ms)) = rx.recv().await {
            if ok {
                latencies.push(ms);
            } else {
                errors += 1;
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let out = serde_json::json!({
            "url": url,
            "stream": stream,
            "rate": rate,
            "sent": total,
            "ok": latencies.len(),
            "errors": errors,
            "achieved_rps": latencies.len() as f64 / elapsed,
            "p50_ms": percentile(&latencies, 50.0),
            "p90_ms": percentile(&latencies, 90.0),
            "p99_ms": percentile(&latencies, 99.0),
            "max_ms": latencies.last().copied().unwrap_or(f64::NAN),
        });
        println!("{out}");
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
