"""The heap-or-mmap verdict memtrace reads from glibc's chunk headers, checked against the kernel:
blocks below the mmap threshold must come from the heap, blocks above it from their own mapping, and
that mapping (base and length as `memtrace calls --json` reports it) must be exactly one of the
mmap() calls strace saw, and be munmap()ed exactly when the block is freed."""

import unittest

from memtrace_e2e import E2ETestCase, calls, program, summary


class ThresholdTest(E2ETestCase):
    def own_mallocs(self, trace, size):
        return [c for c in calls(trace) if c["call"] == "malloc" and c.get("size") == size]

    def test_32k_blocks_are_heap(self):
        run = self.traced([program("malloc_loop"), "32768", "10"])
        self.assertEqual(run.returncode, 0, run.stderr)
        mallocs = self.own_mallocs(run.trace, 32768)
        self.assertEqual(len(mallocs), 10, mallocs)
        self.assertEqual([m["verdict"] for m in mallocs], ["heap"] * 10)
        for m in mallocs:
            self.assertNotIn("mapping", m)
            self.assertNotIn("thread_arena", m)
            # A heap chunk holds the request plus an 8-byte header, rounded to 16.
            self.assertEqual(m["chunk_size"], (32768 + 8 + 15) // 16 * 16)
        frees = [c for c in calls(run.trace) if c["call"] == "free" and c["address"] in {m["address"] for m in mallocs}]
        self.assertEqual(len(frees), 10)
        self.assertTrue(all("mapping" not in f for f in frees), frees)
        s = summary(run.trace)
        self.assertGreaterEqual(s["allocations"]["heap"], 10)
        self.assertEqual(s["allocations"]["mmapped"], 0)
        self.assertEqual(s["allocations"]["unknown"], 0)

    def test_256k_blocks_are_mmapped_and_match_strace(self):
        run = self.traced([program("malloc_loop"), "262144", "10"], strace=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        mallocs = self.own_mallocs(run.trace, 262144)
        self.assertEqual(len(mallocs), 10, mallocs)
        self.assertEqual([m["verdict"] for m in mallocs], ["mmap"] * 10)
        self.assertEqual(summary(run.trace)["allocations"]["mmapped"], 10)

        # Every mapping memtrace reports is an mmap the kernel performed, with the same address and
        # length, and the free of the block is an munmap of exactly that range. Each strace call may
        # back one block only.
        mmaps = {}
        for call in run.strace:
            if call.pid == run.pid and call.name == "mmap" and call.result is not None and call.errno is None:
                mmaps.setdefault((call.result, call.arg(1)), []).append(call)
        munmaps = {}
        for call in run.strace:
            if call.pid == run.pid and call.name == "munmap" and call.result == 0:
                munmaps.setdefault((call.arg(0), call.arg(1)), []).append(call)
        all_calls = calls(run.trace)
        for m in mallocs:
            mapping = m["mapping"]
            key = (mapping["base"], mapping["length"])
            self.assertLessEqual(mapping["base"] + 16, m["address"])
            self.assertGreaterEqual(mapping["length"], 262144 + 16)
            self.assertEqual(mapping["length"] % 4096, 0, mapping)
            self.assertIn(key, mmaps, f"{m['text']}: mapping {hex(key[0])}+{key[1]} is not an mmap strace saw")
            self.assertEqual(len(mmaps[key]), 1, f"mapping {key} mmapped more than once")
            frees = [c for c in all_calls if c["call"] == "free" and c["address"] == m["address"]]
            self.assertEqual(len(frees), 1, frees)
            self.assertEqual(frees[0].get("mapping"), mapping, frees[0])
            self.assertIn(key, munmaps, f"{m['text']}: strace saw no munmap({hex(key[0])}, {key[1]})")
            self.assertEqual(len(munmaps[key]), 1)
            self.assertLess(mmaps[key][0].index, munmaps[key][0].index)
        self.assertEqual(len({(m["mapping"]["base"]) for m in mallocs}), 10, "mappings are not distinct")


if __name__ == "__main__":
    unittest.main()
