#!/usr/bin/env python3
"""memtrace benchmark: time each workload untraced, under memtrace (stacks on with its own unwinder,
with MEMTRACE_UNWINDER=libunwind, and off), heaptrack, valgrind massif and valgrind memcheck, in one
run, and print one table.

This is a tool for people, not a test (nothing here is registered with ctest). See bench/README.md
for how to read the table.

    bench/run.py [--build-dir build] [--runs 3] [--quick] [--workloads churn,mixed,...]
                 [--tools untraced,memtrace,memtrace-libunwind,memtrace-nostacks,heaptrack,massif,memcheck]
                 [--json results.json] [--keep DIR]

Standard library only. Every process is started with posix_spawn and reaped with wait4, so the wall
time is spawn-to-reap and the peak RSS is the kernel's ru_maxrss for that process tree.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Optional

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent

# memtrace: its own CFI unwinder (the default); memtrace-libunwind: MEMTRACE_UNWINDER=libunwind.
TOOLS = ["untraced", "memtrace", "memtrace-libunwind", "memtrace-nostacks", "heaptrack", "massif", "memcheck"]
VALGRIND_TOOLS = {"massif", "memcheck"}


# ---------------------------------------------------------------------------------------------------
# Workloads


@dataclasses.dataclass
class Workload:
    name: str
    description: str
    # (build_dir, scratch_dir, quick) -> argv. `full` is what untraced/memtrace/heaptrack run;
    # `reduced` is what the valgrind tools run (None: same as full).
    full: Callable[[Path, Path, bool], list[str]]
    reduced: Optional[Callable[[Path, Path, bool], list[str]]] = None
    reduced_note: str = ""
    # Child processes: what the tools other than memtrace see (documented in the notes).
    children_note: str = ""
    prepare: Optional[Callable[[Path, bool], None]] = None
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # for every tool, untraced too


def bench_bin(build: Path, name: str) -> str:
    return str(build / "bin" / "bench" / name)


def generate_c_file(path: Path, lines_wanted: int) -> None:
    """A deterministic C file of about `lines_wanted` lines: many small functions with loops,
    switches and calls, the bread and butter of a compiler's allocation pattern."""
    lines = ["#include <stddef.h>", "#include <string.h>", "",
             "struct item { int id; double weight; char name[24]; struct item* next; };", ""]
    i = 0
    while len(lines) < lines_wanted:
        lines += [
            f"static int helper_{i}(int a, int b) {{",
            f"  int acc = a * {i % 13 + 1} + b;",
            f"  for (int k = 0; k < {i % 7 + 3}; ++k) {{",
            f"    acc ^= (acc << {i % 5 + 1}) + k * {i % 11 + 2};",
            f"    if (acc & {1 << (i % 9)}) acc -= b; else acc += a;",
            "  }",
            "  return acc;",
            "}",
            "",
            f"double process_{i}(struct item* items, size_t n, int seed) {{",
            "  double total = 0;",
            "  for (size_t j = 0; j < n; ++j) {",
            f"    int h = helper_{i}(items[j].id, seed + (int)j);",
            "    switch (h & 7) {",
            "      case 0: total += items[j].weight * 2; break;",
            f"      case 1: total -= items[j].weight / {i % 3 + 1}; break;",
            "      case 2: memset(items[j].name, h & 0x7f, sizeof items[j].name); break;",
            f"      case 3: total += strlen(items[j].name) + {i}; break;",
            "      default: if (items[j].next) total += items[j].next->weight; break;",
            "    }",
            "  }",
            "  return total;",
            "}",
            "",
        ]
        i += 1
    path.write_text("\n".join(lines) + "\n")


def _gcc_prepare(scratch: Path, quick: bool) -> None:
    generate_c_file(scratch / "generated.c", 1000 if quick else 5000)


def _n(quick: bool, full: int, quick_n: int) -> str:
    return str(quick_n if quick else full)


WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    Workload(
        "churn", "malloc(16..256)/free pairs, window of 1024 live blocks",
        full=lambda b, s, q: [bench_bin(b, "churn"), "-n", _n(q, 5_000_000, 500_000)],
        reduced=lambda b, s, q: [bench_bin(b, "churn"), "-n", _n(q, 500_000, 100_000)],
        reduced_note="N/10"),
    Workload(
        "churn64", "malloc(64); free() back to back",
        full=lambda b, s, q: [bench_bin(b, "churn"), "--fixed64", "-n", _n(q, 5_000_000, 500_000)],
        reduced=lambda b, s, q: [bench_bin(b, "churn"), "--fixed64", "-n", _n(q, 500_000, 100_000)],
        reduced_note="N/10"),
    Workload(
        "mixed", "malloc/calloc/realloc across the 128 KiB threshold, half leaked",
        full=lambda b, s, q: [bench_bin(b, "mixed"), "-n", _n(q, 400_000, 50_000)],
        reduced=lambda b, s, q: [bench_bin(b, "mixed"), "-n", _n(q, 100_000, 25_000)],
        reduced_note="N/4"),
    Workload(
        "threads2", "2 threads, cross-thread frees, 4M pairs in all",
        full=lambda b, s, q: [bench_bin(b, "threads"), "-t", "2", "-n", _n(q, 4_000_000, 400_000)],
        reduced=lambda b, s, q: [bench_bin(b, "threads"), "-t", "2", "-n", _n(q, 400_000, 100_000)],
        reduced_note="N/10"),
    Workload(
        "threads8", "8 threads, cross-thread frees, 4M pairs in all",
        full=lambda b, s, q: [bench_bin(b, "threads"), "-t", "8", "-n", _n(q, 4_000_000, 400_000)],
        reduced=lambda b, s, q: [bench_bin(b, "threads"), "-t", "8", "-n", _n(q, 400_000, 100_000)],
        reduced_note="N/10"),
    *[Workload(
        f"depth{d}", f"recursion {d} frames deep, then malloc(64)/free pairs: unwinding cost per depth",
        full=lambda b, s, q, d=d: [bench_bin(b, "depth"), "-d", str(d), "-n", _n(q, 1_000_000, 100_000)],
        reduced=lambda b, s, q, d=d: [bench_bin(b, "depth"), "-d", str(d), "-n", _n(q, 100_000, 25_000)],
        reduced_note="N/10") for d in (5, 20, 60)],
    Workload(
        "cxx_map", "std::map<string, vector<int>>, 1M inserts, ~30-frame stacks",
        full=lambda b, s, q: [bench_bin(b, "cxx_map"), "-n", _n(q, 1_000_000, 100_000)],
        reduced=lambda b, s, q: [bench_bin(b, "cxx_map"), "-n", _n(q, 100_000, 25_000)],
        reduced_note="N/10"),
    # PYTHONMALLOC=malloc (for every tool, the untraced run too): with the default pymalloc the
    # tracers see only ~1% of Python's allocations, and memcheck drowns in pymalloc false positives.
    Workload(
        "python", "python3 script (PYTHONMALLOC=malloc): dicts, strings, JSON round trip",
        full=lambda b, s, q: [sys.executable, str(BENCH_DIR / "py_workload.py"), "1"],
        env={"PYTHONMALLOC": "malloc"}),
    Workload(
        "gcc", "gcc -O2 -c on a generated 5,000-line C file",
        full=lambda b, s, q: ["gcc", "-O2", "-c", str(s / "generated.c"), "-o", str(s / "generated.o")],
        children_note="gcc forks cc1 and as: memtrace traces all three (LD_PRELOAD is inherited), "
                      "heaptrack and valgrind only the gcc driver",
        prepare=_gcc_prepare),
]}


# ---------------------------------------------------------------------------------------------------
# Running one process


@dataclasses.dataclass
class Sample:
    wall: float        # seconds, spawn to reap
    maxrss_kb: int     # ru_maxrss of the process tree (max over the process and its reaped children)
    status: int        # exit status, or -signal
    timed_out: bool = False


