"""Shared by test_real_programs*.py: the real programs of this image (python3, perl, bash, git, gcc, ...)
that the tests run untraced, traced under strace, and under heaptrack, and the comparisons.

What is compared, exactly
-------------------------
* Behaviour: stdout, exit code and the files a program writes are the same traced and untraced.
* Traces: every process (fork children, exec'd images: gcc's cc1/as/collect2/ld, bash's pipeline,
  make's shells) wrote a trace that reads, is complete and ends in "exit" or "exec".
* Break (main process, strace run): the brk calls strace saw after the preload initialised (the openat
  of the trace file marks the moment; see test_brk_vs_strace.py) that moved the break are exactly the
  moves `memtrace brk --json` lists, in order, with the same initial and final break.
* mmap/munmap (main process, strace run). memtrace claims two kinds of mappings: the program's own
  mmap/mmap64 calls (through the PLT: the program and the libraries it calls, e.g. Python's obmalloc,
  git's pack files) and the mappings glibc's malloc gave mmapped chunks (read from the chunk headers and
  reported as `mapping{base,length}` on the allocation, and on its release). Each claim must be one
  distinct mmap (same address and page-rounded length) that strace saw in that process after the
  preload initialised, or, for a chunk realloc grew in place, one mremap; each claimed release one
  munmap of exactly that range. Conversely every strace mmap after initialisation that memtrace does not
  claim must be one of the kinds memtrace accounts for otherwise, each recognisable in strace -y output:
    trace file      MAP_SHARED of the .mtr file (memtrace's own writer)
    loader          a shared object (dlopen after start-up: python's extension modules, perl's XS,
                    gconv and NSS modules) or the anonymous MAP_FIXED zero-fill of its .bss; ld.so maps
                    these with its internal mmap, which no interposer sees (memtrace: library events)
    libc data file  locale files, gconv-modules.cache, locale-archive: mapped inside glibc without the
                    PLT (memtrace: /proc/self/maps snapshots)
    spawn stack     MAP_STACK of exactly the length a posix_spawn record says glibc's transient child
                    stack had, one per record (memtrace: posix_spawn records; make spawns its shells)
    thread stack    MAP_STACK (memtrace: thread-stack records from pthread_create)
    arena heap      PROT_NONE|MAP_NORESERVE reservation of a thread arena (memtrace: arena-heap records)
    memtrace        MAP_NORESERVE scratch (stack table, exit-time leak scan), the /proc/self/maps read
                    buffers (256 KiB * 4^k, unmapped at once) and the unwinder's own mappings (recorded
                    as memtrace's own); all made with raw syscalls or from the unwinder, not the program
  Anything else is an unexplained mmap: a program mapping memtrace missed. Mappings made before the
  preload initialised (the loader's start-up) are not compared: no trace existed yet.
* Calls (main process, heaptrack run): heaptrack 1.4 hooks malloc, calloc, realloc, posix_memalign,
  valloc and aligned_alloc (src/track/heaptrack_preload.cpp), counts only successful calls (a malloc
  returning NULL, realloc(p, 0), failed calloc are not counted), counts realloc as an allocation, and
  sees operator new through libstdc++'s call to malloc and reallocarray through glibc's call to realloc
  (both go through the PLT, so its hooks see them; memtrace records only the outer call). memtrace's
  comparable set is therefore: malloc, calloc, realloc, reallocarray, posix_memalign, valloc,
  aligned_alloc and every operator new, with a non-NULL result (memalign and pvalloc: heaptrack does not
  hook them, and glibc does not route them through a hooked symbol).
  The totals are compared; when they differ, the failure shows both per-size histograms
  (heaptrack_print -H writes one line per requested size) side by side, which says where. Known
  differences, removed before comparing:
    - heaptrack's preload links libstdc++, whose start-up allocates a 72704-byte emergency pool: one
      extra malloc(72704) in every program that does not load libstdc++ itself;
    - heaptrack does not follow fork children or exec'd images (it unsets LD_PRELOAD at start), so only
      the main process is compared;
    - nothing for the environment: both runs give the program two variables of the preload's
      (LD_PRELOAD and DUMP_HEAPTRACK_OUTPUT, LD_PRELOAD and MEMTRACE_OUTPUT); heaptrack unsets its
      own only at its first hooked call, after the C runtime has handed the program its environment
      (bash, which copies every variable, makes 7 calls per variable in both runs: measured). The
      values' lengths differ, so per-size counts differ where a program copies them; totals do not.
      Both runs get the same PWD (heaptrack's script exports it) and equally long directory names.
  What remains is small and within 1%: memtrace counts a few more calls in perl (+10 of 42k), make
  (+14 of 1.9k) and git (+2 of 626), python3 one fewer (7420 vs 7421). heaptrack stops recording in
  its atexit handler, which runs before library destructors and before atexit handlers registered
  before its first hooked call; memtrace records up to its own destructor.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from memtrace_e2e import (LIBRARY, TIMEOUT, Syscall, break_history, memtrace_json, parse_strace,
                          preload_initialised_at)

PAGE = 4096
STRACE_CALLS = "brk,mmap,munmap,mremap,openat,execve,clone,clone3,fork,vfork"
# Requested sizes of what heaptrack's own start-up allocates in a program (libstdc++'s emergency pool).
HEAPTRACK_OWN_SIZE = 72704
# memtrace's comparable calls (see the docstring): those heaptrack hooks, plus operator new, which
# heaptrack sees as the malloc/aligned_alloc libstdc++ makes for it.
HEAPTRACK_COMPARABLE = {"malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "valloc", "aligned_alloc",
                        "operator new", "operator new[]", "operator new(align)", "operator new[](align)"}

# Fixed so every run of a program does the same work: hash seeds, locale, time zone, git identity
# and dates (a commit's hash depends on them), no user configuration.
FIXED_ENV = {
    "LC_ALL": "C", "LANG": "C", "TZ": "UTC",
    "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
    "PERL_HASH_SEED": "0", "PERL_PERTURB_KEYS": "0",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Real Program", "GIT_AUTHOR_EMAIL": "real@example.org",
    "GIT_COMMITTER_NAME": "Real Program", "GIT_COMMITTER_EMAIL": "real@example.org",
    "GIT_AUTHOR_DATE": "2024-01-02T03:04:05Z", "GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z",
    "MAKEFLAGS": "", "MFLAGS": "",
}

PYTHON_SCRIPT = r"""
import json, hashlib, collections
words = collections.Counter()
rows = []
for i in range(20000):
    key = "k%05d" % (i * 7919 % 20000)
    rows.append({"id": i, "key": key, "tags": [key[:3], str(i % 97)]})
    words[key[:3]] += 1
