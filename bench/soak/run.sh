#!/usr/bin/env bash
# Soak test: mixed traffic against one `ingot serve` for SECONDS (default 1800), at the
# concurrency the default configuration admits. Not part of CI.
#
# Usage:
#   bench/soak/run.sh [SECONDS]
#   INGOT_BIN=path/to/ingot INGOT_MODEL_DIR=path/to/models SOAK_OUT=results.json bench/soak/run.sh 120
#
# Needs the release binary (INGOT_BIN, default $HOME/.cache/ingot/target/release/ingot; it is
# not built here) and the default model pack (scripts/setup-models.sh; INGOT_MODEL_DIR,
# default $HOME/.cache/ingot/models), tesseract for the vision ids, python3 (standard library
# only) and curl.
#
# What it does: copies the binary (so a rebuild cannot replace it mid-run), starts
# `ingot serve --port 0 --log-format json` with the embedded defaults (no config file, no
# keys, a fresh key database), reads the address from the "listening on ADDR" log line,
# waits for GET /v1/health/ready, runs bench/soak/driver.py, then stops the server (SIGTERM).
#
# The traffic (closed loop, each worker sends its next request when the last one ends):
#   - 8 chat workers on meta/llama-3.1-8b-instruct (the small SmolLM2 engine: 4 slots,
#     queue 64 by default, so 4 run and up to 5 wait): 4 non-streaming, 4 streaming,
#     max_tokens 32-64, with or without a system prompt, temperature 0/0.7/1, some seeded;
#   - 3 embeddings workers (nvidia/nv-embed-v1 with input_type, baai/bge-m3; 1-8 inputs);
#   - 1 worker alternating ranking (nvidia/llama-3.2-nv-rerankqa-1b-v2, 2-10 passages) and
#     completions (bigcode/starcoder2-7b, max_tokens 16-48);
#   - 1 3D worker (POST /v1/genai/microsoft/trellis: text or image to GLB or STL; 3D runs
#     2 at once, queue 16);
#   - 1 vision worker (meta/llama-3.2-11b-vision-instruct with a PNG it draws itself, sent
#     as a data URL, as an image_url part or an <img> tag);
#   - 1 bad-request worker, one every 0.5 s, cycling through malformed and truncated JSON
#     (400/422), an unknown model (404), wrong types and out-of-range values (422), empty
#     lists (422), a 1 MB prompt and a 30,000-character embeddings input (400), the wrong
#     content type (415), a chat model on /v1/embeddings (400), bytes that are not an image
#     (422), an unknown 3D format (422), an unknown route (404), GET on a POST route (405);
#     each is counted as expected only with its own status. (Missing keys are not tried:
#     the default server has none.)
#   - 1 disconnect worker, one every 1 s, in turn: a stream closed after its first chunk (the
#     role chunk), a stream closed after its first generated text, and a non-streaming chat
#     closed 0.05-0.5 s after sending (before the answer); half of each kind close with a
#     reset (SO_LINGER 0), the others with a FIN.
#
# What it reports (Markdown on standard output, JSON in SOAK_OUT, default
# bench/soak/results-<date>.json): per endpoint the requests, statuses, p50/p99 latency
# (streams: to the end of the stream) overall and in the first and last minutes; per minute
# the same plus the server's VmRSS (from /proc/PID/status), open descriptors and threads and
# the load average; outcomes other than the expected ones (a status other than 200 for the
# normal workers, a 200 whose body does not check out: wrong number of vectors, a stream
# without [DONE], an asset that is not GLB/STL...); keep-alive connections the server closed
# without `Connection: close` (each connection is checked before it is reused, so these do not
# turn into failed requests; they are listed by the request before); WARN/ERROR lines and
# panics in the server's log.
# After the load stops and the server drains it scrapes GET /metrics and prints:
#   PASS/FAIL no 5xx                 - none seen by the driver, none in ingot_requests_total
#   PASS/FAIL memory flat            - the largest per-minute VmRSS after minute 5 is within
#                                      10% of minute 5's (minute SECONDS/180 for runs < 15 min)
#   PASS/FAIL counters back to zero  - ingot_requests_in_flight (less the scrape itself),
#                                      every ingot_queue_depth and ingot_active_sequences are 0,
#                                      and ingot_requests_total grew by exactly the number of
#                                      requests the driver sent (every request reaches the
#                                      router: none is refused before it, as no request head is
#                                      malformed and the connection cap is not reached)
#   PASS/FAIL no unexpected outcomes (informative; not part of the exit status)
# The exit status is 0 when the first three pass.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
secs="${1:-1800}"
bin="${INGOT_BIN:-$HOME/.cache/ingot/target/release/ingot}"
models="${INGOT_MODEL_DIR:-$HOME/.cache/ingot/models}"
out="${SOAK_OUT:-$root/bench/soak/results-$(date +%Y%m%d-%H%M%S).json}"

if [[ ! -x "$bin" ]]; then
  echo "soak: no ingot binary at $bin (build it with: cargo build --release -p ingot-cli)" >&2
  exit 2
fi

work="$(mktemp -d /tmp/ingot-soak.XXXXXX)"
cp "$bin" "$work/ingot"
log="$work/server.log"
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$work/ingot"
}
trap cleanup EXIT

# The embedded defaults: no INGOT_* setting from the caller's environment reaches the server.
env_clean=()
while IFS='=' read -r name _; do
  [[ "$name" == INGOT_* ]] && env_clean+=(-u "$name")
done < <(env)
env "${env_clean[@]}" INGOT_KEYS_DB="$work/keys.db" \
  "$work/ingot" serve --port 0 --log-format json --model-dir "$models" \
  >"$work/server.out" 2>"$log" &
pid=$!

addr=""
for _ in $(seq 600); do
  addr="$(sed -n 's/.*"message":"listening on \([^"]*\)".*/\1/p' "$log" | head -n1)"
  [[ -n "$addr" ]] && break
  kill -0 "$pid" 2>/dev/null || { echo "soak: the server exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$addr" ]] || { echo "soak: the server did not report its address" >&2; exit 1; }
for _ in $(seq 1200); do
  curl -sf "http://$addr/v1/health/ready" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "soak: the server exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://$addr/v1/health/ready" >/dev/null || { echo "soak: never ready" >&2; exit 1; }

echo "soak: server pid $pid at http://$addr, binary $bin ($(date -r "$bin" '+%F %T')), log $log" >&2
echo "soak: $secs s; load average $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs" >&2
rc=0
python3 "$here/driver.py" --base "http://$addr" --pid "$pid" --seconds "$secs" \
  --out "$out" --server-log "$log" || rc=$?
echo "soak: results in $out; server log $log" >&2
exit "$rc"
