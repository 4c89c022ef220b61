#!/usr/bin/env bash
# Chat over HTTP: `ingot serve` against llama.cpp's own server (`llama-server --parallel 8`,
# built by scripts/llama-server.sh), same GGUF, same prompt, greedy, EOS ignored so every
# stream generates exactly --max-tokens tokens. Measures aggregate completion tokens/s and
# TTFT p50/p99 at 1, 4, 8 and 16 concurrent streams and prints the ratios ingot / llama-server.
#
#   bench/chat/http.sh [--streams 1,4,8,16] [--max-tokens 128] [--slots 8] [--ctx-per-slot 1024]
#                      [--distinct-prompts] [--unified-kv] [--model smollm2|qwen] [--rounds 1]
#
# --rounds N measures both servers N times, alternately (ingot, llama-server, ingot, ...), so
# that a drift in the machine's speed falls on both; it prints every round and the medians.
#
# --model qwen measures the default pack's larger model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M,
# asked for by its own id) instead of SmolLM2-135M.
#
# By default every stream sends the same prompt, which llama-server answers partly from its
# prompt cache; --distinct-prompts gives each stream its own prompt.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/bench/common.sh"
streams="1,4,8,16"; max_tokens=128; slots=8; ctx=1024; distinct=""; unified=""; which="smollm2"
rounds=1
while [ $# -gt 0 ]; do
  case "$1" in
    --streams) streams="$2"; shift 2 ;;
    --max-tokens) max_tokens="$2"; shift 2 ;;
    --slots) slots="$2"; shift 2 ;;
    --ctx-per-slot) ctx="$2"; shift 2 ;;
    --distinct-prompts) distinct="--distinct-prompts"; shift ;;
    --unified-kv) unified="--chat-unified-kv"; shift ;;
    --model) which="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$which" in
  smollm2) model="$INGOT_MODEL_DIR/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
           ingot_id="meta/llama-3.1-8b-instruct" ;;
  qwen) model="$INGOT_MODEL_DIR/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
        ingot_id="Qwen/Qwen2.5-Coder-0.5B-Instruct" ;;
  *) echo "--model is smollm2 or qwen" >&2; exit 2 ;;
esac
[ -f "$model" ] || "$root/scripts/setup-models.sh"
llama_server="$("$root/scripts/llama-server.sh")"
(cd "$root" && cargo build --release --locked -q -p ingot-cli)

# One server at a time, so neither competes with the other for the two cores.
# measure OUT.json READY-PATH MODEL-ID SERVER-COMMAND...: start the server (listening on
# $port), wait for READY-PATH, drive it with MODEL-ID, keep the driver's JSON, stop it.
measure() {
  local json="$1" ready="$2" id="$3"; shift 3
  "$@" >/dev/null 2>&1 &
  pids+=($!)
  wait_ready "http://127.0.0.1:$port$ready"
  python3 "$here/driver.py" http --base-url "http://127.0.0.1:$port/v1" --model "$id" \
    --streams "$streams" --max-tokens "$max_tokens" $distinct | tee "$json"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
}
pairs=()
for r in $(seq "$rounds"); do
  port="$(free_port)"
  echo "== ingot serve ($slots slots x $ctx tokens)" >&2
  measure "$out/ingot.$r.json" /v1/health/ready "$ingot_id" \
    "$CARGO_TARGET_DIR/release/ingot" serve --port "$port" --no-embeddings \
    --model-dir "$INGOT_MODEL_DIR" --chat-max-slots "$slots" --chat-ctx-per-slot "$ctx" \
    --chat-queue 64 $unified
  port="$(free_port)"
  echo "== llama-server --parallel $slots (-c $((slots * ctx)))" >&2
  measure "$out/peer.$r.json" /health "$which" \
    "$llama_server" -m "$model" --host 127.0.0.1 --port "$port" --parallel "$slots" \
    -c $((slots * ctx)) -t "$(nproc)" --no-webui
  pairs+=("$out/ingot.$r.json" "$out/peer.$r.json")
done
echo
python3 "$here/driver.py" compare-http "${pairs[@]}"
