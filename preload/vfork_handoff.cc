#include "preload/vfork_handoff.h"

namespace memtrace::preload {

bool PrepareVfork(ThreadState& thread, VforkHandoff& handoff, uint32_t caller_tid) {
  if (thread.depth != 0 || thread.vfork_parent != 0) return false;
  handoff.caller_tid = caller_tid;
  handoff.end_reason = 0;
  handoff.end_status = 0;
  handoff.exec_path[0] = 0;
  handoff.pending = true;
  handoff.child_entered = false;
  thread.depth = 1;
  return true;
}

void EnterVforkChild(ThreadState& thread, VforkHandoff& handoff, uint32_t child_pid) {
  if (!handoff.pending) return;
  handoff.parent = thread;
  handoff.parent.depth = 0;  // as it was before PrepareVfork
  ThreadState child;
  child.tid = child_pid;
  child.generation = thread.generation;  // the same trace: Append must not take it for a fork child
  child.vfork_parent = handoff.caller_tid;
  // Shared with the parent thread, as the memory is: libunwind's per-thread state and the arena the
  // thread allocates from.
  child.unwound = thread.unwound;
  child.arena_heaps = thread.arena_heaps;
  thread = child;
  handoff.child_entered = true;
}

void NoteVforkChildEnd(VforkHandoff& handoff, format::EndReason reason, int status, const char* path) {
  handoff.end_reason = static_cast<uint8_t>(reason);
  handoff.end_status = status;
  size_t length = 0;
  for (; path && path[length] && length + 1 < sizeof handoff.exec_path; ++length) {
    handoff.exec_path[length] = path[length];
  }
  handoff.exec_path[length] = 0;
}

ThreadState ResumeVforkParent(ThreadState& thread, VforkHandoff& handoff) {
  ThreadState child;
  if (!handoff.pending) return child;
  if (handoff.child_entered) {
    child = thread;
    thread = handoff.parent;
    thread.dropped += child.dropped;
    thread.unwound = thread.unwound || child.unwound;
    thread.arena_heaps = child.arena_heaps;
  } else {
    thread.depth = 0;
  }
  handoff.pending = false;
  handoff.child_entered = false;
  return child;
}

}  // namespace memtrace::preload
