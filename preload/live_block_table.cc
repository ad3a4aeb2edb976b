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

void CountLiveBlocks(const format::ChunkHeader* chunk, void* context) {
  auto& balance = *static_cast<int64_t*>(context);
  balance += static_cast<int64_t>(__atomic_load_n(&chunk->blocks_allocated, __ATOMIC_RELAXED)) -
             static_cast<int64_t>(__atomic_load_n(&chunk->blocks_released, __ATOMIC_RELAXED));
}

void NoteChunkStart(const format::ChunkHeader* chunk, void* context) {
  auto& horizons = *static_cast<ChunkHorizons*>(context);
  if (horizons.count == horizons.capacity) {
    const uint64_t capacity = horizons.capacity ? horizons.capacity * 2 : 1024;
    auto* grown = static_cast<uint64_t*>(MapScratch(capacity * sizeof(uint64_t)));
    if (!grown) return;  // chunks past `count` get horizon 0: every address kept, as without horizons
    for (uint64_t i = 0; i < horizons.count; ++i) grown[i] = horizons.starts[i];
    UnmapScratch(horizons.starts, horizons.capacity * sizeof(uint64_t));
    horizons.starts = grown;
    horizons.capacity = capacity;
  }
  horizons.starts[horizons.count++] = chunk->first_timestamp;
}

void ResolveHorizons(ChunkHorizons& horizons, uint64_t now) {
  uint64_t earliest_after = now;
  for (uint64_t i = horizons.count; i-- > 0;) {
    const uint64_t start = horizons.starts[i];
    horizons.starts[i] = earliest_after;
    if (start < earliest_after) earliest_after = start;
  }
}

namespace {

void Apply(AddressTable& table, const format::BlockCall& call) {
  if (call.yields && (call.flags & format::kFlagNonMainArena)) table.NoteArenaHeap(call.address);
  if (table.failed) return;
  AddressState* slot = table.Slot(call.address);
  if (!slot) {
    table.failed = true;
    return;
  }
  AddressState& state = *slot;
  if (state.address &&
      (state.timestamp > call.timestamp || (state.timestamp == call.timestamp && call.releases)))
    return;
  if (call.releases && call.timestamp <= table.horizon) {  // nothing older can follow: forget it
    if (state.address) {
      table.Erase(state);
    } else {
      --table.used;  // Slot counted the empty slot it found as taken
    }
    return;
  }
  // One assignment: setting the `live` bit on its own and then `size` would store a byte and read back
  // the word holding it, a store-forwarding stall on every call.
  state = AddressState{call.address, call.timestamp, call.yields ? call.bytes : 0, call.yields};
}

}  // namespace

void ReplayChunk(const format::ChunkHeader* chunk, void* context) {
  auto& table = *static_cast<AddressTable*>(context);
  // Calls are applied kAhead behind their decoding, each one's home slot prefetched when decoded: with
  // many live blocks the table is far larger than the caches, and one miss per call would dominate.
  constexpr uint32_t kAhead = 16;
  format::BlockCall pending[kAhead];  // oldest at pending[head]
  uint32_t head = 0, waiting = 0;
  ForEachBlockCall(chunk, [&](const format::BlockCall& call) {
    if (!call.yields && !call.releases) return;
    if (table.slots) __builtin_prefetch(&table.slots[table.Home(call.address)], 1);
    if (waiting < kAhead) {
      pending[(head + waiting++) % kAhead] = call;
      return;
    }
    Apply(table, pending[head]);
    pending[head] = call;
    head = (head + 1) % kAhead;
  });
  for (uint32_t i = 0; i < waiting; ++i) Apply(table, pending[(head + i) % kAhead]);
}

void ReplayChunkInOrder(const format::ChunkHeader* chunk, void* context) {
  auto& replay = *static_cast<ReplayInOrder*>(context);
  replay.table->horizon = replay.horizons->Of(replay.visited++);
  ReplayChunk(chunk, replay.table);
}

}  // namespace memtrace::preload
