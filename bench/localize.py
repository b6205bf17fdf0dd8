#!/usr/bin/env python3
"""File- and function-level localisation of `ferry locate` (no model) on SWE-bench Lite instances whose repositories are cloned here.

For each repository, one worktree is checked out at each instance's base commit in commit-date order, so the
index is updated incrementally from the previous instance (the index's own incremental path). Acc@k counts an
instance when every file of its gold patch is in the top k. Each feature set is an ablation: what each ingredient
adds on top of plain BM25.

  bench/localize.py --repos DIR [--suite FILE] [--ferry PATH] [--out FILE] [--limit N]

DIR holds clones named owner__name (psf__requests, pallets__flask, pytest-dev__pytest, sympy__sympy) with full
history; they never go into the project. A mined suite (`ferry eval mine`) names its clone by absolute path, which
is used as it is:

  bench/localize.py --suite evals/out/mined-sqlparse/suite.jsonl --ferry .build/debug/ferry
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

FEATURES = {
    "bm25": "bm25",
    "bm25+tests": "bm25,tests",
    "bm25+tests+mentions": "bm25,tests,mentions",
    "bm25+tests+mentions+symbols": "bm25,tests,mentions,symbols",
    "all (+ each file's definitions ranked over all its chunks)": "all",
}
REPOS = {"psf/requests", "pallets/flask", "pytest-dev/pytest", "sympy/sympy"}


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def gold_files(patch):
    return sorted(set(re.findall(r"^diff --git a/(\S+) b/", patch, re.M)))


def changed_old_lines(patch):
    """Old-side line numbers each file's hunks touch (a pure insertion counts the line it follows)."""
    lines, path, old = {}, None, 0
    for line in patch.splitlines():
        if line.startswith("--- "):
            path = line[6:] if line.startswith("--- a/") else None
        elif line.startswith("@@") and path:
            old = int(re.match(r"@@ -(\d+)", line).group(1))
        elif path and line.startswith("-") and not line.startswith("---"):
            lines.setdefault(path, set()).add(old)
            old += 1
        elif path and line.startswith("+") and not line.startswith("+++"):
            lines.setdefault(path, set()).add(max(old - 1, 1))
        elif path and line.startswith(" "):
            old += 1
    return lines


def gold_functions(tree, patch):
    """`path::Qualified.name` of the innermost function or class around each changed line of the gold patch, read
    from the file at the base commit with Python's own parser. Module-level changes name no function."""
    import ast
    found = set()
    for path, numbers in changed_old_lines(patch).items():
        if not path.endswith(".py"):
            continue
        try:
            module = ast.parse(open(os.path.join(tree, path), "rb").read())
        except (OSError, SyntaxError, ValueError):
            continue
        spans = []

        def walk(node, scope):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = ".".join(scope + [child.name])
                    start = min([child.lineno] + [d.lineno for d in child.decorator_list])
                    spans.append((start, child.end_lineno, name))
                    walk(child, scope + [child.name])
                else:
                    walk(child, scope)
        walk(module, [])
        for number in numbers:
            around = [s for s in spans if s[0] <= number <= s[1]]
            if around:
                found.add(path + "::" + min(around, key=lambda s: s[1] - s[0])[2])
    return sorted(found)


