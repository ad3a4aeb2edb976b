"""Four threads allocating blocks that other threads free (threads_cross_free): the trace must be
complete, every release must match an allocation (a free stamped before its malloc, or an address
handed out twice, would show up as consistency errors), and the numbers of calls memtrace recorded
from the worker threads must be exactly the numbers the program counted itself.

One traced run (160k mallocs + 160k frees) is shared by the checks."""

import re
import unittest

from memtrace_e2e import E2ETestCase, calls, program, run_traced, summary

OPS_PER_THREAD = 40000  # 4 threads: 160k mallocs + 160k frees


class CrossThreadTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.traced_run = run_traced([program("threads_cross_free"), str(OPS_PER_THREAD)], cls.class_workdir())
        assert cls.traced_run.trace, cls.traced_run.stderr
        m = re.fullmatch(rb"mallocs (\d+) frees (\d+) checksum \d+\n", cls.traced_run.stdout)
        cls.printed = (int(m.group(1)), int(m.group(2))) if m else None
        cls.summary = summary(cls.traced_run.trace)
        cls.records = calls(cls.traced_run.trace)
        # The workers' calls: everything not on the main thread (whose tid is the pid).
        cls.workers = [c for c in cls.records if c["tid"] != cls.traced_run.pid]

    def test_program_ran(self):
        self.assertEqual(self.traced_run.returncode, 0, self.traced_run.stderr)
        self.assertEqual(self.printed, (4 * OPS_PER_THREAD, 4 * OPS_PER_THREAD), self.traced_run.stdout)

    def test_trace_complete_and_consistent(self):
        t = self.summary["trace"]
        self.assertTrue(t["complete"], t)
        self.assertFalse(t["truncated"])
        self.assertEqual(t["end"], "exit")
        self.assertEqual(t["dropped_calls"], 0)
        self.assertEqual(t["pid"], self.traced_run.pid)
        self.assertGreaterEqual(t["threads"], 5, "main thread and four workers")
        self.assertEqual(self.summary["consistency"]["double_allocations"], 0)
        self.assertEqual(self.summary["consistency"]["unknown_releases"], 0)

    def test_call_counts_equal_the_programs_own(self):
        mallocs, frees = self.printed
        self.assertEqual(len({c["tid"] for c in self.workers}), 4)
        self.assertEqual(sum(c["call"] == "malloc" for c in self.workers), mallocs)
        self.assertEqual(sum(c["call"] == "free" for c in self.workers), frees)
        # Whole-process counts include libc's thread set-up on the main thread, never fewer.
        self.assertGreaterEqual(self.summary["calls"]["malloc"], mallocs)
        self.assertGreaterEqual(self.summary["calls"]["free"], frees)

    def test_workers_made_no_other_calls(self):
        # The workers call malloc and free and nothing else (their queues are static arrays, they do
        # no I/O); anything else recorded on their threads is not the program's.
        others = [c["text"] for c in self.workers if c["call"] not in ("malloc", "free")]
        self.assertEqual(others, [], "calls recorded on worker threads that the program never made")

    def test_every_block_freed_by_another_thread_after_its_malloc(self):
        owner = {}
        cross = 0
        for c in self.workers:
            if c["call"] == "malloc":
                self.assertNotIn(c["address"], owner, f"{c['text']}: address still live")
                owner[c["address"]] = c["tid"]
            elif c["call"] == "free":
                self.assertIn(c["address"], owner, f"free of {c['address']:#x} before its malloc")
                cross += owner.pop(c["address"]) != c["tid"]
        self.assertEqual(owner, {})
        self.assertEqual(cross, self.printed[1])

    def test_merged_in_time_order(self):
        times = [c["time_ns"] for c in self.records]
        self.assertEqual(times, sorted(times))


if __name__ == "__main__":
    unittest.main()
