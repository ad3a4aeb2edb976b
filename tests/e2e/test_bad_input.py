"""What memtrace does with input it cannot fully use.

Unusable input (no file, not a trace, bad option, no such program, a program LD_PRELOAD cannot reach):
a non-zero exit and exactly one line on stderr that says what is wrong.

Usable but damaged input (a trace cut short anywhere after its header, the trace of a SIGKILLed
process): read up to the damage, exit 0, say the trace is incomplete, and report a prefix of the
calls of the undamaged trace."""

import os
import shutil
import struct
import subprocess
import unittest

from memtrace_e2e import (E2ETestCase, brk, calls, memtrace, program, run_plain, run_traced,
                          summary)

SUBCOMMANDS = ("summary", "calls", "brk", "leaks")


class UnusableInputTest(E2ETestCase):
    def write(self, name, data: bytes) -> str:
        path = os.path.join(self.workdir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_missing_trace_file(self):
        path = os.path.join(self.workdir, "no-such-trace.mtr")
        for sub in SUBCOMMANDS:
            for extra in ([], ["--json"]):
                with self.subTest(sub=sub, extra=extra):
                    proc = memtrace(sub, path, *extra)
                    self.assertOneErrorLine(proc, "no-such-trace.mtr", "no such file")
                    self.assertEqual(proc.stdout, b"")

    def test_garbage_file(self):
        garbage = self.write("garbage.mtr", bytes((i * 7919 + 13) % 256 for i in range(100000)))
        for sub in SUBCOMMANDS:
            with self.subTest(sub=sub):
                proc = memtrace(sub, garbage, "--json")
                self.assertOneErrorLine(proc, "garbage.mtr", "not a memtrace trace")
                self.assertEqual(proc.stdout, b"")

    def test_empty_file_and_directory(self):
        empty = self.write("empty.mtr", b"")
        for path in (empty, self.workdir):
            for sub in SUBCOMMANDS:
                with self.subTest(path=path, sub=sub):
                    self.assertOneErrorLine(memtrace(sub, path), os.path.basename(path))

    def test_signature_then_garbage(self):
        # The right magic, then nonsense: a corrupt header is still one line, not a crash.
        path = self.write("bad-header.mtr", b"MEMTRACE" + bytes((i * 31 + 7) % 256 for i in range(70000)))
        for sub in SUBCOMMANDS:
            with self.subTest(sub=sub):
                self.assertOneErrorLine(memtrace(sub, path, "--json"), "bad-header.mtr")

    def test_unknown_option(self):
        trace = self.write("x.mtr", b"")
        cases = [["summary", "--bogus", trace], ["calls", trace, "--json", "--frobnicate"],
                 ["run", "--bogus", "--", program("malloc_loop"), "8", "1"], ["brk", trace, "-Z"]]
        for args in cases:
            with self.subTest(args=args):
                proc = memtrace(*args)
                bad = [a for a in args if a.startswith("-") and a not in ("--json", "--")][0]
                self.assertOneErrorLine(proc, bad)
                self.assertEqual(proc.stdout, b"")

    def test_no_subcommand(self):
        self.assertOneErrorLine(memtrace(), "subcommand")

    def test_unknown_subcommand_or_top_level_option_is_named(self):
        # The line must say what is wrong: that FROBNICATE is not a command, or --bogus not an option;
        # "a subcommand is required" when one was given (misspelt) does not.
        for args in (["frobnicate"], ["--bogus"], ["sumary", "x.mtr"]):
            with self.subTest(args=args):
                self.assertOneErrorLine(memtrace(*args), args[0])

    def test_run_nonexistent_program(self):
        for name in ("/nonexistent/dir/prog", "no-such-program-memtrace-e2e"):
            with self.subTest(name=name):
                proc = memtrace("run", "-o", os.path.join(self.workdir, "t.mtr"), "--", name, "arg")
                self.assertOneErrorLine(proc, name)
                self.assertEqual(proc.stdout, b"")
                self.assertFalse(os.path.exists(os.path.join(self.workdir, "t.mtr")))

    def test_run_static_binary(self):
        static = program("static_hello")
        self.assertEqual(run_plain([static]).stdout, b"hello from a static binary\n")
        proc = memtrace("run", "-o", os.path.join(self.workdir, "t.mtr"), "--", static)
        self.assertOneErrorLine(proc, "static_hello", "static")
        self.assertEqual(proc.stdout, b"", "the program must not run untraced as if all were well")


# FileHeader (format/trace_layout.h): chunk_bytes at 16, chunks_allocated at 56; ChunkHeader:
# committed_bytes at 20, records from byte 32.
HEADER_BYTES = 4096
CHUNK_HEADER_BYTES = 32


class TruncatedTraceTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        # One thread, 40000 calls: several chunks, so the cut can fall in the first, at a boundary,
        # or in the last.
        cls.dir = cls.class_workdir()
        run = run_traced([program("malloc_loop"), "64", "20000"], cls.dir)
        assert run.returncode == 0 and run.trace, run.stderr
        cls.trace = run.trace
        cls.full_calls = calls(run.trace)
        cls.full_summary = summary(run.trace)
        with open(run.trace, "rb") as f:
            cls.data = f.read()
        (cls.chunk_bytes,) = struct.unpack_from("<I", cls.data, 16)
        (cls.chunks,) = struct.unpack_from("<Q", cls.data, 56)
        cls.committed = [struct.unpack_from("<I", cls.data, HEADER_BYTES + i * cls.chunk_bytes + 20)[0]
                         for i in range(cls.chunks)]

    def chunk_start(self, i):
        return HEADER_BYTES + i * self.chunk_bytes

    def cut_points(self):
        last = self.chunks - 1
        return {
            "inside the first chunk's header": self.chunk_start(0) + 16,
            "at the first record": self.chunk_start(0) + CHUNK_HEADER_BYTES,
            "inside the first record": self.chunk_start(0) + CHUNK_HEADER_BYTES + 3,
            "middle of the first chunk": self.chunk_start(0) + CHUNK_HEADER_BYTES + self.committed[0] // 2,
            "end of the first chunk": self.chunk_start(1),
            "middle of a middle chunk": self.chunk_start(last // 2) + CHUNK_HEADER_BYTES + self.committed[last // 2] // 3,
            "middle of the last chunk": self.chunk_start(last) + CHUNK_HEADER_BYTES + self.committed[last] // 2,
            "one byte before the end of the committed records":
                self.chunk_start(last) + CHUNK_HEADER_BYTES + self.committed[last] - 1,
        }

    def test_full_trace_is_complete(self):
        self.assertGreaterEqual(self.chunks, 3, "the trace should span several chunks")
        self.assertTrue(self.full_summary["trace"]["complete"])
        self.assertFalse(self.full_summary["trace"]["truncated"])
        self.assertEqual(self.full_summary["calls"]["malloc"], 20001)  # + stdout's buffer

    def test_cut_traces_are_read_up_to_the_cut(self):
        previous = -1
        for what, cut in sorted(self.cut_points().items(), key=lambda item: item[1]):
            with self.subTest(cut=what, at=cut):
                path = os.path.join(self.dir, f"cut-{cut}.mtr")
                with open(path, "wb") as f:
                    f.write(self.data[:cut])
                proc = memtrace("summary", path, "--json")
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertLessEqual(len(proc.stderr.decode().splitlines()), 1, proc.stderr)
                s = summary(path, allow_warning=True)
                self.assertFalse(s["trace"]["complete"], s["trace"])
                self.assertTrue(s["trace"]["truncated"], s["trace"])
                self.assertLess(s["trace"]["records"], self.full_summary["trace"]["records"])
                c = calls(path, allow_warning=True)
                # (A cut in the last record loses only the process-end record, no call.)
                self.assertLessEqual(len(c), len(self.full_calls))
                self.assertEqual(c, self.full_calls[:len(c)], "not a prefix of the full trace's calls")
                self.assertGreaterEqual(len(c), previous, "a longer file gave fewer calls")
                previous = len(c)
                b = brk(path, allow_warning=True)
                self.assertFalse(b["complete"])
                self.assertEqual(b["initial"], s["brk"]["initial"])
                # Cut at the end of the first chunk, the first chunk's calls are all there.
                if what == "end of the first chunk":
                    self.assertGreater(len(c), 100)
                if what == "one byte before the end of the committed records":
                    self.assertGreater(len(c), len(self.full_calls) - 5)


class KilledProcessTest(E2ETestCase):
    def test_sigkilled_trace_is_readable_and_incomplete(self):
        run = self.traced([program("crash_kill")])
        self.assertEqual(run.returncode, -9)
        s = summary(run.trace)
        self.assertFalse(s["trace"]["complete"], s["trace"])
        self.assertFalse(s["trace"]["truncated"], "nothing was cut: the process just never ended")
        self.assertEqual(s["trace"]["exit_status"], -1)
        c = calls(run.trace)
        own = [x for x in c if x["call"] == "malloc" and x["size"] == 12345]
        self.assertEqual(len(own), 5)
        self.assertEqual(sum(1 for x in c if x["call"] == "free" and x["address"] == own[0]["address"]), 1)
        self.assertEqual(brk(run.trace)["complete"], False)
        leaks = memtrace("leaks", run.trace, "--json")
        self.assertEqual(leaks.returncode, 0, leaks.stderr)

    def test_run_reports_the_signal_as_128_plus(self):
        out = os.path.join(self.workdir, "killed.mtr")
        proc = memtrace("run", "-o", out, "--", program("crash_kill"))
        self.assertEqual(proc.returncode, 128 + 9, proc.stderr)
        self.assertTrue(os.path.exists(out))
        self.assertIn(b"INCOMPLETE", proc.stderr)


if __name__ == "__main__":
    unittest.main()