# ru_maxrss of a process includes the image it exec'ed from: a child spawned straight from this
# Python process would report Python's own ~18 MiB. GNU time forks from a ~1 MiB image and reports its
# child's ru_maxrss, so it is used as the trampoline when present.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_measured(argv: list[str], env: dict[str, str], cwd: Path, log: Path, timeout: float) -> Sample:
    """Runs argv to completion in its own session (so a timeout can kill the whole tree)."""
    rss_file = None
    if GNU_TIME:
        rss_file = log.with_name(log.name + ".rss")
        argv = [GNU_TIME, "-q", "-f", "%M", "-o", str(rss_file), "--"] + argv
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    timed_out = threading.Event()
    old_cwd = os.getcwd()
    os.chdir(cwd)  # posix_spawn has no cwd argument
    try:
        start = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setsid=True)
    finally:
        os.chdir(old_cwd)

    def kill() -> None:
        timed_out.set()
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
    finally:
        timer.cancel()
    if timed_out.is_set():
        try:  # heaptrack/valgrind helpers left in the session
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    code = os.waitstatus_to_exitcode(status)
    maxrss = usage.ru_maxrss
    if rss_file is not None:
        try:
            maxrss = int(rss_file.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            pass
        rss_file.unlink(missing_ok=True)
    return Sample(wall, maxrss, code, timed_out.is_set())


def run_quiet(argv: list[str], log: Path, timeout: float = 600) -> Sample:
    return run_measured(argv, clean_env(), Path.cwd(), log, timeout)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MEMTRACE_") and k not in ("LD_PRELOAD", "PYTHONMALLOC")}
    env["LC_ALL"] = "C"
    return env


# ---------------------------------------------------------------------------------------------------
# The benchmark


@dataclasses.dataclass
class Cell:
    """One (workload, tool) pair: K samples and what its output says."""
    workload: str
    tool: str
    argv: list[str]
    reduced: bool = False
    samples: list[Sample] = dataclasses.field(default_factory=list)
    failed: str = ""
    # memtrace / heaptrack output of the last successful run
    outputs: list[str] = dataclasses.field(default_factory=list)
    trace_bytes: int = 0          # memtrace: packed size (memtrace pack); heaptrack: its .zst
    raw_bytes: int = 0            # memtrace: the raw .mtr as the preload left it
    pack_seconds: float = 0.0     # memtrace: time `memtrace pack` took over all the run's traces
    events: int = 0               # calls recorded (memtrace calls.total; for heaptrack: see notes)
    root_events: int = 0          # memtrace: calls of the first process only
    analyzer_seconds: list[float] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.status == 0 and not s.timed_out]

    def best(self) -> Optional[float]:
        ok = self.ok
        return min(s.wall for s in ok) if ok else None

    def spread(self) -> Optional[float]:
        ok = self.ok
        if len(ok) < 2:
            return None
        walls = [s.wall for s in ok]
        return (max(walls) - min(walls)) / min(walls)

    def rss_kb(self) -> Optional[int]:
        ok = self.ok
        return max(s.maxrss_kb for s in ok) if ok else None


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.build = Path(args.build_dir).resolve()
        self.memtrace = self.build / "bin" / "memtrace"
        self.library = self.build / "lib" / "libmemtrace.so"
        if args.keep:
            self.scratch = Path(args.keep).resolve()
            self.scratch.mkdir(parents=True, exist_ok=True)
            self.cleanup = False
        else:
            self.scratch = Path(tempfile.mkdtemp(prefix="memtrace-bench-"))
            self.cleanup = True
        self.cells: dict[tuple[str, str], Cell] = {}
        self.baselines_reduced: dict[str, Cell] = {}

    # -- tool command lines -------------------------------------------------------------------------

    def command(self, tool: str, argv: list[str], tag: str, extra_env: dict[str, str]
                ) -> tuple[list[str], dict[str, str]]:
        """The command line and environment for one run. The preload's variables are set with
        env(1) right in front of the program, so the GNU time trampoline is not traced itself."""
        env = clean_env()
        env.update(extra_env)
        out = self.scratch / tag
        if tool == "untraced":
            return argv, env
        if tool in ("memtrace", "memtrace-libunwind", "memtrace-nostacks"):
            preload = ["env", f"LD_PRELOAD={self.library}", f"MEMTRACE_OUTPUT={out}.%p.mtr"]
            if tool == "memtrace-nostacks":
                preload.append("MEMTRACE_STACKS=0")
            if tool == "memtrace-libunwind":
                preload.append("MEMTRACE_UNWINDER=libunwind")
            return preload + argv, env
        if tool == "heaptrack":
            return ["heaptrack", "-o", str(out)] + argv, env
        if tool == "massif":
            return ["valgrind", "--tool=massif", f"--massif-out-file={out}.%p.massif"] + argv, env
        if tool == "memcheck":
            return ["valgrind", "--tool=memcheck", "--leak-check=full",
                    f"--log-file={out}.%p.memcheck"] + argv, env
        raise ValueError(tool)

    def outputs_of(self, tool: str, tag: str) -> list[str]:
        prefix = str(self.scratch / tag)
        if tool.startswith("memtrace"):
            return sorted(glob.glob(glob.escape(prefix) + ".*.mtr*"))
        if tool == "heaptrack":
            return sorted(glob.glob(glob.escape(prefix) + ".*"))
        return []

    # -- one sample ---------------------------------------------------------------------------------

    def sample(self, cell: Cell, run_index: int, keep: bool) -> None:
        if cell.failed:
            return
        tag = f"{cell.workload}-{cell.tool}{'-reduced' if cell.reduced else ''}-{run_index}"
        argv, env = self.command(cell.tool, cell.argv, tag, WORKLOADS[cell.workload].env)
        timeout = self.args.valgrind_timeout if cell.tool in VALGRIND_TOOLS else self.args.timeout
        log = self.scratch / f"{tag}-output.txt"  # not matched by outputs_of's "{tag}.*"
        s = run_measured(argv, env, self.scratch, log, timeout)
        cell.samples.append(s)
        status = f"{s.wall:8.3f} s  {s.maxrss_kb / 1024:8.1f} MiB"
        if s.timed_out:
            cell.failed = f"timeout>{timeout:g}s"
            status = cell.failed
        elif s.status != 0:
            cell.failed = f"exit {s.status}"
            status = f"{cell.failed} (see {log})"
        progress(f"  run {run_index + 1}: {cell.tool:<18} {status}")
        outputs = self.outputs_of(cell.tool, tag)
        if s.status == 0 and not s.timed_out and keep and outputs:
            for old in cell.outputs:
                Path(old).unlink(missing_ok=True)
            cell.outputs = outputs
        else:
            for path in outputs:
                Path(path).unlink(missing_ok=True)
        # valgrind and heaptrack leave their own files; they are not measured, drop them
        for path in glob.glob(glob.escape(str(self.scratch / tag)) + ".*"):
            if path not in cell.outputs:
                Path(path).unlink(missing_ok=True)
        if not cell.failed and not self.args.keep:
            log.unlink(missing_ok=True)

    # -- analysis of the kept outputs ---------------------------------------------------------------

    def summarize_memtrace(self, cell: Cell) -> None:
        if not cell.outputs:
            return
        cell.raw_bytes = sum(os.path.getsize(p) for p in cell.outputs)
        per_trace = []
        incomplete = 0
        for path in cell.outputs:
            result = capture([str(self.memtrace), "summary", "--json", path])
            if result is None:
                cell.notes.append(f"summary failed on {os.path.basename(path)}")
                continue
            data = json.loads(result)
            trace = data.get("trace", {})
            per_trace.append((trace.get("pid", 0), trace.get("ppid", 0), data["calls"]["total"]))
            if not trace.get("complete", True) or trace.get("truncated", False):
                incomplete += 1
            if trace.get("dropped_calls", 0):
                cell.notes.append(f"{trace['dropped_calls']} calls dropped")
        cell.events = sum(e for _, _, e in per_trace)
        pids = {pid for pid, _, _ in per_trace}
        roots = [e for pid, ppid, e in per_trace if ppid not in pids]
        cell.root_events = roots[0] if len(roots) == 1 else cell.events
        if len(per_trace) > 1:
            cell.notes.append(f"{len(per_trace)} traces (fork/exec children)")
        if incomplete:
            cell.notes.append(f"{incomplete} trace(s) without a trailer (exec'd or killed)")
        # What `memtrace run` does after the program: pack each trace in place (timed in-process by
        # memtrace itself, so the Python launcher is not counted). The analyzer rate below reads packed.
        for path in cell.outputs:
            result = capture([str(self.memtrace), "pack", "--json", path])
            if result is None:
                cell.notes.append(f"pack failed on {os.path.basename(path)}")
                continue
            cell.pack_seconds += json.loads(result)["seconds"]
        cell.trace_bytes = sum(os.path.getsize(p) for p in cell.outputs)
        for _ in range(self.args.runs):
            start = time.perf_counter()
            for path in cell.outputs:
                run_quiet([str(self.memtrace), "summary", path], self.scratch / "analyzer.log")
            cell.analyzer_seconds.append(time.perf_counter() - start)

    def summarize_heaptrack(self, cell: Cell) -> None:
        if not cell.outputs:
            return
        cell.trace_bytes = sum(os.path.getsize(p) for p in cell.outputs)
        log = self.scratch / "heaptrack_print.log"
        for _ in range(self.args.runs):
            start = time.perf_counter()
            for path in cell.outputs:
                run_quiet(["heaptrack_print", path], log)
            cell.analyzer_seconds.append(time.perf_counter() - start)
        text = log.read_text(errors="replace")
        for line in text.splitlines():
            if line.startswith("calls to allocation functions:"):
                cell.notes.append("heaptrack saw " + line.split(":", 1)[1].split("(")[0].strip()
                                  + " allocations")
            elif line.startswith("peak RSS (including heaptrack overhead):"):
                cell.notes.append("program's own peak RSS per heaptrack " + line.split(":", 1)[1].strip())

    # -- the whole run ------------------------------------------------------------------------------

    def run(self) -> None:
        quick = self.args.quick
        for name in self.args.workloads:
            wl = WORKLOADS[name]
            if wl.prepare:
                wl.prepare(self.scratch, quick)
            for tool in self.args.tools:
                reduced = tool in VALGRIND_TOOLS and wl.reduced is not None
                argv = (wl.reduced if reduced else wl.full)(self.build, self.scratch, quick)
                self.cells[(name, tool)] = Cell(name, tool, argv, reduced=reduced)
            if wl.reduced is not None and VALGRIND_TOOLS & set(self.args.tools):
                argv = wl.reduced(self.build, self.scratch, quick)
                self.baselines_reduced[name] = Cell(name, "untraced", argv, reduced=True)

        for name in self.args.workloads:
            progress(f"{name}: {' '.join(os.path.basename(a) for a in WORKLOADS[name].full(self.build, self.scratch, quick))}")
            cells = [self.cells[(name, t)] for t in self.args.tools]
            if name in self.baselines_reduced:
                cells.append(self.baselines_reduced[name])
            # Interleave: run 1 of every tool, then run 2, ... so slow drift hits all tools alike.
            for k in range(self.args.runs):
                for cell in cells:
                    self.sample(cell, k, keep=cell.tool in ("memtrace", "memtrace-libunwind", "memtrace-nostacks", "heaptrack"))
            for cell in cells:
                if cell.tool.startswith("memtrace"):
                    self.summarize_memtrace(cell)
                elif cell.tool == "heaptrack":
                    self.summarize_heaptrack(cell)
            # heaptrack's bytes/event and analyzer rate use memtrace's call count for the same
            # program (only the processes heaptrack traced: the first one).
            ref = self.cells.get((name, "memtrace")) or self.cells.get((name, "memtrace-nostacks"))
            hk = self.cells.get((name, "heaptrack"))
            if hk and ref and ref.events:
                hk.events = ref.root_events
            for cell in cells:
                if not self.args.keep:
                    for path in cell.outputs:
                        Path(path).unlink(missing_ok=True)

    # -- the table ----------------------------------------------------------------------------------

    def table(self) -> str:
        header = ["workload", "tool", "wall s", "spread", "x untr", "RSS MiB", "x RSS",
                  "events", "B/event", "raw B/ev", "pack s/Mev", "analyzer ev/s", "notes"]
        rows: list[list[str]] = []
        for name in self.args.workloads:
            wl = WORKLOADS[name]
            base = self.cells.get((name, "untraced"))
            base_r = self.baselines_reduced.get(name)
            for tool in self.args.tools:
                cell = self.cells[(name, tool)]
                if cell.reduced and base_r is not None and cell.tool == next(
                        t for t in self.args.tools if t in VALGRIND_TOOLS):
                    rows.append(self.row(name, base_r, base_r, label="untraced@reduced",
                                         note=f"valgrind input: {wl.reduced_note}"))
                note = f"input {wl.reduced_note}" if cell.reduced else ""
                if wl.children_note and tool in ("heaptrack", "massif", "memcheck"):
                    note = (note + "; " if note else "") + "gcc driver only, cc1/as untraced"
                rows.append(self.row(name, cell, base_r if cell.reduced else base, note=note))
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines = []
        numeric = {2, 3, 4, 5, 6, 7, 8, 9, 10, 11}

        def fmt(r: list[str]) -> str:
            return "  ".join(c.rjust(widths[i]) if i in numeric else c.ljust(widths[i])
                             for i, c in enumerate(r)).rstrip()
        lines.append(fmt(header))
        lines.append("  ".join("-" * w for w in widths))
        previous = None
        for r in rows:
            if previous is not None and r[0] != previous:
                lines.append("")
            previous = r[0]
            lines.append(fmt(r))
        return "\n".join(lines)

    def row(self, name: str, cell: Cell, ref: Optional[Cell], label: str = "", note: str = "") -> list[str]:
        best = cell.best()
        base = ref.best() if ref else None
        rss = cell.rss_kb()
        base_rss = ref.rss_kb() if ref else None
        if best is None:
            wall = cell.failed or "n/a"
            return [name, label or cell.tool, wall, "", "", "", "", "", "", "", "", "", note]
        spread = cell.spread()
        events = cell.events
        bpe = fixed3(cell.trace_bytes / events) if cell.trace_bytes and events else ""
        raw_bpe = fixed3(cell.raw_bytes / events) if cell.raw_bytes and events else ""
        pack = fixed3(cell.pack_seconds / (events / 1e6)) if cell.pack_seconds and events else ""
        rate = ""
        if cell.analyzer_seconds and events:
            rate = si(events / min(cell.analyzer_seconds))
        notes = [note] if note else []
        notes += cell.notes
        return [
            name, label or cell.tool,
            f"{best:.3f}",
            f"{spread * 100:.0f}%" if spread is not None else "",
            "1.00" if cell is ref else (f"{best / base:.2f}" if base else ""),
            f"{rss / 1024:.1f}" if rss else "",
            "1.00" if cell is ref else (f"{rss / base_rss:.2f}" if rss and base_rss else ""),
            f"{events:,}" if events else "",
            bpe, raw_bpe, pack, rate, "; ".join(notes),
        ]

    def to_json(self) -> dict:
        def cell_json(c: Cell) -> dict:
            return {"workload": c.workload, "tool": c.tool, "argv": c.argv, "reduced": c.reduced,
                    "walls": [s.wall for s in c.samples], "maxrss_kb": [s.maxrss_kb for s in c.samples],
                    "status": [s.status for s in c.samples], "failed": c.failed,
                    "trace_bytes": c.trace_bytes, "raw_bytes": c.raw_bytes,
                    "pack_seconds": c.pack_seconds, "events": c.events,
                    "analyzer_seconds": c.analyzer_seconds, "notes": c.notes}
        return {"machine": machine_info(), "runs": self.args.runs, "quick": self.args.quick,
                "cells": [cell_json(c) for c in self.cells.values()],
                "reduced_baselines": [cell_json(c) for c in self.baselines_reduced.values()]}


