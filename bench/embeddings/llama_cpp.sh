#!/usr/bin/env bash
# MiniLM over HTTP: `ingot serve` against llama.cpp's own server (`llama-server --embedding`,
# built by scripts/llama-server.sh) on the same all-MiniLM-L6-v2, converted to GGUF with
# llama.cpp's convert_hf_to_gguf.py (f16 and q8_0 by default). The same 512 sentences are
# posted to /v1/embeddings in sequential requests of 1 and of 32 inputs, and one per request
# from 16 concurrent clients ("1x16"); prints sentences/s, the ratio ingot / llama.cpp and the
# worst cosine between the two servers' vectors.
#
#   bench/embeddings/llama_cpp.sh [OUTTYPES]     # default "f16 q8_0"
#
# Needs the sentence-transformers venv of run.sh (torch + transformers, for the converter):
# $ST_PYTHON, default the venv bench/embeddings/run.sh makes (~/.cache/ingot/st-venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/bench/common.sh"
outtypes="${1:-f16 q8_0}"
py="${ST_PYTHON:-$HOME/.cache/ingot/st-venv/bin/python}"
minilm="$INGOT_MODEL_DIR/all-minilm-l6-v2"
[ -f "$minilm/model.safetensors" ] || "$root/scripts/setup-models.sh"
llama_server="$("$root/scripts/llama-server.sh")"
src="$(dirname "$(dirname "$(dirname "$llama_server")")")/src"
(cd "$root" && cargo build --release --locked -q -p ingot-cli)
echo "$(uptime)"

# One server at a time, so neither competes with the other for the two cores.
port="$(free_port)"
"$CARGO_TARGET_DIR/release/ingot" serve --port "$port" --no-chat --model-dir "$INGOT_MODEL_DIR" 2>/dev/null &
pids+=($!)
wait_ready "http://127.0.0.1:$port/v1/health/ready"
echo "== ingot serve" >&2
python3 "$here/http_driver.py" run --base-url "http://127.0.0.1:$port/v1" --model nvidia/nv-embed-v1 \
  --out "$out/ingot.json"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

for t in $outtypes; do
  gguf="$out/minilm-$t.gguf"
  PYTHONPATH="$src/gguf-py" "$py" "$src/convert_hf_to_gguf.py" "$minilm" --outfile "$gguf" \
    --outtype "$t" >/dev/null 2>&1
  port="$(free_port)"
  # 32 slots so a request of 32 inputs is one batch, as in ingot's worker.
  "$llama_server" -m "$gguf" --embedding --pooling mean --host 127.0.0.1 --port "$port" \
    --parallel 32 -c 16384 -b 8192 -ub 8192 -t "$(nproc)" --no-webui >/dev/null 2>&1 &
  pids+=($!)
  wait_ready "http://127.0.0.1:$port/health"
  echo "== llama-server --embedding ($t)" >&2
  python3 "$here/http_driver.py" run --base-url "http://127.0.0.1:$port/v1" --model minilm \
    --out "$out/llama-$t.json"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
  echo
  python3 "$here/http_driver.py" compare "$out/ingot.json" "$out/llama-$t.json" --peer "llama.cpp $t"
done
