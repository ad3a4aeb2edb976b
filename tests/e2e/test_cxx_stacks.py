"""C++ leak sites named and located exactly in an optimized build without frame pointers.

tests/programs/leak_cxx_sites.cc (-O2 -g -fomit-frame-pointer) leaks from a class template's member
function, an always_inline helper, a lambda called through std::function, a function that throws (the
exception is caught two frames up), operator new[] in a constructor and a std::vector that grows inside
a leaked object. Each allocating line carries a `// LEAK:name` marker; the expected lines come from
those markers, never from numbers written here.

Witnesses, none of them memtrace's own code:
  * the program's own output and exit code, untraced: the preload must not change them, and the
    exception must still reach its handler;
  * `nm -C -S` (binutils' demangler, as c++filt prints): the function that contains each
    non-inlined frame's address, compared with memtrace's name for it;
  * `addr2line -i` (binutils' DWARF reader, not libdw): the file:line of every frame of the program's
    binary, inlined calls expanded, compared with memtrace's frames for that address;
  * valgrind --leak-check=full on the same binary: the same leak sites (function and line of the
    innermost frame in the program's source) with the same bytes and blocks in each leak class.

Two more ways a module's symbols can come: libc's frame (strdup) is named from its separate debug file
in /usr/lib/debug/.build-id (libc6-dbg), compared with addr2line, which reads the same file; and a
stripped copy of the program must give module+offset frames whose offsets addr2line, on the unstripped
original, maps back to the marked lines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import unittest
from collections import defaultdict
from pathlib import Path

from memtrace_e2e import TIMEOUT, memtrace, memtrace_json, program, run_plain, run_traced

SOURCE_DIR = Path(os.environ.get("MEMTRACE_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SOURCE = SOURCE_DIR / "tests" / "programs" / "leak_cxx_sites.cc"
BASENAME = SOURCE.name

# marker -> (the function memtrace must name on the marked line, as c++filt prints it; whether that
# frame is an inlined call; the name valgrind gives the frame: it names inlined calls by DW_AT_name).
SITES = {
    "template_member": ("sites::Pool<long>::Make(unsigned long)", False, None),
    "inlined_helper": ("sites::InlinedHelper(unsigned long)", True, "InlinedHelper"),
    "lambda": ("sites::MakeCallback()::{lambda(unsigned long)#1}::operator()(unsigned long) const", False,
               None),
    "before_throw": ("sites::Thrower(unsigned long)", False, None),
    "constructor_array": ("sites::Buffer::Buffer(unsigned long)", False, None),
    "buffer_object": ("sites::MakeBuffer(unsigned long)", False, None),
    "holder_object": ("sites::FillHolder(int)", False, None),
    "vector_growth": ("sites::FillHolder(int)", False, None),
    "libc_strdup": ("sites::CopyName()", False, None),
}
# A site's caller that must follow it in the stack: marker -> (caller marker, caller function).
CALLERS = {
    "inlined_helper": ("inlined_caller", "sites::OuterOfInlined(unsigned long)"),
    "lambda": ("lambda_caller", "sites::CallThrough(std::function<void* (unsigned long)>&, unsigned long)"),
}
CLASS_WORDS = {"definitely lost": "definite", "indirectly lost": "indirect",
               "possibly lost": "possible", "still reachable": "reachable"}
VALGRIND = shutil.which("valgrind")
ADDR2LINE = shutil.which("addr2line")
NM = shutil.which("nm")
STRIP = shutil.which("strip")
READELF = shutil.which("readelf")


def markers() -> dict[str, int]:
    found = {}
    for number, line in enumerate(SOURCE.read_text().splitlines(), start=1):
        m = re.search(r"// LEAK:(\w+)", line)
        if m:
            found[m.group(1)] = number
    return found


def own(frame: dict) -> bool:
    return os.path.basename(frame["file"]) == BASENAME


def function_symbols(binary: str) -> list[tuple[int, int, str]]:
    """(start, size, demangled name) of every function the binary defines."""
    out = subprocess.run([NM, "-C", "-S", "--defined-only", binary], capture_output=True, text=True,
                         check=True).stdout
    symbols = []
    for line in out.splitlines():
        m = re.match(r"([0-9a-f]+) ([0-9a-f]+) [tTwW] (.*)$", line)
        if m:
            symbols.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3)))
    return symbols


def addr2line_chains(binary: str, offsets: list[int]) -> dict[int, list[tuple[str, int]]]:
    """offset -> [(file basename, line)] innermost inlined call first, for the call at offset - 1."""
    out = subprocess.run([ADDR2LINE, "-i", "-a", "-e", binary, *[hex(o - 1) for o in offsets]],
                         capture_output=True, text=True, check=True).stdout
    chains: dict[int, list[tuple[str, int]]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("0x"):
            current = int(line, 16) + 1
            chains[current] = []
            continue
        file, _, number = line.rpartition(":")
        number = re.match(r"\d+", number)
        number = int(number.group(0)) if number else 0
        chains[current].append((os.path.basename(file) if number else "", number))
    return chains


_RECORD = re.compile(r"^==\d+== ([\d,]+)(?: \(([\d,]+) direct, [\d,]+ indirect\))? bytes in ([\d,]+) blocks "
                     r"are (definitely lost|indirectly lost|possibly lost|still reachable) in loss record")
_FRAME = re.compile(r"^==\d+==\s+(?:at|by) 0x[0-9A-Fa-f]+: (.*?) \(([^()]*):(\d+)\)$")


def valgrind_sites(text: str) -> dict[tuple[str, int, str], list[int]]:
    """(class, line, function) of the innermost frame in the program's source -> [bytes, blocks]."""
    sites: dict[tuple[str, int, str], list[int]] = defaultdict(lambda: [0, 0])
    record = None
    for line in text.splitlines():
        m = _RECORD.match(line)
        if m:
            direct = int((m.group(2) or m.group(1)).replace(",", ""))
            record = (CLASS_WORDS[m.group(4)], direct, int(m.group(3).replace(",", "")))
            continue
        m = _FRAME.match(line)
        if m and record and m.group(2) == BASENAME:
            totals = sites[(record[0], int(m.group(3)), m.group(1))]
            totals[0] += record[1]
            totals[1] += record[2]
            record = None  # only the innermost own frame names the site
    return dict(sites)