def ranked_functions(located):
    """The located files' functions in rank order, as `path::name`."""
    return [f["path"] + "::" + name for f in located for name in f.get("functions", [])]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", default="")
    parser.add_argument("--suite", default=os.path.join(here, "../../shared/data/swebench/swe_bench_lite.jsonl"))
    parser.add_argument("--ferry", default=os.path.join(here, "../.build/release/ferry"))
    parser.add_argument("--out", default="localize-results.jsonl")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--features", default=",".join(FEATURES))
    args = parser.parse_args()
    chosen = [name for name in FEATURES if name in args.features.split(",")] or list(FEATURES)

    instances = [json.loads(line) for line in open(args.suite) if line.strip()]
    instances = [i for i in instances if i["repo"] in REPOS or os.path.isabs(i["repo"])]
    if args.limit:
        instances = instances[: args.limit]
    work = tempfile.mkdtemp(prefix="ferry-localize-")
    results = []
    index_times = []
    by_repo = {}
    for instance in instances:
        by_repo.setdefault(instance["repo"], []).append(instance)
    with open(args.out, "w") as out:
        for repo, group in sorted(by_repo.items()):
            source = repo if os.path.isabs(repo) else os.path.join(args.repos, repo.replace("/", "__"))
            tree = os.path.join(work, repo.strip("/").replace("/", "__"))
            git(source, "worktree", "add", "-q", "--detach", tree, group[0]["base_commit"])
            dated = sorted(group, key=lambda i: int(git(source, "show", "-s", "--format=%ct", i["base_commit"]).strip()))
            for instance in dated:
                git(tree, "checkout", "-q", "-f", instance["base_commit"])
                git(tree, "clean", "-fdxq", "-e", ".ferry")
                started = time.monotonic()
                stats = json.loads(subprocess.run([args.ferry, "index", "--repo", tree, "--json"], check=True,
                                                  capture_output=True, text=True).stdout)
                index_times.append((repo, time.monotonic() - started, stats["stats"]["changed"]))
                gold = gold_files(instance["patch"])
                row = {"instance_id": instance["instance_id"], "repo": repo, "gold": gold, "ranks": {},
                       "gold_functions": gold_functions(tree, instance["patch"]), "function_ranks": {}}
                for name in chosen:
                    started = time.monotonic()
                    proc = subprocess.run(
                        [args.ferry, "locate", "-", "--repo", tree, "--json", "--limit", "10", "--features", FEATURES[name]],
                        input=instance["problem_statement"], capture_output=True, text=True, check=True)
                    located = json.loads(proc.stdout)
                    row["ranks"][name] = [f["path"] for f in located]
                    row["function_ranks"][name] = ranked_functions(located)
                    row.setdefault("seconds", {})[name] = round(time.monotonic() - started, 3)
                out.write(json.dumps(row) + "\n")
                out.flush()
                results.append(row)
                top = row["ranks"][chosen[-1]][:3]
                print(f"{instance['instance_id']}: gold {gold} · top {top}", file=sys.stderr)
            git(source, "worktree", "remove", "--force", tree)
    shutil.rmtree(work, ignore_errors=True)

    def acc(rows, name, k):
        hits = sum(1 for r in rows if r["gold"] and set(r["gold"]) <= set(r["ranks"][name][:k]))
        return 100.0 * hits / len(rows) if rows else 0.0

    def function_acc(rows, name, k):
        rows = [r for r in rows if r["gold_functions"]]
        hits = sum(1 for r in rows if set(r["gold_functions"]) <= set(r["function_ranks"][name][:k]))
        return 100.0 * hits / len(rows) if rows else 0.0, len(rows)

    print(f"\n{len(results)} instances ({', '.join(f'{r}: {len(g)}' for r, g in sorted(by_repo.items()))})\n")
    print("| signals | Acc@1 | Acc@5 | Acc@10 |")
    print("|---|---:|---:|---:|")
    for name in chosen:
        print(f"| {name} | {acc(results, name, 1):.1f}% | {acc(results, name, 5):.1f}% | {acc(results, name, 10):.1f}% |")
    print("\nfunction level (every gold function in the top k of the ranked files' functions, in rank order):\n")
    print("| signals | instances | Acc@1 | Acc@3 | Acc@5 | Acc@10 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in chosen:
        a1, n = function_acc(results, name, 1)
        rest = " | ".join(f"{function_acc(results, name, k)[0]:.1f}%" for k in (3, 5, 10))
        print(f"| {name} | {n} | {a1:.1f}% | {rest} |")
    print("\nper repository (all signals):\n")
    print("| repository | n | Acc@1 | Acc@5 | Acc@10 |")
    print("|---|---:|---:|---:|---:|")
    for repo in sorted(by_repo):
        rows = [r for r in results if r["repo"] == repo]
        name = chosen[-1]
        print(f"| {repo} | {len(rows)} | {acc(rows, name, 1):.1f}% | {acc(rows, name, 5):.1f}% | {acc(rows, name, 10):.1f}% |")
    incremental = sorted(t for _, t, _ in index_times[1:])
    if incremental:
        print(f"\nindex update per checkout: median {incremental[len(incremental) // 2]:.2f}s over {len(incremental)} checkouts")


if __name__ == "__main__":
    main()
