#!/usr/bin/env bash
# Single-stream chat throughput: ingot-engine in-process vs llama.cpp in-process
# (llama-cpp-python, pinned), on the same GGUF and the same prompt tokens.
#
#   bench/chat/run.sh [--threads N] [--n-predict N] [--repeat N] [--streams N] [--http BASE_URL MODEL]
#
# Env: INGOT_MODEL_DIR (default ~/.cache/ingot/models), CARGO_TARGET_DIR (default
# ~/.cache/ingot/target, shared with the tests), BENCH_VENV (default ~/.cache/ingot/bench-venv; created and
# llama-cpp-python installed there when missing: compiles llama.cpp, 10-15 minutes on 2 cores;
# LLAMA_CPP_CMAKE_ARGS overrides its CMake flags, default -DGGML_NATIVE=OFF).
# Extra environment for the engine build via ENGINE_ENV, e.g. an AVX-512 build of ggml
# (llama-cpp-sys-2 forwards GGML_* variables to CMake; it forces GGML_NATIVE=OFF itself):
#   ENGINE_ENV="GGML_AVX512=ON GGML_AVX512_VBMI=ON GGML_AVX512_VNNI=ON GGML_AVX512_BF16=ON" \
#     CARGO_TARGET_DIR=~/.cache/ingot-target-avx512 bench/chat/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
LLAMA_CPP_PYTHON_VERSION="0.3.36"
model_dir="${INGOT_MODEL_DIR:-$HOME/.cache/ingot/models}"
model="$model_dir/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ingot/target}"
venv="${BENCH_VENV:-$HOME/.cache/ingot/bench-venv}"
threads="$(nproc)"; n_predict=128; repeat=3; streams=1; http_url=""; http_model=""
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --n-predict) n_predict="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --streams) streams="$2"; shift 2 ;;
    --http) http_url="$2"; http_model="$3"; shift 3 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -f "$model" ] || { echo "model not found: $model (set INGOT_MODEL_DIR)" >&2; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

if [ -n "$http_url" ]; then
  python3 "$here/driver.py" http --base-url "$http_url" --model "$http_model" --max-tokens "$n_predict"
  exit 0
fi

echo "== building ingot-engine chat_bench (release)" >&2
(cd "$root" && env ${ENGINE_ENV:-} cargo build --release -q -p ingot-engine --example chat_bench)
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "== installing llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION into $venv (compiles llama.cpp)" >&2
  python3 -m venv "$venv"
  # GGML_NATIVE=OFF: the same AVX2/FMA/F16C baseline as ingot's llama-cpp-2 build. A native
  # build also compiles ggml's AMX kernels, which crash (SIGSEGV on any multi-token batch) in
  # VMs whose CPUs report AMX without granting it.
  CMAKE_ARGS="${LLAMA_CPP_CMAKE_ARGS:--DGGML_NATIVE=OFF}" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$venv/bin/pip" install -q --no-cache-dir "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
fi

echo "== ingot-engine in-process (threads=$threads, n_predict=$n_predict)" >&2
"$CARGO_TARGET_DIR/release/examples/chat_bench" --model "$model" --threads "$threads" \
  --n-predict "$n_predict" --repeat "$repeat" --streams "$streams" --dump-tokens "$out/prompt.json" \
  2>/dev/null | tee "$out/engine.json"
echo "== llama.cpp in-process via llama-cpp-python" >&2
"$venv/bin/python" "$here/driver.py" llamacpp --model "$model" --tokens "$out/prompt.json" \
  --threads "$threads" --n-predict "$n_predict" --repeat "$repeat" | tee "$out/llamacpp.json"
echo
python3 "$here/driver.py" compare "$out/engine.json" "$out/llamacpp.json"
