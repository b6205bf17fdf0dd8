#!/usr/bin/env bash
# Usage: backup.sh FILE -- copies FILE to FILE.bak
set -eu
src=$1
cp $src $src.bak
echo "backed up $src"
