#!/usr/bin/env python3
"""`ferry ask` on SWE-bench problem statements asked as questions, beside `ferry locate`: for each instance, the
repository at its base commit, then
- locate: whether its first file is one the gold patch changes;
- ask: whether the answer read a gold file (its excerpts), cited a gold file with a valid citation, and named a gold
  function (a function in the gold patch's hunk headers, or a `def`/`class` the patch adds or removes).

  bench/ask_gold.py --repos DIR [--suite FILE] [--ferry PATH] [--limit N] [--per-repo K] [--out FILE]

DIR holds clones named owner__name with full history (or mirrors with a `repo` git dir inside); they never go into
the project. Uses the embedded local model unless the config says otherwise.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

parser = argparse.ArgumentParser()
parser.add_argument("--repos", required=True)
parser.add_argument("--suite", default="../shared/data/swebench/swe_bench_lite_4repos.jsonl")
parser.add_argument("--ferry", default=".build/debug/ferry")
parser.add_argument("--per-repo", type=int, default=6)
parser.add_argument("--limit", type=int, default=12)
parser.add_argument("--out")
args = parser.parse_args()
ferry = os.path.abspath(args.ferry)


def gold_files(patch):
    return sorted(set(re.findall(r"^diff --git a/(\S+) b/", patch, re.M)))


def gold_functions(patch):
    names = set()
    for header in re.findall(r"^@@[^@]*@@\s*(.*)$", patch, re.M):
        m = re.search(r"(?:def|class)\s+([A-Za-z_][A-Za-z0-9_]*)", header)
        if m:
            names.add(m.group(1))
    for line in patch.splitlines():
        m = re.match(r"^[+-]\s*(?:def|class)\s+([A-Za-z_][A-Za-z0-9_]*)", line)
        if m:
            names.add(m.group(1))
    return names


def source_dir(repo):
    name = repo.replace("/", "__")
    for candidate in (os.path.join(args.repos, name), os.path.join(args.repos, repo.replace("/", "+"), "repo")):
        if os.path.exists(candidate):
            return candidate
    return None


instances = [json.loads(line) for line in open(args.suite)]
chosen, per = [], {}
for instance in instances:
    if source_dir(instance["repo"]) is None or per.get(instance["repo"], 0) >= args.per_repo:
        continue
    per[instance["repo"]] = per.get(instance["repo"], 0) + 1
    chosen.append(instance)
chosen = chosen[: args.limit]

rows = []
work = tempfile.mkdtemp(prefix="ferry-ask-gold-")
for instance in chosen:
    source = source_dir(instance["repo"])
    tree = os.path.join(work, instance["instance_id"])
    subprocess.run(["git", "clone", "-q", "--no-checkout", source, tree], check=True)
    subprocess.run(["git", "-C", tree, "checkout", "-q", instance["base_commit"]], check=True)
    files, functions = gold_files(instance["patch"]), gold_functions(instance["patch"])
    question = instance["problem_statement"][:3000]
    located = subprocess.run([ferry, "locate", "--json", question], cwd=tree, capture_output=True, text=True)
    try:
        first = json.loads(located.stdout)[0]["path"]
    except Exception:
        first = None
    started = time.monotonic()
    asked = subprocess.run([ferry, "ask", "--json", question], cwd=tree, capture_output=True, text=True)
    seconds = time.monotonic() - started
    try:
        answer = json.loads(asked.stdout)
    except Exception:
        answer = {"answer": "", "citations": [], "sources": []}
    read = {s["path"] for s in answer.get("sources", [])}
    cited = {c["path"] for c in answer.get("citations", []) if c.get("valid")}
    text = answer.get("answer", "")
    row = {
        "instance": instance["instance_id"],
        "locate_first": first in files,
        "read_gold": bool(read & set(files)),
        "cited_gold": bool(cited & set(files)),
        "named_function": any(re.search(r"\b%s\b" % re.escape(f), text) for f in functions),
        "valid_citation": bool(cited),
        "seconds": round(seconds, 1),
    }
    rows.append(row)
    print(json.dumps(row), flush=True)

n = len(rows)
def count(key):
    return sum(1 for r in rows if r[key])
table = "| measure | of %d |\n|---|---:|\n" % n
for key, label in [("locate_first", "locate's first file is a gold file"), ("read_gold", "ask read a gold file"),
                   ("cited_gold", "ask cited a gold file (valid citation)"),
                   ("named_function", "ask named a gold function"), ("valid_citation", "ask gave a valid citation")]:
    table += "| %s | %d |\n" % (label, count(key))
print(table)
if args.out:
    with open(args.out, "w") as f:
        f.write(table + "\n" + "\n".join(json.dumps(r) for r in rows) + "\n")
