#!/usr/bin/env bash
set -e
cd "$(dirname "$0")/.."
for t in tests/test_*.sh; do bash "$t"; done
echo all passed
