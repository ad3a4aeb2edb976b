"""memtrace export, checked by the tools each format is for: `go tool pprof` reads the pprof profile
and names export_sites' known top allocation sites; ms_print reads the massif file and prints the peak
`memtrace summary` reports; the Chrome trace's counters end where the summary ends; folded stacks add
up to the summary's totals; and nothing but the output is written when stderr is not a terminal."""

import gzip
import json
import os
import re
import shutil
import subprocess
import unittest

from memtrace_e2e import E2ETestCase, memtrace, program, run_traced, summary

# tests/programs/export_sites.c
BIG = 3 * 1_000_000        # grow_big: held together at the peak, then freed
LEAKED_INLINE = 20 * 10_000
LEAKED_MAPPED = 300_000
SMALL_CALLS = 1000          # many_small, in the worker thread
PAGE = 4096


def mmapped_chunk_mapping(request: int) -> int:
    """The mapping glibc's malloc makes for an mmapped chunk: the chunk (request + 8, 16-aligned) plus
    one more size word, rounded up to whole pages (sysmalloc)."""
    chunk = (request + 8 + 15) & ~15
    return (chunk + 8 + PAGE - 1) // PAGE * PAGE


class ExportTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        workdir = cls.class_workdir()
        cls.sites = run_traced([program("export_sites")], workdir)
        assert cls.sites.returncode == 0 and cls.sites.trace, cls.sites.stderr
        lines = [line.split() for line in cls.sites.stdout.decode().splitlines()]
        cls.tids = {fields[0]: fields[1] for fields in lines if fields[0] in ("main", "worker")}
        cls.summary = summary(cls.sites.trace)

    def export(self, fmt: str, *extra: str) -> str:
        out = os.path.join(self.workdir, f"out.{fmt}")
        proc = memtrace("export", self.sites.trace, "--format", fmt, "-o", out, *extra)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, b"", "export wrote to a non-terminal stderr (progress must stay off)")
        return out

    # pprof -----------------------------------------------------------------------------------------

    def pprof(self, *args: str) -> str:
        go = shutil.which("go")
        if not go:
            self.fail("`go` is not installed (scripts/install-deps.sh installs golang-go)")
        # -symbolize=none: every name must come from the profile itself, not from pprof's own lookup.
        proc = subprocess.run([go, "tool", "pprof", "-symbolize=none", *args], capture_output=True, timeout=300,
                              env={**os.environ, "HOME": self.workdir, "GOCACHE": os.path.join(self.workdir, "go")})
        self.assertEqual(proc.returncode, 0, proc.stderr.decode(errors="replace"))
        return proc.stdout.decode()

    def top_function(self, profile: str, sample_index: str) -> tuple[str, str]:
        out = self.pprof("-top", f"-sample_index={sample_index}", "-unit=B", profile)
        rows = [line.split() for line in out.splitlines() if re.match(r"\s*\d+B\s", line)]
        self.assertTrue(rows, out)
        return rows[0][5], rows[0][0]  # the biggest flat row: function, flat value

    def test_pprof_names_the_known_top_sites(self):
        profile = self.export("pprof")
        with gzip.open(profile) as f:  # gzip, as pprof wants
            self.assertGreater(len(f.read()), 0)
        self.assertEqual(self.top_function(profile, "alloc_space"), ("grow_big", f"{BIG}B"))
        self.assertEqual(self.top_function(profile, "inuse_space"), ("leak_mapped", f"{LEAKED_MAPPED}B"))
        out = self.pprof("-top", "-sample_index=alloc_objects", profile)
        rows = [line.split() for line in out.splitlines() if re.match(r"\s*\d+\s+\d", line)]
        self.assertEqual((rows[0][5], rows[0][0]), ("many_small", str(SMALL_CALLS)), out)

    def test_pprof_totals_and_inlined_lines(self):
        profile = self.export("pprof")
        out = self.pprof("-top", "-sample_index=alloc_space", "-unit=B", profile)
        total = re.search(r"Total samples = (\d+)B", out)
        self.assertIsNotNone(total, out)
        self.assertEqual(int(total.group(1)), self.summary["allocations"]["requested_bytes"])
        # One location, two lines: inline_alloc inlined into leak_some, innermost first.
        traces = self.pprof("-traces", "-sample_index=inuse_space", profile)
        self.assertRegex(traces, r"inline_alloc \(inline\)\n\s+leak_some\n\s+main\n")

    # chrome ----------------------------------------------------------------------------------------

    def test_chrome_counters_end_where_the_summary_ends(self):
        with open(self.export("chrome")) as f:
            trace = json.load(f)
        events = trace["traceEvents"]
        last, counts = {}, {}
        for e in events:
            if e["ph"] == "C":
                self.assertGreaterEqual(e["ts"], last.get(e["name"], (0, 0))[0], "counter events out of order")
                last[e["name"]] = (e["ts"], e["args"]["value"])
                counts[e["name"]] = counts.get(e["name"], 0) + 1
        s = self.summary
        self.assertEqual(last["live heap bytes"][1], s["leaks"]["bytes"])
        self.assertEqual(last["live blocks"][1], s["leaks"]["blocks"])
        self.assertEqual(last["program break (bytes above initial)"][1], s["brk"]["final"] - s["brk"]["initial"])
        self.assertEqual(last["mmapped chunk bytes"][1], mmapped_chunk_mapping(LEAKED_MAPPED))
        # Aggregated: far fewer points than the program's 2000+ calls.
        self.assertLess(counts["live blocks"], s["calls"]["total"] / 4, counts)
        names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"
                 and not e["args"]["name"].startswith("mappings: ")}  # test_chrome_export checks those
        self.assertEqual(sorted(names), sorted(int(t) for t in self.tids.values()))
        slices = {e["tid"]: e for e in events if e["ph"] == "X" and e["cat"] == "thread"}
        self.assertEqual(sorted(slices), sorted(names))
        worker = slices[int(self.tids["worker"])]
        main = slices[int(self.tids["main"])]
        self.assertGreater(worker["ts"], main["ts"])
        self.assertLessEqual(worker["ts"] + worker["dur"], main["ts"] + main["dur"] + 0.001)
        mmaps = [e for e in events if e["ph"] == "i"]
        self.assertEqual(len(mmaps), s["allocations"]["mmapped"])

    # folded ----------------------------------------------------------------------------------------

    def folded(self, by: str) -> dict:
        stacks = {}
        with open(self.export("folded", "--by", by)) as f:
            for line in f:
                m = re.fullmatch(r"(\S.*) (\d+)\n", line)
                self.assertIsNotNone(m, f"not a folded line: {line!r}")
                stacks[m.group(1)] = int(m.group(2))
        return stacks

    def test_folded_totals_equal_the_summary(self):
        by_bytes = self.folded("bytes")
        self.assertEqual(sum(by_bytes.values()), self.summary["allocations"]["requested_bytes"])
        a = self.summary["allocations"]
        by_calls = self.folded("calls")
        self.assertEqual(sum(by_calls.values()), a["heap"] + a["mmapped"] + a["unknown"])
        # Root first: main calls grow_big, and the inlined helper sits on top of its caller.
        big = [stack for stack, value in by_bytes.items() if stack.endswith(";main;grow_big")]
        self.assertEqual([by_bytes[s] for s in big], [BIG])
        self.assertTrue(any(s.endswith(";main;leak_some;inline_alloc") for s in by_bytes), by_bytes)
        self.assertTrue(any(s.endswith(";many_small") and v == SMALL_CALLS for s, v in by_calls.items()), by_calls)

    # massif ----------------------------------------------------------------------------------------

    def test_ms_print_reads_the_massif_file_and_shows_the_peak(self):
        out = self.export("massif")
        proc = subprocess.run(["ms_print", out], capture_output=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        text = proc.stdout.decode()
        peak = self.summary["allocations"]["peak_live_bytes"]
        self.assertGreaterEqual(peak, BIG + LEAKED_INLINE + LEAKED_MAPPED)
        # The snapshot table row of the peak: n, time, total(B), useful-heap(B), extra, stacks.
        rows = re.findall(r"^\s*(\d+)\s+(\d+)\s+([\d,]+)\s+([\d,]+)\s+0\s+0\s*$", text, re.M)
        self.assertTrue(rows, text)
        self.assertEqual(max(int(r[2].replace(",", "")) for r in rows), peak)
        self.assertRegex(text, r"\(peak\)")
        # The tree accounts for the whole peak: its root is 100% of the snapshot.
        self.assertIn(f"100.00% ({peak:,}B) (heap allocation functions)", text)
        self.assertRegex(text, r"->\d+\.\d+% \(3,000,000B\) 0x[0-9A-F]+: grow_big \(export_sites\.c:\d+\)")

    # json ------------------------------------------------------------------------------------------

    def test_json_model_matches_the_summary(self):
        with open(self.export("json")) as f:
            model = json.load(f)
        s = self.summary
        self.assertEqual(model["summary"]["live_at_end"], {"blocks": s["leaks"]["blocks"], "bytes": s["leaks"]["bytes"]})
        self.assertEqual(model["summary"]["calls"]["malloc"], s["calls"]["malloc"])
        self.assertEqual(model["summary"]["allocations"]["requested_bytes"], s["allocations"]["requested_bytes"])
        self.assertEqual(len(model["brk"]["moves"]), s["brk"]["moves"])
        self.assertEqual(len(model["live_blocks"]), s["leaks"]["blocks"])
        stacks = {stack["id"]: stack["frames"] for stack in model["stacks"]}
        mapped = [b for b in model["live_blocks"] if b["size"] == LEAKED_MAPPED]
        self.assertEqual(len(mapped), 1)
        self.assertEqual(mapped[0]["verdict"], "mmap")
        self.assertEqual(stacks[mapped[0]["stack_id"]][0]["function"], "leak_mapped")
        self.assertTrue(any(m["path"] == program("export_sites") for m in model["modules"]))

    # errors and progress ---------------------------------------------------------------------------

    def test_bad_input_gives_one_error_line_and_no_output(self):
        out = os.path.join(self.workdir, "never.json")
        missing = memtrace("export", os.path.join(self.workdir, "missing.mtr"), "--format", "json", "-o", out)
        self.assertOneErrorLine(missing, "missing.mtr")
        self.assertFalse(os.path.exists(out))
        self.assertOneErrorLine(memtrace("export", self.sites.trace, "--format", "svg", "-o", out), "svg")
        self.assertOneErrorLine(memtrace("export", self.sites.trace, "--format", "json", "--by", "calls", "-o", out),
                                "--by")
        unwritable = memtrace("export", self.sites.trace, "--format", "json", "-o", "/nonexistent/dir/x.json")
        self.assertOneErrorLine(unwritable, "/nonexistent/dir/x.json")

    def test_stdout_output_and_quiet_stderr(self):
        proc = memtrace("export", self.sites.trace, "--format", "folded", "-o", "-")
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(proc.stderr, b"")
        self.assertIn(b";grow_big 3000000\n", proc.stdout)


if __name__ == "__main__":
    unittest.main()
