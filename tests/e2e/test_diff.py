"""`memtrace diff`: alloc_phases N allocates N x 1000 bytes at keep_records and leaks N x 64 bytes at
leak_records (and 4096 bytes at leak_big_cache when N > 500), so the diff of a small and a big run
has known answers. Runs are separate processes: sites must match by source, not by address."""

import json
import shutil
import tempfile
import unittest

from memtrace_e2e import memtrace, program, run_traced, summary

SMALL, BIG = 100, 1000


def site(changes, function, **expected):
    """The one change whose innermost frame is FUNCTION and whose fields have the EXPECTED values."""
    found = [c for c in changes if c["stack"] and c["stack"][0]["function"] == function
             and all(c[k] == v for k, v in expected.items())]
    assert len(found) == 1, (function, expected, changes)
    return found[0]


class DiffTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="memtrace-diff-")
        cls.small = run_traced([program("alloc_phases"), str(SMALL)], cls.work).trace
        cls.small_again = run_traced([program("alloc_phases"), str(SMALL)], cls.work).trace
        cls.big = run_traced([program("alloc_phases"), str(BIG)], cls.work).trace

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def diff(self, a, b, *extra):
        proc = memtrace("diff", a, b, "--json", *extra)
        return proc.returncode, json.loads(proc.stdout)

    def test_small_to_big_reports_grown_sites_and_fails(self):
        code, d = self.diff(self.small, self.big, "--fail-above", "10")
        self.assertEqual(code, 3, d["failures"])
        self.assertTrue(d["failed"])
        # keep_records' other site, its array of N pointers, grows too.
        kept = site(d["grown"], "keep_records", a_calls=SMALL)
        self.assertEqual((kept["a_bytes"], kept["b_bytes"]), (SMALL * 1000, BIG * 1000))
        self.assertEqual((kept["a_calls"], kept["b_calls"]), (SMALL, BIG))
        leaked = site(d["grown"], "leak_records")
        self.assertEqual(leaked["delta_bytes"], (BIG - SMALL) * 64)
        self.assertEqual([c for c in d["shrunk"]], [])
        self.assertFalse(any(c["stack"][0]["function"] == "constant_work" for c in d["grown"]))
        # New leak: only the big run leaks at leak_big_cache.
        self.assertEqual(len(d["new_leaks"]), 1, d["new_leaks"])
        new = d["new_leaks"][0]
        self.assertEqual((new["class"], new["blocks"], new["bytes"]), ("definite", 1, 4096))
        self.assertIn("leak_big_cache", [f["function"] for f in new["stack"]])

    def test_measures_equal_summary(self):
        _, d = self.diff(self.small, self.big)
        for side, trace in (("a", self.small), ("b", self.big)):
            s = summary(trace)
            self.assertEqual(d["peak_live_bytes"][side], s["allocations"]["peak_live_bytes"])
            self.assertEqual(d["definite_bytes"][side], s["leaks"]["definite"]["bytes"])
        self.assertEqual(d["definite_bytes"]["b"] - d["definite_bytes"]["a"], (BIG - SMALL) * 64 + 4096)

    def test_shrunk_the_other_way(self):
        code, d = self.diff(self.big, self.small, "--fail-above", "10")
        self.assertEqual(code, 0, d["failures"])
        kept = site(d["shrunk"], "keep_records", b_calls=SMALL)
        self.assertEqual(kept["delta_bytes"], -(BIG - SMALL) * 1000)
        gone = site(d["shrunk"], "leak_big_cache")
        self.assertEqual(gone["status"], "gone")

    def test_trace_with_itself_has_no_change(self):
        code, d = self.diff(self.small, self.small, "--fail-above", "10")
        self.assertEqual(code, 0)
        self.assertEqual((d["grown"], d["shrunk"], d["new_leaks"]), ([], [], []))
        self.assertEqual(d["peak_live_bytes"]["delta"], 0)

    def test_two_runs_of_same_input_have_no_change(self):
        code, d = self.diff(self.small, self.small_again, "--fail-above", "10")
        self.assertEqual(code, 0, d)
        self.assertEqual((d["grown"], d["shrunk"], d["new_leaks"]), ([], [], []))

    def test_text_output(self):
        proc = memtrace("diff", self.small, self.big, "--fail-above", "10")
        text = proc.stdout.decode()
        self.assertEqual(proc.returncode, 3)
        self.assertIn("keep_records", text)
        self.assertIn("FAILED: peak live heap bytes grew", text)
        self.assertIn("new leaks (1)", text)
        same = memtrace("diff", self.small, self.small)
        self.assertEqual(same.returncode, 0)
        self.assertIn("no allocation site changed", same.stdout.decode())

    def test_bad_input(self):
        proc = memtrace("diff", self.small, self.work + "/missing.mtr")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(len(proc.stderr.decode().strip().splitlines()), 1)
        proc = memtrace("diff", self.small, self.big, "--fail-above", "-5")
        self.assertEqual(proc.returncode, 2)


if __name__ == "__main__":
    unittest.main()
