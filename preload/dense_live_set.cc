#include "preload/dense_live_set.h"

#include "preload/safe_memory.h"

namespace memtrace::preload {

namespace {

uint64_t RegionHome(uint64_t key, uint64_t mask) { return (key * 0x9e3779b97f4a7c15ull >> 24) & mask; }

}  // namespace

bool DenseLiveSet::GrowRegions() {
  const uint64_t old_slots = regions ? mask + 1 : 0;
  const uint64_t new_slots = old_slots ? old_slots * 2 : 256;
  auto* grown = static_cast<Region*>(MapScratch(new_slots * sizeof(Region)));
  if (!grown) return false;
  for (uint64_t i = 0; i < old_slots; ++i) {
    if (!regions[i].key) continue;
    uint64_t j = RegionHome(regions[i].key, new_slots - 1);
    while (grown[j].key) j = (j + 1) & (new_slots - 1);
    grown[j] = regions[i];
  }
  UnmapScratch(regions, old_slots * sizeof(Region));
  regions = grown;
  mask = new_slots - 1;
  last = nullptr;
  return true;
}

uint8_t* DenseLiveSet::SizesOf(uint64_t address, bool create) {
  const uint64_t key = (address >> kRegionShift) + 1;
  if (last && last->key == key) return last->sizes;
  if (regions) {
    for (uint64_t i = RegionHome(key, mask);; i = (i + 1) & mask) {
      if (regions[i].key == key) return (last = &regions[i])->sizes;
      if (!regions[i].key) break;
    }
  }
  if (!create) return nullptr;
  if ((!regions || (used + 1) * 2 > mask + 1) && !GrowRegions()) return nullptr;
  auto* sizes = static_cast<uint8_t*>(MapScratch(kGranulesPerRegion));
  if (!sizes) return nullptr;
  uint64_t i = RegionHome(key, mask);
  while (regions[i].key) i = (i + 1) & mask;
  regions[i] = {key, sizes};
  ++used;
  return (last = &regions[i])->sizes;
}

void DenseLiveSet::PutLarge(uint64_t address, uint64_t size) {
  AddressState* slot = large->Slot(address);
  if (!slot) {
    failed = true;
    return;
  }
  *slot = AddressState{address, 0, size, true};
}

void DenseLiveSet::EraseLarge(uint64_t address) {
  if (!large->slots) return;
  AddressState& slot = large->Find(address);
  if (slot.address) large->Erase(slot);
}

void DenseLiveSet::Yield(uint64_t address, uint64_t size) {
  if (failed) return;
  if (address % 16) {
    PutLarge(address, size);
    return;
  }
  uint8_t* sizes = SizesOf(address, true);
  if (!sizes) {
    failed = true;
    return;
  }
  uint8_t& byte = sizes[(address >> 4) & (kGranulesPerRegion - 1)];
  if (byte == kLargeBlock) EraseLarge(address);  // an earlier block here was never seen released
  if (size < kLargeBlock - 1) {
    byte = static_cast<uint8_t>(size + 1);
  } else {
    byte = kLargeBlock;
    PutLarge(address, size);
  }
}

void DenseLiveSet::Release(uint64_t address) {
  if (failed) return;
  if (address % 16) {
    EraseLarge(address);
    return;
  }
  uint8_t* sizes = SizesOf(address, false);
  if (!sizes) return;  // never held a block: a release of memory allocated before tracing began
  uint8_t& byte = sizes[(address >> 4) & (kGranulesPerRegion - 1)];
  if (byte == kLargeBlock) EraseLarge(address);
  byte = 0;
}

void DenseLiveSet::Clear() {
  for (uint64_t r = 0; regions && r <= mask; ++r) {
    if (regions[r].key) UnmapScratch(regions[r].sizes, kGranulesPerRegion);
  }
  UnmapScratch(regions, regions ? (mask + 1) * sizeof(Region) : 0);
  regions = nullptr;
  mask = used = 0;
  last = nullptr;
}

void ReplayChunkDense(const format::ChunkHeader* chunk, void* context) {
  auto& live = *static_cast<DenseLiveSet*>(context);
  ForEachBlockCall(chunk, [&](const format::BlockCall& call) {
    if (call.yields) {
      if (call.flags & format::kFlagNonMainArena) live.large->NoteArenaHeap(call.address);
      live.Yield(call.address, call.bytes);
    } else if (call.releases) {
      live.Release(call.address);
    }
  });
}

void CheckOneThread(const format::ChunkHeader* chunk, void* context) {
  auto& tid = *static_cast<uint32_t*>(context);
  if (chunk->tid != tid) tid = 0;
}

}  // namespace memtrace::preload