# ---------------------------------------------------------------------------------------------------


def fixed3(value: float) -> str:
    """About three significant digits, never in exponent form."""
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}" \
        if value >= 0.01 else f"{value:.4f}"


def si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{fixed3(value / scale)} {unit}"
    return fixed3(value)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def capture(argv: list[str]) -> Optional[str]:
    import subprocess
    try:
        return subprocess.run(argv, check=True, capture_output=True, text=True, env=clean_env()).stdout
    except (subprocess.CalledProcessError, OSError):
        return None


def machine_info() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    def version(argv: list[str]) -> str:
        out = capture(argv)
        return out.strip().splitlines()[0] if out else "not found"
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "loadavg": os.getloadavg(), "python": platform.python_version(),
            "heaptrack": version(["heaptrack", "--version"]),
            "valgrind": version(["valgrind", "--version"]),
            "gcc": version(["gcc", "--version"]),
            "revision": revision()}


def revision() -> str:
    head = capture(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"])
    dirty = capture(["git", "-C", str(REPO_DIR), "status", "--porcelain", "--untracked-files=no",
                     "--", "preload", "format"])
    if not head:
        return "unknown"
    return head.strip() + (" + uncommitted preload/format changes" if dirty and dirty.strip() else "")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default=str(REPO_DIR / "build"),
                   help="build tree with bin/memtrace, lib/libmemtrace.so, bin/bench/* (default: build)")
    p.add_argument("--runs", type=int, default=3, help="runs per cell; the best is reported (default 3)")
    p.add_argument("--quick", action="store_true", help="about 10x smaller inputs")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated subset of: {', '.join(WORKLOADS)}")
    p.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of: {', '.join(TOOLS)}")
    p.add_argument("--timeout", type=float, default=300, help="seconds per run (default 300)")
    p.add_argument("--valgrind-timeout", type=float, default=120,
                   help="seconds per valgrind run; a cell that times out is reported as such (default 120)")
    p.add_argument("--json", help="also write every sample to this file")
    p.add_argument("--keep", metavar="DIR", help="keep traces and logs in DIR instead of a temp dir")
    args = p.parse_args(argv)
    args.workloads = [w for w in args.workloads.split(",") if w]
    args.tools = [t for t in args.tools.split(",") if t]
    for w in args.workloads:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r} (have: {', '.join(WORKLOADS)})")
    for t in args.tools:
        if t not in TOOLS:
            p.error(f"unknown tool {t!r} (have: {', '.join(TOOLS)})")
    if "untraced" not in args.tools:
        args.tools.insert(0, "untraced")  # every ratio needs it
    args.tools = [t for t in TOOLS if t in args.tools]  # fixed order
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return args


