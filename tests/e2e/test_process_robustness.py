"""Processes and threads under stress, and every way a process can end:

* 64 threads allocating and freeing across threads for ~2 s (robust_threads64): no deadlock (a
  timeout), nothing lost (every call the workers counted is in the trace; no double allocation, no
  unknown release, no dropped call).
* A SIGALRM handler that allocates while the main loop mallocs (robust_signal_alloc): no deadlock, a
  complete trace, consistent; and what becomes of the handler's calls that interrupt a hook.
* SIGKILL, abort(), SIGSEGV, _exit, exit() and exit() from a second thread while the main thread is
  allocating (robust_end): the process ends as it does untraced, and its trace reads and says how it
  ended.
"""

import re
import subprocess
import unittest

from memtrace_e2e import E2ETestCase, calls, program, run_plain, summary

HANDLER_SIZE = 1000  # robust_signal_alloc's handler allocates this size, the main loop 24 bytes


class ThreadsTest(E2ETestCase):
    # With MEMTRACE_UNWINDER=libunwind the first stack capture in each thread touches libunwind's
    # thread-local storage, which makes the loader grow that thread's TLS vector inside a hook (so the
    # growth is not recorded) while glibc's later free of it is: 60 "unknown releases" for 64 threads.
    # memtrace's own unwinder keeps its per-thread state in libmemtrace's initial-exec TLS: none.
    def test_64_threads_cross_free_for_2_seconds(self):
        try:
            run = self.traced([program("robust_threads64"), "2", "64"], timeout=90)
        except subprocess.TimeoutExpired:
            self.fail("robust_threads64 traced did not finish within 90 s (untraced it takes ~2 s): deadlock?")
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        m = re.fullmatch(rb"mallocs (\d+) worker_frees (\d+) main_frees (\d+)\n", run.stdout)
        self.assertIsNotNone(m, run.stdout)
        mallocs, worker_frees, main_frees = (int(x) for x in m.groups())
        self.assertGreater(mallocs, 64 * 10, "the workers hardly ran")
        s = summary(run.trace)
        t = s["trace"]
        self.assertTrue(t["complete"], t)
        self.assertEqual(t["end"], "exit")
        self.assertEqual(t["dropped_calls"], 0, t)
        self.assertGreaterEqual(t["threads"], 65)
        self.assertEqual(s["consistency"]["double_allocations"], 0, s["consistency"])
        self.assertEqual(s["consistency"]["mismatched_releases"], 0, s["consistency"])
        records = calls(run.trace)
        workers = [c for c in records if c["tid"] != run.pid]
        main = [c for c in records if c["tid"] == run.pid]
        self.assertEqual(len({c["tid"] for c in workers}), 64)
        # The workers call malloc and free only: exactly what they counted.
        self.assertEqual(sum(c["call"] == "malloc" for c in workers), mallocs)
        self.assertEqual(sum(c["call"] == "free" for c in workers), worker_frees)
        self.assertEqual([c["text"] for c in workers if c["call"] not in ("malloc", "free")], [])
        # The main thread freed the leftovers (and libc made its own calls there: never fewer).
        self.assertGreaterEqual(sum(c["call"] == "free" for c in main), main_frees)
        # Every worker block was freed exactly once, after its malloc.
        live = {}
        allocated = {c["address"] for c in records if c["call"] in ("malloc", "calloc", "realloc") and c.get("address")}
        for c in records:
            if c["call"] == "malloc" and c["tid"] != run.pid:
                self.assertNotIn(c["address"], live, c["text"])
                live[c["address"]] = c
            elif c["call"] == "free" and c["address"] in live:
                del live[c["address"]]
        self.assertEqual(len(live), 0, f"{len(live)} worker blocks never freed in the trace")
        # Every release is of a block the trace saw allocated. Fails today (60 with 64 threads): the
        # frees are the main thread's, inside pthread_join, of blocks nobody recorded allocating. They
        # are the threads' DTVs as ld.so grew them (malloc/realloc through the hooked symbols) when
        # memtrace's unwinder, which has dynamic TLS, first ran on each thread: inside a hook, so
        # unrecorded. glibc frees a DTV when the thread's stack leaves its 40 MiB stack cache: 60 of 64
        # 8 MiB stacks; the 4 threads of test_threads never get there.
        unknown = [c["text"] for c in main if c["call"] == "free" and c["address"] not in allocated]
        self.assertEqual(s["consistency"]["unknown_releases"], 0,
                         f"memtrace BUG: {s['consistency']['unknown_releases']} releases of blocks the trace never "
                         f"allocated, all on the main thread while joining: {unknown[:5]}")


