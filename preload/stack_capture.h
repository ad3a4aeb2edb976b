// Call stacks for events: unwound in the hook with memtrace's own .eh_frame unwinder (cfi_unwinder.h)
// or, if MEMTRACE_UNWINDER=libunwind, libunwind's cached fast path (unw_backtrace); deduplicated in
// process, written once per distinct stack. Symbolization happens offline; the trace carries the
// module list (path, load base, build id) for it.
//
// libunwind is dlopen'ed RTLD_LOCAL rather than linked (and only when selected or checked against):
// its exported backtrace() and _Unwind_* must not take the place of glibc's and libgcc's in the
// traced program.
//
// Environment: MEMTRACE_STACKS=0 turns stacks off; MEMTRACE_STACK_DEPTH (default 64) caps the frames;
// MEMTRACE_UNWINDER=libunwind selects libunwind; MEMTRACE_UNWIND_CHECK=FILE unwinds every stack both
// ways and appends to FILE one "difference ..." line per stack on which they disagree and, at exit, a
// "compared pid P N stacks, differences D" line.
#pragma once

#include <cstdint>

#include "preload/thread_state.h"

namespace memtrace::preload {

// Called once during initialization (and in a fork child). Returns true if stacks will be recorded.
bool InitializeStackCapture(bool after_fork);

// The id of the calling code's stack (0: stacks off or unavailable), writing its frames to the trace
// the first time it is seen. `timestamp` stamps that record. `hook_frame` is the frame of the hooked
// function (its return address is the program's call site), where the unwind starts; null: here.
uint32_t CaptureStack(ThreadState& thread, uint64_t timestamp, const void* hook_frame);

// True for an address inside the unwinder memtrace loaded: its own mmap/munmap calls (the per-thread
// frame cache, made on a thread's first unwind and unmapped at thread exit) are memtrace's work, not
// the program's.
bool IsUnwinderCode(uint64_t address);

// The unwinder's PC -> rule cache (in libmemtrace's .bss): memtrace's own memory, which the leak scan
// must not take for a root.
void UnwinderTableRange(const void** begin, const void** end);

// At the process's end: writes the check mode's summary line (nothing without MEMTRACE_UNWIND_CHECK).
void FinishStackCapture();

// Writes one module record per loaded object (executable, libraries, vdso).
void EmitModules(ThreadState& thread);

}  // namespace memtrace::preload