def check_prerequisites(args: argparse.Namespace) -> list[str]:
    build = Path(args.build_dir).resolve()
    missing = [str(p) for p in [build / "bin" / "memtrace", build / "lib" / "libmemtrace.so",
                                *(build / "bin" / "bench" / n for n in ("churn", "depth", "mixed", "threads", "cxx_map"))]
               if not p.exists()]
    if missing:
        sys.exit("missing: " + ", ".join(missing) +
                 f"\nbuild first:  cmake --build {build} --target bench")
    skipped = []
    for tool, exe in (("heaptrack", "heaptrack"), ("massif", "valgrind"), ("memcheck", "valgrind")):
        if tool in args.tools and shutil.which(exe) is None:
            args.tools.remove(tool)
            skipped.append(f"{tool} ({exe} not installed)")
    if "heaptrack" in args.tools and shutil.which("heaptrack_print") is None:
        skipped.append("heaptrack analyzer rate (heaptrack_print not installed)")
    if "gcc" in args.workloads and shutil.which("gcc") is None:
        args.workloads.remove("gcc")
        skipped.append("gcc workload (gcc not installed)")
    return skipped


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    skipped = check_prerequisites(args)
    bench = Bench(args)
    info = machine_info()
    started = time.perf_counter()
    try:
        bench.run()
    finally:
        if bench.cleanup:
            shutil.rmtree(bench.scratch, ignore_errors=True)
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()

    print(f"memtrace bench: best of {args.runs} run(s){' (--quick inputs)' if args.quick else ''}, "
          f"{elapsed:.0f} s in all")
    print(f"machine: {info['cpu']}, {info['cores']} cores, Linux {info['kernel']}, "
          f"load {info['loadavg'][0]:.2f} before / {load_after[0]:.2f} after")
    print(f"memtrace: {info['revision']}, from {args.build_dir}")
    print(f"peers: {info['heaptrack']}; {info['valgrind']}; {info['gcc']}")
    if skipped:
        print("skipped: " + "; ".join(skipped))
    print()
    print(bench.table())
    print()
    print(LEGEND)
    if args.json:
        Path(args.json).write_text(json.dumps(bench.to_json(), indent=1))
    return 0


LEGEND = """\
wall s   best (minimum) wall time of the runs, spawn to reap; heaptrack's includes its interpreter+zstd
spread   (max - min) / min over the runs: the machine's noise for that cell
x untr   wall time / untraced wall time of the same input (valgrind rows: the untraced@reduced row)
RSS      peak RSS (ru_maxrss via GNU time: max over the process tree, so for heaptrack it can be
         heaptrack_interpret's; the notes give heaptrack's own reading of the program's RSS)
events   calls memtrace recorded (summary calls.total); heaptrack row: memtrace's count for the
         process heaptrack traced, used as the denominator of its B/event and analyzer rate
B/event  trace file size / events (memtrace: the packed .mtr, as `memtrace run` leaves it; heaptrack's .zst)
raw B/ev memtrace: the raw .mtr as the preload wrote it (whole 64 KiB chunks), before `memtrace pack`
pack     memtrace: seconds `memtrace pack` takes per million events (its own clock, all traces of the run)
analyzer events / best time of `memtrace summary` on the packed traces (memtrace rows) or
         `heaptrack_print` (heaptrack row)"""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
