#!/usr/bin/env bash
# Ferry, mini-swe-agent and aider on the same suite with the same local model (Qwen2.5-Coder-1.5B via llama.cpp's
# server, started here with --metrics so every agent's tokens are counted by the server), each scored by
# `ferry eval run --predictions`, and one comparison table.
#
#   bench/peers.sh [suite=evals/ferry-easy/suite.jsonl] [limit] [agents=ferry,mini-swe-agent,aider,aider-whole]
#   REPOS=DIR INSTANCES=id,id bench/peers.sh SWE-BENCH.jsonl   # SWE-bench instances: clones owner__name under DIR
#   FERRY_DATA=DIR bench/peers.sh ...   # Ferry's run store from an earlier sitting (default: a fresh one in the output)
#
# Peers are pinned and installed into their own venvs under $PEERS_DIR (default ~/.cache/ferry/peers).
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-evals/ferry-easy/suite.jsonl}
limit=${2:-}
agents=${3:-ferry,mini-swe-agent,aider,aider-whole}
peers=${PEERS_DIR:-$HOME/.cache/ferry/peers}
out=${BENCH_OUT:-evals/out/peers-$(date +%Y%m%dT%H%M%S)}
port=${PORT:-8719}
mkdir -p "$peers" "$out"

[ -x "$peers/mini/bin/mini" ] || { python3 -m venv "$peers/mini" && "$peers/mini/bin/pip" install -q mini-swe-agent==2.4.6; }
[ -x "$peers/aider/bin/aider" ] || { python3 -m venv "$peers/aider" && "$peers/aider/bin/pip" install -q aider-chat==0.86.2; }

ferry=${FERRY:-.build/debug/ferry}
[ -n "${FERRY:-}" ] || swift build --product ferry >/dev/null
$ferry model install
model=$(ls "${XDG_CACHE_HOME:-$HOME/.cache}"/ferry/models/*.gguf | head -1)
server=$(ls "${XDG_CACHE_HOME:-$HOME/.cache}"/ferry/llama.cpp/*/llama-server | head -1)
# The same server settings Ferry's local profile uses (16k context, one slot), plus the token counters. --jinja
# applies the model's own chat template, which llama.cpp needs to take a request's `tools` (mini-swe-agent sends
# them; without it every call is refused: "tools param requires --jinja flag").
"$server" -m "$model" --host 127.0.0.1 --port "$port" -c 16384 -np 1 --metrics --jinja >"$out/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 1; done

python3 bench/peers.py --suite "$suite" --out "$out" --peers "$peers" --ferry "$ferry" \
    --base-url "http://127.0.0.1:$port/v1" --agents "$agents" ${limit:+--limit "$limit"} \
    ${REPOS:+--repos "$REPOS"} ${INSTANCES:+--instances "$INSTANCES"} \
    ${FERRY_DATA:+--ferry-data "$FERRY_DATA"}

for agent in ${agents//,/ }; do
    # A change can hang the hidden tests (an endless loop on an empty file); five minutes is plenty for these suites.
    $ferry eval run "$suite" --predictions "$out/$agent.predictions.jsonl" --label "$agent" ${limit:+--limit "$limit"} --test-timeout 300 \
        ${REPOS:+--repos "$REPOS"} ${INSTANCES:+--instances "$INSTANCES"} \
        --out "$out/score-$agent" >"$out/score-$agent.log" 2>&1 || true
done
python3 bench/peers_summary.py "$out" ${agents//,/ } | tee "$out/comparison.md"
