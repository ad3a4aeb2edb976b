"""Tracing must not change what a program does: every hooked call returns what it would have, with
the errno it would have set (and errno untouched by calls that succeed), so real programs print the
same output traced and untraced."""

import os
import sys
import unittest

from memtrace_e2e import E2ETestCase, program, run_plain, summary

PYTHON_SCRIPT = r"""
import errno, hashlib, json, os, sys
data = [{"k": i, "v": [str(j) * (i % 7) for j in range(i % 13)], "s": "x" * (i % 300)} for i in range(20000)]
blob = json.dumps(data, sort_keys=True).encode()
print(len(blob), hashlib.sha256(blob).hexdigest())
print(sorted(len(d["s"]) for d in data)[::997])
big = [bytearray(1 << 20) for _ in range(20)]      # mmapped blocks
del big
try:
    os.open("/nonexistent/memtrace-e2e", os.O_RDONLY)
except OSError as e:
    print("open:", errno.errorcode[e.errno])
try:
    bytearray(1 << 60)
except MemoryError:
    print("MemoryError")
try:
    os.read(12345, 10)
except OSError as e:
    print("read:", errno.errorcode[e.errno])
print(sum(len(str(x)) for x in range(300000)))
"""


class BehaviourTest(E2ETestCase):
    def compare(self, argv, env=None, input=None, min_calls=1):
        plain = run_plain(argv, env=env, input=input)
        run = self.traced(argv, env=env, input=input)
        self.assertEqual(run.returncode, plain.returncode, run.stderr)
        self.assertEqual(run.stdout.decode(errors="replace"), plain.stdout.decode(errors="replace"))
        self.assertEqual(run.stderr, plain.stderr)
        s = summary(run.trace)
        self.assertGreaterEqual(s["calls"]["total"], min_calls, "the preload recorded nothing")
        self.assertEqual(s["trace"]["dropped_calls"], 0)
        return run, plain

    def test_errno_after_every_hooked_call(self):
        run, plain = self.compare([program("errno_calls")], min_calls=10)
        self.assertIn(b"malloc(100)                              ok   errno=4242", plain.stdout)
        self.assertIn(b"errno=12", plain.stdout)
        s = summary(run.trace)
        for kind in ("mmap", "munmap", "mprotect", "madvise", "sbrk", "brk", "posix_memalign", "mallopt"):
            self.assertGreater(s["calls"][kind], 0, f"{kind} was not recorded")

    def test_python(self):
        env = {"PYTHONHASHSEED": "0"}
        self.compare([sys.executable, "-c", PYTHON_SCRIPT], env=env, min_calls=10000)

    def test_sort_file(self):
        path = os.path.join(self.workdir, "words.txt")
        with open(path, "w") as f:
            for i in range(200000):
                x = (i * 2654435761) % 4294967296
                f.write(f"{x:x} {'abcdefghij'[x % 10] * (x % 17)} {i}\n")
        env = {"LC_ALL": "C"}
        self.compare(["sort", path], env=env, min_calls=10)
        self.compare(["sort", "-k2,2", "-n", "-s", "-S", "1M", "-T", self.workdir, path], env=env, min_calls=10)
        run, _ = self.compare(["sort", "--parallel=2", "-r", path], env=env, min_calls=10)


if __name__ == "__main__":
    unittest.main()
