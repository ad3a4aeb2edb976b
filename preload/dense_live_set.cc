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
  for (Region*& r : recent) r = nullptr;  // they moved
  return true;
}

uint16_t* DenseLiveSet::SizesOf(uint64_t address, bool create) {
  const uint64_t key = (address >> kRegionShift) + 1;
  Region*& cached = recent[key % kRecent];
  if (cached && cached->key == key) return cached->sizes;
  if (regions) {
    for (uint64_t i = RegionHome(key, mask);; i = (i + 1) & mask) {
      if (regions[i].key == key) return (cached = &regions[i])->sizes;
      if (!regions[i].key) break;
    }
  }
  if (!create) return nullptr;
  if ((!regions || (used + 1) * 2 > mask + 1) && !GrowRegions()) return nullptr;
  auto* sizes = static_cast<uint16_t*>(MapScratch(kGranulesPerRegion * sizeof(uint16_t)));
  if (!sizes) return nullptr;
  uint64_t i = RegionHome(key, mask);
  while (regions[i].key) i = (i + 1) & mask;
  regions[i] = {key, sizes};
  ++used;
  return (recent[key % kRecent] = &regions[i])->sizes;
}

void DenseLiveSet::PutLarge(uint64_t address, uint64_t size) {
  AddressState* slot = large->Slot(address);
  if (!slot) {
    failed = true;
    return;
  }
  *slot = AddressState{address, size};
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
  uint16_t* sizes = SizesOf(address, true);
  if (!sizes) {
    failed = true;
    return;
  }
  uint16_t& entry = sizes[(address >> 4) & (kGranulesPerRegion - 1)];
  if (entry == kLargeBlock) EraseLarge(address);  // an earlier block here was never seen released
  if (size < kLargeBlock - 1) {
    entry = static_cast<uint16_t>(size + 1);
  } else {
    entry = kLargeBlock;
    PutLarge(address, size);
  }
}

void DenseLiveSet::Release(uint64_t address) {
  if (failed) return;
  if (address % 16) {
    EraseLarge(address);
    return;
  }
  uint16_t* sizes = SizesOf(address, false);
  if (!sizes) return;  // never held a block: a release of memory allocated before tracing began
  uint16_t& entry = sizes[(address >> 4) & (kGranulesPerRegion - 1)];
  if (entry == kLargeBlock) EraseLarge(address);
  entry = 0;
}

void DenseLiveSet::Clear() {
  for (uint64_t r = 0; regions && r <= mask; ++r) {
    if (regions[r].key) UnmapScratch(regions[r].sizes, kGranulesPerRegion * sizeof(uint16_t));
  }
  UnmapScratch(regions, regions ? (mask + 1) * sizeof(Region) : 0);
  regions = nullptr;
  mask = used = 0;
  for (Region*& r : recent) r = nullptr;
}

}  // namespace memtrace::preload
