#!/usr/bin/env bash
# Passage ranking: quality (MRR@10, recall@1) and speed (query-passage pairs/s) of the ways
# `ingot serve` can order passages for a RAG query, on bench/ranking/relevance.json (52 queries,
# one answering passage and five same-topic hard negatives each):
#   biencoder:ID  /v1/embeddings, cosine of query and passage vectors
#   llm:ID        /v1/chat/completions, pointwise yes/no logprobs
#   ranking:ID    /v1/ranking (the NIM reranker API)
#
#   bench/ranking/run.sh [--methods M1,M2] [--limit N] [--concurrency 4] [--json-out FILE]
#                        [--misses]
#
# Env: METHODS (default below), LIMIT (first N queries),
# INGOT_MODEL_DIR, CARGO_TARGET_DIR, INGOT_BIN (a prebuilt ingot binary: skips the cargo
# build), BENCH_PYTHON (default the e2e venv, ~/.cache/ingot/e2e-venv, for `requests`; python3
# otherwise).
# In the default model pack nv-embed-v1 is served by all-MiniLM-L6-v2, bge-m3 by
# multilingual-e5-small, llama-3.1-8b-instruct by SmolLM2-135M and llama-3.3-70b-instruct by
# Qwen2.5-Coder-0.5B.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/bench/common.sh"
methods="${METHODS:-ranking:nvidia/llama-3.2-nv-rerankqa-1b-v2,biencoder:nvidia/nv-embed-v1,biencoder:baai/bge-m3,llm:meta/llama-3.1-8b-instruct,llm:meta/llama-3.3-70b-instruct}"
limit="${LIMIT:-0}"; concurrency=4; json_out=""; misses=""
while [ $# -gt 0 ]; do
  case "$1" in
    --methods) methods="$2"; shift 2 ;;
    --limit) limit="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --json-out) json_out="$2"; shift 2 ;;
    --misses) misses="--misses"; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -n "${INGOT_BIN:-}" ]; then
  bin="$INGOT_BIN"
else
  (cd "$root" && cargo build --release --locked -q -p ingot-cli)
  bin="$CARGO_TARGET_DIR/release/ingot"
fi
py="${BENCH_PYTHON:-$INGOT_CACHE/e2e-venv/bin/python}"
[ -x "$py" ] || py=python3

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
port="$(free_port)"
"$bin" serve --port "$port" --model-dir "$INGOT_MODEL_DIR" 2>"$out/server.log" &
pids+=($!)
wait_ready "http://127.0.0.1:$port/v1/health/ready"
base="http://127.0.0.1:$port"

echo "== ingot serve at $base; methods: $methods" >&2
args=(--base-url "$base" --methods "$methods" --limit "$limit" --concurrency "$concurrency")
[ -n "$json_out" ] && args+=(--json-out "$json_out")
[ -n "$misses" ] && args+=("$misses")
if ! "$py" "$here/driver.py" "${args[@]}"; then
  echo "== driver failed; server log tail:" >&2
  tail -n 20 "$out/server.log" >&2
  exit 1
fi
