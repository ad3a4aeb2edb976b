// Per-thread state of the preload: the re-entry depth, the cached tid and the thread's current chunk.
//
// Concurrency contract: each thread touches only its own ThreadState, so no field needs atomics. The
// variable is initial-exec TLS (a fixed offset from the thread pointer, no __tls_get_addr, which could
// allocate) and plain data, so it exists and is zero in every thread before its first instruction.
// A signal handler that allocates while a hook of the same thread is running sees depth > 0 and passes
// straight through, so a hook never re-enters the writer; such a call is counted in `dropped` (the
// handler's increment and the writer's flush of the count are single atomic instructions, so neither
// loses the other's). Nested calls that memtrace's own work makes (`internal` > 0) are not counted.
#pragma once

#include <cstdint>

#include "format/record_codec.h"
#include "format/trace_layout.h"

namespace memtrace::preload {

// The thread-arena heaps this thread has reported (kArenaHeap), each at the read-write size it reported:
// direct-mapped on the heap's address (heaps are 64 MiB-aligned). Several, because a thread's tcache
// hands it blocks freed there from the heaps other threads allocated them in; remembering only the
// last heap re-reported one on most allocations of a program whose threads free each other's blocks.
struct ArenaHeapsSeen {
  static constexpr int kSlots = 16;
  uint64_t base[kSlots] = {};
  uint64_t writable[kSlots] = {};
  static int SlotOf(uint64_t heap_base) { return static_cast<int>(heap_base >> 26) & (kSlots - 1); }
};

struct ThreadState {
  uint32_t depth = 0;        // > 0 while a hook (or memtrace itself) runs on this thread
  uint32_t tid = 0;          // cached gettid(); 0 until first needed
  uint32_t generation = 0;   // the trace generation `tid` and the chunk below belong to (bumped by fork)
  uint32_t internal = 0;     // > 0 while memtrace calls code that may reach a hook (see InternalWork)
  uint64_t chunk_index = 0;  // the index in the file of the chunk below
  format::ChunkHeader* chunk = nullptr;  // the chunk being filled, or null
  uint8_t* cursor = nullptr;             // next free byte of the chunk
  uint8_t* limit = nullptr;              // end of the chunk
  format::DeltaState deltas;
  uint64_t dropped = 0;  // calls passed through unrecorded since the last kDropped record
  ArenaHeapsSeen arena_heaps;
  bool unwound = false;  // this thread has captured a stack before
  // In a vfork child (which runs on its parent thread's TLS, so on this very ThreadState): the tid of
  // the thread that called vfork; 0 otherwise. `tid` is then the child's pid, and `chunk` a chunk of
  // the child's own in the parent's trace (see vfork_handoff.h).
  uint32_t vfork_parent = 0;
};

extern __thread ThreadState thread_state __attribute__((tls_model("initial-exec")));

}  // namespace memtrace::preload