text = json.dumps(sorted(rows, key=lambda r: r["key"]))
print(len(text), hashlib.sha256(text.encode()).hexdigest()[:16], len(words), words.most_common(1))
"""

PERL_SCRIPT = r"""
my %h;
for my $i (1 .. 20000) { my $k = sprintf("k%05d", ($i * 7919) % 20000); $h{$k} .= "v$i,"; }
my @keys = sort { $h{$a} cmp $h{$b} } keys %h;
my $joined = join(";", map { "$_=$h{$_}" } @keys[0 .. 99]);
print scalar(@keys), " ", length($joined), " ", substr($joined, 0, 40), "\n";
"""

CMAKE_SCRIPT = r"""
set(items "")
foreach(i RANGE 1 400)
  math(EXPR sq "${i} * ${i}")
  list(APPEND items "item-${sq}")
endforeach()
list(REVERSE items)
list(LENGTH items n)
string(REPLACE "item-" "x" joined "${items}")
string(LENGTH "${joined}" len)
string(SHA256 digest "${joined}")
message("items ${n} length ${len} ${digest}")
"""

HELLO_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int cmp(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }
int main(void) {
  char* words[] = {"pear", "apple", "fig", "kiwi"};
  qsort(words, 4, sizeof words[0], cmp);
  for (int i = 0; i < 4; ++i) printf("%s\n", words[i]);
  return 0;
}
"""

MAKEFILE = """\
all: c.txt
\t@echo made $$(cat c.txt | wc -c)
a.txt:
\t@printf 'alpha\\n' > $@
b.txt: a.txt
\t@sed 's/alpha/beta/' a.txt > $@
c.txt: a.txt b.txt
\t@cat a.txt b.txt | sort > $@
.PHONY: all
"""


