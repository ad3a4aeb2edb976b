"""memtrace replay: real recorded traces re-run in a fresh process, under glibc and other allocators.

Fidelity: a single-threaded trace replayed under glibc with the tunables it was recorded with makes
glibc take the same decisions again: every block gets the same heap/mmap verdict (read from the chunk
header in the replay) and the program break moves at the same calls by the same amounts, so
verdict_mismatches == 0. This holds because glibc's malloc is deterministic given the sequence of
requests and the starting heap, and the replay reproduces both:

- the dynamic mmap threshold is driven only by the frees of mmapped chunks, which are replayed in order;
- the thread cache and arena are glibc's own, in a single thread always the main arena;
- blocks allocated before tracing began (memtrace's own start-up: loading its unwinder allocates about
  5.7 KiB) are stood for by one block of the same size allocated first (op stream "prefill"), found from
  where the first traced block landed. Without it the replay of replay_map gave 1 verdict and 70 break
  moves different: every heap growth came a few calls earlier, because the top chunk was 5.7 KiB larger.
- the replayer itself never calls malloc and links no libstdc++ (whose start-up pool is 71 KiB of heap).
"""

import collections
import json
import os
import re
import struct
import subprocess
import sys
import unittest

from memtrace_e2e import (MEMTRACE, TIMEOUT, E2ETestCase, memtrace, program, run_traced, summary)

JSON_KEYS = {"allocator", "operations", "threads", "wall_ns", "peak_rss_bytes", "peak_live_bytes", "mmap_calls",
             "munmap_calls", "mremap_calls", "brk_calls", "brk_moves", "mmapped_allocations", "verdict_mismatches",
             "fragmentation", "mallopt_calls", "malloc_trim_calls", "program_brk_calls"}
ALLOCATOR_LIBRARIES = {"jemalloc": "libjemalloc.so.2", "tcmalloc": "libtcmalloc_minimal.so.4",
                       "mimalloc": "libmimalloc.so.2"}
MEMORY_SYSCALLS = ("mmap", "munmap", "mremap", "brk")


def installed_allocators():
    return ["glibc"] + [n for n, lib in ALLOCATOR_LIBRARIES.items()
                        if os.path.exists(f"/usr/lib/x86_64-linux-gnu/{lib}")]

PYTHON_WORKLOAD = """
import json
d = {}
for i in range(40000):
    d[str(i)] = [i] * (i % 17)
blobs = [bytes(200000 + i * 1000) for i in range(20)]
del blobs[::2]
print(len(d), len(json.dumps({k: v for k, v in list(d.items())[:5000]})), sum(len(b) for b in blobs))
"""

SMALL_C = """
#include <stdio.h>
struct point { int x, y; };
static int sum(const struct point* p, int n) { int s = 0; for (int i = 0; i < n; ++i) s += p[i].x * p[i].y; return s; }
int main(void) { struct point p[4] = {{1, 2}, {3, 4}, {5, 6}, {7, 8}}; printf("%d\\n", sum(p, 4)); return 0; }
"""


def replay(trace, *extra):
    proc = memtrace("replay", trace, "--json", *extra)
    if proc.returncode != 0:
        raise AssertionError(f"memtrace replay {trace} {extra} exited {proc.returncode}: {proc.stderr!r}")
    return json.loads(proc.stdout)


def python_interpreter():
    # The real interpreter, not a wrapper script (pyenv shims run bash first).
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else os.path.realpath(sys.executable)


