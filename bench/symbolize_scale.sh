#!/bin/sh
# Symbolization at scale: a generated program (bench/frames_gen.py) whose 16,384 allocation stacks go
# through 1,048,576 distinct return addresses, traced once, then `memtrace leaks` and `memtrace summary`
# timed on the trace (CPU time from perf stat's task-clock when perf is there, else wall time).
#
#   bench/symbolize_scale.sh [BUILD_DIR] [WORK_DIR]     (defaults: build, /tmp/memtrace-frames)
#
# Environment: LEVELS, STACKS, CASES (frames_gen.py's options; defaults 64, 16384, 128), JOBS (parallel
# compiles, default 2). The program is rebuilt only when WORK_DIR has none.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build}" && pwd)
work=${2:-/tmp/memtrace-frames}
levels=${LEVELS:-64}
stacks=${STACKS:-16384}
cases=${CASES:-128}
jobs=${JOBS:-2}
mkdir -p "$work"
if [ ! -x "$work/frames" ]; then
  python3 "$here/frames_gen.py" --out "$work/src" --levels "$levels" --stacks "$stacks" --cases "$cases"
  # -O0 -g: quick to compile, and every call stays a call with its own return address.
  (cd "$work/src" && ls ./*.c | xargs -P "$jobs" -I{} sh -c 'gcc -O0 -g -w -c {} -o {}.o')
  gcc -o "$work/frames" "$work"/src/*.o
fi
rm -f "$work"/trace.*.mtr
# Deep enough for LEVELS frames + leaf + main + libc's two.
MEMTRACE_STACK_DEPTH=$((levels + 8)) "$build/bin/memtrace" run -o "$work/trace.%p.mtr" -- "$work/frames"
trace=$(ls "$work"/trace.*.mtr | head -n 1)
ls -l "$trace"

timed() {
  name=$1
  shift
  if command -v perf >/dev/null 2>&1; then
    perf stat -e task-clock -x, -o "$work/$name.perf" "$@" >"$work/$name.out"
    echo "$name: $(awk -F, '/task-clock/ {printf "%.2f s CPU", $1 / 1000}' "$work/$name.perf"), $(wc -l <"$work/$name.out") lines of output"
  else
    start=$(date +%s.%N)
    "$@" >"$work/$name.out"
    echo "$name: $(echo "$(date +%s.%N) - $start" | bc) s wall, $(wc -l <"$work/$name.out") lines of output"
  fi
}
timed leaks "$build/bin/memtrace" leaks --show all "$trace"
timed leaks_json "$build/bin/memtrace" leaks --show all --json "$trace"
timed summary "$build/bin/memtrace" summary "$trace"