@dataclasses.dataclass
class Program:
    name: str
    argv: list[str]                                 # run in a fresh directory; {inputs} = shared inputs
    setup: Optional[Callable[[str, dict], None]] = None   # prepares that directory (untraced)
    outputs: tuple[str, ...] = ()                   # files (relative) that must be identical afterwards
    min_traces: int = 1                             # processes the program is known to create
    stdout_sha_only: bool = False                   # compare stdout by digest (big outputs)


def _git_setup(directory: str, env: dict) -> None:
    # Files dated well before the index: otherwise an entry written in the index's second is "racily
    # clean" and `git commit` hashes it again, a few allocations more or less depending on the clock.
    old = time.time() - 60
    for name, text in (("README", "real programs\n"), ("a.c", HELLO_C), ("notes.txt", "x" * 5000)):
        Path(directory, name).write_text(text)
        os.utime(Path(directory, name), (old, old))
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "."]):
        subprocess.run(argv, cwd=directory, env=env, check=True, capture_output=True, timeout=TIMEOUT)


def _copy(*names: str) -> Callable[[str, dict], None]:
    def setup(directory: str, env: dict) -> None:
        for name in names:
            shutil.copy(os.path.join(env["REAL_INPUTS"], name), directory)
    return setup


PROGRAMS = [
    # The scripts are files, not -c/-e text: heaptrack writes the command line into its line-based
    # format unescaped, and a newline in an argument leaves it with an empty profile.
    Program("python3", ["/usr/bin/python3", "{inputs}/work.py"]),
    Program("perl", ["perl", "{inputs}/work.pl"]),
    # Five processes besides bash: the pipeline's four children (fork, then exec) and `wc` of the
    # command substitution; each fork child's trace ends in "exec", each image writes its own.
    Program("bash_pipes", ["bash", "-c", "seq 1 30000 | grep 7 | sort -r | tail -3; echo words $(echo a b c | wc -w)"],
            min_traces=9),
    Program("git_commit", ["git", "commit", "-m", "first commit"], setup=_git_setup),
    # The driver runs cc1, as and collect2 (which runs ld): one trace for each, plus the fork sides.
    Program("gcc", ["gcc", "-O1", "-o", "hello", "hello.c"], setup=_copy("hello.c"), outputs=("hello",),
            min_traces=4),
    Program("cmake_script", ["cmake", "-P", "script.cmake"], setup=_copy("script.cmake")),
    Program("sort", ["sort", "{inputs}/data.txt"], stdout_sha_only=True),
    Program("gzip", ["gzip", "-c", "{inputs}/data.txt"], stdout_sha_only=True),
    Program("gunzip", ["gunzip", "-c", "{inputs}/data.txt.gz"], stdout_sha_only=True),
    Program("find", ["find", "/usr/include", "-name", "*.h", "-size", "+8k"]),
    Program("awk", ["awk", "{ n[substr($1, 1, 3)]++; t += length($0) } END { c = 0; for (k in n) c++; print NR, c, t }",
                    "{inputs}/data.txt"]),
    Program("tar_create", ["tar", "-cf", "-", "-C", "{inputs}", "tree"], stdout_sha_only=True),
    Program("tar_extract", ["tar", "-xf", "{inputs}/tree.tar"], outputs=("tree/file-00.txt", "tree/sub/file-19.txt")),
    # make runs each recipe line through /bin/sh (fork + exec, or posix_spawn).
    Program("make", ["make", "-s", "-f", "Makefile"], setup=_copy("Makefile"), outputs=("c.txt",), min_traces=2),
]


