#!/usr/bin/env bash
# A suite mined from pallets/flask's own history (`ferry eval mine`), validated twice (while mining, then by
# `ferry eval validate`), then Ferry on it with the local model.
#
#   bench/mine_flask.sh FLASK_CLONE [out=evals/out/mined-flask] [run=yes]
#
# FLASK_CLONE is a clone with its history (e.g. from the `fetch` tool); neither it nor the suite goes into the
# project. Two pinned venvs under ~/.cache/ferry/envs (the sandbox shows that folder read-only): Werkzeug 2.3 for
# 2022-01-01..2023-10-01 (Flask 2.2-2.3) and Werkzeug 3.1 after (Flask 3).
set -euo pipefail
cd "$(dirname "$0")/.."
clone=$(realpath "$1")
out=${2:-evals/out/mined-flask}
run=${3:-yes}
envs=${XDG_CACHE_HOME:-$HOME/.cache}/ferry/envs
python=${PYTHON311:-$(ls -d "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.11*/bin/python3 2>/dev/null | head -1)}
python=${python:-python3}
ferry=${FERRY:-.build/release/ferry}
[ -n "${FERRY:-}" ] || swift build -c release --product ferry >/dev/null
mkdir -p "$out"

venv() {
    [ -x "$envs/$1/bin/python" ] || { "$python" -m venv "$envs/$1" && "$envs/$1/bin/pip" install -q "${@:2}"; }
}
venv mined-flask2 pytest==7.4.4 werkzeug==2.3.7 jinja2==3.1.2 itsdangerous==2.1.2 click==8.1.3 blinker==1.6.2 asgiref==3.7.2 python-dotenv==1.0.0
venv mined-flask pytest==8.3.3 werkzeug==3.1.3 jinja2==3.1.4 itsdangerous==2.2.0 click==8.1.7 blinker==1.9.0 asgiref==3.8.1 python-dotenv==1.0.1

mine() {
    $ferry eval mine "$clone" --since "$1" ${3:+--until "$3"} --out "$out/suite.jsonl" --read-only "$envs" $4 \
        --test-command "PYTHONPATH=src $envs/$2/bin/python -m pytest -rA -q -p no:cacheprovider" | tee -a "$out/mine.log"
}
: >"$out/mine.log"
mine 2022-01-01 mined-flask2 2023-10-01 ""
mine 2023-10-01 mined-flask "" --append
$ferry eval validate "$out/suite.jsonl" | tee "$out/validate.log"
if [ "$run" = yes ]; then
    $ferry eval run "$out/suite.jsonl" --profile local --max-steps 3 --max-time 300 --test-timeout 600 \
        --label ferry-local --out "$out/run" | tee "$out/run.log"
fi
