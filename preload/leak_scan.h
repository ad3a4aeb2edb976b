// The exit-time leak scan: which blocks still allocated are still reachable, possibly lost,
// indirectly lost or definitely lost, decided as valgrind's memcheck decides it, but in the native
// process at full speed.
//
// First every other thread is parked (thread_parking.h): stopped in a signal handler, its registers
// saved. The live blocks are then recovered by replaying this process's own trace (so the hooks keep
// no live-block table); roots are every readable, writable mapping except malloc's heaps and memtrace's
// own memory (module data and bss, thread stacks and TLS, other anonymous mappings), read only where
// /proc/self/pagemap says a page was ever touched (private mappings); each parked thread's registers;
// and the stacks from their stack pointers up: the calling thread's above its stack pointer, a parked
// thread's above its saved stack pointer less the 128-byte red zone (the dead part below is left out,
// as valgrind leaves it out). A thread that could not be parked (it blocks the signal, did not answer
// in time, or the program handles every realtime signal itself) has its whole stack mapping scanned and
// its registers unseen. The threads resume once the verdicts are written; a kThreadsParked record says
// how many were parked and skipped. All memory comes from mmap, never from the hooked allocator; cost is
// proportional to trace length plus touched root and live-heap size.
//
// Concurrency contract: runs once, at exit or at a fatal signal, on the thread that claimed the
// process's end. With every other thread parked outside memtrace's hooks, memory is read with plain
// loads; otherwise (a thread skipped, or parked inside a hook, where a block may be released before its
// record is written) through process_vm_readv, and blocks a still-running thread allocates or frees
// during the scan may be misclassified.
#pragma once

#include "preload/thread_state.h"

namespace memtrace::preload {

// Writes one kLeakClass record per live block and a kLeakScan record with the scan's cost, through
// `thread`. With `checked_reads`, memory is read only through process_vm_readv even when the process
// has a single thread (for a scan whose trace may lag the heap: a signal interrupted a hook).
// The calling thread's stack is scanned from `program_stack` up: below it are memtrace's own frames,
// whose unset slots still hold what the program's earlier calls (and their hooks) left there.
// Async-signal-safe.
void RunLeakScan(ThreadState& thread, bool checked_reads, const void* program_stack);

}  // namespace memtrace::preload
