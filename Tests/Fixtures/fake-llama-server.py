#!/usr/bin/env python3
"""A stand-in for llama.cpp's llama-server, for lifecycle tests: same flags, /health, and behaviour chosen by the
model file's content ("crash" exits at once, "slow N" loads for N seconds, "hang" never answers a completion,
anything else serves). It writes its pid next to the model (`<model>.pid`) so tests can check it is gone."""
import argparse
import os
import http.server
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("-m", "--model", required=True)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8080)
parser.add_argument("-c", "--ctx-size", type=int, default=4096)
parser.add_argument("-np", "--parallel", type=int, default=1)
parser.add_argument("-t", "--threads", type=int, default=2)
parser.add_argument("-b", "--batch-size", type=int, default=2048)
parser.add_argument("--jinja", action="store_true")
args = parser.parse_args()

content = open(args.model).read().strip()
with open(args.model + ".pid", "w") as pid_file:
    pid_file.write(str(os.getpid()))
print(f"stand-in: loading {args.model}", flush=True)
if content == "crash":
    print("error: failed to load model: not a GGUF file", flush=True)
    sys.exit(1)
# "slow N" counts from the first health check, so a loaded machine that is slow to ask still sees the 503s.
load_seconds = float(content.split()[1]) if content.startswith("slow") else 0
ready_at = None


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global ready_at
        if ready_at is None:
            ready_at = time.time() + load_seconds
        ok = time.time() >= ready_at
        body = b'{"status":"ok"}' if ok else b'{"error":{"message":"Loading model"}}'
        self.send_response(200 if ok else 503)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if content == "hang":
            time.sleep(3600)
        self.send_response(501)
        self.end_headers()

    def log_message(self, *a):
        pass


server = http.server.HTTPServer((args.host, args.port), Handler)
print(f"stand-in: listening on {args.host}:{args.port}", flush=True)
server.serve_forever()
