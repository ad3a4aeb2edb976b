#include "preload/live_block_table.h"

#include "preload/safe_memory.h"

namespace memtrace::preload {

namespace {

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

}  // namespace

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
  AddressState* old = slots;
  slots = grown;
  mask = new_slots - 1;
  for (uint64_t i = 0; i < old_slots; ++i) {
    if (old[i].address) Find(old[i].address) = old[i];
  }
  UnmapScratch(old, old_slots * sizeof(AddressState));
  return true;
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

void ReplayChunk(const format::ChunkHeader* chunk, void* context) {
  auto& table = *static_cast<AddressTable*>(context);
  ForEachBlockCall(chunk, [&](const format::BlockCall& call) {
    if (!call.yields && !call.releases) return;
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
    state.address = call.address;
    state.timestamp = call.timestamp;
    state.live = call.yields;
    if (call.yields) state.size = call.bytes;
  });
}

}  // namespace memtrace::preload
