#!/usr/bin/env bash
# Structured output: `ingot serve` against llama.cpp's own server (built by
# scripts/llama-server.sh) on the same GGUF (SmolLM2-135M Q4_1), one stream, greedy. Prints
# decode tokens/s free and under a JSON schema (the constrained path's cost), the compile time
# of a 30-property schema, and the ratios ingot / llama-server.
#
#   bench/structured/run.sh [--max-tokens 128] [--repeat 3]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/bench/common.sh"
max_tokens=128; repeat=3
while [ $# -gt 0 ]; do
  case "$1" in
    --max-tokens) max_tokens="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
model="$INGOT_MODEL_DIR/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -f "$model" ] || "$root/scripts/setup-models.sh"
llama_server="$("$root/scripts/llama-server.sh")"
(cd "$root" && cargo build --release --locked -q -p ingot-cli)
args=(run --max-tokens "$max_tokens" --repeat "$repeat")

# One server at a time, so neither competes with the other for the cores.
port="$(free_port)"
"$CARGO_TARGET_DIR/release/ingot" serve --port "$port" --no-embeddings \
  --model-dir "$INGOT_MODEL_DIR" 2>/dev/null &
pids+=($!)
wait_ready "http://127.0.0.1:$port/v1/health/ready"
echo "== ingot serve" >&2
python3 "$here/driver.py" "${args[@]}" --base-url "http://127.0.0.1:$port/v1" \
  --model meta/llama-3.1-8b-instruct | tee "$out/ingot.json"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

port="$(free_port)"
"$llama_server" -m "$model" --host 127.0.0.1 --port "$port" -c 4096 -t "$(nproc)" --no-webui \
  >/dev/null 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$port/health"
echo "== llama-server (json_schema through its GBNF sampler)" >&2
python3 "$here/driver.py" "${args[@]}" --base-url "http://127.0.0.1:$port/v1" --model smollm2 \
  | tee "$out/peer.json"
echo
python3 "$here/driver.py" compare "$out/ingot.json" "$out/peer.json"
