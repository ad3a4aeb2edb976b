"""`memtrace export --format chrome`: every mapping the maps reconstruction knows is a slice on a
"mappings: ORIGIN" track, and the document loads in a real viewer.

The mapping slices are checked against `memtrace maps --timeline` (one slice per birth, resize and
discovery), against what export_sites itself printed (its own mmap/mprotect/munmap/mremap sequence and
the addresses it got) and against `memtrace maps --at end` (what is still mapped).

The viewer is the trace engine of Chromium's DevTools Performance panel (its "Load profile" parser),
run in headless Chromium from the panel's bundled page and driven over the DevTools protocol. It is
the one Trace Event viewer this machine can run offline: Chromium 156 no longer serves chrome://tracing
(ERR_FAILED, even with its internal debugging pages enabled), and neither the Perfetto UI nor its
trace_processor is packaged by Debian or npm. The test skips only when chromium is not installed. That
engine draws thread tracks and their slices but has no track for generic counters: it keeps the
counter events, and the test reads their values from what it kept. test_follows_the_trace_event_format
checks, without a viewer, the format rules the others rely on too."""

import json
import os
import unittest

from devtools_pipe import CHROMIUM, HeadlessChromium
from memtrace_e2e import E2ETestCase, memtrace, memtrace_json, program, run_traced, summary

PAGE = 4096
LEAKED_MAPPED = 300_000  # tests/programs/export_sites.c
BIG = 1_000_000
TRACE_APP = "devtools://devtools/bundled/trace_app.html"
MODEL_JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "devtools_trace_model.js")


def mmapped_chunk_mapping(request: int) -> int:
    """glibc's mapping for an mmapped chunk: request + 8, 16-aligned, one more size word, whole pages."""
    chunk = (request + 8 + 15) & ~15
    return (chunk + 8 + PAGE - 1) // PAGE * PAGE


def mapping_slices(events: list) -> list:
    return [e for e in events if e["ph"] == "X" and e.get("cat") == "mapping"]


class ChromeExportTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        workdir = cls.class_workdir()
        cls.sites = run_traced([program("export_sites")], workdir)
        assert cls.sites.returncode == 0 and cls.sites.trace, cls.sites.stderr
        printed = {f[0]: f[1:] for f in (line.split() for line in cls.sites.stdout.decode().splitlines())}
        cls.tids = {int(printed["main"][0]), int(printed["worker"][0])}
        cls.mapped_at, cls.moved_to = (int(a, 16) for a in printed["mapping"])
        cls.output = os.path.join(workdir, "trace.json")
        proc = memtrace("export", cls.sites.trace, "--format", "chrome", "-o", cls.output)
        assert proc.returncode == 0, proc.stderr
        with open(cls.output) as f:
            cls.text = f.read()
        cls.document = json.loads(cls.text)
        cls.events = cls.document["traceEvents"]
        cls.slices = mapping_slices(cls.events)
        cls.timeline = [c for c in memtrace_json("maps", cls.sites.trace, "--timeline")["timeline"]
                        if c["origin"] != "memtrace"]
        cls.at_end = memtrace_json("maps", cls.sites.trace, "--at", "end")["mappings"]
        cls.summary = summary(cls.sites.trace)

    def track_names(self) -> dict:
        return {e["tid"]: e["args"]["name"] for e in self.events if e["ph"] == "M" and e["name"] == "thread_name"}

    # the document --------------------------------------------------------------------------------------

    def test_one_slice_per_birth_resize_and_discovery_of_the_timeline(self):
        for change in ("birth", "resize", "discovered"):
            expected = sorted((c["start"], c["end"], c["origin"]) for c in self.timeline if c["change"] == change)
            got = sorted((int(s["args"]["start"], 16), int(s["args"]["end"], 16), s["args"]["origin"])
                         for s in self.slices if s["args"]["change"] == change)
            self.assertEqual(got, expected, change)
        births = [c for c in self.timeline if c["change"] == "birth"]
        self.assertGreaterEqual(len(births), 8, births)  # chunks, heap, thread stack and guard, arena, mmap
        self.assertEqual(self.document["otherData"]["mapping_slices"], len(self.slices))
        self.assertEqual(self.document["otherData"]["mapping_slices_dropped"], 0)

    def test_slices_sit_on_one_track_per_origin_and_never_overlap_there(self):
        names = self.track_names()
        by_track = {}
        for s in self.slices:
            self.assertTrue(names[s["tid"]].startswith("mappings: " + s["args"]["origin"]), (names[s["tid"]], s))
            self.assertNotIn(s["tid"], self.tids)
            by_track.setdefault(s["tid"], []).append(s)
        origins = {s["args"]["origin"] for s in self.slices}
        self.assertTrue({"program", "allocator", "heap", "thread stack", "main stack", "loader"} <= origins, origins)
        # Nanosecond timestamps (three decimals of microseconds) compare exactly once scaled.
        for tid, track in by_track.items():
            track.sort(key=lambda s: s["ts"])
            for before, after in zip(track, track[1:]):
                self.assertLessEqual(round((before["ts"] + before["dur"]) * 1000), round(after["ts"] * 1000),
                                     (names[tid], before, after))

    def test_the_programs_own_mapping_lives_until_mremap_moves_it(self):
        program_slices = {int(s["args"]["start"], 16): s for s in self.slices if s["args"]["origin"] == "program"}
        first = program_slices[self.mapped_at]
        # mprotect of the middle page and munmap of the first did not end it: mremap took its last bytes.
        self.assertEqual((first["args"]["size"], first["args"]["permissions"], first["args"]["change"],
                          first["args"]["cause"], first["args"]["ended_by"]),
                         (3 * PAGE, "rw-p", "birth", "mmap", "mremap"))
        self.assertIn("map_some", first["args"]["site"])
        self.assertIn("map_some", first["args"]["stack"][0])
        moved = program_slices[self.moved_to]
        self.assertEqual((moved["args"]["size"], moved["args"]["change"], moved["args"]["ended_by"]),
                         (4 * PAGE, "resize", "munmap"))
        self.assertAlmostEqual(first["ts"] + first["dur"], moved["ts"], delta=0.001)

    def test_malloc_chunks_are_allocator_slices_named_by_their_site(self):
        chunks = [s for s in self.slices if s["args"]["origin"] == "allocator" and s["args"]["cause"] == "malloc"]
        big = [s for s in chunks if s["args"]["size"] == mmapped_chunk_mapping(BIG)]
        self.assertEqual(len(big), 3, chunks)
        self.assertTrue(all(s["args"]["ended_by"] == "free" and "grow_big" in s["args"]["site"] for s in big), big)
        leaked = [s for s in chunks if s["args"]["size"] == mmapped_chunk_mapping(LEAKED_MAPPED)]
        self.assertEqual(len(leaked), 1, chunks)
        self.assertEqual(leaked[0]["args"]["ended_by"], "still mapped at the end of the trace")
        self.assertIn("leak_mapped", leaked[0]["args"]["site"])

    def test_what_is_mapped_at_the_end_is_covered_by_slices_still_open(self):
        still = [s for s in self.slices if s["args"]["ended_by"] == "still mapped at the end of the trace"]
        for m in self.at_end:
            covering = [s for s in still if s["args"]["origin"] == m["origin"]
                        and int(s["args"]["start"], 16) < m["end"] and m["start"] < int(s["args"]["end"], 16)]
            self.assertTrue(covering, m)
        executable = [s for s in self.slices if s["args"]["file"] == os.path.realpath(program("export_sites"))]
        self.assertTrue(executable)
        self.assertTrue(all(s["args"]["origin"] == "loader" and s["args"]["change"] == "mapped before tracing"
                            for s in executable), executable)
        # The counter of all mapped bytes ends at what `memtrace maps` shows at the end.
        mapped = [e for e in self.events if e["ph"] == "C" and e["name"] == "mapped bytes (all mappings)"]
        self.assertEqual(mapped[-1]["args"]["value"], sum(m["size"] for m in self.at_end))

    def test_slices_beyond_the_cap_are_counted_not_drawn(self):
        capped = os.path.join(self.workdir, "capped.json")
        proc = memtrace("export", self.sites.trace, "--format", "chrome", "-o", capped, "--max-mapping-slices", "5")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(capped) as f:
            document = json.load(f)
        self.assertEqual(len(mapping_slices(document["traceEvents"])), 5)
        other = document["otherData"]
        self.assertEqual(other["mapping_slices"], 5)
        self.assertEqual(other["mapping_slices_dropped"], len(self.slices) - 5)
        self.assertEqual(sum(other["mapping_slices_dropped_by_origin"].values()), len(self.slices) - 5)
        self.assertIn("note", other)
        proc = memtrace("export", self.sites.trace, "--format", "pprof", "-o", capped, "--max-mapping-slices", "5")
        self.assertOneErrorLine(proc, "--max-mapping-slices")

    def test_follows_the_trace_event_format(self):
        """The rules every Trace Event viewer relies on (Perfetto's JSON importer and chrome://tracing
        included): the JSON object form, typed fields, and slices on each thread track that nest."""
        self.assertIsInstance(self.document["traceEvents"], list)
        self.assertIn(self.document.get("displayTimeUnit", "ms"), ("ms", "ns"))
        tracks = {}
        for e in self.events:
            self.assertIsInstance(e["ph"], str, e)
            self.assertIsInstance(e["name"], str, e)
            self.assertIs(type(e["pid"]), int, e)
            self.assertIs(type(e["tid"]), int, e)
            self.assertIn(e["ph"], ("M", "X", "C", "i"), e)
            if e["ph"] == "M":
                self.assertIn(e["name"], ("process_name", "thread_name", "thread_sort_index"), e)
                continue
            self.assertIsInstance(e["ts"], (int, float), e)
            self.assertGreaterEqual(e["ts"], 0, e)
            if e["ph"] == "C":
                self.assertTrue(all(isinstance(v, (int, float)) for v in e["args"].values()), e)
            elif e["ph"] == "i":
                self.assertIn(e["s"], ("t", "p", "g"), e)
            else:
                self.assertIsInstance(e["dur"], (int, float), e)
                self.assertGreaterEqual(e["dur"], 0, e)
                # As doubles, the way viewers add them.
                tracks.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"], e["name"]))
        for track, slices in tracks.items():
            slices.sort(key=lambda s: (s[0], -s[1]))
            open_ends = []  # ends of the slices enclosing the current one
            for begin, end, name in slices:
                while open_ends and open_ends[-1] <= begin:
                    open_ends.pop()
                self.assertTrue(not open_ends or end <= open_ends[-1],
                                f"{name} at {begin} overlaps an enclosing slice on {track} without nesting")
                open_ends.append(end)

    # the viewer ----------------------------------------------------------------------------------------

    @unittest.skipUnless(CHROMIUM, "chromium is not installed (scripts/install-deps.sh installs it)")
    def test_devtools_performance_panel_loads_every_track_slice_and_counter(self):
        with open(MODEL_JS) as f:
            model_js = f.read()
        with HeadlessChromium() as chromium:
            session = chromium.open_page(TRACE_APP)
            model = chromium.evaluate(session, f"({model_js})({json.dumps(self.text)})")
        self.assertEqual(model["warnings"], [])
        self.assertTrue(model["generic"])
        pid = self.sites.pid
        self.assertEqual(model["processNames"].get(str(pid)), self.document["traceEvents"][0]["args"]["name"])
        threads = {t["tid"]: t for t in model["threads"] if t["pid"] == pid}
        # Every track we wrote, under the name we gave it, with all of its slices drawn.
        names = self.track_names()
        written = {}
        for e in self.events:
            if e["ph"] == "X":
                written.setdefault(e["tid"], []).append(e)
        self.assertEqual(sorted(written), sorted(names))
        self.assertEqual(sorted(threads), sorted(names))
        for tid, slices in written.items():
            self.assertEqual(threads[tid]["name"], names[tid])
            seen = threads[tid]["slices"]
            self.assertEqual(len(seen), len(slices), names[tid])
            undrawn = [s for s in seen if not s["drawn"]]
            self.assertEqual(undrawn, [], names[tid])
        # Mapping slices as the viewer sees them: one per birth of `memtrace maps --timeline`, and more.
        viewed = [s for t in threads.values() if t["name"].startswith("mappings: ") for s in t["slices"]]
        self.assertEqual(len(viewed), len(self.slices))
        self.assertEqual(sum(s["args"]["change"] == "birth" for s in viewed),
                         sum(c["change"] == "birth" for c in self.timeline))
        self.assertEqual({t["name"] for t in threads.values() if t["tid"] in self.tids},
                         {f"main thread {pid}"} | {f"thread {t}" for t in self.tids if t != pid})
        # The counters it read end where `memtrace summary` ends.
        last = {name: points[-1][1] for name, points in model["counters"].items()}
        s = self.summary
        self.assertEqual(last["live heap bytes"], s["leaks"]["bytes"])
        self.assertEqual(last["live blocks"], s["leaks"]["blocks"])
        self.assertEqual(last["program break (bytes above initial)"], s["brk"]["final"] - s["brk"]["initial"])
        self.assertEqual(last["mapped bytes (all mappings)"], sum(m["size"] for m in self.at_end))


if __name__ == "__main__":
    unittest.main()
