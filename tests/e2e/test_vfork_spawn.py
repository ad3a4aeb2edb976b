"""vfork and posix_spawn under the preload, against strace -f, the kernel's witness.

A vfork child runs in its parent's memory until it execs or exits: its mallocs change the parent's
heap (and break, and mappings), so the parent's trace must hold them, but as the child's (tid = its
pid, after a "vfork child" record), never as the calling thread's. The parent writes a "vfork" record
when it resumes, saying how the child left (exec'd path, _exit status). posix_spawn's child runs
glibc-internal code only; the call is recorded with glibc's transient child stack (mapped and unmapped
inside the call with libc's internal mmap, which no hook sees), whose length and protection must be the
ones strace shows.
"""
import collections
import os
import unittest

from memtrace_e2e import (E2ETestCase, calls, differences_beyond_unwinder, memtrace, program, run_plain,
                          summary)
from real_programs import _is_maps_buffer, memtrace_mappings, page_up
import json

STRACE_CALLS = "brk,mmap,munmap,vfork,clone,clone3,execve"


def maps_verify(trace):
    proc = memtrace("maps", trace, "--verify", "--json")
    return json.loads(proc.stdout)["verify"]


class VforkSpawnTest(E2ETestCase):
    def run_mode(self, mode, name="vfork_children"):
        argv = [program(name), mode]
        plain = run_plain(argv)
        run = self.traced(argv, strace=True, strace_calls=STRACE_CALLS)
        self.assertEqual((run.returncode, run.stdout), (plain.returncode, plain.stdout), run.stderr[-2000:])
        self.assertEqual(run.returncode, 0, run.stdout)
        # The same, traced without strace (strace serializes the vfork children).
        quiet = self.traced(argv)
        self.assertEqual((quiet.returncode, quiet.stdout), (plain.returncode, plain.stdout))
        return run

    def before_exec(self, run, pid):
        """strace's calls of `pid` up to its successful execve (a vfork child's time in our memory)."""
        mine = []
        for c in run.strace:
            if c.pid != pid:
                continue
            if c.name == "execve" and c.result == 0:
                break
            mine.append(c)
        return mine

    def vfork_children_of(self, run, threads=None):
        """strace's vfork results, by the traced process's threads (strace -f names each by its tid)."""
        threads = threads or {run.pid}
        return [c.result for c in run.strace if c.pid in threads and c.name == "vfork" and c.result > 0]

    def assertConsistent(self, trace):
        s = summary(trace)
        self.assertTrue(s["trace"]["complete"], s["trace"])
        self.assertEqual(s["consistency"], {"double_allocations": 0, "unknown_releases": 0,
                                            "mismatched_releases": 0}, s["consistency"])
        self.assertEqual(differences_beyond_unwinder(maps_verify(trace)["differences"]), [])
        return s

    def timeline(self, trace):
        if trace not in self._timelines:
            proc = memtrace("maps", trace, "--timeline", "--json")
            self._timelines[trace] = json.loads(proc.stdout)["timeline"]
        return self._timelines[trace]

    def setUp(self):
        super().setUp()
        self._timelines = {}

    def assertChildAccountMatchesStrace(self, run, records, child):
        """The child's mappings and break moves in the trace are exactly strace's before its exec."""
        theirs = self.before_exec(run, child)
        # The preload's own /proc/self/maps read buffer, if the periodic maps check fell due in the child.
        buffers = [c for c in theirs if c.name == "mmap" and _is_maps_buffer(theirs, c)]
        theirs = [c for c in theirs if c not in buffers and not (
            c.name == "munmap" and any(c.arg(0) == b.result for b in buffers))]
        # A thread's arena, when the thread's first malloc is its vfork child's: glibc reserves twice
        # the heap size and trims it to an aligned 64 MiB. The trace has it as an "arena heap" birth
        # under the child's pid, inside the reservation strace saw.
        arenas = [c for c in theirs
                  if c.name == "mmap" and c.args[2] == "PROT_NONE" and "MAP_NORESERVE" in c.args[3]]
        births = [t for t in self.timeline(run.trace) if t["change"] == "birth" and t["cause"] == "arena heap"
                  and t["tid"] == child]
        self.assertEqual(len(births), len(arenas), (births, arenas))
        for arena, birth in zip(arenas, births):
            self.assertTrue(arena.result <= birth["start"] and birth["end"] <= arena.result + arena.arg(1))
            self.assertEqual(birth["end"] - birth["start"], 64 << 20)
        inside = lambda c: any(a.result <= c.arg(0) < a.result + a.arg(1) for a in arenas)
        theirs = [c for c in theirs if c not in arenas and not (c.name == "munmap" and inside(c))]
        mine = [c for c in records if c["tid"] == child]
        maps, unmaps = memtrace_mappings(mine)
        strace_maps = sorted((c.result, page_up(c.arg(1))) for c in theirs
                             if c.name == "mmap" and c.args[4].strip() == "-1")
        strace_unmaps = sorted((c.arg(0), page_up(c.arg(1))) for c in theirs if c.name == "munmap")
        self.assertEqual(sorted(m[:2] for m in maps), strace_maps, theirs)
        self.assertEqual(sorted(m[:2] for m in unmaps), strace_unmaps, theirs)
        strace_moves = [c.result for c in theirs if c.name == "brk" and c.args[0] != "NULL"]
        trace_moves = [c["brk_after"] for c in mine if "brk_after" in c]
        self.assertEqual(trace_moves, strace_moves)

    def test_child_allocates_then_execs(self):
        run = self.run_mode("exec")
        children = self.vfork_children_of(run)
        self.assertEqual(len(children), 1, children)
        child = children[0]
        records = calls(run.trace)
        # One vfork, as strace saw, with the same result; the child announced itself and its exec.
        events = [(c["call"], c.get("pid"), c.get("child_end"), c.get("child_exec"))
                  for c in records if c.get("process_event")]
        self.assertEqual(events, [("vfork child", child, None, None), ("vfork", child, "exec", "/bin/true")])
        # The child's calls are the child's: strace saw them under its pid, the trace has them under it.
        by_tid = collections.defaultdict(list)
        for c in records:
            if not c.get("process_event"):
                by_tid[c["tid"]].append((c["call"], c.get("size")))
        self.assertEqual(by_tid[child], [("malloc", 1000), ("malloc", 2000), ("malloc", 300000),
                                         ("free", None), ("free", None)])
        self.assertNotIn(("malloc", 2000), by_tid[run.pid])
        self.assertChildAccountMatchesStrace(run, records, child)
        # The parent frees the block the child left; the heap the trace rebuilds has no double or
        # unknown release, and the maps at exit equal the kernel's.
        s = self.assertConsistent(run.trace)
        self.assertEqual(s["processes"]["vforks"], 1)
        (vc,) = s["processes"]["vfork_children"]
        self.assertEqual((vc["pid"], vc["calls"], vc["end"], vc["exec"]), (child, 5, "exec", "/bin/true"))
        self.assertEqual(s["trace"]["end"], "exit")
        # The exec'd image's trace continues the child's pid and names the parent's trace.
        (other,) = [t for t in run.traces if t != run.trace]
        t = summary(other)["trace"]
        self.assertEqual((t["pid"], t["exec_generation"], t["parent_trace"]), (child, 1, run.trace))

    def test_children_exit(self):
        run = self.run_mode("exit")
        child, quiet = self.vfork_children_of(run)
        self.assertEqual(len(run.traces), 1, run.traces)  # _exit: no image of its own
        records = calls(run.trace)
        mine = [(c["call"], c.get("size")) for c in records if c["tid"] == child]
        self.assertEqual(mine, [("vfork child", None), ("malloc", 4321), ("free", None)])
        self.assertChildAccountMatchesStrace(run, records, child)
        # The second child made no call: nothing under its pid, only its parent's record of it.
        self.assertEqual([c for c in records if c["tid"] == quiet], [])
        ends = [(c["pid"], c["child_end"], c["child_status"]) for c in records if c["call"] == "vfork"]
        self.assertEqual(ends, [(child, "_exit", 5), (quiet, "_exit", 3)])
        s = self.assertConsistent(run.trace)
        self.assertEqual([(x["pid"], x["calls"]) for x in s["processes"]["vfork_children"]],
                         [(child, 2), (quiet, 0)])
        # The child's _exit(5) is not the parent's end.
        self.assertEqual((s["trace"]["end"], s["trace"]["exit_status"]), ("exit", 0))

    def test_two_threads_vfork_while_a_third_allocates(self):
        run = self.run_mode("threads")
        # strace's clones: the churn thread and the second vforking thread.
        clones = [c.result for c in run.strace if c.pid == run.pid and c.name in ("clone", "clone3")]
        self.assertEqual(len(clones), 2, clones)
        threads = {run.pid, *clones}
        children = self.vfork_children_of(run, threads)
        self.assertEqual(len(children), 20)
        # Which thread each child borrowed the memory of, as strace saw the vfork calls.
        borrowed = {c.result: c.pid for c in run.strace if c.name == "vfork" and c.pid in threads}
        self.assertEqual(len(set(borrowed.values())), 2, borrowed)
        records = calls(run.trace)
        self.assertEqual(sorted((c["tid"], c["pid"]) for c in records if c["call"] == "vfork"),
                         sorted((borrowed[child], child) for child in children))
        # The second thread's first malloc is its first child's: that child made the thread's arena.
        arena_births = [t["tid"] for t in self.timeline(run.trace) if t["cause"] == "arena heap"
                        and t["change"] == "birth" and t["tid"] in children]
        self.assertEqual(len(arena_births), 1, arena_births)
        for child in children:
            mine = [(c["call"], c.get("size"), c.get("parent_tid")) for c in records if c["tid"] == child]
            self.assertEqual(mine, [("vfork child", None, borrowed[child]), ("malloc", 777, None),
                                    ("free", None, None)], child)
            self.assertChildAccountMatchesStrace(run, records, child)
        s = self.assertConsistent(run.trace)
        self.assertEqual(s["processes"]["vfork_child_calls"], 40)
        self.assertEqual(s["trace"]["threads"], 3)  # main, churn, second; the children's chunks are not
        self.assertEqual(len(run.traces), 21)  # 20 exec'd images of /bin/true

    def test_posix_spawn_and_its_transient_stack(self):
        self.check_spawn("vfork_children", "PROT_READ|PROT_WRITE")

    def test_posix_spawn_stack_is_executable_when_the_program_asks(self):
        self.check_spawn("vfork_children_execstack", "PROT_READ|PROT_WRITE|PROT_EXEC")

    def check_spawn(self, name, expected_prot):
        run = self.run_mode("spawn", name)
        s = self.assertConsistent(run.trace)
        spawns = s["processes"]["spawns"]
        self.assertEqual([(x["call"], x["path"], x["result"]) for x in spawns],
                         [("posix_spawn", "/bin/true", 0), ("posix_spawnp", "true", 0),
                          ("posix_spawn", "/bin/true", 0), ("posix_spawn", "/nonexistent/program", 2)])
        # strace: one clone per spawn, and around each one mmap + munmap of the child's stack.
        mine = [c for c in run.strace if c.pid == run.pid]
        clones = [c for c in mine if c.name in ("clone", "clone3")]
        self.assertEqual(len(clones), len(spawns))
        self.assertEqual([x["pid"] for x in spawns if x["result"] == 0], [c.result for c in clones][:3])
        stacks = [c for c in mine if c.name == "mmap" and "MAP_STACK" in c.args[3]]
        self.assertEqual({c.args[2] for c in stacks}, {expected_prot})
        prot = {"PROT_READ|PROT_WRITE": 3, "PROT_READ|PROT_WRITE|PROT_EXEC": 7}
        self.assertEqual([(x["stack_length"], x["stack_prot"]) for x in spawns],
                         [(c.arg(1), prot[c.args[2]]) for c in stacks])
        self.assertEqual([x["stack_length"] for x in spawns][2], 40960)  # 600 arguments
        unmaps = [(c.arg(0), c.arg(1)) for c in mine if c.name == "munmap"]
        for c in stacks:
            self.assertIn((c.result, c.arg(1)), unmaps)
        timeline = json.loads(memtrace("maps", run.trace, "--timeline", "--json").stdout)["timeline"]
        transient = [c["end"] - c["start"] for c in timeline if c["change"] == "transient"]
        self.assertEqual(transient, [x["stack_length"] for x in spawns])
        # The spawned images name the parent's trace as their parent's.
        children = [t for t in run.traces if t != run.trace]
        self.assertEqual(len(children), 3)
        for t in children:
            header = summary(t)["trace"]
            self.assertEqual((header["ppid"], header["parent_trace"]), (run.pid, run.trace))
        self.assertEqual(sorted(summary(t)["trace"]["pid"] for t in children),
                         sorted(x["pid"] for x in spawns if x["result"] == 0))

    def test_failed_vfork_sets_errno_as_glibc_does(self):
        # A seccomp filter fails the system call with EAGAIN: -1 and errno EAGAIN, traced as untraced
        # (run_mode compares stdout, which prints both, and the exit code, which checks them).
        run = self.run_mode("fail")
        self.assertIn(b"vfork = -1, errno EAGAIN", run.stdout)
        failed = [c for c in run.strace if c.name == "vfork" and c.errno]
        self.assertEqual([c.errno for c in failed], ["EAGAIN"])
        records = calls(run.trace)
        self.assertEqual([(c["result"], c.get("errno")) for c in records if c["call"] == "vfork"],
                         [(self.vfork_children_of(run)[0], None), (-1, 11)])
        s = self.assertConsistent(run.trace)
        self.assertEqual((s["processes"]["vforks"], s["processes"]["failed_vforks"]), (1, 1))

    def test_run_lists_each_child_trace_with_its_origin(self):
        out = os.path.join(self.workdir, "v.mtr")
        for mode, relation in (("exec", "exec'd; continues pid"), ("spawn", "child of pid")):
            proc = memtrace("run", "-o", out + "." + mode, "--", program("vfork_children"), mode,
                            cwd=self.workdir)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            err = proc.stderr.decode()
            lines = [l.strip() for l in err.splitlines() if " (true" in l]
            self.assertEqual(len(lines), 1 if mode == "exec" else 3, err)
            for line in lines:
                self.assertIn(relation, line)
                self.assertIn(f"{out}.{mode}", line.split(relation)[1])  # the parent's trace


if __name__ == "__main__":
    unittest.main()
