"""The program-break timeline memtrace reconstructs (from libc's __curbrk, read after every hooked
call) checked against the kernel's: the brk() calls strace sees in the same traced run. A call that
moved the break twice (glibc grew the heap, then trimmed it) records one net move; memtrace's analyzer
infers the break in between (analyzer/brk_inference.h), and these tests hold it to strace's.

What counts as a move on the strace side: a brk call whose argument is non-NULL and whose result (the
new break, or the unchanged one if the kernel refused) differs from the break before it. brk(NULL) is
libc asking where the break is; it moves nothing.

Only moves after the preload initialised count. Before that the dynamic loader, and libc's malloc
serving the loader, may already have moved the break (ld.so switches to libc's malloc once libc is
relocated, and its first allocations sbrk the main heap, before any constructor of ours has run).
Those moves happen before a trace file exists, so memtrace cannot and does not claim them; its
"initial" break is the break at the moment it initialised. The moment is marked in the strace log by
the openat() that creates the trace file (strace traces openat besides brk/mmap/munmap for this).
"""

import unittest

from memtrace_e2e import E2ETestCase, break_history, brk, preload_initialised_at, program, summary


class BreakTest(E2ETestCase):
    def check_against_strace(self, argv, min_moves):
        run = self.traced(argv, strace=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        start = preload_initialised_at(run.strace, run.trace)
        kernel = break_history([c for c in run.strace if c.pid == run.pid], start)
        timeline = brk(run.trace)
        s = summary(run.trace)
        self.assertTrue(timeline["complete"])
        moves = [(m["before"], m["after"]) for m in timeline["moves"]]
        self.assertGreaterEqual(len(kernel.moves), min_moves, "the program did not move the break enough to test")
        # The count, from both reports.
        self.assertEqual(len(moves), len(kernel.moves),
                         f"memtrace reports {len(moves)} break moves, strace saw {len(kernel.moves)}:\n"
                         f"memtrace {[(hex(a), hex(b)) for a, b in moves]}\n"
                         f"strace   {[(hex(a), hex(b)) for a, b in kernel.moves]}")
        self.assertEqual(s["brk"]["moves"], len(kernel.moves))
        # Where it started and ended.
        self.assertEqual(timeline["initial"], kernel.initial, f"{timeline['initial']:#x} != {kernel.initial:#x}")
        self.assertEqual(timeline["final"], kernel.final, f"{timeline['final']:#x} != {kernel.final:#x}")
        self.assertEqual(s["brk"]["initial"], kernel.initial)
        self.assertEqual(s["brk"]["final"], kernel.final)
        # And every step in between, in order.
        self.assertEqual(moves, kernel.moves)
        for m in timeline["moves"]:
            self.assertEqual(m["delta"], m["after"] - m["before"])
        peak = max([kernel.initial] + [after for _, after in kernel.moves])
        self.assertEqual(timeline["peak"], peak)
        self.assertEqual(s["brk"]["peak"], peak)
        return timeline

    def test_heap_growth_32k_x10(self):
        timeline = self.check_against_strace([program("malloc_loop"), "32768", "10"], min_moves=2)
        # Ten 32 KiB blocks need more than the first 132 KiB of heap: some malloc moved it up.
        self.assertTrue(any(m["call"] == "malloc" and m["delta"] > 0 for m in timeline["moves"]), timeline)

    def test_growth_and_trim_many_moves(self):
        # 4 MB held in 4000-byte blocks: the break climbs in many steps, then free() trims it back.
        timeline = self.check_against_strace([program("malloc_loop"), "4000", "1000"], min_moves=10)
        self.assertTrue(any(m["call"] == "free" and m["delta"] < 0 for m in timeline["moves"]),
                        "no trim attributed to free()")
        for m in timeline["moves"]:
            if m["call"] == "malloc":
                self.assertEqual(m["size"], 4000, m)

    def test_small_blocks_many_records(self):
        # Many records (several trace chunks) and a few moves.
        self.check_against_strace([program("malloc_loop"), "100", "20000"], min_moves=2)

    def check_double_moves(self, mode, rounds):
        """Each round is one call that moves the break twice (up, then down); memtrace must report both
        moves with the kernel's intermediate break, attributed to that call, marked inferred."""
        timeline = self.check_against_strace([program("brk_double_move"), mode, str(rounds)], min_moves=2 * rounds)
        call = {"realloc": "realloc", "memalign": "memalign"}[mode]
        inferred = [m for m in timeline["moves"] if m["certainty"] == "inferred"]
        self.assertEqual(timeline["inferred_moves"], len(inferred))
        self.assertEqual(timeline["uncertain_moves"], 0, timeline)
        # Pairs: the same call (time, thread), the first move ending where the second starts. The
        # program's first malloc may be one too (tcache_init grew the fresh heap, then the request did).
        self.assertEqual(len(inferred) % 2, 0)
        pairs = [(inferred[i], inferred[i + 1]) for i in range(0, len(inferred), 2)]
        for first, second in pairs:
            self.assertEqual((first["time_ns"], first["tid"], first["call"], first["size"]),
                             (second["time_ns"], second["tid"], second["call"], second["size"]))
            self.assertEqual(first["after"], second["before"])
        grow_and_trim = [(up, down) for up, down in pairs if up["call"] == call]
        self.assertGreaterEqual(len(grow_and_trim), rounds, f"fewer double moves than rounds: {timeline['moves']}")
        for up, down in grow_and_trim:
            self.assertGreater(up["delta"], 0)
            self.assertLess(down["delta"], 0)
        # Every move of this program's own calls is exact: recorded or inferred, none uncertain.
        self.assertTrue(all(m["certainty"] in ("recorded", "inferred") for m in timeline["moves"]))

    def test_realloc_in_place_moves_twice(self):
        self.check_double_moves("realloc", 4)

    def test_memalign_moves_twice(self):
        self.check_double_moves("memalign", 4)

    def test_net_zero_double_move_is_the_one_not_reported(self):
        """KNOWN LIMITATION, pinned down: a memalign that grows the heap and trims it back to exactly the
        break it started from leaves no move on its record, and nothing else in the trace proves the
        growth (the chunk it was carved from may have come from a free bin instead). memtrace must report
        every other move exactly, and must not invent one for this call."""
        run = self.traced([program("brk_double_move"), "netzero", "1"], strace=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        start = preload_initialised_at(run.strace, run.trace)
        kernel = break_history([c for c in run.strace if c.pid == run.pid], start)
        timeline = brk(run.trace)
        moves = [(m["before"], m["after"]) for m in timeline["moves"]]
        # The kernel's up-and-back pair: a move immediately undone.
        pairs = [i for i in range(len(kernel.moves) - 1)
                 if kernel.moves[i][1] > kernel.moves[i][0] and kernel.moves[i + 1] == kernel.moves[i][::-1]]
        self.assertEqual(len(pairs), 1, f"the program did not make one net-zero double move: {kernel.moves}")
        i = pairs[0]
        self.assertEqual(moves, kernel.moves[:i] + kernel.moves[i + 2:])
        self.assertEqual((timeline["initial"], timeline["final"]), (kernel.initial, kernel.final))
        self.assertEqual(timeline["uncertain_moves"], 0)
        self.assertFalse(any(m["call"] == "memalign" for m in timeline["moves"]), timeline["moves"])

    def test_program_calling_sbrk_and_brk(self):
        # errno_calls calls sbrk(0), a failing sbrk, brk(1) (a no-op) and mallopt/malloc_trim.
        self.check_against_strace([program("errno_calls")], min_moves=1)


if __name__ == "__main__":
    unittest.main()
