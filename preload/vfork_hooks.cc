// vfork: the child borrows the parent's memory until it execs or exits, and memtrace records what it
// does there as the child's, in the parent's trace.
//
// The wrapper is written in assembly, as glibc's x86-64 vfork is: the child returns from vfork on the
// parent's stack and goes on using it, so it overwrites the slot of vfork's own return address and any
// frame below it. A C wrapper would return through a clobbered frame in the parent. Instead the return
// address is popped into %rdi before the system call (a register survives it and is per-process) and
// pushed back after; only then, with a valid frame of their own, does each side call into C:
//
//   vfork:  call memtrace_vfork_prepare        (parent: PrepareVfork, see vfork_handoff.h)
//           pop %rdi ; syscall(SYS_vfork) ; push %rdi
//           child  (rax = 0):  call memtrace_vfork_child   -> 0
//           parent (rax != 0): call memtrace_vfork_parent  -> the pid, or -1 with errno = -rax, as
//                                                             glibc's syscall error path sets it
//
// What the trace says: if the child makes calls, they are in a chunk of its own whose tid is the
// child's pid, after a kVforkChild record (its pid, the calling thread's tid): they change the heap and
// mappings the analyzer rebuilds (the memory is the parent's) but are attributed to the child. When the
// parent resumes it writes kVfork: vfork's result, and how the child left (exec of a path, or _exit
// with a status), which the child's exec and _exit hooks noted in the shared hand-off. A child that
// only execs or exits costs no chunk. A vfork child never takes the parent's exit-time work:
// lifecycle.cc and fatal_signals.cc compare getpid() with the traced pid, and the _exit/exit path only
// notes the child's end.
//
// CET shadow stacks (glibc 2.39+ can enable them) would need the child to skip vfork's return on the
// shared shadow stack as glibc's vfork does; libmemtrace.so is not built shadow-stack compatible, so
// loading it keeps them off.
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload/export.h"
#include "preload/hook_guard.h"
#include "preload/process_events.h"
#include "preload/vfork_handoff.h"

using memtrace::format::Record;
using memtrace::format::RecordKind;
using namespace memtrace::preload;

namespace memtrace::preload {

namespace {

__thread VforkHandoff vfork_handoff __attribute__((tls_model("initial-exec")));

}  // namespace

void NoteVforkChildEnd(format::EndReason reason, int status, const char* path) {
  NoteVforkChildEnd(vfork_handoff, reason, status, path);
}

}  // namespace memtrace::preload

extern "C" {

__attribute__((visibility("hidden"))) void memtrace_vfork_prepare() {
  int saved = errno;
  if (tracer_state.load(std::memory_order_acquire) == TracerState::kReady) {
    PrepareVfork(thread_state, vfork_handoff, CurrentTid());
  }
  errno = saved;
}

__attribute__((visibility("hidden"))) void memtrace_vfork_child() {
  if (!vfork_handoff.pending) return;
  int saved = errno;
  EnterVforkChild(thread_state, vfork_handoff, CurrentTid());
  errno = saved;
}

__attribute__((visibility("hidden"))) long memtrace_vfork_parent(long result) {
  bool failed = result < 0 && result > -4096;
  int error = failed ? static_cast<int>(-result) : 0;
  int saved = errno;
  bool handed_off = vfork_handoff.pending;
  ThreadState child = ResumeVforkParent(thread_state, vfork_handoff);
  if (child.chunk) ReleaseChunk(child);
  if (handed_off) {
    HookScope scope;
    if (scope.active()) {
      Record record;
      record.kind = RecordKind::kVfork;
      record.timestamp = NowNanoseconds();
      record.param = failed ? -1 : result;
      record.count = static_cast<uint32_t>(error);
      record.old_size = vfork_handoff.end_reason;
      record.size = static_cast<uint32_t>(vfork_handoff.end_status);
      record.bytes = reinterpret_cast<const uint8_t*>(vfork_handoff.exec_path);
      record.byte_count = static_cast<uint32_t>(strlen(vfork_handoff.exec_path));
      scope.Emit(record);
    }
  }
  errno = failed ? error : saved;
  return failed ? -1 : result;
}

}  // extern "C"

// The exported vfork (and glibc's alias __vfork). See the top of this file for why it is assembly.
asm(R"(
    .text
    .globl vfork
    .type vfork, @function
    .globl __vfork
    .type __vfork, @function
    .p2align 4
vfork:
__vfork:
    .cfi_startproc
    subq $8, %rsp
    .cfi_adjust_cfa_offset 8
    call memtrace_vfork_prepare
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq %rdi
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rdi
    movl $58, %eax
    syscall
    pushq %rdi
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rip, 0
    subq $8, %rsp
    .cfi_adjust_cfa_offset 8
    testq %rax, %rax
    jz 1f
    movq %rax, %rdi
    call memtrace_vfork_parent
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    ret
    .cfi_adjust_cfa_offset 8
1:
    call memtrace_vfork_child
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    xorl %eax, %eax
    ret
    .cfi_endproc
    .size vfork, .-vfork
    .size __vfork, .-__vfork
)");
