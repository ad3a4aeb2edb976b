// The hand-off of a thread's trace state between a vfork parent and its child.
//
// A vfork child runs in its parent's memory, on the calling thread's stack and with its TLS (the
// thread pointer is copied), until it execs or exits; the calling thread sleeps meanwhile. Without a
// hand-off the child's allocator calls would land in that thread's chunk under the thread's tid. With it:
//
//   PrepareVfork       parent, before the system call: marks the thread busy (depth 1), so a signal
//                      handler allocating while the state changes hands is counted as dropped instead
//                      of appending to a chunk that is about to be swapped out
//   EnterVforkChild    child, first thing after the call returns 0: sets the parent's state aside and
//                      gives the child a fresh one (no chunk yet, tid = the child's pid, vfork_parent =
//                      the calling thread's tid). If the child makes a call, its records go to a chunk
//                      of its own in the parent's trace, whose tid is the child's pid and whose first
//                      record (kVforkChild, written by Append) names it. A child that only execs or
//                      exits takes no chunk: most vfork children do just that.
//   NoteVforkChildEnd  child, in its exec and _exit/exit hooks: how it leaves, kept here for the parent
//                      (the memory is shared) to record when it resumes.
//   ResumeVforkParent  parent, once the call returns there (the child has exec'd or exited): puts the
//                      parent's state back, adds what the child counted as dropped, and hands back the
//                      child's state so the caller can release its chunk.
//
// Concurrency contract: a VforkHandoff is the calling thread's (initial-exec TLS). Only that thread
// and its vfork child touch it, never at the same time: the kernel keeps the thread suspended until
// the child releases the memory. Nested vforks (a vfork child calling vfork) are not handed off: the
// grandchild's calls are recorded as the child's.
#pragma once

#include "format/record_kind.h"
#include "preload/thread_state.h"

namespace memtrace::preload {

struct VforkHandoff {
  ThreadState parent;          // the calling thread's state while its child runs
  uint32_t caller_tid = 0;     // the calling thread's tid
  bool pending = false;        // PrepareVfork ran and the matching return has not been seen yet
  bool child_entered = false;  // the child took its fresh state (false if vfork failed, or the child
                               // was killed before it ran)
  // How the child left, as it last said (an exec that failed, then _exit(127), says _exit): 0 while
  // unknown (killed by a signal).
  uint8_t end_reason = 0;    // format::EndReason
  int32_t end_status = 0;    // _exit/exit status
  char exec_path[256] = {};  // what it exec'd (NUL-terminated, truncated; empty for fexecve)
};

// False when this vfork is not handed off: the thread is inside a hook or memtrace's own work (its
// calls go unrecorded anyway), or is itself a vfork child. `caller_tid`: gettid() of the calling
// thread (ThreadState::tid may still be 0, or stale in a fork child that has not recorded yet).
bool PrepareVfork(ThreadState& thread, VforkHandoff& handoff, uint32_t caller_tid);

// `child_pid`: the child's own pid (gettid in the child).
void EnterVforkChild(ThreadState& thread, VforkHandoff& handoff, uint32_t child_pid);

void NoteVforkChildEnd(VforkHandoff& handoff, format::EndReason reason, int status, const char* path);

// Returns the state the child left (chunk null if it wrote nothing, or never ran).
ThreadState ResumeVforkParent(ThreadState& thread, VforkHandoff& handoff);

}  // namespace memtrace::preload
