#!/usr/bin/env python3
"""Why unresolved instances failed, from what each agent changed against what the real fix changed.

For every instance the scorer did not resolve, one cause:
- no change: the agent left the code as it was. For Ferry the trace says why (its `run.finished` limit and reason,
  and whether an attempt's change was made and undone because the tests failed it).
- wrong file: the change touched none of the source files the real fix changed.
- part of the files: the real fix changed several source files and the change only some of them.
- right files, wrong fix: the change touched every file the real fix did, and the hidden tests still failed.

  bench/failure_causes.py SUITE OUT AGENT...   # OUT: a bench/peers.sh output directory (predictions and scores)

Prints a table per agent and each instance's line; `--json` writes the rows.
"""
import argparse
import collections
import json
import os
import re


def files(patch):
    """Source files a unified diff changes (tests left out: the hidden tests are the scorer's)."""
    names = set()
    for line in (patch or "").splitlines():
        match = re.match(r"^diff --git a/(\S+) b/(\S+)", line)
        if match:
            names.add(match.group(2))
    return {n for n in names if not re.search(r"(^|/)(tests?|testing)(/|$)|(^|/)test_[^/]*\.py$|_test\.py$", n)}


def ferry_end(log):
    """Ferry's own account of the run: its limit or reason, and whether an attempt's change was undone."""
    limit, reason, undone, kinds = None, None, 0, []
    try:
        lines = open(log, errors="replace").read().splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        data = event.get("data") or {}
        if event.get("type") == "attempt.started":
            kinds.append(data.get("kind"))
        if event.get("type") == "attempt.finished" and data.get("outcome") == "undone":
            undone += 1
        if event.get("type") == "run.finished":
            limit, reason = data.get("limit"), data.get("reason")
    parts = [f"limit: {limit}" if limit else None, f"{undone} attempt(s) undone by the tests" if undone else None,
             f"attempts: {','.join(k for k in kinds if k)}" if kinds else None]
    return "; ".join(p for p in parts if p) or (reason or "")[:120]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("suite")
    parser.add_argument("out")
    parser.add_argument("agents", nargs="+")
    parser.add_argument("--json")
    args = parser.parse_args()
    gold = {}
    for line in open(args.suite):
        if line.strip():
            instance = json.loads(line)
            gold[instance["instance_id"]] = files(instance.get("patch"))
    rows = []
    for agent in args.agents:
        predictions = {}
        path = os.path.join(args.out, f"{agent}.predictions.jsonl")
        for line in open(path) if os.path.exists(path) else []:
            p = json.loads(line)
            predictions[p["instance_id"]] = p.get("model_patch") or ""
        results = {}
        path = os.path.join(args.out, f"score-{agent}", "results.jsonl")
        for line in open(path) if os.path.exists(path) else []:
            r = json.loads(line)
            results[r["instance_id"]] = r
        for iid, patch in predictions.items():
            if results.get(iid, {}).get("resolved"):
                continue
            changed, wanted = files(patch), gold.get(iid, set())
            if not patch.strip():
                cause = "no change"
            elif not changed & wanted:
                cause = "wrong file"
            elif not wanted <= changed:
                cause = "part of the files"
            else:
                cause = "right files, wrong fix"
            detail = ferry_end(os.path.join(args.out, f"{agent}-{iid}.log")) if agent == "ferry" else None
            rows.append({"agent": agent, "instance_id": iid, "cause": cause, "gold_files": sorted(wanted),
                         "changed_files": sorted(changed), "multi_file": len(wanted) > 1, "ferry": detail})
    print("| agent | unresolved | no change | wrong file | part of the files | right files, wrong fix |")
    print("|---|---:|---:|---:|---:|---:|")
    for agent in args.agents:
        mine = [r for r in rows if r["agent"] == agent]
        count = collections.Counter(r["cause"] for r in mine)
        print(f"| {agent} | {len(mine)} | {count['no change']} | {count['wrong file']} | {count['part of the files']} "
              f"| {count['right files, wrong fix']} |")
    print()
    for r in rows:
        print(f"- {r['agent']} {r['instance_id']}: {r['cause']} (fix: {', '.join(r['gold_files']) or '–'}; "
              f"changed: {', '.join(r['changed_files']) or '–'})" + (f" — {r['ferry']}" if r["ferry"] else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
