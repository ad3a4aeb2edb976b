"""summary/leaks --at T: the reports as the trace stood at a moment of the run.

malloc_loop SIZE COUNT allocates COUNT blocks, holds them all, then frees them: its live heap climbs to
COUNT*SIZE (the peak) and falls back to nothing, so each moment has a known answer."""

import json
import unittest

from memtrace_e2e import E2ETestCase, memtrace, program, run_traced, summary

SIZE, COUNT = 1000, 5000


def at(subcommand, trace, moment, *extra):
    proc = memtrace(subcommand, trace, "--json", "--at", moment, *extra)
    if proc.returncode != 0:
        raise AssertionError(f"{subcommand} --at {moment} exited {proc.returncode}: {proc.stderr!r}")
    return json.loads(proc.stdout)


class TimeTravelTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = cls.class_workdir()
        run = run_traced([program("malloc_loop"), str(SIZE), str(COUNT)], cls.dir)
        assert run.returncode == 0 and run.trace, run.stderr
        cls.trace = run.trace
        cls.full = summary(run.trace)

    def live_bytes(self, moment):
        s = at("summary", self.trace, moment)
        return s, s["allocations"]["requested_bytes"], s["allocations"]["peak_live_bytes"]

    def test_peak_is_when_every_block_is_live(self):
        s, requested, peak = self.live_bytes("peak")
        self.assertGreaterEqual(s["calls"]["malloc"], COUNT)
        self.assertEqual(s["calls"]["free"], 0, "the frees come after the peak")
        self.assertEqual(peak, self.full["allocations"]["peak_live_bytes"])
        self.assertFalse(s["trace"]["complete"], "cut before the process ended")

    def test_start_middle_and_end(self):
        start, _, start_peak = self.live_bytes("0ns")
        self.assertEqual(start["calls"]["total"], 0)
        self.assertEqual(start_peak, 0)
        self.assertEqual(at("summary", self.trace, "end"), self.full)
        end, _, _ = self.live_bytes("100%")
        self.assertEqual(end["calls"], self.full["calls"])
        self.assertTrue(end["trace"]["complete"])
        half, _, _ = self.live_bytes("50%")
        self.assertLessEqual(half["calls"]["total"], self.full["calls"]["total"])
        duration_s = self.full["trace"]["duration_ns"] / 1e9
        late = at("summary", self.trace, f"{duration_s * 2}s")
        self.assertEqual(late["calls"], self.full["calls"])
        nanos = at("summary", self.trace, f"{self.full['trace']['duration_ns'] // 2}ns")
        self.assertEqual(nanos["calls"], half["calls"], "50% and half the duration in ns are the same moment")

    def test_a_moment_is_monotonic(self):
        totals = [at("summary", self.trace, f"{p}%")["calls"]["total"] for p in (0, 10, 30, 60, 90, 100)]
        self.assertEqual(totals, sorted(totals))

    def test_leaks_at_peak_lists_the_live_blocks(self):
        exit_leaks = json.loads(memtrace("leaks", self.trace, "--json", "--show", "all").stdout)
        peak = at("leaks", self.trace, "peak", "--show", "all")
        self.assertNotEqual(peak, exit_leaks)
        text = memtrace("leaks", self.trace, "--at", "peak", "--show", "all")
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn(str(COUNT), text.stdout.decode().replace(",", ""))

    def test_bad_moments_are_one_error_line(self):
        for bad in ("yesterday", "-5s", "150%", "12", "1.5 s", ""):
            for sub in ("summary", "leaks"):
                with self.subTest(at=bad, sub=sub):
                    proc = memtrace(sub, self.trace, "--at", bad)
                    self.assertOneErrorLine(proc, "--at")
                    self.assertEqual(proc.returncode, 2)


if __name__ == "__main__":
    unittest.main()
