#!/usr/bin/env python3
"""How much of each prompt llama.cpp served from its cache: over the model calls of one or more run traces,
the prompt tokens reused (`cache_n`) against those evaluated fresh (`prompt_n`), from llama.cpp's own timings in
each `model.reply` event.

    bench/prompt_cache.py ~/.local/share/ferry/runs/ID/trace.jsonl [...]
"""
import json
import sys

total_cached = total_fresh = calls = 0
for path in sys.argv[1:]:
    cached = fresh = n = 0
    for line in open(path):
        event = json.loads(line)
        if event.get("type") != "model.reply":
            continue
        timings = event["data"].get("server_timings") or {}
        if "cache_n" not in timings:
            continue
        n += 1
        cached += timings["cache_n"]
        fresh += timings.get("prompt_n", 0)
    share = cached / (cached + fresh) if cached + fresh else 0
    print(f"{path}: {n} calls, {cached} prompt tokens from the cache, {fresh} evaluated, {share:.0%} reused")
    total_cached, total_fresh, calls = total_cached + cached, total_fresh + fresh, calls + n
if len(sys.argv) > 2:
    share = total_cached / (total_cached + total_fresh) if total_cached + total_fresh else 0
    print(f"all: {calls} calls, {total_cached} cached, {total_fresh} fresh, {share:.0%} reused")
