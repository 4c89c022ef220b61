# Shared settings for the project's scripts; sourced, not run.
# Build outputs and downloaded files live outside the clone so fresh clones reuse them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ingot/target}"
export INGOT_MODEL_DIR="${INGOT_MODEL_DIR:-$HOME/.cache/ingot/models}"
INGOT_CACHE="${INGOT_CACHE:-$HOME/.cache/ingot}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The toolchain rust-toolchain.toml pins. Where rustup does not have it under that name but its
# default toolchain is the same release (an offline machine), the default is used; otherwise
# rustup installs the pinned one.
ensure_toolchain() {
  [ -n "${RUSTUP_TOOLCHAIN:-}" ] && return 0
  command -v rustup >/dev/null 2>&1 || return 0
  local pinned have
  pinned="$(sed -n 's/^channel = "\(.*\)"$/\1/p' "$ROOT/rust-toolchain.toml")"
  rustup toolchain list | grep -q "^$pinned-" && return 0
  have="$(RUSTUP_TOOLCHAIN=stable rustc --version 2>/dev/null | awk '{print $2}')"
  if [ "$have" = "$pinned" ]; then
    export RUSTUP_TOOLCHAIN=stable
  else
    log "installing the pinned Rust toolchain $pinned (rust-toolchain.toml)"
    rustup toolchain install "$pinned" --profile minimal --component clippy,rustfmt
  fi
}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Debian packages the build needs (llama.cpp is compiled from source with cmake and clang).
ensure_debian_packages() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

BUILD_PACKAGES=(cmake clang libclang-dev)
# What the local vision engine runs: Tesseract OCR and ffmpeg (video frames).
RUNTIME_PACKAGES=(tesseract-ocr tesseract-ocr-eng ffmpeg)
# Only the tests: a TrueType font to render text that OCR must read back, and Redis and
# PostgreSQL for the shared-state tests (each test starts its own redis-server, or its own
# PostgreSQL cluster in a temporary folder, on a free loopback port, and stops it after;
# the packages' own services are not used).
TEST_PACKAGES=(fonts-dejavu-core redis-server postgresql)
# Only the browser tests of the playground (e2e/test_playground.py): Debian's Chromium,
# driven through Playwright for Python; no browser build is downloaded.
UI_TEST_PACKAGES=(chromium chromium-driver)

ensure_toolchain