class CxxStacks(unittest.TestCase):
    maxDiff = 8000

    @classmethod
    def setUpClass(cls):
        cls.binary = os.path.realpath(program("leak_cxx_sites"))
        cls.markers = markers()
        cls.workdir = tempfile.mkdtemp(prefix="memtrace-cxx-stacks-")
        cls.plain = run_plain([cls.binary])
        cls.traced = run_traced([cls.binary], cls.workdir)
        cls.leaks = memtrace_json("leaks", cls.traced.trace, "--show", "all") if cls.traced.trace else None

    def own_groups(self) -> list[dict]:
        """The groups whose stack passes through the program's source, each with its site's marker."""
        line_to_marker = {line: name for name, line in self.markers.items()}
        groups = []
        for group in self.leaks["groups"]:
            frames = [f for f in group["stack"] if own(f)]
            if frames:
                groups.append((line_to_marker.get(frames[0]["line"]), frames[0], group))
        return groups

    def test_markers_cover_every_site(self):
        self.assertLessEqual(set(SITES) | {c for c, _ in CALLERS.values()}, set(self.markers))

    def test_output_exit_code_and_exception_unchanged(self):
        self.assertEqual(self.plain.returncode, 7, self.plain.stderr)
        self.assertIn(b"caught: thrown after a leak\nexception caught two frames up\n", self.plain.stdout)
        self.assertEqual((self.traced.returncode, self.traced.stdout), (self.plain.returncode, self.plain.stdout))
        self.assertEqual(self.traced.stderr, b"")

    def test_each_site_named_at_its_marked_line(self):
        groups = self.own_groups()
        found = defaultdict(int)
        for marker, frame, group in groups:
            context = f"\n{frame}\nstack: {[(f['function'], f['line'], f['inlined']) for f in group['stack']]}"
            self.assertIn(marker, SITES, f"a leak's innermost own frame is on no marked line{context}")
            function, inlined, _ = SITES[marker]
            self.assertEqual(frame["function"], function, marker + context)
            self.assertEqual(frame["inlined"], inlined, marker + context)
            self.assertEqual(os.path.realpath(frame["module"]), self.binary, marker + context)
            if marker in CALLERS:
                caller_marker, caller_function = CALLERS[marker]
                own_frames = [f for f in group["stack"] if own(f)]
                self.assertIn((caller_function, self.markers[caller_marker], False),
                              [(f["function"], f["line"], f["inlined"]) for f in own_frames[1:]],
                              marker + context)
            found[marker] += 1
        self.assertEqual(dict(found), {name: 1 for name in SITES})

    def test_inlined_frame_shares_its_callers_address(self):
        for marker, frame, group in self.own_groups():
            if not SITES[marker][1]:
                continue
            index = group["stack"].index(frame)
            outer = group["stack"][index + 1:]
            self.assertTrue(outer, marker)
            # The inlined call and the function it was inlined into come from one return address.
            self.assertEqual(outer[0]["address"], frame["address"], marker)

    @unittest.skipUnless(NM, "nm is not installed")
    def test_functions_match_the_symbol_table(self):
        symbols = function_symbols(self.binary)
        checked = 0
        for group in self.leaks["groups"]:
            for frame in group["stack"]:
                if frame["inlined"] or os.path.realpath(frame["module"]) != self.binary:
                    continue
                pc = frame["module_offset"] - 1
                names = {name for start, size, name in symbols if start <= pc < start + size}
                self.assertIn(frame["function"], names, f"{frame}")
                checked += 1
        self.assertGreater(checked, 10)

    @unittest.skipUnless(ADDR2LINE, "addr2line is not installed")
    def test_lines_and_inline_chains_match_addr2line(self):
        by_address: dict[int, list[dict]] = {}
        for group in self.leaks["groups"]:
            stack = group["stack"]
            for frame in stack:
                if os.path.realpath(frame["module"]) == self.binary:
                    by_address.setdefault(frame["module_offset"], [])
            for offset in by_address:
                chain = [f for f in stack if f["module_offset"] == offset and
                         os.path.realpath(f["module"]) == self.binary]
                if chain:
                    by_address[offset] = chain
        chains = addr2line_chains(self.binary, sorted(by_address))
        self.assertGreater(len(chains), 10)
        for offset, frames in by_address.items():
            ours = [(os.path.basename(f["file"]), f["line"]) for f in frames]
            self.assertEqual(ours, chains[offset], f"offset {offset:#x}: {frames}")
            self.assertEqual([f["inlined"] for f in frames], [True] * (len(frames) - 1) + [False])

    @unittest.skipUnless(VALGRIND, "valgrind is not installed")
    def test_sites_and_bytes_match_valgrind(self):
        log = os.path.join(self.workdir, "valgrind.txt")
        proc = subprocess.run([VALGRIND, "--leak-check=full", "--show-leak-kinds=all", "--num-callers=40",
                               f"--log-file={log}", self.binary], capture_output=True, timeout=TIMEOUT,
                              env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
        self.assertEqual(proc.returncode, 7)
        theirs = valgrind_sites(Path(log).read_text(errors="replace"))
        ours: dict[tuple[str, int, str], list[int]] = defaultdict(lambda: [0, 0])
        for marker, frame, group in self.own_groups():
            function, inlined, valgrind_name = SITES[marker]
            key = (group["kind"], frame["line"], valgrind_name if inlined else function)
            ours[key][0] += group["direct_bytes"]
            ours[key][1] += group["blocks"]
        self.assertEqual(dict(ours), theirs)
        # And the program's design: every own block lost, directly or through a lost owner.
        self.assertEqual({k for k, _, _ in theirs}, {"definite", "indirect"})

    def marked_site_of(self, chains: dict[int, list[tuple[str, int]]], offsets: list[int]):
        """The marker of the innermost source line in the program's file, over offsets' addr2line chains."""
        line_to_marker = {line: name for name, line in self.markers.items()}
        for offset in offsets:
            for file, line in chains.get(offset, []):
                if file == BASENAME:
                    return line_to_marker.get(line)
        return None

    @unittest.skipUnless(READELF and ADDR2LINE, "readelf or addr2line is not installed")
    def test_libc_frame_named_from_its_separate_debug_file(self):
        groups = [g for m, _, g in self.own_groups() if m == "libc_strdup"]
        self.assertEqual(len(groups), 1)
        frame = groups[0]["stack"][0]
        libc = os.path.realpath(frame["module"])
        self.assertRegex(os.path.basename(libc), r"^libc[.-]")
        notes = subprocess.run([READELF, "-n", libc], capture_output=True, text=True).stdout
        build_id = re.search(r"Build ID: ([0-9a-f]+)", notes)
        self.assertIsNotNone(build_id)
        debug_file = Path("/usr/lib/debug/.build-id") / build_id.group(1)[:2] / (build_id.group(1)[2:] + ".debug")
        if not debug_file.exists():
            self.skipTest(f"no separate debug file for {libc} ({debug_file}): install libc6-dbg")
        # libc.so.6 itself is stripped: a file and a line can only have come from the debug file.
        self.assertIn(frame["function"], ("strdup", "__strdup"))
        chain = addr2line_chains(libc, [frame["module_offset"]])[frame["module_offset"]]
        ours = [(os.path.basename(f["file"]), f["line"]) for f in groups[0]["stack"]
                if f["address"] == frame["address"]]
        self.assertEqual(ours, chain)
        self.assertGreater(frame["line"], 0)

    @unittest.skipUnless(STRIP and ADDR2LINE, "strip or addr2line is not installed")
    def test_stripped_copy_falls_back_to_module_offset(self):
        stripped = os.path.join(self.workdir, "leak_cxx_sites_stripped")
        shutil.copy(self.binary, stripped)
        subprocess.run([STRIP, "--strip-all", stripped], check=True)
        run = run_traced([stripped], self.workdir)
        self.assertEqual((run.returncode, run.stdout), (self.plain.returncode, self.plain.stdout))
        leaks = memtrace_json("leaks", run.trace, "--show", "all")
        sites = []
        for group in leaks["groups"]:
            mine = [f for f in group["stack"] if os.path.realpath(f["module"]) == stripped]
            if not mine:
                continue
            for frame in mine:
                # No symbols, no DWARF: a frame is its module and offset, nothing made up.
                self.assertEqual((frame["file"], frame["line"], frame["inlined"]), ("", 0, False), frame)
            offsets = [f["module_offset"] for f in mine]
            site = self.marked_site_of(addr2line_chains(self.binary, offsets), offsets)
            self.assertIsNotNone(site, f"{group}")
            sites.append(site)
        self.assertEqual(sorted(sites), sorted(SITES))
        text = memtrace("leaks", run.trace, "--show", "all").stdout.decode()
        self.assertRegex(text, re.escape(f"(in {stripped}+0x"))


if __name__ == "__main__":
    unittest.main()
