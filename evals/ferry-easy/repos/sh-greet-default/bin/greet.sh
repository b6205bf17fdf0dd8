#!/usr/bin/env bash
set -eu
echo "Hello, $1!"
