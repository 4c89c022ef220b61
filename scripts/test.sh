#!/usr/bin/env bash
# Runs every test: rustfmt check, clippy, the cargo tests (unit, integration, real-model),
# and the end-to-end tests through openai-python and langchain-nvidia-ai-endpoints.
# Installs what is missing first (Debian packages, model files, the glTF validator, a
# Python venv with pinned clients). Quick when nothing changed.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

ensure_debian_packages "${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" "${TEST_PACKAGES[@]}" \
  "${UI_TEST_PACKAGES[@]}" unzip
command -v npm >/dev/null 2>&1 || ensure_debian_packages nodejs npm
python3 -c 'import ensurepip, venv' 2>/dev/null || ensure_debian_packages python3-venv
scripts/setup-models.sh --multilingual
export INGOT_GLTF_VALIDATOR="$(scripts/gltf-validator.sh)"
# llama.cpp's own server: the SDK's tests run against it (built once per machine).
export INGOT_LLAMA_SERVER="$(scripts/llama-server.sh)"
# Tests that need model files or tools fail (instead of skipping) when they are missing.
export INGOT_REQUIRE_MODELS=1 INGOT_REQUIRE_TOOLS=1

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --release --locked --workspace --all-targets -- -D warnings
log "cargo test"
cargo test --release --locked --workspace
cargo build --release --locked -p ingot-cli -p ingot-test-support --bins

VENV="$INGOT_CACHE/e2e-venv"
REQS="$ROOT/e2e/requirements.txt"
if ! cmp -s "$REQS" "$VENV/.requirements" 2>/dev/null; then
  log "installing the end-to-end clients into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
  cp "$REQS" "$VENV/.requirements"
fi
log "end-to-end tests (openai-python, langchain-nvidia-ai-endpoints)"
INGOT_BIN="$CARGO_TARGET_DIR/release/ingot" \
  INGOT_TEST_PROJECTOR="$CARGO_TARGET_DIR/release/ingot-test-projector" \
  "$VENV/bin/python" -m pytest -q e2e

# Packaging: the systemd unit always; the container image where a Docker daemon runs.
if command -v systemd-analyze >/dev/null 2>&1; then
  log "systemd-analyze verify packaging/ingot.service"
  systemd-analyze verify packaging/ingot.service
fi
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  log "docker build (packaging/Dockerfile)"
  docker build --quiet -f packaging/Dockerfile -t ingot:test .
else
  log "docker build skipped: no Docker daemon on this machine"
fi
