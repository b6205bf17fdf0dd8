#!/usr/bin/env bash
# Runs the built tests with a temporary folder of their own, removed afterwards, so that their fixtures (git
# repositories, stores, run folders, database clusters) do not pile up in /tmp run after run.
set -uo pipefail
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-tests-XXXXXX")
# The throwaway PostgreSQL clusters run as the postgres user when the tests run as root; it must reach their folders.
chmod 755 "$tmp"
cleanup() {
    # A cluster whose test process died still runs: stop it (an immediate shutdown) before its folder goes.
    for pidfile in "$tmp"/ferry-pg-*/data/postmaster.pid; do
        [ -f "$pidfile" ] && kill -QUIT "$(head -1 "$pidfile")" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
TMPDIR="$tmp" "${SWIFT:-swift}" test --skip-build "$@"
