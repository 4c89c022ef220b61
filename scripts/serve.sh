#!/usr/bin/env bash
# Installs what is missing, builds in release mode and runs `ingot serve` on 127.0.0.1:8000
# with the embedded default models. Extra arguments go to `ingot serve`.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_debian_packages "${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" unzip
"$ROOT/scripts/setup-models.sh" --multilingual
log "building (release; target dir $CARGO_TARGET_DIR)"
cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" -p ingot-cli
exec "$CARGO_TARGET_DIR/release/ingot" serve --host 127.0.0.1 --port 8000 --model-dir "$INGOT_MODEL_DIR" "$@"
