#!/usr/bin/env python3
"""A Lite-shaped sample of a mined suite, by a rule fixed before any agent runs: SWE-bench Lite's shape (the real
fix changes one non-test source file in at most three hunks), then `n` instances drawn with a fixed seed. Every agent
in a peers table gets the same sample.

    bench/lite_sample.py SUITE.jsonl N [SEED=27] > SAMPLE.jsonl
"""
import json
import random
import re
import sys


def lite(instance):
    files = re.findall(r"^diff --git a/(\S+)", instance["patch"], re.M)
    hunks = len(re.findall(r"^@@", instance["patch"], re.M))
    return len(files) == 1 and hunks <= 3 and not files[0].endswith((".md", ".rst", ".txt"))


def main():
    suite, n = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 27
    instances = [json.loads(line) for line in open(suite) if line.strip()]
    shaped = [i for i in instances if lite(i)]
    chosen = random.Random(seed).sample(shaped, min(n, len(shaped)))
    print(f"{len(instances)} instances, {len(shaped)} Lite-shaped, {len(chosen)} drawn (seed {seed})", file=sys.stderr)
    for instance in sorted(chosen, key=lambda i: i["instance_id"]):
        print(json.dumps(instance))


if __name__ == "__main__":
    main()
