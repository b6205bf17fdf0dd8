#!/usr/bin/env python3
"""Time to a first sign of life and to the first token of `ferry ask` with the embedded local model, on this
repository's own code. For each question: the wall time until ferry prints what it retrieved (stderr), until the
first byte of the answer (stdout), and until the end; then the answer, and whether it names what a correct answer
must name. Run with `make bench-ask` (release build); writes a Markdown table to --out.

Usage: bench/ask_first_token.py --ferry .build/release/ferry --repo . --out docs/results/ask-local-DATE.md"""
import argparse
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

# Each question, and words a correct answer must contain (case-insensitive), any one of each inner list.
QUESTIONS = [
    ("Where are API keys hashed before they are stored, and with which hash function?",
     [["ServerIDs"], ["SHA256", "SHA-256", "sha256"]]),
    ("Which file decides the process limit of the sandbox when Ferry runs as root, and what mechanism does it use?",
     [["PidsCgroup", "BubblewrapRunner"], ["cgroup"]]),
    ("Where does the index split identifiers like parseHeader into words for search?",
     [["CodeIndex", "Chunker", "split", "Identifiers"], ["camel", "parse header", "split", "lowercase", "words"]]),
]

parser = argparse.ArgumentParser()
parser.add_argument("--ferry", default=".build/release/ferry")
parser.add_argument("--repo", default=".")
parser.add_argument("--out")
args = parser.parse_args()


def ask(question):
    started = time.monotonic()
    process = subprocess.Popen([args.ferry, "ask", question, "--repo", args.repo],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    life = first = None
    out, err = b"", b""
    streams = {process.stdout.fileno(): "out", process.stderr.fileno(): "err"}
    while streams:
        ready, _, _ = select.select(list(streams), [], [], 1.0)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                del streams[fd]
                continue
            now = time.monotonic() - started
            if streams[fd] == "out":
                if first is None and chunk.strip():
                    first = now
                out += chunk
            else:
                if life is None and b"read " in chunk:
                    life = now
                err += chunk
    process.wait()
    total = time.monotonic() - started
    return life, first, total, out.decode(errors="replace").strip(), err.decode(errors="replace"), process.returncode


# Asked on a clone of the repository's HEAD without this script (whose questions would otherwise be what is found).
clone = tempfile.mkdtemp(prefix="ferry-ask-bench-")
subprocess.run(["git", "clone", "--quiet", os.path.abspath(args.repo), clone], check=True)
subprocess.run(["git", "-C", clone, "rm", "--quiet", "-r", "--ignore-unmatch", "bench/ask_first_token.py", "docs/results"], check=True)
subprocess.run(["git", "-C", clone, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "--quiet", "-m", "bench"], check=True)
args.repo = clone

rows = []
for question, must in QUESTIONS:
    life, first, total, answer, err, code = ask(question)
    correct = code == 0 and all(any(word.lower() in answer.lower() for word in group) for group in must)
    rows.append((question, life, first, total, answer, correct, err))
    print(f"{question}\n  sign of life {life}s, first token {first}s, total {total:.1f}s, correct {correct}\n{answer}\n{err[-400:]}",
          flush=True)

fmt = lambda value: "—" if value is None else f"{value:.1f} s"
lines = ["| question | sign of life | first token | whole answer | names the right code |", "|---|---|---|---|---|"]
for question, life, first, total, _, correct, _ in rows:
    lines.append(f"| {question} | {fmt(life)} | {fmt(first)} | {fmt(total)} | {'yes' if correct else 'no'} |")
report = "\n".join(lines) + "\n\n" + "\n\n".join(
    f"**{question}**\n\n```\n{answer}\n```\n\nferry's stderr (tail):\n\n```\n{err.strip()[-600:]}\n```" for question, _, _, _, answer, _, err in rows)
shutil.rmtree(clone, ignore_errors=True)
if args.out:
    with open(args.out, "w") as handle:
        handle.write(report + "\n")
print(report)
sys.exit(0 if all(row[5] for row in rows) else 1)
