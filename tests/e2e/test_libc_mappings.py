"""Mappings made behind the program's back, which no hook sees: libc's internal mmap of locale files
and the gconv cache, a gconv module loaded with libc's internal dlopen, and a file mapped with a raw
mmap system call. memtrace finds them with /proc/self/maps snapshots taken after setlocale/iconv_open
and by its periodic check; at exit its reconstruction equals the kernel's own map (`maps --verify`),
and strace confirms each of those mappings was made while the program ran, not at start."""
import json
import unittest

from memtrace_e2e import E2ETestCase, memtrace, program, run_plain

PERIODIC = "maps-snapshot (periodic check)"
AFTER_LIBC = "maps-snapshot (after setlocale/newlocale/iconv_open)"


class LibcMappingsTest(E2ETestCase):
    def run_program(self, verify_exit=0, **env):
        plain = run_plain([program("libc_mappings")])
        run = self.traced([program("libc_mappings")], strace=True, strace_calls="mmap,openat",
                          env={"MEMTRACE_STACKS": "0", **env})
        self.assertEqual((run.returncode, run.stdout), (plain.returncode, plain.stdout))
        self.assertEqual(run.stdout, b"locale C.UTF-8 iconv open raw mmap mapped\n")
        proc = memtrace("maps", run.trace, "--json", "--timeline", "--verify")
        self.assertEqual(proc.returncode, verify_exit, proc.stderr)  # 3: the verification found differences
        return run, json.loads(proc.stdout)

    def discovered(self, maps):
        return [c for c in maps["timeline"] if c["change"] == "discovered" and c["time_ns"] > 0]

    def test_found_when_made_and_the_exit_map_equals_the_kernels(self):
        run, maps = self.run_program()
        self.assertEqual(maps["verify"]["differences"], [], maps["verify"])
        found = self.discovered(maps)
        by_path = {}
        for c in found:
            by_path.setdefault(c["path"], c)
        # The locale archive pieces and the gconv cache appear right after the calls that mapped them.
        for path in ("/usr/lib/locale/C.utf8/LC_CTYPE", "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache",
                     "/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so"):
            self.assertIn(path, by_path, sorted(by_path))
            self.assertEqual(by_path[path]["cause"], AFTER_LIBC, by_path[path])
            self.assertEqual(by_path[path]["origin"], "loader")
        # The raw mmap of the executable's first page: only the periodic check can see it.
        exe = [c for c in found if c["path"].endswith("/libc_mappings") and c["cause"] == PERIODIC]
        self.assertEqual(len(exe), 1, found)
        self.assertEqual(exe[0]["end"] - exe[0]["start"], 4096)
        # strace, the kernel's witness: each mapping found lies in memory some mmap of the run returned
        # (libc's internal ones included), and the locale and gconv files were opened while it ran.
        mapped = [(c.result, c.result + (c.arg(1) + 4095) // 4096 * 4096) for c in run.strace
                  if c.name == "mmap" and c.result and c.result > 0]
        for c in found:
            self.assertTrue(any(b <= c["start"] and c["end"] <= e for b, e in mapped), c)
        for path in ("LC_CTYPE", "gconv-modules.cache", "UTF-16.so"):
            self.assertTrue([c for c in run.strace if c.name == "openat" and path in c.args[1]], path)

    def test_periodic_check_off(self):
        # MEMTRACE_MAPS_INTERVAL_MS=0: the raw mapping is found only by the exit snapshot, so verify
        # reports it (the libc calls' snapshots still find the rest).
        run, maps = self.run_program(MEMTRACE_MAPS_INTERVAL_MS="0", verify_exit=3)
        self.assertFalse([c for c in maps["timeline"] if c["cause"] == PERIODIC])
        differences = maps["verify"]["differences"]
        kernel_only = [d for d in differences if d["in_kernel_only"]]
        self.assertEqual(len(kernel_only), 1, differences)
        self.assertTrue(kernel_only[0]["path"].endswith("/libc_mappings"), differences)

if __name__ == "__main__":
    unittest.main()