class FidelityTest(E2ETestCase):
    """Real programs' traces replayed under glibc: the same verdicts and break moves."""

    @classmethod
    def setUpClass(cls):
        cls.dir = cls.class_workdir()
        cls.traces = {}
        run = run_traced([program("replay_map"), "20000"], cls.dir)
        assert run.returncode == 0 and run.trace, run.stderr
        cls.traces["c++ map"] = run.trace
        script = os.path.join(cls.dir, "workload.py")
        with open(script, "w") as f:
            f.write(PYTHON_WORKLOAD)
        run = run_traced([python_interpreter(), script], cls.dir)
        assert run.returncode == 0 and run.trace, run.stderr
        cls.traces["python"] = run.trace
        source = os.path.join(cls.dir, "small.c")
        with open(source, "w") as f:
            f.write(SMALL_C)
        # gcc runs cc1 and as as children: each process writes its own trace; keep cc1's.
        run = run_traced(["gcc", "-O2", "-c", source, "-o", os.path.join(cls.dir, "small.o")], cls.dir)
        assert run.returncode == 0, run.stderr
        cc1 = [t for t in run.traces if summary(t)["trace"]["program"].endswith("/cc1")]
        assert len(cc1) == 1, [summary(t)["trace"]["program"] for t in run.traces]
        cls.traces["cc1"] = cc1[0]

    def test_glibc_replay_reproduces_verdicts_and_break_moves(self):
        for name, trace in self.traces.items():
            with self.subTest(trace=name):
                recorded = summary(trace)
                r = replay(trace)
                self.assertLessEqual(JSON_KEYS, set(r))
                self.assertEqual(r["allocator"], "glibc")
                self.assertEqual(r["verdict_differences"], 0, r)
                self.assertEqual(r["brk_move_differences"], 0, r)
                self.assertEqual(r["verdict_mismatches"], 0, r)
                self.assertEqual(r["threads"], 1)
                self.assertEqual(r["mmapped_allocations"], recorded["allocations"]["mmapped"], r)
                self.assertEqual(r["heap_allocations"], recorded["allocations"]["heap"], r)
                self.assertEqual(r["peak_live_bytes"], recorded["allocations"]["peak_live_bytes"], r)
                # The start-up move (memtrace's own) is not the program's and is not replayed.
                startup = 1 if r["prefill_bytes"] else 0
                self.assertIn(r["brk_moves"], (recorded["brk"]["moves"], recorded["brk"]["moves"] - startup), r)
                self.assertGreater(r["operations"], 200)
                self.assertGreater(r["peak_rss_bytes"], r["peak_live_bytes"] // 2)

    def test_map_trace_crosses_the_threshold(self):
        # The C++ workload is the demanding one: mmapped vectors whose frees raise the dynamic threshold.
        r = replay(self.traces["c++ map"])
        self.assertGreaterEqual(r["mmapped_allocations"], 3, r)
        self.assertGreater(r["brk_moves"], 20, r)
        self.assertGreater(r["operations"], 100000, r)


class TunablesTest(E2ETestCase):
    """The replay gets the tunables the trace recorded; without them glibc decides differently."""

    def test_recorded_tunables_are_applied(self):
        env = {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}
        run = self.traced([program("malloc_loop"), "100000", "200"], env=env)
        recorded = summary(run.trace)
        self.assertEqual(recorded["trace"]["environment"], ["GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536"])
        self.assertGreaterEqual(recorded["allocations"]["mmapped"], 190)
        same = replay(run.trace)
        self.assertEqual(same["verdict_mismatches"], 0, same)
        self.assertEqual(same["mmapped_allocations"], recorded["allocations"]["mmapped"])
        # The check can fail: glibc's default 128 KiB threshold serves 100000-byte blocks from the heap.
        default = replay(run.trace, "--default-env")
        self.assertGreaterEqual(default["verdict_differences"], 190, default)
        self.assertEqual(default["mmapped_allocations"], 0, default)


class AllocatorsTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = cls.class_workdir()
        run = run_traced([program("replay_map"), "5000"], cls.dir)
        assert run.returncode == 0 and run.trace, run.stderr
        cls.trace = run.trace
        threads = run_traced([program("threads_cross_free"), "20000"], cls.dir)
        assert threads.returncode == 0 and threads.trace, threads.stderr
        cls.threads_trace = threads.trace

    def test_all_gives_one_object_per_installed_allocator(self):
        proc = memtrace("replay", self.trace, "--allocator", "all", "--json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = json.loads(proc.stdout)
        names = [r["allocator"] for r in rows]
        self.assertEqual(names[0], "glibc")
        for row in rows:
            with self.subTest(allocator=row["allocator"]):
                self.assertLessEqual(JSON_KEYS, set(row))
                self.assertEqual(row["operations"], rows[0]["operations"])
                self.assertEqual(row["peak_live_bytes"], rows[0]["peak_live_bytes"])
                self.assertGreater(row["wall_ns"], 0)
                if row["allocator"] == "glibc":
                    self.assertEqual(row["verdict_mismatches"], 0)
                    self.assertIn("libc.so", row["library"])
                else:
                    self.assertIsNone(row["verdict_mismatches"])
                    self.assertIsNone(row["mmapped_allocations"])
                    self.assertIn(row["allocator"], row["library"])
                self.assertIsNotNone(row["mmap_calls"])
        self.assertEqual(names, installed_allocators())

    def test_text_table_has_a_column_per_allocator(self):
        proc = memtrace("replay", self.trace, "--allocator", "all")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        header = [line for line in proc.stdout.decode().splitlines() if line.strip().startswith("glibc")]
        self.assertEqual(len(header), 1, proc.stdout)
        self.assertIn("verdict mismatches", proc.stdout.decode())

    def test_an_allocator_by_path(self):
        rows = replay(self.trace, "--allocator", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
        self.assertIn("libjemalloc", rows["library"])

    def test_cross_thread_frees_replay_as_threads_under_every_allocator(self):
        recorded = summary(self.threads_trace)
        proc = memtrace("replay", self.threads_trace, "--allocator", "all", "--json", timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for row in json.loads(proc.stdout):
            with self.subTest(allocator=row["allocator"]):
                self.assertEqual(row["threads"], recorded["trace"]["threads"])
                self.assertGreaterEqual(row["operations"], 4 * 20000 * 2)
                self.assertEqual(row["failed_allocations"], 0)

    def test_no_touch_touches_less(self):
        touched = replay(self.trace)
        untouched = replay(self.trace, "--no-touch")
        self.assertEqual(touched["operations"], untouched["operations"])
        self.assertLessEqual(untouched["peak_rss_bytes"], touched["peak_rss_bytes"])


class ProcessCallsTest(E2ETestCase):
    """mallopt, malloc_trim and the program's own brk/sbrk are replayed in their recorded order."""

    @classmethod
    def setUpClass(cls):
        cls.dir = cls.class_workdir()
        cls.tuning = run_traced([program("malloc_tuning")], cls.dir)
        assert cls.tuning.returncode == 0 and cls.tuning.trace, cls.tuning.stderr
        cls.recorded = summary(cls.tuning.trace)

    def test_the_run_retuned_malloc_and_trimmed(self):
        # mallopt returns 1 on success; brk 0; malloc_trim 1 when it gave memory back.
        words = self.tuning.stdout.decode().split()
        self.assertEqual(words[:8], ["mallopt", "1", "1", "1", "brk", "0", "trim", "1"], words)
        self.assertLess(int(words[9]), 0, "malloc_trim did not move the break down")

    def test_glibc_replay_reproduces_verdicts_break_moves_and_trims(self):
        r = replay(self.tuning.trace)
        self.assertEqual(r["verdict_differences"], 0, r)
        self.assertEqual(r["brk_move_differences"], 0, r)
        self.assertEqual(r["trim_result_differences"], 0, r)
        self.assertEqual(r["verdict_mismatches"], 0, r)
        self.assertEqual((r["mallopt_calls"], r["malloc_trim_calls"], r["program_brk_calls"]), (3, 1, 5), r)
        self.assertEqual(r["failed_program_brk_calls"], 0, r)
        self.assertEqual(r["unreplayed_brk_moves"], 0, r)
        # The check can fail: 100 KiB blocks are mmapped only because M_MMAP_THRESHOLD was replayed (the
        # default threshold is 128 KiB); the few the top chunk could still hold come from the heap.
        self.assertEqual(r["mmapped_allocations"], self.recorded["allocations"]["mmapped"], r)
        self.assertGreaterEqual(r["mmapped_allocations"], 10, r)
        startup = 1 if r["prefill_bytes"] else 0
        self.assertIn(r["brk_moves"], (self.recorded["brk"]["moves"], self.recorded["brk"]["moves"] - startup), r)
        # Of the program's 5 calls, sbrk(+64 KiB) and brk() are syscalls; sbrk(0) x3 reads libc's copy.
        self.assertEqual(r["program_brk_syscalls"], 2, r)

    def test_other_allocators_take_the_calls_harmlessly(self):
        proc = memtrace("replay", self.tuning.trace, "--allocator", "all", "--json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for row in json.loads(proc.stdout):
            with self.subTest(allocator=row["allocator"]):
                self.assertEqual((row["mallopt_calls"], row["malloc_trim_calls"], row["program_brk_calls"]),
                                 (3, 1, 5), row)
                self.assertEqual(row["failed_allocations"], 0, row)
                self.assertEqual(row["failed_program_brk_calls"], 0, row)


def strace_replay(trace, allocator, workdir):
    """`memtrace replay` under `strace -f`, and the kernel's account of the replay process's memory syscalls.

    The window is the replayer's seccomp() call (counting starts) to its write of the result line. In it
    strace shows each counted call twice, the trapped attempt then a SIGSYS then the forwarded call, so
    the calls the kernel carried out are the call lines less the SIGSYS lines."""
    log = os.path.join(workdir, f"strace-{allocator}.log")
    command = ["strace", "-f", "-qq", "-o", log, "-e", "trace=mmap,munmap,mremap,brk,seccomp,write",
               "-e", "signal=SIGSYS", str(MEMTRACE), "replay", trace, "--allocator", allocator, "--json"]
    proc = subprocess.run(command, capture_output=True, timeout=TIMEOUT * 3)
    if proc.returncode != 0:
        raise AssertionError(f"{command} exited {proc.returncode}: {proc.stderr[-2000:]!r}")
    call = re.compile(r"^\d+\s+(mmap|munmap|mremap|brk)\(")
    trap = re.compile(r"^\d+\s+--- SIGSYS \{.*si_syscall=__NR_(\w+)")
    calls, traps, inside, windows = collections.Counter(), collections.Counter(), False, 0
    with open(log) as f:
        for line in f:
            if re.match(r"^\d+\s+seccomp\(SECCOMP_SET_MODE_FILTER", line):
                inside, windows = True, windows + 1
            elif inside and re.match(r'^\d+\s+write\(1, "operations=', line):
                inside = False
            elif inside and (m := call.match(line)):
                calls[m.group(1)] += 1
            elif inside and (m := trap.match(line)):
                traps[m.group(1)] += 1
    assert windows == 1, f"{windows} counting windows in {log}"
    carried_out = {name: calls[name] - traps[name] for name in MEMORY_SYSCALLS}
    return json.loads(proc.stdout), carried_out, {name: traps[name] for name in MEMORY_SYSCALLS}


class SyscallCountsTest(E2ETestCase):
    """The replay's mmap/munmap/mremap/brk counts, per allocator, against strace -f of the same replay."""

    @classmethod
    def setUpClass(cls):
        cls.dir = cls.class_workdir()
        cls.traces = {}
        for name, argv in {"tuning": [program("malloc_tuning")],
                           "map": [program("replay_map"), "3000"],
                           "threads": [program("threads_cross_free"), "3000"]}.items():
            run = run_traced(argv, cls.dir)
            assert run.returncode == 0 and run.trace, run.stderr
            cls.traces[name] = run.trace

    def test_counts_equal_strace_for_every_allocator(self):
        for allocator in installed_allocators():
            for name, trace in self.traces.items():
                with self.subTest(allocator=allocator, trace=name):
                    r, kernel, trapped = strace_replay(trace, allocator, self.dir)
                    self.assertEqual(r["syscall_counts"], "seccomp", r)
                    # Every memory syscall of the window went through the trap: none escaped the count.
                    self.assertEqual(trapped, kernel)
                    ours = {"mmap": r["mmap_calls"] + r["replayer_mmap_calls"],
                            "munmap": r["munmap_calls"] + r["replayer_munmap_calls"],
                            "mremap": r["mremap_calls"] + r["replayer_mremap_calls"],
                            "brk": r["brk_calls"] + r["replayer_brk_calls"] + r["program_brk_syscalls"]}
                    self.assertEqual(ours, kernel, r)
                    if name == "threads":
                        # Each replay thread's stack is the replayer's mapping, not the allocator's.
                        self.assertGreaterEqual(r["replayer_mmap_calls"], r["threads"] - 1, r)
                    if allocator == "glibc" and name == "map":
                        # glibc in one thread (no arena heaps): each mmap is an mmapped chunk (a chunk
                        # realloc'd within its mapping is an mremap, or no call when its pages suffice).
                        self.assertGreater(r["mmap_calls"], 0, r)
                        self.assertLessEqual(r["mmap_calls"], r["mmapped_allocations"], r)

    def test_text_table_shows_the_counts(self):
        proc = memtrace("replay", self.traces["map"], "--allocator", "all")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = {line[:22].strip(): line[22:].split() for line in proc.stdout.decode().splitlines()}
        for label in ("mmap calls", "munmap calls", "mremap calls", "brk calls", "RSS growth / live"):
            with self.subTest(row=label):
                self.assertIn(label, rows, proc.stdout)
                self.assertEqual(len(rows[label]), len(installed_allocators()), rows[label])
                self.assertNotIn("-", rows[label])


# FileHeader (format/trace_layout.h): version u16 at 8, machine u16 at 10.
class BadInputTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = cls.class_workdir()
        run = run_traced([program("malloc_loop"), "64", "20000"], cls.dir)
        assert run.returncode == 0 and run.trace, run.stderr
        with open(run.trace, "rb") as f:
            cls.data = f.read()

    def write(self, name, data):
        path = os.path.join(self.workdir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def patched(self, name, offset, value):
        data = bytearray(self.data)
        struct.pack_into("<H", data, offset, value)
        return self.write(name, bytes(data))

    def test_bad_traces_give_one_error_line(self):
        cases = {
            "future version": (self.patched("future.mtr", 8, 99), ["future.mtr", "version 99"]),
            "other architecture": (self.patched("arm.mtr", 10, 183), ["arm.mtr", "architecture"]),
            "cut in the header": (self.write("cut.mtr", self.data[:100]), ["cut.mtr", "cut short"]),
            "missing": (os.path.join(self.workdir, "none.mtr"), ["none.mtr", "no such file"]),
        }
        for what, (path, words) in cases.items():
            for extra in ([], ["--allocator", "all"], ["--json"]):
                with self.subTest(what=what, extra=extra):
                    proc = memtrace("replay", path, *extra)
                    self.assertOneErrorLine(proc, *words)
                    self.assertEqual(proc.stdout, b"")

    def test_trace_cut_in_its_records_replays_its_prefix_with_one_warning(self):
        path = self.write("half.mtr", self.data[:len(self.data) // 2])
        proc = memtrace("replay", path, "--json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(proc.stderr.decode().splitlines()), 1, proc.stderr)
        self.assertIn("cut short", proc.stderr.decode())
        r = json.loads(proc.stdout)
        self.assertGreater(r["operations"], 0)
        self.assertLess(r["operations"], 40000)
        self.assertEqual(r["verdict_mismatches"], 0)

    def test_bad_allocators(self):
        full = self.write("full.mtr", self.data)
        not_a_library = self.write("fake.so", b"not an ELF file\n")
        cases = [(["--allocator", "hoard"], ["hoard"], 2),
                 (["--allocator", "/nonexistent/libx.so"], ["/nonexistent/libx.so"], 2),
                 (["--allocator", not_a_library], ["fake.so", "not loaded"], 1)]
        for extra, words, status in cases:
            with self.subTest(extra=extra):
                proc = memtrace("replay", full, *extra)
                self.assertOneErrorLine(proc, *words)
                self.assertEqual(proc.returncode, status)


if __name__ == "__main__":
    unittest.main()
