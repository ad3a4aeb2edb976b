// A table of blocks by address for the exit-time leak scan: the blocks a DenseLiveSet cannot keep in
// its 16 bits a granule (dense_live_set.h), and the thread-arena heaps blocks came from.
//
// All memory comes from MapScratch (safe_memory.h), never from the hooked allocator. Single-threaded:
// used by the thread running the scan only.
#pragma once

#include <cstdint>

#include "format/record.h"

namespace memtrace::preload {

struct AddressState {
  uint64_t address;  // 0: empty slot
  uint64_t size;
};

inline constexpr int kMaxArenaHeaps = 4096;

// Open addressing keyed by address, grown by doubling at 3/4 full. Linear probing stays short at that
// load with this multiplicative hash.
struct AddressTable {
  AddressState* slots = nullptr;
  uint64_t mask = 0;
  uint64_t used = 0;
  uint64_t first_slots = 1 << 10;        // the size of the first table (a power of two)
  uint64_t arena_heaps[kMaxArenaHeaps];  // bases of thread-arena heaps blocks were served from
  int arena_heap_count = 0;

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

}  // namespace memtrace::preload
