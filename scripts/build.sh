#!/usr/bin/env bash
# Configures and builds memtrace into build/ (build/bin/memtrace, build/lib/libmemtrace.so).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f build/build.ninja ] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --parallel "$(nproc)"
