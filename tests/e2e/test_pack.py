"""Packed traces (format/packed_layout.h): `memtrace pack` and `memtrace run`'s default packing.

Witness: the raw trace the preload wrote. Every analyzer command must print byte-for-byte the same on
the raw trace and on its packed form, for real programs (threads, leaks, mmaps, a SIGKILLed process,
a trace cut short); a damaged packed file gives one error line and exit 1.
"""

from __future__ import annotations

import os
import shutil
import struct
import unittest

from memtrace_e2e import E2ETestCase, memtrace, program, summary

HEADER_FLAGS_OFFSET = 20     # FileHeader.flags (format/trace_layout.h)
PACKED_FLAG = 1 << 4         # kHeaderPacked (format/packed_layout.h)
FOOTER_BYTES = 40            # PackedFooter


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def is_packed(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(24)
    return head[:8] == b"MEMTRACE" and bool(struct.unpack_from("<I", head, HEADER_FLAGS_OFFSET)[0] & PACKED_FLAG)


# Every command's machine-readable output; each writes to stdout or to the file named OUT.
COMMANDS = [
    ["summary", "t.mtr", "--json"],
    ["summary", "t.mtr", "--json", "--top", "50"],
    ["calls", "t.mtr", "--json"],
    ["brk", "t.mtr", "--json"],
    ["leaks", "t.mtr", "--json", "--show", "all"],
    ["maps", "t.mtr", "--json"],
    ["maps", "t.mtr", "--json", "--timeline"],
    ["diff", "t.mtr", "t.mtr", "--json"],
    ["export", "t.mtr", "--format", "json", "-o", "OUT"],
    ["export", "t.mtr", "--format", "pprof", "-o", "OUT"],
    ["export", "t.mtr", "--format", "folded", "-o", "OUT"],
    ["export", "t.mtr", "--format", "chrome", "-o", "OUT"],
    ["export", "t.mtr", "--format", "massif", "-o", "OUT"],
    ["html", "t.mtr", "-o", "OUT"],
]


class PackTest(E2ETestCase):
    def raw_trace(self, argv: list[str], name: str) -> str:
        """A raw trace of argv, as `memtrace run --no-pack` leaves it, at WORKDIR/name/t.mtr."""
        directory = os.path.join(self.workdir, name)
        os.mkdir(directory)
        out = os.path.join(directory, "t.mtr")
        proc = memtrace("run", "--no-pack", "-o", out, "--", *argv)
        self.assertTrue(os.path.exists(out), proc.stderr)
        self.assertFalse(is_packed(out))
        return out

    def packed_copy(self, raw: str, name: str) -> str:
        """`memtrace pack RAW -o WORKDIR/name/t.mtr` (same file name: outputs that name it agree)."""
        directory = os.path.join(self.workdir, name)
        os.mkdir(directory)
        out = os.path.join(directory, "t.mtr")
        before = read(raw)
        proc = memtrace("pack", raw, "-o", out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(read(raw), before, "pack -o must leave the raw trace alone")
        self.assertTrue(is_packed(out))
        return out

    def outputs(self, trace: str) -> list[tuple[int, bytes, bytes]]:
        directory = os.path.dirname(trace)
        results = []
        for command in COMMANDS:
            out = os.path.join(directory, "out")
            args = [a if a != "OUT" else out for a in command]
            proc = memtrace(*args, cwd=directory)
            produced = b""
            if os.path.exists(out):
                produced = read(out)
                os.unlink(out)
            results.append((proc.returncode, proc.stdout + produced, proc.stderr))
        return results

    def assertSameEverywhere(self, raw: str, packed: str):
        a, b = self.outputs(raw), self.outputs(packed)
        for command, x, y in zip(COMMANDS, a, b):
            with self.subTest(command=" ".join(command)):
                self.assertEqual(x[0], y[0], (x[2], y[2]))
                self.assertEqual(x[2], y[2])
                self.assertEqual(x[1], y[1], f"{' '.join(command)}: output differs raw vs packed")
                self.assertGreater(len(x[1]), 0, "the command printed nothing: the comparison is empty")

    def check_program(self, argv: list[str], name: str, min_ratio: float = 2.0):
        raw = self.raw_trace(argv, name + "-raw")
        packed = self.packed_copy(raw, name + "-packed")
        self.assertLess(os.path.getsize(packed) * min_ratio, os.path.getsize(raw))
        self.assertSameEverywhere(raw, packed)
        return raw, packed

    def test_threads(self):
        self.check_program([program("threads_cross_free"), "3000"], "threads")

    def test_leaks(self):
        self.check_program([program("leaky")], "leaky")

    def test_mmaps_and_break(self):
        self.check_program([program("malloc_loop"), "262144", "10"], "loop")
        self.check_program([program("alloc_phases"), "2000"], "phases")

    def test_killed_process(self):
        raw, packed = self.check_program([program("crash_kill")], "killed")
        self.assertFalse(summary(packed)["trace"]["complete"])

    def test_trace_cut_short_keeps_its_verdict(self):
        raw = self.raw_trace([program("threads_cross_free"), "3000"], "cut-src")
        data = read(raw)
        s_full = summary(raw)
        # Cut inside the middle of the body (inside some chunk's records): the reader says truncated,
        # and packing must carry that and exactly the records before the cut.
        cut_dir = os.path.join(self.workdir, "cut-raw")
        os.mkdir(cut_dir)
        cut = os.path.join(cut_dir, "t.mtr")
        write(cut, data[: 4096 + (len(data) - 4096) // 2 + 1234])
        s_cut = summary(cut, allow_warning=True)
        self.assertTrue(s_cut["trace"]["truncated"])
        self.assertLess(s_cut["calls"]["total"], s_full["calls"]["total"])
        packed = self.packed_copy(cut, "cut-packed")
        self.assertTrue(summary(packed, allow_warning=True)["trace"]["truncated"])
        self.assertSameEverywhere(cut, packed)

    def test_pack_in_place_and_again(self):
        raw = self.raw_trace([program("leaky")], "inplace")
        expected = summary(raw)
        proc = memtrace("pack", raw)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(is_packed(raw))
        self.assertEqual(summary(raw), expected)
        self.assertEqual(os.listdir(os.path.dirname(raw)), ["t.mtr"], "no temporary file left behind")
        again = memtrace("pack", raw)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn(b"already packed", again.stderr)

    def test_failed_pack_keeps_the_raw_trace(self):
        raw = self.raw_trace([program("leaky")], "fail")
        before = read(raw)
        proc = memtrace("pack", raw, "-o", os.path.join(self.workdir, "no-such-dir", "x.mtr"))
        self.assertOneErrorLine(proc, "raw trace is unchanged")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(read(raw), before)
        not_a_trace = os.path.join(self.workdir, "junk.mtr")
        write(not_a_trace, b"hello" * 1000)
        proc = memtrace("pack", not_a_trace)
        self.assertOneErrorLine(proc, "not a memtrace trace")
        self.assertEqual(read(not_a_trace), b"hello" * 1000)

    def test_run_packs_by_default(self):
        out = os.path.join(self.workdir, "run.mtr")
        proc = memtrace("run", "-o", out, "--", program("threads_cross_free"), "3000")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(is_packed(out))
        self.assertIn(b"packed", proc.stderr)
        self.assertGreater(summary(out)["calls"]["total"], 3000)
        raw = os.path.join(self.workdir, "raw.mtr")
        proc = memtrace("run", "--no-pack", "-o", raw, "--", program("threads_cross_free"), "3000")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertFalse(is_packed(raw))

    def test_damaged_packed_file_is_one_error(self):
        raw = self.raw_trace([program("threads_cross_free"), "3000"], "damage-src")
        packed = self.packed_copy(raw, "damage-packed")
        good = read(packed)
        index_offset = struct.unpack_from("<Q", good, len(good) - FOOTER_BYTES + 16)[0]
        damaged = {
            "cut": good[: len(good) // 2],
            "no footer": good[:-1],
            "index byte": good[:index_offset + 3] + bytes([good[index_offset + 3] ^ 0x40]) + good[index_offset + 4:],
            "frame byte": good[:3000] + bytes([good[3000] ^ 0x01]) + good[3001:],
            "footer version": good[:-32] + struct.pack("<I", 9) + good[-28:],
        }
        for what, data in damaged.items():
            with self.subTest(damage=what):
                path = os.path.join(self.workdir, "bad.mtr")
                write(path, data)
                for command in (["summary", path], ["calls", path, "--json"], ["leaks", path]):
                    proc = memtrace(*command)
                    self.assertOneErrorLine(proc, "packed trace")
                    self.assertEqual(proc.returncode, 1)


if __name__ == "__main__":
    unittest.main()
