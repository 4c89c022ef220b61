#!/usr/bin/env bash
# Start time and memory of `ingot serve` with the default pack (the embedded defaults, no
# config file): the time from process start to GET /v1/health/ready answering 200, and the
# resident memory (VmRSS, and the peak VmHWM) idle after start, then while 8 chat streams
# of 128 tokens run (sampled every 50 ms), then idle again.
#
#   bench/footprint/run.sh [--runs 3]
#
# Needs the default pack (scripts/setup-models.sh; INGOT_MODEL_DIR) and builds the release
# binary. Targets (issue 20): ready < 2 s, RSS < 1.5 GB.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/bench/common.sh"
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
(cd "$root" && cargo build --release --locked -q -p ingot-cli)
# A copy, so that a rebuild cannot replace the binary mid-run; a warm page cache for the
# model files, as on a machine that has started the server before.
cp "$CARGO_TARGET_DIR/release/ingot" "$out/ingot"
cat "$INGOT_MODEL_DIR"/*/* >/dev/null 2>&1 || true
python3 "$here/measure.py" --bin "$out/ingot" --model-dir "$INGOT_MODEL_DIR" --runs "$runs"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