class SignalHandlerTest(E2ETestCase):
    # A handler that interrupts a hook finds the re-entry guard set: its calls pass through unrecorded
    # (the writer is mid-record) and are counted as dropped. No deadlock, and nothing unaccounted for.
    def test_allocating_sigalrm_handler(self):
        try:
            run = self.traced([program("robust_signal_alloc"), "400"], timeout=90)
        except subprocess.TimeoutExpired:
            self.fail("robust_signal_alloc traced did not finish within 90 s: deadlock in a hook re-entered "
                      "from the signal handler?")
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        m = re.fullmatch(rb"main (\d+) handler (\d+)\n", run.stdout)
        self.assertIsNotNone(m, run.stdout)
        main_pairs, handler_pairs = int(m.group(1)), int(m.group(2))
        self.assertGreaterEqual(handler_pairs, 400)
        s = summary(run.trace)
        t = s["trace"]
        self.assertTrue(t["complete"], t)
        self.assertEqual(t["end"], "exit")
        self.assertEqual(s["consistency"]["double_allocations"], 0, s["consistency"])
        self.assertEqual(s["consistency"]["unknown_releases"], 0, s["consistency"])
        records = calls(run.trace)
        handler_mallocs = sum(c["call"] == "malloc" and c.get("size") == HANDLER_SIZE for c in records)
        handler_addresses = {c["address"] for c in records if c["call"] == "malloc" and c.get("size") == HANDLER_SIZE}
        handler_frees = sum(c["call"] == "free" and c["address"] in handler_addresses for c in records)
        main_mallocs = sum(c["call"] == "malloc" and c.get("size") == 24 for c in records)
        # +1 each: the warm-up malloc of each size before the timer started.
        self.assertEqual(main_mallocs, main_pairs + 1, "the main loop's own calls are all recorded")
        self.assertGreater(handler_mallocs, 0, "no handler call recorded at all")
        # Each handler call pair is recorded both or neither (a handler runs inside a hook or not).
        self.assertEqual(handler_frees, handler_mallocs)
        # A handler that interrupts a hook of the same thread passes straight through unrecorded
        # (thread_state.h) and is counted in kDropped records: recorded + dropped = what it did.
        missed = (handler_pairs + 1) - handler_mallocs
        print(f"\nsignal handler: {handler_pairs + 1} malloc/free pairs, {handler_mallocs} recorded, {missed} "
              f"passed through unrecorded; dropped_calls {t['dropped_calls']}", end=" ")
        self.assertEqual(handler_mallocs + handler_frees + t["dropped_calls"], 2 * (handler_pairs + 1),
                         f"memtrace BUG: {2 * missed} calls made by the signal handler while a hook was running "
                         f"were neither recorded nor counted as dropped (dropped_calls = {t['dropped_calls']}); "
                         f"the trace claims nothing was lost")


