#!/usr/bin/env python3
"""Builds the ferry-easy suite from tasks.py: a plain directory per task under repos/, and suite.jsonl with the
gold patch and the hidden-test patch as unified diffs. Run it after editing tasks.py; `ferry eval validate
evals/ferry-easy/suite.jsonl` then checks every task (gold resolves, base fails)."""
import difflib, json, os, shutil, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tasks import TASKS, RUNNERS

HERE = os.path.dirname(os.path.abspath(__file__))


def diff(path, old, new):
    old_lines = old.splitlines(keepends=True) if old is not None else []
    new_lines = new.splitlines(keepends=True)
    header = f"diff --git a/{path} b/{path}\n"
    if old is None:
        header += "new file mode 100644\n"
    body = "".join(difflib.unified_diff(old_lines, new_lines, "/dev/null" if old is None else f"a/{path}", f"b/{path}"))
    return header + body


def main():
    repos = os.path.join(HERE, "repos")
    shutil.rmtree(repos, ignore_errors=True)
    lines = []
    for task in TASKS:
        root = os.path.join(repos, task["id"])
        for path, text in task["base"].items():
            full = os.path.join(root, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
            if path.endswith(".sh"):
                os.chmod(full, 0o755)
        gold = "".join(diff(p, task["base"].get(p), t) for p, t in sorted(task["gold"].items()))
        hidden = "".join(diff(p, task["base"].get(p), t) for p, t in sorted(task["hidden"].items()))
        runner = RUNNERS[task["lang"]]
        lines.append(json.dumps({
            "instance_id": task["id"], "repo": f"repos/{task['id']}", "problem_statement": task["problem"],
            "patch": gold, "test_patch": hidden, "FAIL_TO_PASS": task["f2p"], "PASS_TO_PASS": task.get("p2p", []),
            "test_runner": "command", "test_cmd": runner["test_cmd"], "agent_test_cmd": runner["agent_test_cmd"],
            "language": task["lang"], "kind": task["kind"],
        }))
    with open(os.path.join(HERE, "suite.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(lines)} tasks → suite.jsonl")


if __name__ == "__main__":
    main()
