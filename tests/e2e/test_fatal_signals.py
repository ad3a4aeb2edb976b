"""Fatal signals under plain LD_PRELOAD (no `memtrace run` to note the end): the preload's own
handler writes how the process ended and classifies the leaks, then the process dies exactly as it
does untraced. The kernel's wait status (signal number and core-dump bit, cores allowed) is compared
with the untraced run's, the leak classes of the program's known blocks with valgrind's report at the
same fatal signal, and what the program sees of its signal dispositions with the untraced output.

tests/programs/fatal_signal.c leaves a 1111-byte block reachable from a global, a 2222-byte block
definitely lost, and a ring of three 48-byte blocks (one definitely, two indirectly lost) before it
ends the way its argument says.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import time
import unittest
from pathlib import Path

from memtrace_e2e import (LIBRARY, TIMEOUT, E2ETestCase, memtrace, memtrace_json, program,
                          summary)

VALGRIND = shutil.which("valgrind")

# The program's own blocks: size -> the class each block of that size must get (valgrind's too).
KNOWN_BLOCKS = {1111: {"reachable": 1}, 2222: {"definite": 1}, 48: {"definite": 1, "indirect": 2}}


def allow_cores():
    resource.setrlimit(resource.RLIMIT_CORE, (64 << 20, 64 << 20))


class Ended:
    """One run of fatal_signal: its raw wait status, output and (traced) trace."""

    def __init__(self, status: int, stdout: bytes, trace: str | None):
        self.status, self.stdout, self.trace = status, stdout, trace

    def describe(self) -> str:
        if os.WIFSIGNALED(self.status):
            core = " (core dumped)" if os.WCOREDUMP(self.status) else ""
            return f"killed by signal {os.WTERMSIG(self.status)}{core}"
        return f"exit {os.WEXITSTATUS(self.status)}"


class FatalSignalTest(E2ETestCase):
    def start(self, mode: str, traced: bool, rundir: str) -> tuple[subprocess.Popen, str | None]:
        os.makedirs(rundir, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MEMTRACE_OUTPUT")}
        trace = None
        if traced:
            trace = os.path.join(rundir, "trace.mtr")
            env.update(LD_PRELOAD=str(LIBRARY), MEMTRACE_OUTPUT=trace)
        child = subprocess.Popen([program("fatal_signal"), mode], cwd=rundir, env=env, preexec_fn=allow_cores,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return child, trace

    def finish(self, child: subprocess.Popen, trace: str | None, kill_after: float | None = None) -> Ended:
        deadline = time.monotonic() + TIMEOUT
        out = b""
        if kill_after is not None:
            out = child.stdout.readline() + child.stdout.readline()  # "allocated", "looping"
            self.assertIn(b"looping", out)
            time.sleep(kill_after)
            child.send_signal(signal.SIGTERM)
        while True:
            pid, status, _ = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                child.kill()
                self.fail(f"{child.args} did not end within {TIMEOUT} s")
            time.sleep(0.01)
        child.returncode = os.waitstatus_to_exitcode(status)
        out += child.stdout.read()
        child.stdout.close()
        return Ended(status, out, trace)

    def both(self, mode: str, kill_after: float | None = None) -> tuple[Ended, Ended]:
        """The untraced and the traced run of MODE (each in a directory of its own: cores land there)."""
        runs = []
        for traced in (False, True):
            child, trace = self.start(mode, traced, os.path.join(self.workdir, f"{mode}-{traced}"))
            runs.append(self.finish(child, trace, kill_after))
        plain, traced = runs
        self.assertEqual(traced.describe(), plain.describe(), "the wait status differs from the untraced one")
        self.assertEqual(traced.status, plain.status)
        self.assertEqual(traced.stdout, plain.stdout)
        return plain, traced

    def assertEndedBySignal(self, trace: str, signo: int):
        t = summary(trace)["trace"]
        name = signal.Signals(signo).name
        self.assertEqual(t["end"], f"killed by signal {signo} ({name})", t)
        self.assertFalse(t["truncated"], t)
        self.assertEqual(t["dropped_calls"], 0, t)
        text = memtrace("summary", trace).stdout.decode()
        self.assertIn(f"killed by signal {signo} ({name})", text)

    def known_classes(self, trace: str) -> dict[int, dict[str, int]]:
        """memtrace's classes of the program's known blocks: size -> class -> blocks."""
        leaks = memtrace_json("leaks", trace, "--show", "all", "--no-default-suppressions")
        self.assertTrue(leaks["scanned"], "the fatal signal's handler ran the leak scan")
        found: dict[int, dict[str, int]] = {size: {} for size in KNOWN_BLOCKS}
        for group in leaks["groups"]:
            if group["blocks"] and group["direct_bytes"] % group["blocks"] == 0:
                size = group["direct_bytes"] // group["blocks"]
                if size in found:
                    found[size][group["kind"]] = found[size].get(group["kind"], 0) + group["blocks"]
        return found

    def valgrind_classes(self, mode: str, signo: int) -> dict[int, dict[str, int]]:
        """valgrind's classes of the same blocks, from the report it prints at the fatal signal."""
        log = os.path.join(self.workdir, f"valgrind-{mode}.txt")
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        proc = subprocess.run([VALGRIND, "--leak-check=full", "--show-leak-kinds=all", f"--log-file={log}",
                               program("fatal_signal"), mode], capture_output=True, env=env, timeout=TIMEOUT,
                              cwd=self.workdir)
        self.assertEqual(proc.returncode, -signo, "valgrind ends the program by the same signal")
        text = Path(log).read_text(errors="replace")
        self.assertIn("LEAK SUMMARY", text, "valgrind reports leaks at the fatal signal")
        words = {"definitely lost": "definite", "indirectly lost": "indirect", "possibly lost": "possible",
                 "still reachable": "reachable"}
        found: dict[int, dict[str, int]] = {size: {} for size in KNOWN_BLOCKS}
        record = re.compile(r"==\d+== ([\d,]+)(?: \(([\d,]+) direct, [\d,]+ indirect\))? bytes in ([\d,]+) "
                            r"blocks are (definitely lost|indirectly lost|possibly lost|still reachable)")
        for m in record.finditer(text):
            direct = int((m.group(2) or m.group(1)).replace(",", ""))
            blocks = int(m.group(3).replace(",", ""))
            if blocks and direct % blocks == 0 and direct // blocks in found:
                cls = words[m.group(4)]
                found[direct // blocks][cls] = found[direct // blocks].get(cls, 0) + blocks
        return found

    def check_crash(self, mode: str, signo: int):
        plain, traced = self.both(mode)
        self.assertTrue(os.WIFSIGNALED(plain.status) and os.WTERMSIG(plain.status) == signo, plain.describe())
        self.assertEndedBySignal(traced.trace, signo)
        classes = self.known_classes(traced.trace)
        self.assertEqual(classes, KNOWN_BLOCKS)
        if VALGRIND:
            self.assertEqual(self.valgrind_classes(mode, signo), classes)

    def test_sigsegv_null_write(self):
        self.check_crash("segv", signal.SIGSEGV)

    def test_abort(self):
        self.check_crash("abort", signal.SIGABRT)

    def test_sigfpe_division_by_zero(self):
        self.check_crash("fpe", signal.SIGFPE)

    def test_sigill_trap(self):
        self.check_crash("ill", signal.SIGILL)

    def test_sigterm_from_outside_while_allocating(self):
        # Several delays: the signal lands anywhere, often inside a hook (the trace must stay readable).
        for delay in (0.0, 0.05, 0.2):
            with self.subTest(delay=delay):
                plain, traced = self.both("term_loop", kill_after=delay)
                self.assertEqual(os.WTERMSIG(plain.status), signal.SIGTERM)
                self.assertEndedBySignal(traced.trace, signal.SIGTERM)
                self.assertEqual(self.known_classes(traced.trace), KNOWN_BLOCKS)

    def test_sigsegv_in_a_second_thread_while_main_allocates(self):
        plain, traced = self.both("thread_segv")
        self.assertEqual(os.WTERMSIG(plain.status), signal.SIGSEGV)
        self.assertEndedBySignal(traced.trace, signal.SIGSEGV)
        self.assertGreaterEqual(summary(traced.trace)["trace"]["threads"], 2)
        self.assertEqual(self.known_classes(traced.trace), KNOWN_BLOCKS)

    def test_sigsegv_in_a_fork_child(self):
        plain, traced = self.both("fork_segv")
        self.assertEqual(plain.describe(), "exit 0")
        self.assertIn(b"child killed by 11\n", traced.stdout)
        rundir = os.path.dirname(traced.trace)
        children = [os.path.join(rundir, n) for n in os.listdir(rundir) if n.startswith("trace.mtr.")]
        self.assertEqual(len(children), 1, os.listdir(rundir))
        self.assertEndedBySignal(children[0], signal.SIGSEGV)
        self.assertEqual(summary(traced.trace)["trace"]["end"], "exit")

    def test_exec_then_sigterm(self):
        # exec resets handlers to SIG_DFL; the new image (traced too) installs memtrace's again.
        plain, traced = self.both("exec_term")
        self.assertEqual(os.WTERMSIG(plain.status), signal.SIGTERM)
        self.assertEqual(summary(traced.trace)["trace"]["end"], "exec")
        self.assertEndedBySignal(traced.trace + ".1", signal.SIGTERM)

    def test_vfork_child_exit_is_not_the_parents_end(self):
        # The vfork child shares the parent's memory (and so memtrace's state) until it execs or exits.
        plain, traced = self.both("vfork_fail")
        self.assertIn(b"child exited 127\n", traced.stdout)
        t = summary(traced.trace)["trace"]
        self.assertEqual((t["end"], t["exit_status"]), ("exit", 0), t)
        self.assertEqual(self.known_classes(traced.trace), KNOWN_BLOCKS)

    def test_own_segv_handler_recovers_and_continues(self):
        plain, traced = self.both("recover")
        self.assertEqual(plain.describe(), "exit 0")
        self.assertIn(b"recovered 3, own handler kept: yes", traced.stdout)
        self.assertIn(b"11 DFL flags=0 mask=0", traced.stdout, "the handler it replaced was SIG_DFL")
        t = summary(traced.trace)["trace"]
        self.assertEqual(t["end"], "exit", t)
        self.assertTrue(t["complete"], t)

    def test_sigint_ignored_then_queried(self):
        plain, traced = self.both("ign_query")
        self.assertEqual(traced.stdout, b"allocated\nSIGINT was DFL, is IGN, survived raise\n")
        self.assertEqual(summary(traced.trace)["trace"]["end"], "exit")

    def test_dispositions_seen_by_the_program(self):
        # Every signal's disposition, flags and mask as sigaction reports them: identical to untraced
        # (SIG_DFL where memtrace's handler stands in), then SIGTERM set to SIG_DFL and raised.
        plain, traced = self.both("dispositions")
        self.assertIn(b"15 DFL flags=0 mask=0\n", traced.stdout)
        self.assertEqual(os.WTERMSIG(traced.status), signal.SIGTERM)
        self.assertEndedBySignal(traced.trace, signal.SIGTERM)

    def test_memtrace_run_adds_no_second_end(self):
        out = os.path.join(self.workdir, "run.mtr")
        proc = memtrace("run", "--no-pack", "-o", out, "--", program("fatal_signal"), "segv")
        self.assertEqual(proc.returncode, 128 + signal.SIGSEGV, proc.stderr)
        self.assertEndedBySignal(out, signal.SIGSEGV)
        # `memtrace run` notes a fatal signal by appending a chunk holding that one record; the
        # preload's end came with the leak verdicts and the exit maps snapshot, in a big chunk.
        sizes = chunk_sizes(out)
        self.assertGreater(sizes[-1], 256, f"a lone end record was appended after the preload's: {sizes}")


def chunk_sizes(trace: str) -> list[int]:
    """committed_bytes of each chunk in file order (trace_layout.h: FileHeader, ChunkHeader)."""
    with open(trace, "rb") as f:
        data = f.read()
    header_bytes, chunk_bytes = struct.unpack_from("<II", data, 12)
    (chunks,) = struct.unpack_from("<Q", data, 56)
    sizes = []
    for index in range(chunks):
        offset = header_bytes + index * chunk_bytes
        magic, _tid, _first, _pid, committed = struct.unpack_from("<IIQII", data, offset)
        if magic == 0x4B48434D:
            sizes.append(committed)
    return sizes


if __name__ == "__main__":
    unittest.main()