class EndingsTest(E2ETestCase):
    """robust_end MODE: five malloc(12345), one freed, then the end MODE names."""

    def ending(self, mode, returncode):
        plain = run_plain([program("robust_end"), mode], timeout=60)
        self.assertEqual(plain.returncode, returncode, plain.stderr)
        try:
            run = self.traced([program("robust_end"), mode], timeout=60)
        except subprocess.TimeoutExpired:
            self.fail(f"robust_end {mode} traced did not end within 60 s")
        self.assertEqual(run.returncode, returncode, run.stderr[-2000:])
        self.assertEqual(run.stdout, plain.stdout)
        self.assertEqual(len(run.traces), 1, run.traces)
        s = summary(run.trace, allow_warning=True)
        c = calls(run.trace, allow_warning=True)
        own = [x for x in c if x["call"] == "malloc" and x.get("size") == 12345]
        self.assertEqual(len(own), 5, "the allocations made before the end are in the trace")
        self.assertEqual(sum(x["call"] == "free" and x["address"] == own[0]["address"] for x in c), 1)
        self.assertFalse(s["trace"]["truncated"], s["trace"])
        self.assertEqual(s["consistency"]["unknown_releases"], 0)
        return s["trace"]

    # SIGKILL cannot be caught: the trace holds every record but no end record ("no clean exit").
    def assertNoCleanExit(self, trace):
        self.assertFalse(trace["complete"], trace)
        self.assertTrue(trace["end"].startswith("no clean exit"), trace)
        self.assertEqual(trace["exit_status"], -1, trace)

    # A signal the preload's handler catches: it writes the end itself, then the process dies by it.
    def assertKilledBy(self, trace, signo, name):
        self.assertFalse(trace["complete"], trace)
        self.assertEqual(trace["end"], f"killed by signal {signo} ({name})", trace)
        self.assertEqual(trace["exit_status"], signo, trace)

    def test_sigkill(self):
        self.assertNoCleanExit(self.ending("sigkill", -9))

    def test_abort(self):
        self.assertKilledBy(self.ending("abort", -6), 6, "SIGABRT")

    def test_sigsegv(self):
        self.assertKilledBy(self.ending("segv", -11), 11, "SIGSEGV")

    def test_underscore_exit(self):
        t = self.ending("_exit", 3)
        self.assertTrue(t["complete"], t)
        self.assertEqual(t["end"], "_exit")
        self.assertEqual(t["exit_status"], 3)

    def test_exit(self):
        t = self.ending("exit", 5)
        self.assertTrue(t["complete"], t)
        self.assertEqual(t["end"], "exit")
        self.assertEqual(t["exit_status"], 5)

    def test_return_from_main(self):
        t = self.ending("return", 6)
        self.assertTrue(t["complete"], t)
        self.assertEqual(t["end"], "exit")
        # exit() called by __libc_start_call_main, not through the PLT: does memtrace learn the status?
        self.assertEqual(t["exit_status"], 6, "memtrace BUG: the status of a return from main is not recorded")

    def test_exit_from_second_thread_while_main_allocates(self):
        t = self.ending("thread_exit", 4)
        self.assertTrue(t["complete"], t)
        self.assertEqual(t["end"], "exit")
        self.assertEqual(t["exit_status"], 4)
        self.assertGreaterEqual(t["threads"], 2)

    def test_underscore_fork_child_gets_its_own_trace(self):
        # _Fork runs no atfork handlers: without its own hook the child would write into the parent's trace.
        plain = run_plain([program("robust_end"), "_Fork"], timeout=60)
        run = self.traced([program("robust_end"), "_Fork"], timeout=60)
        self.assertEqual((run.returncode, run.stdout), (plain.returncode, plain.stdout))
        self.assertEqual(run.returncode, 7, run.stderr[-2000:])
        self.assertEqual(len(run.traces), 2, run.traces)
        # The child's trace names its parent's.
        child, parent = sorted(run.traces, key=lambda t: summary(t)["trace"]["parent_trace"] == "")
        sizes = lambda trace: [x.get("size") for x in calls(trace) if x["call"] == "malloc"]
        self.assertEqual(sizes(parent).count(12345), 5)
        self.assertNotIn(4321, sizes(parent), "the child's calls are not in the parent's trace")
        self.assertEqual(sizes(child).count(4321), 3)
        p, c = summary(parent)["trace"], summary(child)["trace"]
        self.assertEqual((p["complete"], p["end"], p["exit_status"]), (True, "exit", 7), p)
        self.assertEqual((c["complete"], c["end"], c["exit_status"]), (True, "_exit", 0), c)
        self.assertEqual(c["parent_trace"], parent, c)


if __name__ == "__main__":
    unittest.main()
