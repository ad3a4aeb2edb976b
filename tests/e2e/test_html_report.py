"""`memtrace html`: the report is one self-contained file that headless Chromium renders without a
script error, and the numbers the page displays are `memtrace summary --json`'s (and the traced
program's own: it knows what it leaked). The embedded data stays bounded as the trace grows."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest
from html.parser import HTMLParser
from pathlib import Path

from memtrace_e2e import BUILD_DIR, memtrace, program, run_traced, summary

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OUT_DIR = BUILD_DIR / "tests" / "html_report"


class DomFacts(HTMLParser):
    """From Chromium's --dump-dom output: the attributes and text of every element with an id, and
    <body>'s attributes."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.by_id, self.body, self.text_of, self._open = {}, {}, {}, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        if "id" in attrs:
            self.by_id[attrs["id"]] = attrs
            self.text_of[attrs["id"]] = ""
        if tag not in self.VOID:
            self._open.append((tag, attrs.get("id")))

    def handle_endtag(self, tag):
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        for _, element in self._open:
            if element:
                self.text_of[element] += data


def chromium(*args, timeout=120):
    profile = tempfile.mkdtemp(prefix="memtrace-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
             f"--user-data-dir={profile}", *args],
            capture_output=True, timeout=timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def value(dom, element):
    return int(dom.by_id[element]["data-value"])


@unittest.skipUnless(CHROMIUM, "chromium is not installed (scripts/install-deps.sh installs it)")
class HtmlReportTest(unittest.TestCase):
    N = 3000  # alloc_phases' scale: 3000 records kept, 3000 x 64 bytes leaked, + a 4096-byte cache

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="memtrace-html-")
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        run = run_traced([program("alloc_phases"), str(cls.N)], cls.work)
        assert run.returncode == 0, run.stderr
        cls.trace = run.trace
        cls.printed = run.stdout.decode()
        cls.report = OUT_DIR / "alloc_phases.html"
        proc = memtrace("html", cls.trace, "-o", cls.report)
        assert proc.returncode == 0 and not proc.stderr, proc.stderr
        cls.summary = summary(cls.trace)
        dump = chromium("--virtual-time-budget=10000", "--dump-dom", cls.report.as_uri())
        cls.dom_text = dump.stdout.decode(errors="replace")
        cls.dom = DomFacts()
        cls.dom.feed(cls.dom_text)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_page_rendered_without_script_errors(self):
        self.assertEqual(self.dom.by_id["errors"].get("data-errors"), "0", self.dom.text_of.get("errors"))
        self.assertEqual(self.dom.text_of["errors"].strip(), "")
        self.assertEqual(self.dom.body.get("data-ready"), "1")

    def test_displayed_numbers_equal_summary(self):
        s = self.summary
        allocations = s["allocations"]["heap"] + s["allocations"]["mmapped"] + s["allocations"]["unknown"]
        self.assertEqual(value(self.dom, "allocations"), allocations)
        self.assertEqual(value(self.dom, "calls"), s["calls"]["total"])
        self.assertEqual(value(self.dom, "peak-live-bytes"), s["allocations"]["peak_live_bytes"])
        self.assertEqual(value(self.dom, "requested-bytes"), s["allocations"]["requested_bytes"])
        self.assertEqual(value(self.dom, "leaked-bytes"), s["leaks"]["bytes"])
        self.assertEqual(value(self.dom, "leaked-blocks"), s["leaks"]["blocks"])
        for leak_class in ("definite", "indirect", "possible", "reachable"):
            self.assertEqual(value(self.dom, f"leak-{leak_class}-bytes"), s["leaks"][leak_class]["bytes"], leak_class)
        self.assertEqual(self.dom.text_of["pid"], str(s["trace"]["pid"]))
        self.assertEqual(self.dom.by_id["complete"]["data-value"], "1" if s["trace"]["complete"] else "0")

    def test_numbers_match_what_the_program_did(self):
        leaked_blocks, leaked_bytes = map(int, re.search(r"leaked (\d+) blocks, (\d+) bytes", self.printed).groups())
        self.assertEqual(value(self.dom, "leak-definite-bytes"), leaked_bytes)
        self.assertEqual(int(self.dom.by_id["leak-definite-bytes"]["data-blocks"]), leaked_blocks)
        # The N kept records are live together: the peak is at least that, and the four 256 KiB buffers
        # (above the mmap threshold) are mmapped chunks of at least their size.
        self.assertGreaterEqual(value(self.dom, "peak-live-bytes"), self.N * 1000)
        self.assertGreaterEqual(value(self.dom, "peak-mmapped-bytes"), 4 * 256 * 1024)

    def test_interactive_parts_rendered(self):
        self.assertIn("moment-sites", self.dom.by_id, "the selected moment's live sites")
        self.assertIn("keep_records", self.dom_text, "the top site is named by its function")
        self.assertIn("leak_records", self.dom_text)
        self.assertGreater(int(self.dom.by_id["flame"]["data-nodes"]), 3)

    def test_self_contained(self):
        page = self.report.read_text()
        self.assertNotRegex(page, r"<(link|img|iframe)\b", "nothing is fetched")
        self.assertNotRegex(page, r"<script[^>]*\bsrc=")
        self.assertEqual(re.findall(r"https?://[^\s\"']+", page), ["http://www.w3.org/2000/svg"])

    def test_screenshot(self):
        png = OUT_DIR / "alloc_phases.png"
        if png.exists():
            png.unlink()
        chromium("--virtual-time-budget=10000", "--hide-scrollbars", f"--screenshot={png}",
                 "--window-size=1400,2000", self.report.as_uri())
        self.assertTrue(png.exists() and png.stat().st_size > 10000, "a screenshot of the report")

    def test_embedded_data_bounded(self):
        # Ten times the events, same sites: the report must not grow with the trace.
        big_run = run_traced([program("alloc_phases"), str(self.N * 10)], self.work)
        self.assertEqual(big_run.returncode, 0)
        big = OUT_DIR / "alloc_phases_big.html"
        self.assertEqual(memtrace("html", big_run.trace, "-o", big).returncode, 0)
        small_size, big_size = self.report.stat().st_size, big.stat().st_size
        self.assertLess(big_size, small_size * 1.5, (small_size, big_size))

    def test_bad_input(self):
        proc = memtrace("html", os.path.join(self.work, "missing.mtr"), "-o", os.path.join(self.work, "x.html"))
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(len(proc.stderr.decode().strip().splitlines()), 1)
        proc = memtrace("html", self.trace, "-o", "/nonexistent-dir/report.html")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("cannot write", proc.stderr.decode())


if __name__ == "__main__":
    unittest.main()
