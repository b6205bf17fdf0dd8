#!/usr/bin/env python3
"""A mined suite as SWE-bench instances of a named repository: `repo` becomes owner/name (resolved through
`ferry eval run --repos DIR`), `version` the release each base is on (the rule `ferry eval mine` uses: the version the source declares, else
the nearest tag's major.minor), and the miner's own test commands go, so the instances run in evals/swebench/environments.toml's
environment for their version. Then `ferry eval run OUT --gold --repos DIR` validates those environments with the
mined gold patches, for versions SWE-bench Lite has no instance of.

    bench/swebench_named.py SUITE CLONE owner/name > OUT

(`ferry eval mine --as owner/name` does this while mining; this script is for suites mined before it.)
"""
import json
import re
import subprocess
import sys


def release(text):
    match = re.search(r"(?<![0-9.])[0-9]+\.[0-9]+", text)
    return match.group(0) if match else None


def is_test(path):
    parts = path.lower().split("/")
    name = parts[-1]
    return any(p in ("test", "tests", "testing") for p in parts[:-1]) or name.startswith("test_") or name.endswith("_test.py")


def version(clone, commit):
    """HistoryMiner.version's rule: the shallowest version the source declares, else the nearest tag."""
    found = subprocess.run(
        ["git", "-C", clone, "grep", "-I", "-E", r"""^(__version__|version) *= *['"][0-9]+\.[0-9]+""", commit, "--",
         "*__init__.py", "*__version__.py", "*version.py", "*release.py", "pyproject.toml", "setup.cfg"],
        capture_output=True, text=True).stdout
    declared = []
    for line in found.splitlines():
        path, _, text = line[len(commit) + 1:].partition(":")
        if path.endswith(".py") == text.startswith("__version__") and not is_test(path) and release(text):
            declared.append((path.count("/"), path, release(text)))
    if declared:
        return min(declared)[2]
    tag = subprocess.run(["git", "-C", clone, "describe", "--tags", "--abbrev=0", commit],
                         capture_output=True, text=True).stdout.strip()
    return release(tag)


def main():
    suite, clone, name = sys.argv[1:4]
    for line in open(suite):
        if not line.strip():
            continue
        instance = json.loads(line)
        instance["repo"] = name
        instance["version"] = version(clone, instance["base_commit"])
        for key in ("test_cmd", "agent_test_cmd"):
            instance.pop(key, None)
        print(json.dumps(instance))


if __name__ == "__main__":
    main()
