"""memtrace's exit-time leak classes against valgrind's memcheck, case by case.

Each case (tests/programs/leak_cases.c CASE, tests/programs/leak_cxx.cc) runs once under memtrace
(LD_PRELOAD) and once under `valgrind --leak-check=full --show-leak-kinds=all`. valgrind's LEAK
SUMMARY (definitely / indirectly / possibly lost, still reachable: bytes and blocks; a missing line
means 0) must equal memtrace's `leaks --json --show all` summary, with the accounting below.

What a native run legitimately has that valgrind's run has not (or differently), handled explicitly:

  * Blocks the program's own code allocated (the allocator's immediate caller is in the program's
    binary: memtrace's first frame's module; for valgrind, the first "by" frame's function is one the
    binary defines, per `nm -C`) are compared exactly, and against the numbers the case is built to
    produce, so memtrace and valgrind cannot agree on a wrong answer.
  * The other blocks are the C runtime's. They must match exactly too, except:
      - the DTV (thread-local-storage vector) glibc's loader allocates for each thread
        (allocate_dtv): same class and count, but its size depends on the number of TLS modules, and
        libmemtrace.so brings its own (valgrind's preloads have none), 16 bytes each;
      - libstdc++'s emergency exception-handling pool (allocated from its static initializer, called
        from the loader's _dl_init): valgrind's __gnu_cxx::__freeres frees it before the leak check,
        a native run keeps it to the end, so memtrace alone reports it (still reachable).
  * The programs keep pointers out of registers and scrub dead stack (see leak_cases.c), so no stale
    copy of a pointer decides a class in one run and not the other.

The cases run in parallel (valgrind is the slow part); each test method checks one case.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path
from typing import Optional

from memtrace_e2e import TIMEOUT, memtrace_json, program, run_traced

CLASSES = ("definite", "indirect", "possible", "reachable")
VALGRIND_WORDS = {"definitely lost": "definite", "indirectly lost": "indirect",
                  "possibly lost": "possible", "still reachable": "reachable"}

# (program, argument) -> what the program's own allocations must come to: class -> (bytes, blocks).
CASES: dict[str, tuple[str, list[str], dict[str, tuple[int, int]]]] = {
    "clean": ("leak_cases", ["clean"], {}),
    "overwritten": ("leak_cases", ["overwritten"], {"definite": (100, 1), "reachable": (50, 1)}),
    "cycle": ("leak_cases", ["cycle"], {"definite": (40, 1), "indirect": (80, 2)}),
    "tree": ("leak_cases", ["tree"], {"definite": (24, 1), "indirect": (14 * 24, 14)}),
    "interior": ("leak_cases", ["interior"], {"possible": (100, 1)}),
    "global": ("leak_cases", ["global"], {"reachable": (3 * 64, 3)}),
    "tls": ("leak_cases", ["tls"], {"reachable": (300, 1)}),
    "thread_stack": ("leak_cases", ["thread_stack"], {"reachable": (400, 1), "definite": (200, 1)}),
    "thread_tls": ("leak_cases", ["thread_tls"], {"reachable": (500, 1), "definite": (200, 1)}),
    "heuristic": ("leak_cases", ["heuristic"], {"reachable": (72 + 68, 2)}),
    "last": ("leak_cases", ["last"], {"definite": (77, 1)}),
    # std::string(100) 101 bytes, vector<int> of 1000: 4096, vector<string> reserve(4): 128, four
    # strings of 40..43 characters: 41..44, the vector object itself: 24.
    "cxx_statics": ("leak_cxx", [], {"reachable": (101 + 4096 + 128 + (41 + 42 + 43 + 44) + 24, 8)}),
}

VALGRIND = shutil.which("valgrind")


def zero() -> dict[str, list[int]]:
    return {c: [0, 0] for c in CLASSES}


def add(totals: dict[str, list[int]], leak_class: str, nbytes: int, blocks: int) -> None:
    totals[leak_class][0] += nbytes
    totals[leak_class][1] += blocks


def frozen(totals: dict[str, list[int]]) -> dict[str, tuple[int, int]]:
    return {c: tuple(v) for c, v in totals.items()}


def expected_totals(expected: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    totals = zero()
    for c, (nbytes, blocks) in expected.items():
        add(totals, c, nbytes, blocks)
    return frozen(totals)


# ---------------------------------------------------------------------------------------------------
# valgrind's report

_NUMBER = r"([\d,]+)"
_SUMMARY = re.compile(r"^==\d+==\s+(definitely lost|indirectly lost|possibly lost|still reachable): "
                      + _NUMBER + r" bytes in " + _NUMBER + r" blocks")
_RECORD = re.compile(r"^==\d+== " + _NUMBER + r"(?: \(" + _NUMBER + r" direct, " + _NUMBER +
                     r" indirect\))? bytes in " + _NUMBER +
                     r" blocks are (definitely lost|indirectly lost|possibly lost|still reachable) in loss record")
_FRAME = re.compile(r"^==\d+==\s+(at|by) 0x[0-9A-Fa-f]+: (.*?)(?: \((?:in [^()]*|[^()]*:\d+)\))?$")


def number(text: str) -> int:
    return int(text.replace(",", ""))


def parse_valgrind(text: str):
    """(LEAK SUMMARY totals, [(class, direct bytes, blocks, [function of each frame])])."""
    summary = zero()
    records = []
    current = None
    for line in text.splitlines():
        m = _SUMMARY.match(line)
        if m:
            add(summary, VALGRIND_WORDS[m.group(1)], number(m.group(2)), number(m.group(3)))
            continue
        m = _RECORD.match(line)
        if m:
            direct = number(m.group(2)) if m.group(2) else number(m.group(1))
            current = (VALGRIND_WORDS[m.group(5)], direct, number(m.group(4)), [])
            records.append(current)
            continue
        m = _FRAME.match(line)
        if m and current is not None:
            current[3].append(m.group(2))
            continue
        current = None
    return frozen(summary), records


def defined_functions(binary: str) -> set[str]:
    """Demangled names of the functions a binary defines, as valgrind prints them."""
    out = subprocess.run(["nm", "-C", "--defined-only", binary], capture_output=True, text=True,
                         check=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            names.add(parts[2])
    return names


# ---------------------------------------------------------------------------------------------------
# Running one case both ways


class CaseResult:
    def __init__(self, name: str):
        self.name = name
        self.error: Optional[str] = None
        self.memtrace_summary = None
        self.memtrace_groups = None
        self.memtrace_complete = None
        self.memtrace_scanned = None
        self.valgrind_summary = None
        self.valgrind_records = None
        self.valgrind_text = ""
        self.binary = ""


def run_case(name: str, workdir: str) -> CaseResult:
    result = CaseResult(name)
    binary, args, _ = CASES[name]
    path = program(binary)
    result.binary = path
    casedir = os.path.join(workdir, name)
    os.mkdir(casedir)
    run = run_traced([path, *args], casedir)
    if run.returncode != 0 or not run.trace:
        result.error = f"traced run exited {run.returncode}: {run.stderr[-2000:]!r}"
        return result
    # Compared with valgrind as they are: memtrace's built-in suppressions are accounted for below.
    leaks = memtrace_json("leaks", run.trace, "--show", "all", "--no-default-suppressions")
    result.memtrace_summary = leaks["summary"]
    result.memtrace_groups = leaks["groups"]
    result.memtrace_complete = leaks["complete"]
    result.memtrace_scanned = leaks["scanned"]
    log = os.path.join(casedir, "valgrind.txt")
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    proc = subprocess.run([VALGRIND, "--leak-check=full", "--show-leak-kinds=all", "--num-callers=30",
                           f"--log-file={log}", path, *args], capture_output=True, env=env, timeout=TIMEOUT)
    result.valgrind_text = Path(log).read_text(errors="replace")
    if proc.returncode != 0:
        result.error = f"valgrind run exited {proc.returncode}: {result.valgrind_text[-3000:]}"
        return result
    result.valgrind_summary, result.valgrind_records = parse_valgrind(result.valgrind_text)
    return result


# ---------------------------------------------------------------------------------------------------
# Accounting


def is_dtv(functions: list[str]) -> bool:
    return any(f.split("(")[0] in ("allocate_dtv", "_dl_allocate_tls", "__GI__dl_allocate_tls")
               for f in functions)


def is_libstdcxx_pool(frames: list[dict]) -> bool:
    """libstdc++'s emergency EH pool: allocated by libstdc++ itself from its initializer (_dl_init)."""
    return (bool(frames) and "libstdc++" in os.path.basename(frames[0]["module"])
            and any(f["function"] in ("_dl_init", "call_init") for f in frames))


