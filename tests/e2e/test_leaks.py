"""leaky drops blocks of known sizes and keeps one referenced from a global: memtrace must report
exactly those as still allocated at exit, nothing that was freed, and class them as valgrind would
(5 blocks / 10996 bytes definitely lost, 1 block / 4444 bytes still reachable)."""

import unittest

from memtrace_e2e import E2ETestCase, memtrace_json, program, summary

# tests/programs/leaky.c
DEFINITE_GROUPS = sorted([("malloc", 3 * 2222, 3), ("calloc", 3330, 1), ("malloc", 1000, 1)])


class LeakTest(E2ETestCase):
    def check(self, env=None):
        run = self.traced([program("leaky")], env=env)
        self.assertEqual(run.returncode, 0, run.stderr)
        s = summary(run.trace)
        self.assertEqual((s["leaks"]["blocks"], s["leaks"]["bytes"]), (6, 15440))
        self.assertEqual(s["consistency"]["double_allocations"], 0)
        self.assertEqual(s["consistency"]["unknown_releases"], 0)
        leaks = memtrace_json("leaks", run.trace)
        self.assertTrue(leaks["complete"])
        total = leaks["summary"]
        self.assertEqual((total["blocks"], total["bytes"]), (6, 15440))
        self.assertEqual((total["definite"]["blocks"], total["definite"]["bytes"]), (5, 10996))
        self.assertEqual((total["reachable"]["blocks"], total["reachable"]["bytes"]), (1, 4444))
        definite = [g for g in leaks["groups"] if g["kind"] == "definite"]
        self.assertEqual(sorted((g["call"], g["bytes"], g["blocks"]) for g in definite), DEFINITE_GROUPS)
        self.assertNotIn(5555, [g["bytes"] for g in leaks["groups"]], "a freed block reported as leaked")
        return leaks

    def test_known_leaks(self):
        self.check()

    def test_known_leaks_without_stacks(self):
        leaks = self.check(env={"MEMTRACE_STACKS": "0"})
        # Without stacks, blocks are grouped by call and request size.
        sizes = sorted((g["call"], g["size"]) for g in leaks["groups"] if g["kind"] == "definite")
        self.assertEqual(sizes, [("calloc", 3330), ("malloc", 1000), ("malloc", 2222)])


if __name__ == "__main__":
    unittest.main()
