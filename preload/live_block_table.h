// The exit-time leak scan's first step: the blocks still live, recovered by replaying this process's own
// trace chunk by chunk (the hooks keep no live-block table). For every address the latest record
// decides: an allocation makes it live, a release dead. Taking the latest by timestamp (allocation
// winning ties, as in the reader's merge) needs no global order.
//
// All memory comes from MapScratch (safe_memory.h), never from the hooked allocator. Single-threaded:
// used by the thread running the scan only.
#pragma once

#include <cstdint>

#include "format/record_codec.h"
#include "format/trace_layout.h"

namespace memtrace::preload {

// 24 bytes: with millions of blocks this table is most of the scan's memory.
struct AddressState {
  uint64_t address;  // 0: empty slot
  uint64_t timestamp;
  uint64_t size : 63;
  uint64_t live : 1;
};
static_assert(sizeof(AddressState) == 24);

inline constexpr int kMaxArenaHeaps = 4096;

// Open addressing keyed by address, grown by doubling at 3/4 full: its size follows the number of
// distinct addresses (close to the peak live count, since glibc reuses addresses), not the trace's
// length. Linear probing stays short at that load with this multiplicative hash.
struct AddressTable {
  AddressState* slots = nullptr;
  uint64_t mask = 0;
  uint64_t used = 0;
  uint64_t first_slots = 1 << 16;        // the size of the first table (a power of two)
  bool failed = false;                   // out of memory: the scan is abandoned
  uint64_t arena_heaps[kMaxArenaHeaps];  // bases of thread-arena heaps blocks were served from
  int arena_heap_count = 0;
  // No chunk replayed after the current one holds a record stamped before this (0: not known). A
  // release stamped no later cannot be overtaken by an older record, so its address leaves the table
  // instead of staying as a dead entry; without that the table holds every address the program ever
  // used, not the few live ones (python3: 4 M calls, 497 blocks live at exit). Set before each chunk.
  uint64_t horizon = 0;

  void NoteArenaHeap(uint64_t block);
  uint64_t bytes() const { return (mask + 1) * sizeof(AddressState); }
  uint64_t Home(uint64_t address) const { return (address * 0x9e3779b97f4a7c15ull >> 20) & mask; }
  AddressState& Find(uint64_t address) {
    uint64_t i = Home(address);
    while (slots[i].address && slots[i].address != address) i = (i + 1) & mask;
    return slots[i];
  }
  // Empties `slot`, moving later entries of its probe run back so that Find still reaches them.
  void Erase(AddressState& slot);
  bool Grow();
  // The slot for `address`, making room for a new one if needed (null when out of memory).
  AddressState* Slot(uint64_t address);
};

// Calls `visit(const format::BlockCall&)` for each record of `chunk`'s committed bytes, in order; stops
// at the first that does not decode (a chunk cut short).
template <typename Visit>
void ForEachBlockCall(const format::ChunkHeader* chunk, Visit visit) {
  const uint8_t* cursor = reinterpret_cast<const uint8_t*>(chunk + 1);
  const uint8_t* end = cursor + __atomic_load_n(&chunk->committed_bytes, __ATOMIC_ACQUIRE);
  format::DeltaState deltas{chunk->first_timestamp, 0};
  format::BlockCall call;
  format::Record scratch;
  uint64_t frames[format::kMaxFrames];
  while (cursor < end && format::DecodeBlockCall(&cursor, end, deltas, &call, &scratch, frames) ==
                             format::DecodeStatus::kOk) {
    visit(call);
  }
}

// Allocations minus releases, from the counts the writer keeps in each chunk's header: about the
// number of blocks live at the end. The table is sized for them from the start, since growing it
// needs the old and the new table at once (1.5 times the final size), and the scan runs when the
// program's heap is at its largest. Threads still running may add a few more; the table then grows.
// `context`: an int64_t balance (ForEachChunk's visitor).
void CountLiveBlocks(const format::ChunkHeader* chunk, void* context);

// Applies one chunk's allocations and releases to the AddressTable at `context`.
void ReplayChunk(const format::ChunkHeader* chunk, void* context);

// The horizon (AddressTable::horizon) of each chunk in the order they are visited: gathered by
// NoteChunkStart (ForEachChunk's visitor, context: this), then resolved by ResolveHorizons, which turns
// each chunk's first_timestamp into the earliest first_timestamp of the chunks after it, capped at `now`
// (a chunk taken after the starts were gathered starts no earlier). Memory from MapScratch.
struct ChunkHorizons {
  uint64_t* starts = nullptr;
  uint64_t capacity = 0;
  uint64_t count = 0;
  uint64_t Of(uint64_t index) const { return index < count ? starts[index] : 0; }
};
void NoteChunkStart(const format::ChunkHeader* chunk, void* context);
void ResolveHorizons(ChunkHorizons& horizons, uint64_t now);

// ReplayChunk with each chunk's horizon: the i-th chunk ForEachChunk visits gets horizons->Of(i).
struct ReplayInOrder {
  AddressTable* table;
  const ChunkHorizons* horizons;
  uint64_t visited = 0;
};
void ReplayChunkInOrder(const format::ChunkHeader* chunk, void* context);

}  // namespace memtrace::preload
