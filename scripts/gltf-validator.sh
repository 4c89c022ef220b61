#!/usr/bin/env bash
# Installs the pinned Khronos glTF-Validator (npm package `gltf-validator`,
# version locked in crates/ingot-gen3d/validator/package-lock.json) into a
# cache directory outside the repository and prints the path of validate.mjs.
#
#   scripts/gltf-validator.sh                 # install (idempotent) + print path
#   INGOT_GLTF_VALIDATOR=$(scripts/gltf-validator.sh) cargo test -p ingot-gen3d
#   node "$(scripts/gltf-validator.sh)" some.glb   # validate a file by hand
#
# Env: INGOT_GLTF_VALIDATOR_DIR (default $HOME/.cache/ingot/gltf-validator).
# Needs: node >= 18 and npm (registry access on first run only).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$repo_root/crates/ingot-gen3d/validator"
dest="${INGOT_GLTF_VALIDATOR_DIR:-${HOME}/.cache/ingot/gltf-validator}"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "gltf-validator.sh: '$tool' not found in PATH (install Node.js >= 18)" >&2
    exit 1
  fi
done

mkdir -p "$dest"
stamp="$dest/.installed-lock"
if [[ -f "$stamp" && -d "$dest/node_modules/gltf-validator" ]] \
  && cmp -s "$stamp" "$src/package-lock.json"; then
  # Already installed from this exact lockfile: just refresh the wrapper.
  cp "$src/validate.mjs" "$dest/validate.mjs"
else
  cp "$src/package.json" "$src/package-lock.json" "$src/validate.mjs" "$dest/"
  npm ci --prefix "$dest" --no-audit --no-fund --loglevel=error >&2
  cp "$src/package-lock.json" "$stamp"
fi
echo "$dest/validate.mjs"
