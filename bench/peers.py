#!/usr/bin/env python3
"""Runs mini-swe-agent, aider and Ferry on the same suite with the same local model, and scores all three with
Ferry's own scorer (`ferry eval run --predictions`). Called by bench/peers.sh, which installs the pinned peers.

Each agent gets a fresh git copy of each task's repository and the problem statement alone; its change (tracked and
untracked files) becomes its prediction. Tokens come from llama.cpp's own counters (/metrics), read before and after
each instance, so every agent is counted the same way. With --count-proxy the agents talk to the server through a
proxy here that adds up each reply's own counts instead (`timings`: the prompt tokens the server processed and the
tokens it generated, the same figures /metrics adds up, plus `usage.prompt_tokens`, the prompt as sent), so the server
can be shared with another run at the same time.
"""
import argparse
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request


def metrics(base):
    text = urllib.request.urlopen(base.replace("/v1", "") + "/metrics", timeout=10).read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("llamacpp:") and " " in line:
            name, value = line.split(" ", 1)
            values[name] = float(value)
    return values.get("llamacpp:prompt_tokens_total", 0), values.get("llamacpp:tokens_predicted_total", 0)


class CountingProxy:
    """Forwards requests to the model server and adds up the counts each reply reports."""

    def __init__(self, upstream):
        self.upstream = upstream.rstrip("/").removesuffix("/v1")
        self.lock = threading.Lock()
        self.counts = [0, 0, 0]  # processed prompt, generated, prompt as sent
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.forward(None)

            def do_POST(self):
                self.forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def forward(self, body):
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization", "accept")}
                request = urllib.request.Request(proxy.upstream + self.path, data=body, headers=headers,
                                                 method=self.command)
                try:
                    with urllib.request.urlopen(request, timeout=3600) as reply:
                        status, kind, data = reply.status, reply.headers.get("Content-Type", ""), reply.read()
                except urllib.error.HTTPError as error:
                    status, kind, data = error.code, error.headers.get("Content-Type", ""), error.read()
                except OSError as error:
                    status, kind, data = 502, "text/plain", f"proxy: {error}".encode()
                proxy.count(data)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def count(self, data):
        # A JSON reply, or a stream of `data: {...}` events whose last one carries the counts.
        for chunk in [data] + [line[5:] for line in data.splitlines() if line.startswith(b"data:")]:
            try:
                reply = json.loads(chunk)
            except ValueError:
                continue
            timings, usage = reply.get("timings") or {}, reply.get("usage") or {}
            with self.lock:
                self.counts[0] += timings.get("prompt_n", 0)
                self.counts[1] += timings.get("predicted_n", 0)
                self.counts[2] += usage.get("prompt_tokens", 0)

    def read(self):
        with self.lock:
            return tuple(self.counts)


def fresh_copy(source, work, base=None):
    """A new git repository with one commit of the task's files: a plain directory's, or a clone's at `base`."""
    if os.path.exists(work):
        shutil.rmtree(work)
    if base:
        os.makedirs(work)
        archive = subprocess.run(["git", "-C", source, "archive", base], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", work], input=archive, check=True)
    else:
        shutil.copytree(source, work, ignore=shutil.ignore_patterns(".git"))
    env = dict(os.environ, GIT_AUTHOR_DATE="2000-01-01T00:00:00Z", GIT_COMMITTER_DATE="2000-01-01T00:00:00Z")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=work, check=True, env=env, capture_output=True)


def diff(work):
    # Agents' own caches (aider's tag cache) are not part of the change.
    subprocess.run(["git", "add", "-A", "--", ".", ":!.aider*"], cwd=work, check=True, capture_output=True)
    return subprocess.run(["git", "diff", "--cached", "HEAD"], cwd=work, check=True, capture_output=True, text=True).stdout


def run_mini(args, task, work, log):
    cmd = [
        os.path.join(args.peers, "mini/bin/mini"), "-m", "openai/" + args.model_name, "-t", task, "--yolo",
        "--exit-immediately", "-c", "mini_textbased.yaml", "-c", f"agent.step_limit={args.max_steps}",
        "-c", "agent.cost_limit=0", "-c", f"model.model_kwargs.api_base={args.base_url}",
        "-c", "model.model_kwargs.temperature=0", "-c", f"model.model_kwargs.max_tokens={args.max_output_tokens}",
        "-c", "model.cost_tracking=ignore_errors",
        "-o", log + ".traj.json",
    ]
    # No cost-map download attempts (there is no network): they cost each start ~10 s of retries.
    env = dict(os.environ, OPENAI_API_KEY="local", MSWEA_CONFIGURED="true", MSWEA_COST_TRACKING="ignore_errors",
               LITELLM_LOCAL_MODEL_COST_MAP="True")
    return cmd, env


def run_aider(args, task, work, log, edit_format="diff"):
    cmd = [
        os.path.join(args.peers, "aider/bin/aider"), "--model", "openai/" + args.model_name,
        "--openai-api-base", args.base_url, "--openai-api-key", "local", "--message", task, "--yes-always",
        "--no-auto-commits", "--no-dirty-commits", "--no-check-update", "--analytics-disable", "--no-show-model-warnings",
        "--no-pretty", "--no-stream", "--map-tokens", "1024", "--edit-format", edit_format, "--no-detect-urls",
        "--no-gitignore", "--input-history-file", log + ".history", "--chat-history-file", log + ".chat.md",
        "--model-settings-file", args.aider_settings,
    ]
    return cmd, dict(os.environ, AIDER_NOTIFICATIONS="false")


def run_ferry(args, task, work, log):
    cmd = [
        args.ferry, "run", task, "--repo", work, "--provider", "local", "--base-url", args.base_url,
        "--max-steps", str(args.max_steps), "--max-time", str(args.max_time), "--json",
    ]
    return cmd, dict(os.environ, XDG_DATA_HOME=os.path.abspath(args.ferry_data or os.path.join(args.out, "ferry-data")))


