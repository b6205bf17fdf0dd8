#!/usr/bin/env bash
set -eu
path=$1
echo "${path#*.}"
