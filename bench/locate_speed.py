#!/usr/bin/env python3
"""How long `ferry locate` takes with and without a feature, on one indexed repository, in one run (alternating, so
the machine's noise falls on both): problem statements from a SWE-bench suite for that repository.

  bench/locate_speed.py --repo /work/repos/sympy__sympy --suite SWE.jsonl [--features "bm25,tests,mentions,symbols" "all"] [--reps 3]
"""
import argparse, json, statistics, subprocess, time, os

parser = argparse.ArgumentParser()
parser.add_argument("--repo", required=True)
parser.add_argument("--suite", required=True)
parser.add_argument("--ferry", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.build/release/ferry"))
parser.add_argument("--features", nargs="+", default=["bm25,tests,mentions,symbols", "all"])
parser.add_argument("--limit", type=int, default=10)
parser.add_argument("--reps", type=int, default=3)
args = parser.parse_args()
name = os.path.basename(args.repo.rstrip("/")).replace("__", "/")
texts = [json.loads(l)["problem_statement"] for l in open(args.suite) if json.loads(l)["repo"] == name][: args.limit]
seconds = {f: [] for f in args.features}
for _ in range(args.reps):
    for text in texts:
        for features in args.features:
            started = time.monotonic()
            subprocess.run([args.ferry, "locate", "-", "--repo", args.repo, "--json", "--limit", "10", "--features", features],
                           input=text, capture_output=True, text=True, check=True)
            seconds[features].append(time.monotonic() - started)
base = statistics.median(seconds[args.features[0]])
for features in args.features:
    median = statistics.median(seconds[features])
    print(f"{features}: median {median:.3f}s over {len(seconds[features])} calls ({median / base:.2f}x)")
