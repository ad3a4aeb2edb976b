// The exit-time scan's replay: every thread's chunks merged into one stream in time order, applied to a
// DenseLiveSet, so that the last record of each address decides with no timestamps kept per address.
//
// Each thread's chunks, in the order it took them, hold its calls in time order; the merge takes the
// earliest next call of all threads (a heap, one entry per thread). At equal stamps a release goes
// first: a block released by one thread and reused by another at the same nanosecond is live (stamps
// are taken before a free and after an allocation, so the reuse cannot be the earlier of the two).
// Records from one thread stay in their stream's order whatever their stamps.
//
// Memory: an entry per chunk and one per thread, from MapScratch (safe_memory.h). Single-threaded:
// used by the scanning thread only.
#pragma once

#include <cstdint>

#include "format/trace_layout.h"
#include "preload/dense_live_set.h"

namespace memtrace::preload {

struct ChunkRef {
  uint32_t tid;
  uint64_t index;  // the order its thread took it in
  const format::ChunkHeader* header;
};

// Replays `chunks` (any order; sorted in place) into `live`. `done`, if set, is called with each chunk
// once its records have been applied. False when memory ran out or `live` failed.
bool ReplayMerged(ChunkRef* chunks, uint64_t count, DenseLiveSet* live,
                  void (*done)(const format::ChunkHeader*) = nullptr);

}  // namespace memtrace::preload