class Accounts:
    """One run's blocks split: the program's own, the runtime's compared exactly, the runtime's
    compared by class and count only (DTVs), and the runtime's memtrace alone has (EH pool)."""

    def __init__(self):
        self.own = zero()
        self.runtime = zero()
        self.dtv = zero()
        self.freeres = zero()
        self.total = zero()


def memtrace_accounts(result: CaseResult) -> Accounts:
    accounts = Accounts()
    binary = os.path.realpath(result.binary)
    for group in result.memtrace_groups:
        leak_class = group["kind"]
        if leak_class not in CLASSES:
            raise AssertionError(f"memtrace left a group {leak_class}: {group}")
        frames = group["stack"]
        functions = [f["function"] for f in frames]
        direct, blocks = group["direct_bytes"], group["blocks"]
        add(accounts.total, leak_class, direct, blocks)
        if frames and os.path.realpath(frames[0]["module"]) == binary:
            add(accounts.own, leak_class, direct, blocks)
        elif is_dtv(functions):
            add(accounts.dtv, leak_class, direct, blocks)
        elif is_libstdcxx_pool(frames):
            add(accounts.freeres, leak_class, direct, blocks)
        else:
            add(accounts.runtime, leak_class, direct, blocks)
    return accounts


def valgrind_accounts(result: CaseResult, own_functions: set[str]) -> Accounts:
    accounts = Accounts()
    for leak_class, direct, blocks, functions in result.valgrind_records:
        add(accounts.total, leak_class, direct, blocks)
        # functions[0] is the allocator ("at malloc"), functions[1] its caller.
        if len(functions) > 1 and functions[1] in own_functions:
            add(accounts.own, leak_class, direct, blocks)
        elif is_dtv(functions):
            add(accounts.dtv, leak_class, direct, blocks)
        else:
            add(accounts.runtime, leak_class, direct, blocks)
    return accounts


