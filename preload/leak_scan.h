// The exit-time leak scan: which blocks still allocated are still reachable, possibly lost,
// indirectly lost or definitely lost, decided as valgrind's memcheck decides it, but in the native
// process at full speed.
//
// The live blocks are recovered by replaying this process's own trace (so the hooks keep no live-block
// table); roots are every readable, writable mapping except malloc's heaps and memtrace's own memory
// (module data and bss, thread stacks and TLS, other anonymous mappings); the calling thread's stack is
// scanned above its stack pointer only. Registers of other still-running threads are not seen.
// All memory comes from mmap, never from the hooked allocator; cost is proportional to trace length
// plus root and live-heap size.
//
// Concurrency contract: runs once, at exit, on the exiting thread. Other threads may still run; blocks
// they allocate or free during the scan may be misclassified.
#pragma once

#include "preload/thread_state.h"

namespace memtrace::preload {

// Writes one kLeakClass record per live block and a kLeakScan record with the scan's cost, through
// `thread`. With `checked_reads`, memory is read only through process_vm_readv even when the process
// has a single thread (for a scan whose trace may lag the heap: a signal interrupted a hook).
// Async-signal-safe.
void RunLeakScan(ThreadState& thread, bool checked_reads);

}  // namespace memtrace::preload
