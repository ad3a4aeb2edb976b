#!/usr/bin/env python3
"""The exit-time leak scan at scale, run by hand (too slow for ctest):

    MEMTRACE_BUILD_DIR=build-leak python3 tests/e2e/leak_scale.py [BLOCKS [SIZE [abort]]]

tests/programs/leak_scale.c keeps BLOCKS (default 10 million) blocks of SIZE (default 100) bytes live
in one array until exit: ~1 GiB in 10M blocks, all still reachable. It runs untraced and traced; the
script prints the scan's own duration (the "(exit-time scan: ... in N ms)" line of `memtrace leaks`),
the wall time of both runs and the peak RSS of both processes (wait4's ru_maxrss of exactly that
child), and checks that every block was classified still reachable. With "abort" the program ends by
abort() and the scan runs in the preload's SIGABRT handler; both runs must die by SIGABRT.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memtrace_e2e import LIBRARY, memtrace, memtrace_json, program  # noqa: E402


def run(argv: list[str], env: dict, expected: int) -> tuple[int, float, int]:
    """(exit status, wall seconds, peak RSS in KiB) of one child."""
    started = time.monotonic()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    err = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    if child.returncode != expected:
        raise SystemExit(f"{argv} exited {child.returncode}: {err[-2000:]}")
    return child.returncode, time.monotonic() - started, usage.ru_maxrss


def main() -> None:
    blocks = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    end = sys.argv[3] if len(sys.argv) > 3 else "exit"
    expected = -6 if end == "abort" else 0
    argv = [program("leak_scale"), str(blocks), str(size), end]
    workdir = tempfile.mkdtemp(prefix="memtrace-leak-scale-")
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MEMTRACE_OUTPUT")}
        _, plain_s, plain_rss = run(argv, env, expected)
        trace = os.path.join(workdir, "scale.mtr")
        _, traced_s, traced_rss = run(argv, {**env, "LD_PRELOAD": str(LIBRARY), "MEMTRACE_OUTPUT": trace},
                                      expected)

        text = memtrace("leaks", trace, "--show", "all", timeout=1800)
        if text.returncode != 0:
            raise SystemExit(f"memtrace leaks failed: {text.stderr.decode(errors='replace')}")
        out = text.stdout.decode(errors="replace")
        scan = re.search(r"\(exit-time scan: (.+?) of roots in ([\d.]+) ms\)", out)
        if not scan:
            raise SystemExit(f"no exit-time scan line in `memtrace leaks`:\n{out[-3000:]}")
        summary = memtrace_json("leaks", trace, "--show", "all")["summary"]

        print(f"program: {blocks} blocks x {size} bytes live at {end} (+ the {blocks * 8} byte array)")
        print(f"scan at {end}: {float(scan.group(2)):.0f} ms ({scan.group(1)} of roots)")
        print(f"wall time: untraced {plain_s:.2f} s, traced {traced_s:.2f} s")
        print(f"peak RSS: untraced {plain_rss / 1024:.0f} MiB, traced {traced_rss / 1024:.0f} MiB "
              f"(x{traced_rss / plain_rss:.2f})")
        print(f"trace file: {os.path.getsize(trace) / 2**20:.0f} MiB")
        print("summary:", {c: (summary[c]["bytes"], summary[c]["blocks"])
                           for c in ("definite", "indirect", "possible", "reachable", "unclassified")})
        want = (blocks * size + blocks * 8, blocks + 1)
        got = (summary["reachable"]["bytes"], summary["reachable"]["blocks"])
        if got != want:
            raise SystemExit(f"expected every block still reachable {want}, got {got}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
