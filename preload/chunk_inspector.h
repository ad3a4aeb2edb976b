// Reads glibc's own verdict for a block: the chunk header word in front of it (layout documented in
// format/record_codec.h). This is what says "heap" or "mmapped because it crossed the threshold",
// instead of guessing from the requested size.
//
// Only valid for blocks glibc's malloc returned: the caller checks ChunkHeadersReadable() first
// (another allocator may keep nothing readable in front of a block).
#pragma once

#include <cstdint>

#include "format/record_codec.h"
#include "preload/thread_state.h"

namespace memtrace::preload {

extern bool chunk_headers_readable;

inline bool ChunkHeadersReadable() { return chunk_headers_readable; }

// Fills the chunk facts of an allocation's result.
inline void InspectAllocatedChunk(const void* block, format::Record& record) {
  if (!block || !chunk_headers_readable) return;
  const uint64_t* words = static_cast<const uint64_t*>(block);
  uint64_t size_word = words[-1];
  record.flags |= format::kFlagChunkRead;
  record.chunk_size = size_word & format::kChunkSizeMask;
  if (size_word & 2) {
    record.flags |= format::kFlagMmapped;
    record.chunk_offset = words[-2];
  }
  if (size_word & 4) record.flags |= format::kFlagNonMainArena;
}

// Fills the chunk facts of a block about to be released. Only mmapped chunks are recorded: their size
// drives glibc's dynamic threshold; a heap chunk's facts are already in its allocation record.
inline void InspectReleasedChunk(const void* block, format::Record& record) {
  if (!block || !chunk_headers_readable) return;
  const uint64_t* words = static_cast<const uint64_t*>(block);
  uint64_t size_word = words[-1];
  if (!(size_word & 2)) return;
  record.flags |= format::kFlagChunkRead | format::kFlagMmapped;
  record.chunk_size = size_word & format::kChunkSizeMask;
  record.chunk_offset = words[-2];
}

// True if `block` (about to be released) is glibc's and not an mmapped chunk: its release record needs
// no chunk facts, so the hooks can take the fast path once the real call returned.
inline bool IsHeapChunk(const void* block) {
  return chunk_headers_readable && !(static_cast<const uint64_t*>(block)[-1] & 2);
}

// glibc's heap_info, at the start of every thread-arena heap (arena.c): heaps are HEAP_MAX_SIZE
// (64 MiB) reservations aligned to their size, made read-write as they grow.
struct ArenaHeapInfo {
  void* arena;
  void* previous;
  uint64_t size;           // bytes of the heap in use
  uint64_t writable_size;  // bytes made read-write (mprotect_size)
};

// True if `address` (from a thread arena) lies in a heap this thread reported, at the read-write size it
// reported: nothing to record.
inline bool ArenaHeapUnchanged(uint64_t address, const ThreadState& thread) {
  uint64_t base = address & ~(format::kArenaHeapBytes - 1);
  int slot = ArenaHeapsSeen::SlotOf(base);
  return base == thread.arena_heaps.base[slot] &&
         reinterpret_cast<const ArenaHeapInfo*>(base)->writable_size == thread.arena_heaps.writable[slot];
}

// For a block from a thread arena, the heap it lives in and its current read-write size; returns false
// if unchanged since this thread last looked (the common case: no record needed).
inline bool ArenaHeapChanged(const format::Record& record, ThreadState& thread, uint64_t* base,
                             const ArenaHeapInfo** info) {
  if (!(record.flags & format::kFlagNonMainArena) || !record.address) return false;
  if (ArenaHeapUnchanged(record.address, thread)) return false;
  *base = record.address & ~(format::kArenaHeapBytes - 1);
  *info = reinterpret_cast<const ArenaHeapInfo*>(*base);
  int slot = ArenaHeapsSeen::SlotOf(*base);
  thread.arena_heaps.base[slot] = *base;
  thread.arena_heaps.writable[slot] = (*info)->writable_size;
  return true;
}

}  // namespace memtrace::preload
