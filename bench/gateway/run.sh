#!/usr/bin/env bash
# What a gateway adds to a request: a fast mock upstream on loopback (a fixed small JSON
# completion, or a short SSE stream), hit directly, through `ingot serve` and through the
# LiteLLM proxy (PyPI litellm[proxy], installed into its own venv), one after the other on
# the same machine in the same run. Load: our own open-loop generator
# (crates/ingot-proxy/examples/gateway_load.rs, reqwest on two threads; latency counted
# from each request's scheduled time).
#
#   bench/gateway/run.sh [--seconds 10] [--rates 200,500,1000] [--no-litellm]
#
# Prints, per target and rate, p50/p99 latency and the latency added over the direct path,
# then the highest rate each sustains (< 1% errors, >= 95% of the rate answered; steps up
# from 100/s) and the ratios ingot / LiteLLM. The raw JSON lines are kept in
# $GATEWAY_RESULTS (default /tmp/gateway-results.jsonl).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/bench/common.sh"
seconds=10; rates="200,500,1000"; litellm=1
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --rates) rates="$2"; shift 2 ;;
    --no-litellm) litellm=""; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
LITELLM_VERSION="1.79.3"

(cd "$root" && cargo build --release --locked -q -p ingot-cli \
  && cargo build --release --locked -q -p ingot-proxy --example mock_upstream --example gateway_load)
bin="$CARGO_TARGET_DIR/release"
load="$bin/examples/gateway_load"

mock_port="$(free_port)"
"$bin/examples/mock_upstream" "$mock_port" 2>/dev/null &
pids+=($!)
wait_ready "http://127.0.0.1:$mock_port/v1/models"
direct="http://127.0.0.1:$mock_port/v1/chat/completions"

# ingot: no local engine, every bench/* id routed to the mock.
ingot_port="$(free_port)"
cat > "$out/ingot.toml" <<EOF
[chat]
enabled = false
[embeddings]
enabled = false
[vision]
enabled = false
[ui]
enabled = false

[[upstreams]]
name = "mock"
base_url = "http://127.0.0.1:$mock_port/v1"
models = ["bench/*"]
EOF
"$bin/ingot" serve --config "$out/ingot.toml" --port "$ingot_port" 2>/dev/null &
pids+=($!)
wait_ready "http://127.0.0.1:$ingot_port/v1/health/ready"
through_ingot="http://127.0.0.1:$ingot_port/v1/chat/completions"

through_litellm=""
if [ -n "$litellm" ]; then
  venv="$INGOT_CACHE/gateway-venv"
  if ! "$venv/bin/python" -c "import litellm, sys; sys.exit(litellm.__version__ != '$LITELLM_VERSION')" 2>/dev/null \
    && ! "$venv/bin/pip" show litellm 2>/dev/null | grep -q "^Version: $LITELLM_VERSION$"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION"
  fi
  litellm_port="$(free_port)"
  litellm_pid=""
  cat > "$out/litellm.yaml" <<EOF
model_list:
  - model_name: bench/json
    litellm_params:
      model: openai/bench/json
      api_base: http://127.0.0.1:$mock_port/v1
      api_key: none
litellm_settings:
  drop_params: true
EOF
  # Its defaults: as many workers as cores.
  start_litellm() {
    if [ -n "$litellm_pid" ]; then
      pkill -P "$litellm_pid" 2>/dev/null || true
      kill "$litellm_pid" 2>/dev/null || true
      wait "$litellm_pid" 2>/dev/null || true
    fi
    "$venv/bin/litellm" --config "$out/litellm.yaml" --host 127.0.0.1 --port "$litellm_port" \
      >>"$out/litellm.log" 2>&1 &
    litellm_pid=$!
    pids+=($!)
    wait_ready "http://127.0.0.1:$litellm_port/health/liveliness"
  }
  start_litellm
  through_litellm="http://127.0.0.1:$litellm_port/v1/chat/completions"
fi

# Before each run, the target must answer three requests in a row within 2 s each: a server
# still working off an overload from the previous run would fail this run for that. A
# LiteLLM proxy that has not recovered after 30 s is restarted.
settle() { # target url
  local ok=0
  for _ in $(seq 30); do
    if curl -sf -m 2 -H 'content-type: application/json' \
      -d '{"model":"bench/json","messages":[{"role":"user","content":"hi"}]}' "$2" >/dev/null; then
      ok=$((ok + 1)); [ "$ok" -ge 3 ] && return 0
    else
      ok=0; sleep 1
    fi
  done
  if [ "$1" = litellm ]; then
    echo "   (LiteLLM did not recover from the last run: restarted)" >&2
    start_litellm
  fi
}

run() { # target url rate seconds [--stream]
  local name="$1" url="$2" rate="$3" secs="$4"; shift 4
  "$load" --url "$url" --rate "$rate" --seconds "$secs" --model bench/json "$@" \
    | python3 -c "import json,sys; d=json.load(sys.stdin); d['target']='$name'; print(json.dumps(d))"
}

results="${GATEWAY_RESULTS:-/tmp/gateway-results.jsonl}"
: > "$results"
targets=("direct $direct" "ingot $through_ingot")
[ -n "$through_litellm" ] && targets+=("litellm $through_litellm")
for t in "${targets[@]}"; do
  set -- $t
  # Warm-up: connections, caches, the JIT-free paths of each server.
  run "$1" "$2" 200 2 >/dev/null
  for kind in "" "--stream"; do
    for r in ${rates//,/ }; do
      echo "== $1 ${kind:---json} $r/s" >&2
      settle "$1" "$2"
      run "$1" "$2" "$r" "$seconds" $kind >> "$results"
    done
  done
  # The highest rate it sustains: step up until errors reach 1% or it falls behind.
  for r in 100 200 300 500 1000 2000 3000 4000 6000 8000 12000 16000; do
    echo "== $1 sustain $r/s" >&2
    settle "$1" "$2"
    line="$(run "$1" "$2" "$r" 5 | python3 -c "import json,sys; d=json.load(sys.stdin); d['probe']=True; print(json.dumps(d))")"
    echo "$line" >> "$results"
    echo "$line" | python3 -c "
import json, sys
d = json.load(sys.stdin)
ok = d['errors'] <= 0.01 * d['sent'] and d['ok'] >= 0.95 * d['sent'] and d['achieved_rps'] >= 0.95 * d['rate']
sys.exit(0 if ok else 1)" || break
  done
done

python3 "$here/report.py" "$results"
echo "machine: $(nproc) cores, $(uname -m); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
