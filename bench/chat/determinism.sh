#!/usr/bin/env bash
# Does a seeded request's output depend on what runs beside it? 16 seeded chats (temperature
# 0.8, seed 7, 48 tokens) that share a system prompt are sent one after the other to a fresh
# `ingot serve` with the prefix cache off (the reference: each prompt prefilled alone, in
# full), then all at once to a fresh server in each configuration below; prints how many of
# the 16 texts differ from the reference, and the wall time of the 16 concurrent requests
# (what the configuration costs).
#
#   bench/chat/determinism.sh [--prompts 16] [--max-tokens 48]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/bench/common.sh"
prompts=16; max_tokens=48
while [ $# -gt 0 ]; do
  case "$1" in
    --prompts) prompts="$2"; shift 2 ;;
    --max-tokens) max_tokens="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
(cd "$root" && cargo build --release --locked -q -p ingot-cli)
echo "$(uptime)"

# run NAME MODE CHAT-TOML: a fresh server with this [chat] section, texts to $out/NAME.json
run() {
  printf '[chat]\n%s\n' "$3" > "$out/$1.toml"
  local port; port="$(free_port)"
  "$CARGO_TARGET_DIR/release/ingot" serve --config "$out/$1.toml" --port "$port" --no-embeddings \
    --model-dir "$INGOT_MODEL_DIR" 2>/dev/null &
  pids+=($!)
  wait_ready "http://127.0.0.1:$port/v1/health/ready"
  python3 "$here/driver.py" texts --base-url "http://127.0.0.1:$port/v1" --model meta/llama-3.1-8b-instruct \
    --prompts "$prompts" --max-tokens "$max_tokens" $2 > "$out/$1.json"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
}

run reference "" "max_slots = 8
prefix_cache = false"
printf '%-58s %s\n' "configuration (all at once)" "texts that differ from alone"
for cfg in "max_slots = 8|prefix_cache = true" "max_slots = 8|prefix_cache = false" \
           "max_slots = 8|unified_kv = true" "max_slots = 1|prefix_cache = false"; do
  name="$(echo "$cfg" | tr -c 'a-z0-9' _)"
  run "$name" --together "$(echo "$cfg" | tr '|' '\n')"
  printf '%-58s %s\n' "$(echo "$cfg" | tr '|' ' ')" \
    "$(python3 "$here/driver.py" compare-texts "$out/reference.json" "$out/$name.json")"
done
