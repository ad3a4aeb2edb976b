// Records about the process as a whole, written from lifecycle and process hooks.
#pragma once

#include "format/record_kind.h"
#include "preload/thread_state.h"

namespace memtrace::preload {

// Writes the current /proc/self/maps as kMapEntry records followed by a kMapsSnapshotEnd.
void EmitMapsSnapshot(ThreadState& thread, format::SnapshotReason reason);

// In a fork child, before it runs anything else: the child gets a trace of its own that names the
// parent's. Run by fork's atfork handler, and by the _Fork hook (which runs no atfork handlers).
void AfterForkInChild();

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