def counts(totals) -> dict[str, int]:
    return {c: v[1] for c, v in totals.items()}


def row(totals) -> str:
    return " ".join(f"{totals[c][0]}/{totals[c][1]}" for c in CLASSES)


@unittest.skipUnless(VALGRIND, "valgrind is not installed")
class LeakClassesVsValgrind(unittest.TestCase):
    maxDiff = 6000
    results: dict[str, CaseResult] = {}

    @classmethod
    def setUpClass(cls):
        workdir = tempfile.mkdtemp(prefix="memtrace-leak-vs-valgrind-")
        cls.addClassCleanup(shutil.rmtree, workdir, ignore_errors=True)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            futures = {name: pool.submit(run_case, name, workdir) for name in CASES}
            cls.results = {name: f.result() for name, f in futures.items()}
        cls.functions = {binary: defined_functions(program(binary)) for binary, _, _ in CASES.values()}
        print("\ncase          | valgrind D/I/P/R (bytes/blocks)             | memtrace D/I/P/R")
        for name, r in cls.results.items():
            if r.error:
                print(f"{name:13} | error: {r.error[:200]}")
                continue
            mt = {c: (r.memtrace_summary[c]["bytes"], r.memtrace_summary[c]["blocks"]) for c in CLASSES}
            print(f"{name:13} | {row(r.valgrind_summary):43} | {row(mt)}")

    def check(self, name: str):
        r = self.results[name]
        if r.error:
            self.fail(f"{name}: {r.error}")
        binary, _, expected = CASES[name]
        self.assertTrue(r.memtrace_complete and r.memtrace_scanned, f"{name}: trace incomplete or not scanned")
        self.assertEqual(r.memtrace_summary["unclassified"]["blocks"], 0)
        mt = memtrace_accounts(r)
        vg = valgrind_accounts(r, self.functions[binary])
        groups = "\n".join(f"  {g['kind']} {g['direct_bytes']}/{g['blocks']} at "
                           + " < ".join(f"{f['function'] or '?'} ({os.path.basename(f['module'])})"
                                        for f in g["stack"][:4]) for g in r.memtrace_groups)
        context = f"\n--- valgrind ---\n{r.valgrind_text[-6000:]}\n--- memtrace groups ---\n{groups}"

        # The parsers saw everything: loss records add up to valgrind's LEAK SUMMARY, groups to
        # memtrace's summary.
        self.assertEqual(frozen(vg.total), r.valgrind_summary, f"{name}: valgrind's records vs its summary")
        self.assertEqual(frozen(mt.total),
                         {c: (r.memtrace_summary[c]["bytes"], r.memtrace_summary[c]["blocks"]) for c in CLASSES},
                         f"{name}: memtrace's groups vs its summary")

        # The program's own blocks: exactly as built, in both.
        want = expected_totals(expected)
        self.assertEqual(frozen(vg.own), want, f"{name}: valgrind, the program's own blocks{context}")
        self.assertEqual(frozen(mt.own), want, f"{name}: memtrace, the program's own blocks{context}")

        # The runtime's blocks: equal, DTVs by class and count (sizes follow the TLS module count).
        self.assertEqual(frozen(mt.runtime), frozen(vg.runtime), f"{name}: the runtime's blocks{context}")
        self.assertEqual(counts(mt.dtv), counts(vg.dtv), f"{name}: the threads' DTVs{context}")
        # What valgrind's __gnu_cxx::__freeres released before its check: still reachable natively.
        self.assertEqual([c for c in CLASSES if mt.freeres[c][1] and c != "reachable"], [],
                         f"{name}: libstdc++'s EH pool{context}")

    # One test per case, so a failure names it.
    def test_clean(self):
        self.check("clean")

    def test_overwritten_pointer_is_definitely_lost(self):
        self.check("overwritten")

    def test_cycle_is_definite_plus_indirect(self):
        self.check("cycle")

    def test_tree_with_lost_root(self):
        self.check("tree")

    def test_interior_pointer_is_possibly_lost(self):
        self.check("interior")

    def test_global_is_reachable(self):
        self.check("global")

    def test_thread_local_is_reachable(self):
        self.check("tls")

    def test_blocked_thread_stack_is_reachable(self):
        self.check("thread_stack")

    def test_blocked_thread_tls_is_reachable(self):
        self.check("thread_tls")

    def test_valgrind_heuristics(self):
        self.check("heuristic")

    def test_last_allocation_lost_without_scrubbing(self):
        self.check("last")

    def test_cxx_containers_in_statics(self):
        self.check("cxx_statics")


if __name__ == "__main__":
    unittest.main()
