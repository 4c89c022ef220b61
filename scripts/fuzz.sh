#!/usr/bin/env bash
# Runs the cargo-fuzz targets under fuzz/ (libFuzzer), one after the other.
#
#   scripts/fuzz.sh                 every target, 600 s each
#   scripts/fuzz.sh TARGET [SECS]   one target ("all" for every one)
#   scripts/fuzz.sh --build         build the fuzz binaries only
#
# Uses a nightly toolchain when rustup has one (`cargo +nightly fuzz`), else the pinned
# stable one with RUSTC_BOOTSTRAP=1; AddressSanitizer when it builds, else `-s none`.
# Seeds are read from fuzz/corpus/TARGET and fuzz/regressions/TARGET; what libFuzzer finds
# goes to $INGOT_CACHE/fuzz/corpus/TARGET (outside the clone), crash inputs to
# $INGOT_CACHE/fuzz/artifacts/TARGET/, the log to $INGOT_CACHE/fuzz/logs/TARGET.log.
# A crash input, once fixed, becomes fuzz/regressions/TARGET/<name> (replayed by
# `cargo test -p ingot-fuzz`).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

TARGETS=(chat_request other_requests media_intake chat_template sse_client sse_proxy config e5_container)
BUILD_ONLY=0
if [ "${1:-}" = "--build" ]; then BUILD_ONLY=1; shift; fi
WHICH="${1:-all}"
SECS="${2:-600}"
if [ "$WHICH" = "all" ]; then
  RUN=("${TARGETS[@]}")
else
  printf '%s\n' "${TARGETS[@]}" | grep -qx "$WHICH" || { log "unknown target $WHICH (one of: ${TARGETS[*]})"; exit 2; }
  RUN=("$WHICH")
fi

ensure_debian_packages "${BUILD_PACKAGES[@]}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
if command -v rustup >/dev/null 2>&1 && rustup toolchain list | grep -q '^nightly'; then
  FUZZ=(cargo +nightly fuzz)
else
  ensure_toolchain
  export RUSTC_BOOTSTRAP=1
  FUZZ=(cargo fuzz)
fi
# Outside the clone, apart from the workspace's own target directory (other flags).
export CARGO_TARGET_DIR="$INGOT_CACHE/fuzz-target"
OUT="$INGOT_CACHE/fuzz"
SAN=(-s address)
log "building the fuzz targets (${FUZZ[*]}, target dir $CARGO_TARGET_DIR)"
if ! "${FUZZ[@]}" build "${SAN[@]}"; then
  log "AddressSanitizer is unavailable; building without a sanitizer"
  SAN=(-s none)
  "${FUZZ[@]}" build "${SAN[@]}"
fi
[ "$BUILD_ONLY" = 1 ] && exit 0

failed=()
for t in "${RUN[@]}"; do
  mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t" "$OUT/logs" "fuzz/corpus/$t"
  seeds=("fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && seeds+=("fuzz/regressions/$t")
  log "fuzzing $t for $SECS s (log: $OUT/logs/$t.log)"
  # The first corpus directory receives new inputs: the scratch one, not the committed seeds.
  set +e
  "${FUZZ[@]}" run "${SAN[@]}" "$t" "$OUT/corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/$t/" >"$OUT/logs/$t.log" 2>&1
  rc=$?
  set -e
  grep -E '^#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb' "$OUT/logs/$t.log" || true
  if [ "$rc" -ne 0 ]; then
    log "$t: libFuzzer exited with $rc; see $OUT/logs/$t.log and $OUT/artifacts/$t/"
    tail -n 40 "$OUT/logs/$t.log" >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  log "findings in: ${failed[*]}"
  exit 1
fi
