"""The exit-time leak scan parks the threads still running and sees their registers and live stacks.

tests/programs/parked_threads.c leaves threads running when it ends (see its header). Each leak case
is run traced and under `valgrind --leak-check=full`, and the class of the case's block (found by the
function that allocated it) must be the one the case is built to produce, in both. The cases that
parking changes are also run with MEMTRACE_PARK_THREADS=0 (the scan before parking): there the class
differs, so the case can tell a scan that sees registers and live stacks from one that does not.
The blocked-calls case is compared with its untraced run (output, exit status) and with strace (no
read or futex call of the program fails with EINTR; the parking requests are rt_tgsigqueueinfo calls).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import unittest
from pathlib import Path

from memtrace_e2e import TIMEOUT, E2ETestCase, memtrace, memtrace_json, program, run_plain
from test_leak_classes_vs_valgrind import parse_valgrind

VALGRIND = shutil.which("valgrind")
STRACE = shutil.which("strace")


def class_of(groups: list[dict], function: str) -> tuple[str, int, int]:
    """(class, direct bytes, blocks) of the one group whose allocation stack passes through `function`."""
    found = [g for g in groups if any(f["function"] == function for f in g["stack"])]
    if len(found) != 1:
        raise AssertionError(f"{len(found)} groups allocated in {function}: {groups}")
    g = found[0]
    return g["kind"], g["direct_bytes"], g["blocks"]


class ParkedThreadsTest(E2ETestCase):
    def leaks(self, *args: str, env: dict | None = None, returncode: int = 0) -> dict:
        run = self.traced([program("parked_threads"), *args], env=env)
        self.assertEqual(run.returncode, returncode, run.stderr.decode(errors="replace"))
        leaks = memtrace_json("leaks", run.trace, "--show", "all")
        self.assertTrue(leaks["scanned"])
        return leaks

    def valgrind_class(self, args: list[str], function: str) -> tuple[str, int, int]:
        log = os.path.join(self.workdir, "valgrind.txt")
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        subprocess.run([VALGRIND, "--leak-check=full", "--show-leak-kinds=all", "--num-callers=30",
                        f"--log-file={log}", program("parked_threads"), *args], capture_output=True, env=env,
                       timeout=TIMEOUT, check=True)
        _, records = parse_valgrind(Path(log).read_text(errors="replace"))
        found = [(c, direct, blocks) for c, direct, blocks, functions in records if function in functions]
        self.assertEqual(len(found), 1, f"valgrind records allocated in {function}: {records}")
        return found[0]

    def check_case(self, case: str, function: str, expected: tuple[str, int, int],
                   unparked: tuple[str, int, int]):
        leaks = self.leaks(case)
        self.assertEqual(leaks["threads"], {"parked": 1, "skipped": 0, "parking_ns": leaks["threads"]["parking_ns"]})
        self.assertEqual(class_of(leaks["groups"], function), expected)
        old = self.leaks(case, env={"MEMTRACE_PARK_THREADS": "0"})
        self.assertEqual(old["threads"]["parked"], 0)
        self.assertEqual(class_of(old["groups"], function), unparked, "the case does not tell the scans apart")
        if VALGRIND:
            self.assertEqual(self.valgrind_class([case], function), expected)

    def test_pointer_only_in_a_register_is_reachable(self):
        # Not parked, no register is seen: the block is definitely lost.
        self.check_case("register", "spin_holding", ("reachable", 100, 1), ("definite", 100, 1))

    def test_pointer_in_dead_stack_below_the_stack_pointer_is_lost(self):
        # Not parked, the whole stack mapping is scanned, its dead part too: the block is reachable.
        self.check_case("dead", "hold_deep", ("definite", 300, 1), ("reachable", 300, 1))

    def test_running_threads_stack_local_is_reachable(self):
        leaks = self.leaks("stack")
        self.assertEqual(leaks["threads"]["parked"], 1)
        self.assertEqual(class_of(leaks["groups"], "spin_with_local"), ("reachable", 200, 1))
        if VALGRIND:
            self.assertEqual(self.valgrind_class(["stack"], "spin_with_local"), ("reachable", 200, 1))

    @unittest.skipUnless(STRACE, "strace is not installed")
    def test_blocked_system_calls_behave_as_untraced(self):
        plain = run_plain([program("parked_threads"), "blocked"])
        self.assertEqual((plain.returncode, plain.stdout, plain.stderr), (0, b"blocked done\n", b""))
        run = self.traced([program("parked_threads"), "blocked"], strace=True,
                          strace_calls="openat,read,nanosleep,clock_nanosleep,futex,rt_tgsigqueueinfo")
        self.assertEqual((run.returncode, run.stdout, run.stderr), (plain.returncode, plain.stdout, plain.stderr))
        leaks = memtrace_json("leaks", run.trace, "--show", "all")
        self.assertEqual((leaks["threads"]["parked"], leaks["threads"]["skipped"]), (3, 0))
        requests = [c for c in run.strace if c.name == "rt_tgsigqueueinfo"]
        self.assertEqual(len(requests), 3, [c.line for c in requests])
        self.assertTrue(all(c.result == 0 for c in requests), [c.line for c in requests])
        # How the kernel ended each blocked call the parking signal interrupted: read and the futex
        # wait with ERESTARTSYS, restarted under SA_RESTART (the program, which exits 3 should either
        # return, printed nothing); clock_nanosleep with ERESTART_RESTARTBLOCK, EINTR after any handler
        # (signal(7)), which the program's loop retries with the time left.
        interrupted = set()
        for line in Path(run.strace_path).read_text(errors="replace").splitlines():
            m = re.match(r"^\d+\s+(?:<\.\.\. )?(\w+)[ (].*= \? (ERESTART\w+)", line)
            if m:
                name = "clock_nanosleep" if m.group(1) == "nanosleep" else m.group(1)  # by the C library
                interrupted.add((name, m.group(2)))
        self.assertEqual(interrupted, {("read", "ERESTARTSYS"), ("futex", "ERESTARTSYS"),
                                       ("clock_nanosleep", "ERESTART_RESTARTBLOCK")})

    def test_thread_blocking_every_signal_is_skipped_without_hanging(self):
        started = time.monotonic()
        leaks = self.leaks("blockall")
        self.assertLess(time.monotonic() - started, 30)
        self.assertEqual((leaks["threads"]["parked"], leaks["threads"]["skipped"]), (0, 1))

    def test_program_handlers_for_realtime_signals_never_see_memtraces(self):
        for args, parked, skipped in ((["rthandlers"], 0, 2), (["rthandlers", "1"], 2, 0)):
            with self.subTest(args=args):
                plain = run_plain([program("parked_threads"), *args])
                run = self.traced([program("parked_threads"), *args])
                self.assertEqual((run.returncode, run.stdout, run.stderr),
                                 (plain.returncode, plain.stdout, plain.stderr))
                self.assertNotIn(b"program handler saw", run.stderr)
                leaks = memtrace_json("leaks", run.trace, "--show", "all")
                self.assertEqual((leaks["threads"]["parked"], leaks["threads"]["skipped"]), (parked, skipped))
                # Parked or not, the spinners' register-held blocks: reachable only when parked.
                kind, _, blocks = class_of(leaks["groups"], "spin_holding")
                self.assertEqual((kind, blocks), ("reachable" if parked else "definite", 2))

    def test_fork_after_threads(self):
        run = self.traced([program("parked_threads"), "fork"])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(len(run.traces), 2, run.traces)
        by_pid = {}
        for trace in run.traces:
            leaks = memtrace_json("leaks", trace, "--show", "all")
            self.assertTrue(leaks["complete"] and leaks["scanned"], trace)
            by_pid[trace] = (leaks["threads"]["parked"], leaks["threads"]["skipped"])
        self.assertEqual(by_pid[run.trace], (2, 0))  # the parent, with its two spinners
        child = [t for t in run.traces if t != run.trace][0]
        self.assertEqual(by_pid[child], (0, 0))  # fork copies only the calling thread

    def test_fatal_signal_with_threads_running(self):
        leaks = self.leaks("fatal", returncode=-11)
        self.assertFalse(leaks["complete"])
        self.assertEqual((leaks["threads"]["parked"], leaks["threads"]["skipped"]), (2, 0))
        self.assertEqual(class_of(leaks["groups"], "spin_holding"), ("reachable", 200, 2))
        # Not compared with valgrind: at a fatal signal it ends the other threads before its leak
        # check, so it sees neither their registers nor their stacks (3.19 calls these two blocks
        # definitely lost); memtrace's scan runs in the handler, with those threads parked.

    def test_reports_show_the_parking(self):
        run = self.traced([program("parked_threads"), "register"])
        text = memtrace("leaks", run.trace).stdout.decode()
        self.assertRegex(text, r"\(threads: 1 other thread parked in [\d.]+ ms \(registers and live stacks seen\)\)")
        text = memtrace("summary", run.trace).stdout.decode()
        self.assertRegex(text, r"\n  leak scan  1 other thread parked in [\d.]+ ms")
        summary = memtrace_json("summary", run.trace)
        self.assertEqual(summary["leaks"]["threads"]["parked"], 1)

    def test_untouched_reservation_costs_nothing_with_32_threads_parked(self):
        leaks = self.leaks("many", "32")
        # 32 spinning threads on a loaded machine with few cores: one may not be scheduled within the
        # 100 ms after the last answer, and is then skipped (its stack scanned whole, its registers not).
        self.assertEqual(leaks["threads"]["parked"] + leaks["threads"]["skipped"], 32)
        self.assertGreaterEqual(leaks["threads"]["parked"], 28, leaks["threads"])
        # The 1 GiB reservation has one touched page: far less than it is scanned.
        self.assertLess(leaks["scan"]["root_bytes"], 256 << 20, leaks["scan"])
        print(f"\n32 threads parked in {leaks['threads']['parking_ns'] / 1e6:.3f} ms; scan "
              f"{leaks['scan']['duration_ns'] / 1e6:.3f} ms over {leaks['scan']['root_bytes'] >> 10} KiB of roots")


if __name__ == "__main__":
    unittest.main()
