#!/bin/sh
# The replay table of four real traces (python3, cc1, cc1plus, a C++ std::map program) under glibc,
# jemalloc, tcmalloc and mimalloc, and the replay time of a 10-million-operation trace against the
# untraced run of the same program. Run from the repository root after building:
#
#   bench/replay_tables.sh [BUILD_DIR]      (default build)
#
# Prints the machine load before each measurement: the times mean little on a busy machine.
set -eu
build=$(cd "${1:-build}" && pwd)
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
memtrace="$build/bin/memtrace"

cd "$work"
"$memtrace" run --no-stacks -o python.mtr -- /usr/bin/python3 "$root/bench/py_workload.py" >/dev/null 2>&1
MEMTRACE_OUTPUT="$work/gcc.%e.%p.mtr" "$memtrace" run --no-stacks -- \
  gcc -O2 -c "$root/bench/mixed.c" -o mixed.o >/dev/null 2>&1
MEMTRACE_OUTPUT="$work/gxx.%e.%p.mtr" "$memtrace" run --no-stacks -- \
  g++ -std=c++20 -O2 -I"$root" -c "$root/analyzer/replay/replay_engine.cc" -o replay_engine.o >/dev/null 2>&1
"$memtrace" run --no-stacks -o cxx_map.mtr -- "$build/bin/bench/cxx_map" >/dev/null 2>&1
for trace in python.mtr gcc.cc1.*.mtr gxx.cc1plus.*.mtr cxx_map.mtr; do
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$memtrace" replay "$trace" --allocator all
  echo
done

# 5,000,000 malloc/free pairs: 10,000,000 operations.
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in 1 2 3; do
  /usr/bin/time -f "untraced churn -n 5000000: %e s wall, %U s user, %S s sys" "$build/bin/bench/churn" -n 5000000 >/dev/null
done
"$memtrace" run --no-stacks -o churn.mtr -- "$build/bin/bench/churn" -n 5000000 >/dev/null 2>&1
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$memtrace" replay churn.mtr --allocator all
