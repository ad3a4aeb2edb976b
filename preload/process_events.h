// Records about the process as a whole, written from lifecycle and process hooks.
#pragma once

#include <stddef.h>

#include "format/record_kind.h"
#include "preload/thread_state.h"

namespace memtrace::preload {

// Writes the current /proc/self/maps as kMapEntry records followed by a kMapsSnapshotEnd.
void EmitMapsSnapshot(ThreadState& thread, format::SnapshotReason reason);

// In a fork child, before it runs anything else: the child gets a trace of its own that names the
// parent's. Run by fork's atfork handler, and by the _Fork hook (which runs no atfork handlers).
void AfterForkInChild();

// In a vfork child (ThreadState::vfork_parent set): notes how it gives its parent's memory back,
// `reason` kExec (of `path`), kUnderscoreExit or kExit with `status`, for the parent's kVfork record.
void NoteVforkChildEnd(format::EndReason reason, int status, const char* path);

// A copy of `envp` with MEMTRACE_PARENT_TRACE=<getpid()>:<this trace> in place of any old one, so the
// trace of the image it starts can name this one: the same pid after an exec (a vfork child's pid is
// its own), the parent's pid for a posix_spawn child. Built in `storage` (no allocation); returns envp
// unchanged if it does not fit or the new image will not be traced.
char* const* EnvironmentForExec(char* const* envp, char** storage, size_t capacity, char* entry,
                                size_t entry_size);
inline constexpr size_t kMaxEnvironment = 4096;

// At most one thread writes the records that end a process (exit, _exit or a fatal signal).
enum class EndClaim {
  kClaimed,          // the calling thread writes them
  kThisThread,       // the calling thread already is (a fault or signal interrupted it)
  kSignalElsewhere,  // another thread is dying from a fatal signal and will end the process
  kExitElsewhere,    // another thread is exiting
};
EndClaim ClaimEnd(bool fatal_signal);

// Writes the end of a process dying from `signo`: leak verdicts, the exit maps snapshot and a
// kProcessEnd record. Async-signal-safe; only for the thread that claimed the end.
// `program_stack`: where the handler's own frame ends (see RunLeakScan).
void WriteSignalEnd(int signo, const void* program_stack);

}  // namespace memtrace::preload
