#!/usr/bin/env bash
# Installs what is missing, builds memtrace, traces a bundled example and prints its reports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
mkdir -p build/demo
trace=build/demo/brk_vs_mmap.mtr
echo "== memtrace run -- brk_vs_mmap 32768 262144: ten blocks of each size"
build/bin/memtrace run -o "$trace" -- build/bin/examples/brk_vs_mmap 32768 262144
echo
echo "== memtrace brk $trace"
build/bin/memtrace brk "$trace"
echo
echo "== memtrace calls $trace"
build/bin/memtrace calls "$trace"