def prepare_inputs(directory: str) -> None:
    """The shared inputs: a 5 MB text file (and its gzip), a small tree and its tar, the C file, the
    Makefile and the cmake script. Deterministic: the same bytes every time."""
    rng = random.Random(1)
    with open(os.path.join(directory, "data.txt"), "w") as f:
        while f.tell() < 5 * 1024 * 1024:
            f.write("%08x %s\n" % (rng.getrandbits(32), "x" * rng.randint(0, 40)))
    with open(os.path.join(directory, "data.txt"), "rb") as src, \
            gzip.GzipFile(os.path.join(directory, "data.txt.gz"), "wb", mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    tree = os.path.join(directory, "tree")
    os.makedirs(os.path.join(tree, "sub"))
    for i in range(20):
        sub = "sub" if i % 2 else ""
        Path(tree, sub, f"file-{i:02d}.txt").write_text(f"file {i}\n" * (200 * (i + 1)))
    for root, dirs, files in os.walk(tree):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (1700000000, 1700000000))
    os.utime(tree, (1700000000, 1700000000))
    with tarfile.open(os.path.join(directory, "tree.tar"), "w", format=tarfile.GNU_FORMAT) as tar:
        tar.add(tree, arcname="tree")
    Path(directory, "hello.c").write_text(HELLO_C)
    Path(directory, "Makefile").write_text(MAKEFILE)
    Path(directory, "script.cmake").write_text(CMAKE_SCRIPT)
    Path(directory, "work.py").write_text(PYTHON_SCRIPT)
    Path(directory, "work.pl").write_text(PERL_SCRIPT)


