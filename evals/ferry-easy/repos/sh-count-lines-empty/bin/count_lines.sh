#!/usr/bin/env bash
set -eu
n=0
while IFS= read -r line || true; do
  n=$((n + 1))
  [ -z "$line" ] && [ "$n" -gt 0 ] && break
done < "$1"
echo "$n"