def run_aider_whole(args, task, work, log):
    """aider with the whole-file edit format, which its docs suggest for weaker models."""
    return run_aider(args, task, work, log, edit_format="whole")


AGENTS = {"mini-swe-agent": run_mini, "aider": run_aider, "aider-whole": run_aider_whole, "ferry": run_ferry}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--suite", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--peers", required=True, help="folder with the mini/ and aider/ venvs")
    parser.add_argument("--ferry", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model-name", default="qwen2.5-coder-1.5b-instruct")
    parser.add_argument("--agents", default="ferry,mini-swe-agent,aider")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--repos", help="clones named owner__name, for suites whose instances name owner/name and a base_commit")
    parser.add_argument("--instances", help="only these instance ids (comma-separated)")
    parser.add_argument("--max-steps", type=int, default=15)
    parser.add_argument("--max-time", type=int, default=150)
    # The same cap on each reply for every agent (Ferry's local profile uses 1024): without one, a small model can
    # ramble until the context is full.
    parser.add_argument("--max-output-tokens", type=int, default=1024)
    parser.add_argument("--ferry-data",
                        help="Ferry's XDG data home (its run store): one that already holds runs, as a user's does "
                             "after a while (the tool loop's gate reads the model's record there); default: a fresh "
                             "one in --out")
    parser.add_argument("--count-proxy", action="store_true",
                        help="count each reply's tokens through a local proxy, so another run may share the server")
    args = parser.parse_args()
    # Agents run inside each task's copy: a relative output path would put their logs and trajectories (mini's
    # --output, aider's history files) inside the change being scored, and lose them when the copy is removed.
    args.out = os.path.abspath(args.out)
    proxy = None
    if args.count_proxy:
        proxy = CountingProxy(args.base_url)
        args.base_url = proxy.url
    os.makedirs(args.out, exist_ok=True)
    args.aider_settings = os.path.join(args.out, "aider-model-settings.yml")
    with open(args.aider_settings, "w") as f:
        f.write(f"- name: openai/{args.model_name}\n  extra_params:\n    max_tokens: {args.max_output_tokens}\n")
    suite_dir = os.path.dirname(os.path.abspath(args.suite))
    instances = [json.loads(line) for line in open(args.suite) if line.strip()]
    if args.instances:
        wanted = set(args.instances.split(","))
        instances = [i for i in instances if i["instance_id"] in wanted]
    if args.limit:
        instances = instances[: args.limit]
    summary = {}
    for agent in args.agents.split(","):
        preds_path = os.path.join(args.out, f"{agent}.predictions.jsonl")
        stats_path = os.path.join(args.out, f"{agent}.stats.jsonl")
        done = set()
        if os.path.exists(stats_path):
            done = {json.loads(l)["instance_id"] for l in open(stats_path)}
        for instance in instances:
            iid = instance["instance_id"]
            if iid in done:
                continue
            work = os.path.join(tempfile.gettempdir(), f"peers-{agent}-{iid}")
            if args.repos and instance.get("base_commit"):
                # SWE-bench instances: owner/name under --repos, at the instance's base commit.
                fresh_copy(os.path.join(args.repos, instance["repo"].replace("/", "__")), work, instance["base_commit"])
            elif instance.get("base_commit"):
                # Mined instances (`ferry eval mine`): their repo is the clone's path, at the instance's base commit.
                fresh_copy(os.path.join(suite_dir, instance["repo"]), work, instance["base_commit"])
            else:
                fresh_copy(os.path.join(suite_dir, instance["repo"]), work)
            log = os.path.join(args.out, f"{agent}-{iid}")
            cmd, env = AGENTS[agent](args, instance["problem_statement"], work, log)
            before = proxy.read() if proxy else metrics(args.base_url)
            started = time.monotonic()
            with open(log + ".log", "w") as out:
                try:
                    code = subprocess.run(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          timeout=args.max_time + 60).returncode
                except subprocess.TimeoutExpired:
                    code = "timeout"
            wall = time.monotonic() - started
            after = proxy.read() if proxy else metrics(args.base_url)
            patch = diff(work) if agent != "ferry" else ferry_patch(log + ".log", work)
            row = {"instance_id": iid, "wall_seconds": round(wall, 1), "prompt_tokens": after[0] - before[0],
                   "completion_tokens": after[1] - before[1], "exit": code}
            if proxy:
                row["sent_prompt_tokens"] = after[2] - before[2]
            with open(stats_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            with open(preds_path, "a") as f:
                f.write(json.dumps({"instance_id": iid, "model_name_or_path": agent, "model_patch": patch}) + "\n")
            print(f"{agent} {iid}: {wall:.0f}s {row['prompt_tokens'] + row['completion_tokens']:.0f} tokens, patch {len(patch)} bytes",
                  file=sys.stderr, flush=True)
            shutil.rmtree(work, ignore_errors=True)
        summary[agent] = preds_path
    print(json.dumps(summary))


def ferry_patch(log, work):
    """Ferry commits its change on its own branch; the run's result names the diff file."""
    for line in open(log, errors="replace"):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("type") == "run.finished":
            path = os.path.join(event.get("data", {}).get("run_dir") or "", "change.patch")
            if os.path.exists(path):
                return open(path).read()
    branches = subprocess.run(["git", "branch", "--list", "ferry/*", "--format=%(refname:short)"], cwd=work,
                              capture_output=True, text=True).stdout.split()
    if branches:
        return subprocess.run(["git", "diff", "HEAD", branches[-1]], cwd=work, capture_output=True, text=True).stdout
    return ""


if __name__ == "__main__":
    main()
