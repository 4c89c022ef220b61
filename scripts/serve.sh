#!/usr/bin/env bash
# Installs what is missing, builds in release mode and runs `ingot serve` (127.0.0.1:8000 by
# default) with the embedded default models. Arguments go to `ingot serve` as they are
# (`scripts/serve.sh --port 9000`); INGOT_* variables and a config file (--config,
# INGOT_CONFIG) set host, port and model dir as they do for `ingot serve` itself.
set -euo pipefail
user_model_dir="${INGOT_MODEL_DIR:-}"
source "$(dirname "$0")/common.sh"
ensure_debian_packages "${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" unzip
"$ROOT/scripts/setup-models.sh" --multilingual
log "building (release; target dir $CARGO_TARGET_DIR)"
cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" -p ingot-cli
# The models were installed in the default place unless INGOT_MODEL_DIR said otherwise; left
# unset, a config file's `model_dir` applies.
[ -n "$user_model_dir" ] || unset INGOT_MODEL_DIR
exec "$CARGO_TARGET_DIR/release/ingot" serve "$@"
