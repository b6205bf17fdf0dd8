#!/usr/bin/env python3
"""The comparison table for bench/peers.sh: resolve rate from Ferry's scorer, tokens and wall time per instance.

Two token counts, because they answer different questions:
- sent: prompt + completion tokens each agent's model calls reported (what an API would bill, cached or not);
- processed: what the llama.cpp server itself had to process (its /metrics counters, read around each instance),
  which excludes prompt tokens served from its prefix cache.

  bench/peers_summary.py OUT AGENT...
"""
import json
import os
import re
import statistics
import sys


def sent_tokens(out, agent, instance_id):
    log = os.path.join(out, f"{agent}-{instance_id}")
    if agent == "ferry":
        for line in open(log + ".log", errors="replace"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("type") == "run.finished":
                usage = event["data"]["usage"]
                return usage["input_tokens"] + usage["output_tokens"]
        return None
    if agent == "mini-swe-agent":
        try:
            trajectory = json.load(open(log + ".traj.json"))
        except (OSError, ValueError):
            return None
        total = 0
        for message in trajectory.get("messages", []):
            usage = ((message.get("extra") or {}).get("response") or {}).get("usage") or {}
            total += usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        return total
    if agent.startswith("aider"):
        # Each call aider makes ends in a "Tokens: 3.6k sent, 20 received." line, except one cut off at the output
        # limit, which prints its (approximate) "Input tokens: ~3,919 of 0" and "Output tokens: ~1,024 of 0"
        # instead. Before session 23 those were left out, counting 0 for 47 of 106 aider runs.
        total = 0
        number = lambda text, k: float(text.replace(",", "")) * (1000 if k else 1)
        for line in open(log + ".log", errors="replace"):
            match = re.search(r"Tokens: ([\d.,]+)(k?) sent, ([\d.,]+)(k?) received", line)
            if match:
                total += number(match.group(1), match.group(2)) + number(match.group(3), match.group(4))
                continue
            match = re.match(r"(Input|Output) tokens: ~([\d.,]+)(k?) of ", line)
            if match:
                total += number(match.group(2), match.group(3))
        return total
    return None


def main():
    out, agents = sys.argv[1], sys.argv[2:]
    print("| agent | resolved | rate (95% CI) | tokens sent / instance | tokens processed by the server / instance | wall s / instance (median) |")
    print("|---|---:|---|---:|---:|---:|")
    for agent in agents:
        stats = [json.loads(line) for line in open(os.path.join(out, f"{agent}.stats.jsonl"))]
        metrics = json.load(open(os.path.join(out, f"score-{agent}", "report.json")))["metrics"]
        sent = [sent_tokens(out, agent, s["instance_id"]) for s in stats]
        sent = [s for s in sent if s is not None]
        processed = statistics.mean(s["prompt_tokens"] + s["completion_tokens"] for s in stats)
        wall = statistics.median(s["wall_seconds"] for s in stats)
        rate = f"{100 * metrics['resolve_rate']:.1f}% ({100 * metrics['ci95_low']:.1f}–{100 * metrics['ci95_high']:.1f}%)"
        sent_text = f"{statistics.mean(sent):.0f}" if sent else "n/a"
        print(f"| {agent} | {metrics['resolved']}/{metrics['total']} | {rate} | {sent_text} | {processed:.0f} | {wall:.1f} |")


if __name__ == "__main__":
    main()