def program_env(inputs: str, home: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MEMTRACE_OUTPUT")}
    env.update(FIXED_ENV)
    env["HOME"] = home
    env["REAL_INPUTS"] = inputs
    return env


def expand(argv: list[str], inputs: str) -> list[str]:
    return [a.replace("{inputs}", inputs) for a in argv]


# ---------------------------------------------------------------------------------------------------
# Running


@dataclasses.dataclass
class Run:
    directory: str
    returncode: int
    stdout: bytes
    stderr: bytes
    traces: dict[str, int] = dataclasses.field(default_factory=dict)  # trace path -> pid
    main_trace: Optional[str] = None       # the main process's first image
    main_final_trace: Optional[str] = None  # and its last (differs if it exec'd: gunzip)
    main_pid: Optional[int] = None
    strace: Optional[list[Syscall]] = None
    seconds: float = 0.0


def fresh_directory(parent: str, prog: Program, env: dict, label: str) -> str:
    directory = tempfile.mkdtemp(prefix=f"{prog.name}-{label}-", dir=parent)
    if prog.setup:
        prog.setup(directory, env)
    return directory


def run_untraced(prog: Program, parent: str, inputs: str, env: dict) -> Run:
    directory = fresh_directory(parent, prog, env, "untr")
    env = dict(env, PWD=directory)
    proc = subprocess.run(expand(prog.argv, inputs), cwd=directory, env=env, capture_output=True,
                          timeout=TIMEOUT)
    return Run(directory, proc.returncode, proc.stdout, proc.stderr)


def run_traced_under_strace(prog: Program, parent: str, inputs: str, env: dict) -> Run:
    """The traced run: under the preload, and under `strace -f -y` (fd paths shown, so the trace file,
    shared objects and libc's data files are recognisable). strace gets the preload through -E, so it
    is not traced itself."""
    import time
    directory = fresh_directory(parent, prog, env, "trac")
    env = dict(env, PWD=directory)
    trace_dir = tempfile.mkdtemp(prefix="traces-", dir=parent)
    strace_path = os.path.join(trace_dir, "strace.txt")
    pattern = os.path.join(trace_dir, "trace.%p.mtr")
    command = ["strace", "-f", "-y", "-qq", "-e", f"trace={STRACE_CALLS}", "-o", strace_path,
               "-E", f"LD_PRELOAD={LIBRARY}", "-E", f"MEMTRACE_OUTPUT={pattern}", *expand(prog.argv, inputs)]
    began = time.monotonic()
    proc = subprocess.run(command, cwd=directory, env=env, capture_output=True, timeout=TIMEOUT)
    run = Run(directory, proc.returncode, proc.stdout, proc.stderr, seconds=time.monotonic() - began)
    for name in os.listdir(trace_dir):
        m = re.fullmatch(r"trace\.(\d+)\.mtr(?:\.\d+)?", name)
        if m:
            run.traces[os.path.join(trace_dir, name)] = int(m.group(1))
    run.strace = parse_strace(strace_path)
    first = run.strace[0].pid if run.strace else None
    # The main process's first image: its pid is strace's first, and its name has no exec suffix.
    path = os.path.join(trace_dir, f"trace.{first}.mtr")
    if path in run.traces:
        run.main_trace, run.main_pid = path, first
        images = [p for p, pid in run.traces.items() if pid == first]
        run.main_final_trace = max(images, key=lambda p: (len(p), p))  # trace.N.mtr < trace.N.mtr.1 < ...
    return run


def processes(run: Run) -> set[int]:
    """The pids of the processes strace saw (not threads): the first, and every child of a fork, vfork
    or clone without CLONE_THREAD."""
    pids = {run.strace[0].pid} if run.strace else set()
    for c in run.strace:
        if c.name in ("clone", "clone3", "fork", "vfork") and c.result and c.result > 0 \
                and "CLONE_THREAD" not in c.line and "CLONE_THREAD" not in ",".join(c.args):
            pids.add(c.result)
    return pids


def run_heaptrack(prog: Program, parent: str, inputs: str, env: dict) -> tuple[int, collections.Counter, str]:
    """Runs the program under heaptrack; returns heaptrack_print's "calls to allocation functions", its
    per-size histogram, and the raw footer (for messages)."""
    directory = fresh_directory(parent, prog, env, "heap")
    out = os.path.join(parent, f"{prog.name}.heaptrack")
    # heaptrack's script exports PWD; every run here sets it (to its own directory). The run
    # directories' names have equal lengths ("untr", "trac", "heap") so that a program copying its
    # working directory or environment allocates the same sizes in every run.
    env = dict(env, PWD=directory)
    proc = subprocess.run(["heaptrack", "-o", out, *expand(prog.argv, inputs)], cwd=directory, env=env,
                          capture_output=True, timeout=TIMEOUT)
    data = [p for p in os.listdir(parent) if p.startswith(f"{prog.name}.heaptrack")]
    if not data:
        raise AssertionError(f"heaptrack wrote no data (exit {proc.returncode}): {proc.stdout[-1000:]!r} "
                             f"{proc.stderr[-1000:]!r}")
    histogram_path = os.path.join(parent, f"{prog.name}.histogram")
    printed = subprocess.run(["heaptrack_print", "-f", os.path.join(parent, data[0]), "-p", "0", "-a", "0",
                              "-T", "0", "-H", histogram_path], capture_output=True, timeout=TIMEOUT)
    text = printed.stdout.decode(errors="replace")
    m = re.search(r"calls to allocation functions: (\d+)", text)
    if not m:
        raise AssertionError(f"heaptrack_print printed no call count: {text[-1500:]}")
    histogram = collections.Counter()
    with open(histogram_path) as f:
        for line in f:
            size, count = line.split()
            histogram[int(size)] += int(count)
    return int(m.group(1)), histogram, text[text.find("total runtime"):]


# ---------------------------------------------------------------------------------------------------
# memtrace's side


def comparable_histogram(records: list[dict]) -> collections.Counter:
    """memtrace's calls that heaptrack counts too, by requested size (calloc: count * size)."""
    histogram = collections.Counter()
    for c in records:
        if c["call"] in HEAPTRACK_COMPARABLE and c.get("address"):
            histogram[c["size"]] += 1
    return histogram


def page_up(n: int) -> int:
    return (n + PAGE - 1) // PAGE * PAGE


def memtrace_mappings(records: list[dict]) -> tuple[list[tuple], list[tuple]]:
    """What memtrace claims the kernel mapped and unmapped for this process: (base, length, text)."""
    maps, unmaps = [], []
    for c in records:
        call = c["call"]
        if call in ("mmap", "mmap64"):
            if c.get("address") not in (None, 2**64 - 1, -1):
                maps.append((c["address"], page_up(c["length"]), c["text"]))
        elif call == "munmap":
            if c.get("result", 0) == 0:
                unmaps.append((c["address"], page_up(c["length"]), c["text"]))
        elif "mapping" in c:
            m = c["mapping"]
            key = (m["base"], page_up(m["length"]), c["text"])
            if call.startswith("free") or call.startswith("operator delete") or call == "realloc(release)":
                unmaps.append(key)
            else:
                maps.append(key)
    return maps, unmaps


# ---------------------------------------------------------------------------------------------------
# strace's side

_FD = re.compile(r"^(-?\d+)(?:<(.*)>)?$")


def fd_of(arg: str) -> tuple[int, str]:
    m = _FD.match(arg.strip())
    if not m:
        return -1, ""
    return int(m.group(1)), m.group(2) or ""


def flags_of(arg: str) -> set[str]:
    return set(arg.split("|"))


@dataclasses.dataclass
class MappingComparison:
    kernel_mmaps: int = 0                 # strace's successful mmaps in the process after initialisation
    kernel_munmaps: int = 0
    claimed: int = 0                      # memtrace's mappings (program mmaps + mmapped chunks)
    claimed_unmaps: int = 0
    classes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    unmatched_claims: list[str] = dataclasses.field(default_factory=list)
    unmatched_unmaps: list[str] = dataclasses.field(default_factory=list)
    unexplained: list[str] = dataclasses.field(default_factory=list)
    missed_unmaps: list[str] = dataclasses.field(default_factory=list)

    def brief(self) -> str:
        """"ours N = strace's N (+ mremaps), strace's other M: kind count, ..." """
        matched = self.classes["memtrace-claimed"]
        others = ", ".join(f"{k} {v}" for k, v in sorted(self.classes.items()) if k != "memtrace-claimed")
        remaps = self.claimed - len(self.unmatched_claims) - matched
        return (f"ours {self.claimed} = strace's {matched}" + (f" + {remaps} mremap" if remaps else "") +
                f"; strace's other {self.kernel_mmaps - matched}: {others}")


def compare_mappings(syscalls: list[Syscall], pid: int, start: int, records: list[dict]) -> MappingComparison:
    result = MappingComparison()
    maps, unmaps = memtrace_mappings(records)
    result.claimed, result.claimed_unmaps = len(maps), len(unmaps)
    mine = [c for c in syscalls if c.pid == pid and c.index >= start and c.result is not None and c.errno is None]
    by_range = collections.defaultdict(list)   # (address, length) -> strace mmaps/mremaps not yet claimed
    for c in mine:
        if c.name == "mmap":
            by_range[(c.result, page_up(c.arg(1)))].append(c)
        elif c.name == "mremap":
            by_range[(c.result, page_up(c.arg(2)))].append(c)
    claimed_calls = set()
    claimed_ranges = []
    for base, length, text in maps:
        candidates = by_range.get((base, length))
        if candidates:
            call = candidates.pop(0)
            claimed_calls.add(call.index)
            claimed_ranges.append((base, base + length))
        else:
            result.unmatched_claims.append(f"{text}: mapping {base:#x}+{length:#x}")
    unmap_ranges = collections.defaultdict(list)
    for c in mine:
        if c.name == "munmap" and c.result == 0:
            unmap_ranges[(c.arg(0), page_up(c.arg(1)))].append(c)
    claimed_unmap_calls = set()
    for base, length, text in unmaps:
        candidates = unmap_ranges.get((base, length))
        if candidates:
            claimed_unmap_calls.add(candidates.pop(0).index)
        else:
            result.unmatched_unmaps.append(f"{text}: unmapping {base:#x}+{length:#x}")
    # posix_spawn's transient child stacks: known by length only (glibc maps and unmaps them inside the
    # call, unseen), each record's stack must be one MAP_STACK mmap strace saw.
    spawn_stacks = collections.Counter(c["transient_mapping"]["length"] for c in records
                                       if "transient_mapping" in c)
    # Classify what memtrace does not claim.
    library_ranges = []
    for c in mine:
        if c.name != "mmap":
            continue
        result.kernel_mmaps += 1
        if c.index in claimed_calls:
            result.classes["memtrace-claimed"] += 1
            continue
        flags = flags_of(c.args[3])
        fd, path = fd_of(c.args[4])
        length = c.arg(1)
        if fd >= 0:
            if path.endswith(".mtr"):
                kind = "trace file"
            elif ".so" in os.path.basename(path) or "MAP_DENYWRITE" in flags:
                kind = "loader"
                library_ranges.append((c.result, c.result + page_up(length)))
            elif path.startswith("/usr/lib/locale/") or "/gconv/" in path:
                kind = "libc data file"
            else:
                kind = "unexplained"
        elif "MAP_STACK" in flags and spawn_stacks[page_up(length)] > 0:
            spawn_stacks[page_up(length)] -= 1
            kind = "spawn stack"
        elif "MAP_STACK" in flags:
            kind = "thread stack"
        elif c.args[2] == "PROT_NONE" and "MAP_NORESERVE" in flags:
            kind = "arena heap"
        elif "MAP_FIXED" in flags and any(lo <= c.result < hi for lo, hi in library_ranges):
            kind = "loader"
        elif "MAP_NORESERVE" in flags or _is_maps_buffer(mine, c):
            kind = "memtrace"
        elif length in (PAGE, 256 << 10) and c.args[2] == "PROT_READ|PROT_WRITE":
            # The unwinder's caches (libunwind 1.6 maps them with a raw syscall, so no hook sees them):
            # one page for its memory pool, 256 KiB for its register-state cache.
            kind = "unwinder"
        else:
            kind = "unexplained"
        result.classes[kind] += 1
        if kind == "unexplained":
            result.unexplained.append(c.line)
    for length, missing in spawn_stacks.items():
        result.unmatched_claims += [f"posix_spawn child stack of {length} bytes"] * missing
    # A munmap strace saw of a range memtrace claimed, which memtrace did not report: walked in order,
    # so a range counts only while it is mapped (addresses are reused).
    live = {}  # claimed ranges still mapped: start -> end
    for c in mine:
        if c.name == "munmap" and c.result == 0:
            result.kernel_munmaps += 1
        if c.index in claimed_calls:
            if c.name == "mremap":
                live.pop(c.arg(0), None)
                live[c.result] = c.result + page_up(c.arg(2))
            else:
                live[c.result] = c.result + page_up(c.arg(1))
        elif c.name == "munmap" and c.result == 0:
            lo, hi = c.arg(0), c.arg(0) + page_up(c.arg(1))
            hit = [b for b, e in live.items() if b < hi and lo < e]
            if c.index not in claimed_unmap_calls and hit:
                result.missed_unmaps.append(c.line)
            for b in hit:
                del live[b]
    return result


def _is_maps_buffer(calls: list[Syscall], mmap: Syscall) -> bool:
    """The preload's /proc/self/maps read buffer: 256 KiB * 4^k, anonymous, unmapped by the next
    munmap of the same thread."""
    length = mmap.arg(1)
    size = 256 << 10
    while size < length:
        size *= 4
    if size != length:
        return False
    for c in calls:
        if c.index > mmap.index and c.pid == mmap.pid and c.name == "munmap":
            return c.arg(0) == mmap.result and c.arg(1) == length
    return False


def compare_break(syscalls: list[Syscall], start: int, trace: str):
    """(memtrace's brk --json timeline, strace's BreakHistory) for one process's calls."""
    return memtrace_json("brk", trace), break_history(syscalls, start)


def main_process_calls(run: Run) -> tuple[list[Syscall], int]:
    """The main process's first image in the strace log: its calls up to its first successful execve
    (gunzip is a shell script that execs gzip; the next image writes trace.PID.mtr.1), and the index
    where the preload had initialised in it."""
    start = preload_initialised_at(run.strace, run.main_trace)
    mine = []
    for c in run.strace:
        if c.pid != run.main_pid:
            continue
        if c.index >= start and c.name == "execve" and c.result == 0:
            break
        mine.append(c)
    return mine, start


def maps_verify(trace: str) -> dict:
    """`memtrace maps TRACE --verify --json`'s verify object. The command exits 3 when the reconstruction
    and the kernel's map differ; the JSON is printed either way."""
    from memtrace_e2e import memtrace
    proc = memtrace("maps", trace, "--verify", "--json")
    if proc.returncode not in (0, 3):
        raise AssertionError(f"memtrace maps --verify exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return json.loads(proc.stdout)["verify"]


def describe_differences(verify: dict) -> str:
    parts = []
    for d in verify["differences"][:12]:
        side = "kernel only" if d["in_kernel_only"] else "memtrace only"
        parts.append(f"{d['start']:#x}-{d['end']:#x} ({(d['end'] - d['start']) // 1024} KiB) {d['mode']} "
                     f"{d['path'] or '[anon]'} {side}")
    return "; ".join(parts)
