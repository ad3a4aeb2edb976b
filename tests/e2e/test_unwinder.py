"""memtrace's own .eh_frame unwinder, proved equal to libunwind on real stacks.

With MEMTRACE_UNWIND_CHECK=FILE the preload unwinds every stack twice, with its own unwinder and with
libunwind's unw_backtrace, compares the two after the same filtering, appends a "difference ..."
line per stack on which they disagree and, at each process's exit, "compared pid P N stacks,
differences D". The witness is libunwind itself, run on the very same stacks. Every run below must
show no difference, and a "compared" line per traced process with N > 0 (so the check really ran).

Also: programs that unwind themselves (C++ exceptions, backtrace(), unw_backtrace) print the same
traced as untraced, -O2 code without frame pointers gets stacks as deep as its recursion, and
MEMTRACE_UNWINDER=libunwind still records stacks.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unittest

from memtrace_e2e import memtrace, program, run_plain, run_traced

COMPARED = re.compile(rb"^compared pid (\d+) (\d+) stacks, differences (\d+)$")


class UnwinderCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="memtrace-unwinder-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def checked_run(self, argv, *, cwd=None, min_processes=1, min_stacks=1, env=None):
        """Runs argv traced in check mode; asserts zero differences and returns the run and the
        {pid: stacks compared} of every process that exited normally."""
        check = os.path.join(self.dir, f"check-{len(os.listdir(self.dir))}.txt")
        full_env = {"MEMTRACE_UNWIND_CHECK": check}
        full_env.update(env or {})
        run = run_traced(argv, self.dir, env=full_env, cwd=cwd)
        self.assertEqual(run.returncode, 0, run.stderr.decode(errors="replace")[-2000:])
        self.assertTrue(os.path.exists(check), "the check file was never written")
        with open(check, "rb") as f:
            lines = f.read().splitlines()
        differences = [line for line in lines if line.startswith(b"difference")]
        self.assertEqual(differences, [], f"{argv}: {len(differences)} stacks differ, e.g. {differences[:3]}")
        compared = {}
        for line in lines:
            m = COMPARED.match(line)
            if m:
                compared[int(m.group(1))] = int(m.group(2))
                self.assertEqual(int(m.group(3)), 0)
        self.assertGreaterEqual(len(compared), min_processes, f"{argv}: {lines[-5:]}")
        self.assertGreaterEqual(sum(compared.values()), min_stacks, f"{argv}: {compared}")
        return run, compared

    # -- the test programs ------------------------------------------------------------------------

    def test_test_programs(self):
        cases = {
            "malloc_loop": ["1000", "200"],
            "threads_cross_free": ["3000"],
            "leaky": [],
            "leak_cases": ["tree"],
            "leak_cxx": [],
            "export_sites": [],
            "alloc_phases": ["200"],
            "errno_calls": [],
            "replay_map": ["3000"],
            "robust_threads64": ["2", "64"],
            "robust_signal_alloc": ["400"],  # stacks through the kernel's signal frame
            "unwind_users": [],
            "deep_nofp": ["60"],
        }
        for name, args in cases.items():
            with self.subTest(program=name):
                _, compared = self.checked_run([program(name), *args], min_stacks=5)
                self.assertGreater(sum(compared.values()), 0)

    def test_depth_caps(self):
        # The cap cuts both unwinds at the same frame (and the memo must replay only up to it).
        for depth in ("1", "3", "10"):
            with self.subTest(depth=depth):
                self.checked_run([program("deep_nofp"), "30"], env={"MEMTRACE_STACK_DEPTH": depth}, min_stacks=1000)

    def test_dlopen_dlclose_cycles(self):
        # Two libraries of identical code layout but different stack frames, loaded in turn at the same
        # address. libunwind is no witness here: its caches are never told of a dlclose and it gives
        # stale, truncated stacks (MEMTRACE_UNWIND_CHECK reports thousands of differences, all
        # libunwind's). The witness is the program's own call structure: every allocation in the
        # libraries is made under start_thread -> run_round -> level x N, for N = 1 .. depth + 1.
        libraries = [os.path.join(os.path.dirname(program("dl_cycle")), f"dl_cycle_lib{v}.so") for v in (1, 2)]
        run = run_traced([program("dl_cycle"), *libraries, "40"], self.dir)
        self.assertEqual(run.returncode, 0, run.stderr)
        folded = memtrace("export", run.trace, "--format", "folded", "-o", "-")
        self.assertEqual(folded.returncode, 0, folded.stderr)
        in_library = [line.rsplit(b" ", 1)[0] for line in folded.stdout.splitlines() if b"level" in line]
        for stack in in_library:
            self.assertRegex(stack, rb"(^|;)start_thread;run_round(;level)+$")
        depths = {stack.count(b";level") for stack in in_library}
        self.assertEqual(depths, set(range(1, 13)))  # depths 5 .. 11: 6 .. 12 levels, and every prefix

    # -- programs no one here wrote ---------------------------------------------------------------

    def test_python(self):
        self.checked_run(["python3", "-c",
                          "import json, collections\n"
                          "d = collections.Counter(str(i % 97) for i in range(20000))\n"
                          "print(len(json.dumps(d)))"], min_stacks=1000)

    def test_perl_and_bash(self):
        self.checked_run(["perl", "-e", "my %h; $h{$_} = $_ x 3 for 1 .. 20000; print scalar(keys %h), qq(\\n)"],
                         min_stacks=1000)
        self.checked_run(["bash", "-c", "for i in $(seq 1 200); do x=\"$x$i\"; done; echo ${#x} | tr 0-9 a-j"],
                         min_processes=2, min_stacks=100)

    def test_sort(self):
        data = os.path.join(self.dir, "data.txt")
        with open(data, "w") as f:
            f.writelines(f"{(i * 7919) % 10007} line {i}\n" for i in range(20000))
        self.checked_run(["sort", data], min_stacks=50)

    def test_gcc_compile(self):
        source = os.path.join(self.dir, "unit.c")
        with open(source, "w") as f:
            f.write("#include <stdio.h>\nstatic int sq(int x) { return x * x; }\n"
                    "int main(void) { for (int i = 0; i < 3; ++i) printf(\"%d\\n\", sq(i)); return 0; }\n")
        # gcc runs cc1 and as: each traced process checks its own stacks and reports.
        _, compared = self.checked_run(["gcc", "-O2", "-c", source, "-o", os.path.join(self.dir, "unit.o")],
                                       min_processes=3, min_stacks=1000)

    # -- the program's own unwinding, and stack depth ---------------------------------------------

    def test_program_unwinding_unchanged(self):
        plain = run_plain([program("unwind_users")])
        self.assertEqual(plain.returncode, 0)
        self.assertIn(b"caught: bottom reached after 13 frames", plain.stdout)
        self.assertIn(b"backtrace: 0 more frames at depth 10", plain.stdout)
        traced = run_traced([program("unwind_users")], self.dir)
        self.assertEqual(traced.returncode, 0, traced.stderr)
        self.assertEqual(traced.stdout, plain.stdout)

    def test_no_frame_pointer_code_gets_full_stacks(self):
        depth = 50
        for unwinder in ("default", "libunwind"):
            with self.subTest(unwinder=unwinder):
                env = {"MEMTRACE_UNWINDER": "libunwind"} if unwinder == "libunwind" else {}
                run = run_traced([program("deep_nofp"), str(depth)], self.dir, env=env)
                self.assertEqual(run.returncode, 0, run.stderr)
                folded = memtrace("export", run.trace, "--format", "folded", "-o", "-")
                self.assertEqual(folded.returncode, 0, folded.stderr)
                deepest = max(line.rsplit(b" ", 1)[0].count(b";") + 1 for line in folded.stdout.splitlines() if line)
                # descend() DEPTH times, then qsort's frames and the comparator, plus main.
                self.assertGreaterEqual(deepest, depth + 3, folded.stdout[:500])


if __name__ == "__main__":
    unittest.main()
