#!/usr/bin/env bash
# Runs the demo task N times per tool protocol on the embedded local model and reports: how many runs ended
# verified, median wall time, median seconds per agent step, tokens per task, prompt and generation tokens/s (from
# llama.cpp's own timings), and how much of the prompt the prefix cache saved.
#
#   bench/local-model.sh [runs=5] [protocols="text native"]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
protocols=${2:-text native}
out=${BENCH_OUT:-$(mktemp -d /tmp/ferry-local-bench.XXXXXX)}
mkdir -p "$out"
swift build --product ferry >/dev/null
.build/debug/ferry model install
# One server for all runs (they reuse it), so each run measures the agent, not the model load.
.build/debug/ferry model serve >"$out/serve.log" 2>&1 &
serve=$!
trap 'kill -INT $serve 2>/dev/null; wait $serve 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    .build/debug/ferry model status | grep -q healthy && break
    sleep 1
done
for protocol in $protocols; do
    for i in $(seq 1 "$runs"); do
        echo "== $protocol run $i" >&2
        .build/debug/ferry demo --example examples/cart --tool-protocol "$protocol" --json >"$out/$protocol-$i.jsonl" 2>"$out/$protocol-$i.err" || true
    done
done
python3 - "$out" $protocols <<'PY'
import json, statistics, sys, glob, os
out, protocols = sys.argv[1], sys.argv[2:]
rows = []
for protocol in protocols:
    runs = []
    for path in sorted(glob.glob(f"{out}/{protocol}-*.jsonl")):
        events = [json.loads(l) for l in open(path) if l.startswith("{")]
        fin = next((e for e in events if e["type"] == "run.finished"), None)
        if not fin:
            continue
        replies = [e for e in events if e["type"] == "model.reply"]
        times = [e["time"] for e in replies]
        steps = [b - a for a, b in zip(times, times[1:])]
        t = [e["data"].get("server_timings") or {} for e in replies]
        prompt_n = sum(x.get("prompt_n", 0) for x in t)
        prompt_ms = sum(x.get("prompt_ms", 0) for x in t)
        gen_n = sum(x.get("predicted_n", 0) for x in t)
        gen_ms = sum(x.get("predicted_ms", 0) for x in t)
        cached = sum(x.get("cache_n", 0) for x in t)
        usage = fin["data"]["usage"]
        runs.append(dict(status=fin["data"]["status"], wall=fin["data"]["wall_s"], steps=fin["data"]["steps"],
                         step_s=steps, tokens=usage["input_tokens"] + usage["output_tokens"],
                         prompt_tps=prompt_n / prompt_ms * 1000 if prompt_ms else 0,
                         gen_tps=gen_n / gen_ms * 1000 if gen_ms else 0,
                         cache_saved=cached / (cached + prompt_n) if cached + prompt_n else 0))
    if not runs:
        continue
    med = lambda xs: statistics.median(xs) if xs else 0
    rows.append((protocol, sum(r["status"] == "verified" for r in runs), len(runs), med([r["wall"] for r in runs]),
                 med([s for r in runs for s in r["step_s"]]), med([r["tokens"] for r in runs]),
                 med([r["prompt_tps"] for r in runs]), med([r["gen_tps"] for r in runs]), med([r["cache_saved"] for r in runs])))
print("| protocol | verified | median wall s | median s/step | median tokens/task | prompt tok/s | gen tok/s | prompt cached |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for p, v, n, wall, step, tok, ptps, gtps, cache in rows:
    print(f"| {p} | {v}/{n} | {wall:.0f} | {step:.1f} | {tok:.0f} | {ptps:.0f} | {gtps:.1f} | {cache:.0%} |")
print(f"\nraw: {out}")
PY
