#include "preload/live_block_table.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "format/linear_probing.h"
#include "preload/safe_memory.h"

namespace memtrace::preload {

void AddressTable::NoteArenaHeap(uint64_t block) {
  uint64_t base = block & ~(format::kArenaHeapBytes - 1);
  for (int i = 0; i < arena_heap_count; ++i) {
    if (arena_heaps[i] == base) return;
  }
  if (arena_heap_count < kMaxArenaHeaps) arena_heaps[arena_heap_count++] = base;
}

bool AddressTable::Grow() {
  uint64_t old_slots = slots ? mask + 1 : 0;
  uint64_t new_slots = old_slots ? old_slots * 2 : first_slots;
  auto* grown = static_cast<AddressState*>(MapScratch(new_slots * sizeof(AddressState)));
  if (!grown) return false;
  // Every lookup lands on a random page: with huge pages the walk misses far less in the TLB.
  if (new_slots * sizeof(AddressState) >= (2u << 20)) {
    syscall(SYS_madvise, grown, new_slots * sizeof(AddressState), MADV_HUGEPAGE);
  }
  AddressState* old = slots;
  slots = grown;
  mask = new_slots - 1;
  for (uint64_t i = 0; i < old_slots; ++i) {
    if (old[i].address) Find(old[i].address) = old[i];
  }
  UnmapScratch(old, old_slots * sizeof(AddressState));
  return true;
}

void AddressTable::Erase(AddressState& slot) {
  uint64_t hole = static_cast<uint64_t>(&slot - slots);
  for (uint64_t i = (hole + 1) & mask; slots[i].address; i = (i + 1) & mask) {
    if (format::StaysInPlace(hole, i, Home(slots[i].address))) continue;
    slots[hole] = slots[i];
    hole = i;
  }
  slots[hole] = AddressState{};
  --used;
}

AddressState* AddressTable::Slot(uint64_t address) {
  if (!slots || (used + 1) * 4 > (mask + 1) * 3) {
    if (!Grow()) return nullptr;
  }
  AddressState& slot = Find(address);
  if (!slot.address) ++used;
  return &slot;
}

}  // namespace memtrace::preload
