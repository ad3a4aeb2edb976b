"""`memtrace run -- PROG ARGS` is transparent: PROG's stdout byte for byte, its stdin, its exit code;
memtrace's own summary goes to stderr, and the trace to -o FILE."""

import json
import os
import unittest

from memtrace_e2e import E2ETestCase, memtrace, program, run_plain, summary


class RunCommandTest(E2ETestCase):
    def test_stdout_identical_and_exit_code_kept(self):
        for code in (3, 0, 1, 255):
            with self.subTest(code=code):
                argv = [program("stdout_exit"), str(code), "200000"]
                plain = run_plain(argv)
                self.assertEqual(plain.returncode, code)
                self.assertEqual(len(plain.stdout), 200000 + 4 * 2)  # 4 raw 3-byte writes replace 4 chars
                out = os.path.join(self.workdir, f"run-{code}.mtr")
                traced = memtrace("run", "-o", out, "--", *argv)
                self.assertEqual(traced.returncode, code, traced.stderr)
                self.assertTrue(traced.stdout == plain.stdout,
                                f"stdout differs: {len(traced.stdout)} bytes vs {len(plain.stdout)} untraced")
                self.assertIn(b"memtrace summary", traced.stderr)
                s = summary(out)
                self.assertTrue(s["trace"]["complete"], s["trace"])
                self.assertGreater(s["calls"]["malloc"], 40)
                # main returned: libc exits without calling the exported exit(), so the status may be unknown.
                self.assertIn(s["trace"]["exit_status"], (-1, code))

    def test_json_summary_goes_to_stderr(self):
        out = os.path.join(self.workdir, "j.mtr")
        argv = [program("malloc_loop"), "1000", "10"]
        proc = memtrace("run", "--json", "-o", out, "--", *argv)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, run_plain(argv).stdout)
        self.assertEqual(json.loads(proc.stderr)["calls"], summary(out)["calls"])

    def test_stdin_and_arguments_pass_through(self):
        data = b"".join(b"line %d\n" % ((i * 7919) % 1000) for i in range(5000))
        argv = ["sort", "-n", "-r", "-k", "2"]
        env = {"LC_ALL": "C"}
        plain = run_plain(argv, input=data, env=env)
        traced = memtrace("run", "-o", os.path.join(self.workdir, "sort.mtr"), "--", *argv, input=data, env=env)
        self.assertEqual(traced.returncode, 0, traced.stderr)
        self.assertEqual(traced.stdout, plain.stdout)
        self.assertGreater(summary(os.path.join(self.workdir, "sort.mtr"))["calls"]["total"], 0)

    def test_failing_program_exit_code_and_stderr_kept(self):
        # sort's own error (missing file) and exit code 2 pass through; memtrace adds its summary.
        missing = os.path.join(self.workdir, "missing-input")
        plain = run_plain(["sort", missing])
        traced = memtrace("run", "-o", os.path.join(self.workdir, "s.mtr"), "--", "sort", missing)
        self.assertEqual(traced.returncode, plain.returncode)
        self.assertNotEqual(plain.returncode, 0)
        self.assertTrue(traced.stderr.startswith(plain.stderr), traced.stderr)


if __name__ == "__main__":
    unittest.main()
