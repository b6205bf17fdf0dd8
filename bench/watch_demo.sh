#!/usr/bin/env bash
# The accuracy watch on a real repository's history, run by the team server with the embedded local model: a
# scratch server (its own config, data and port), one project (a clone of REPO_CLONE under a project root), a watch
# due now; waits for the watch's eval, then photographs the dashboard (bench/watch_shots.py).
#
#   bench/watch_demo.sh REPO_CLONE VENV [since_days=200] [max_instances=5] [out=evals/out/watch-demo]
#
# VENV is a virtualenv with the project's test requirements (the sandbox shows it read-only); the test command is
# `PYTHONPATH=src VENV/bin/python -m pytest -rA -q -p no:cacheprovider`.
set -euo pipefail
cd "$(dirname "$0")/.."
clone=$(realpath "$1")
venv=$(realpath "$2")
days=${3:-200}
count=${4:-5}
out=$(realpath -m "${5:-evals/out/watch-demo}")
port=${PORT:-8797}
ferry=$(realpath "${FERRY:-.build/debug/ferry}")
[ -n "${FERRY:-}" ] || swift build --product ferry >/dev/null
rm -rf "$out" && mkdir -p "$out/config/ferry" "$out/data" "$out/roots"
git clone -q "$clone" "$out/roots/$(basename "$clone")"
project_repo="$out/roots/$(basename "$clone")"
cat >"$out/config/ferry/config.toml" <<TOML
[project]
test_timeout = 120

# The budget bench/peers.sh gives every agent.
[limits]
max_steps = 15
max_time = 150

[sandbox]
read_only = ["$(dirname "$venv")"]

[server]
project_roots = ["$out/roots"]
TOML
export XDG_CONFIG_HOME="$out/config" XDG_DATA_HOME="$out/data"
"$ferry" serve --port "$port" --workers 1 --log-format text >"$out/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 1; done
key=$(grep -A1 "admin key" "$out/serve.log" | tail -1 | tr -d ' ')
api() { curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' "$@"; }
project=$(api -X POST "http://127.0.0.1:$port/v1/projects" -d "{\"name\": \"$(basename "$clone")\", \"repo\": \"$project_repo\",
    \"test_command\": \"PYTHONPATH=src $venv/bin/python -m pytest -rA -q -p no:cacheprovider\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
api -X PUT "http://127.0.0.1:$port/v1/projects/$project/watch" \
    -d "{\"monthly_usd\": 10, \"every_hours\": 24, \"max_instances\": $count, \"since_days\": $days}" >"$out/watch.json"
echo "watch set on project $project; waiting for its eval (the server checks every minute)"
started=$(date +%s)
while :; do
    watch=$(api "http://127.0.0.1:$port/v1/projects/$project/watch")
    if echo "$watch" | python3 -c 'import json,sys; w=json.load(sys.stdin); sys.exit(0 if w.get("last_run_at") else 1)'; then break; fi
    sleep 20
done
echo "$watch" | tee "$out/watch-after.json"
echo "the watch took $(( $(date +%s) - started )) s"
api "http://127.0.0.1:$port/v1/evals" >"$out/evals.json"
"${BROWSER_PYTHON:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry/browser-venv/bin/python}" bench/watch_shots.py --url "http://127.0.0.1:$port" --key "$key" --out "$out"
