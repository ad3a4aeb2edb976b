#!/usr/bin/env bash
# Installs what is missing, builds memtrace and its tests, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd build
ctest --output-on-failure --parallel "$(nproc)" --timeout 600
