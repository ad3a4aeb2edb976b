// The exit-time scan's live blocks, from the trace's calls applied in time order (merged_replay.h): the
// last record of an address decides, so no timestamps need keeping.
//
// Sizes are kept by address, 16 bits per 16-byte granule (glibc aligns every block to 16): 0 when no
// live block starts there, else the block's requested size + 1, or kLargeBlock when it is too large
// (64 KiB or more), its size then kept in `large` (an AddressTable). Blocks at other addresses (an
// allocator that aligns less) are in `large` only. The sizes come in 128 KiB arrays, one per 1 MiB
// region of address space that ever held a block, mapped MAP_NORESERVE: only their pages that are
// written become memory, so the set costs at most 1/8 of the heap's span, whatever the number of
// blocks that were live at once: a table entry per block live at the replay's peak (24 bytes, at most
// 3/4 full) cost 37 MB more for a std::map of a million strings freed before exit.
//
// All memory comes from MapScratch (safe_memory.h). Single-threaded: used by the scanning thread only.
#pragma once

#include <cstdint>

#include "format/record_codec.h"
#include "preload/live_block_table.h"

namespace memtrace::preload {

struct DenseLiveSet {
  static constexpr unsigned kRegionShift = 20;
  static constexpr uint64_t kGranulesPerRegion = (uint64_t{1} << kRegionShift) / 16;
  static constexpr uint16_t kLargeBlock = 0xffff;

  struct Region {
    uint64_t key;     // (address >> kRegionShift) + 1; 0: an empty slot
    uint16_t* sizes;  // kGranulesPerRegion of them
  };
  Region* regions = nullptr;  // open addressing by key, grown by doubling at 1/2 full
  uint64_t mask = 0;
  uint64_t used = 0;
  // Regions found lately, by the low bits of their key: calls cluster in a few regions (one per
  // thread arena, the main heap, big blocks' mappings).
  static constexpr uint64_t kRecent = 16;
  Region* recent[kRecent] = {};
  AddressTable* large;  // blocks of 64 KiB or more or not 16-aligned; thread-arena heaps
  bool failed = false;  // out of memory: the scan is abandoned

  explicit DenseLiveSet(AddressTable* large_blocks) : large(large_blocks) {}

  void Yield(uint64_t address, uint64_t size);
  void Release(uint64_t address);
  // Yield or Release as the record says (and notes a thread-arena heap a block came from).
  void Apply(const format::BlockCall& call) {
    if (call.yields) {
      if (call.flags & format::kFlagNonMainArena) large->NoteArenaHeap(call.address);
      Yield(call.address, call.bytes);
    } else if (call.releases) {
      Release(call.address);
    }
  }
  // Calls visit(address, size) for every live block, in no particular order.
  template <typename Visit>
  void ForEachLive(Visit visit) const;
  // Gives every page back but those of `large`.
  void Clear();

 private:
  // The size bytes of the region holding `address`: null if there is none and `create` is false (or
  // memory ran out).
  uint16_t* SizesOf(uint64_t address, bool create);
  bool GrowRegions();
  void PutLarge(uint64_t address, uint64_t size);
  void EraseLarge(uint64_t address);
};

template <typename Visit>
void DenseLiveSet::ForEachLive(Visit visit) const {
  for (uint64_t r = 0; regions && r <= mask; ++r) {
    const Region& region = regions[r];
    if (!region.key) continue;
    const uint64_t base = (region.key - 1) << kRegionShift;
    const auto* words = reinterpret_cast<const uint64_t*>(region.sizes);
    for (uint64_t w = 0; w < kGranulesPerRegion / 4; ++w) {
      if (!words[w]) continue;  // most of a region is not the start of a live block
      for (uint64_t g = w * 4; g < w * 4 + 4; ++g) {
        const uint16_t size = region.sizes[g];
        if (size && size != kLargeBlock) visit(base + g * 16, uint64_t{size} - 1);
      }
    }
  }
  for (uint64_t i = 0; large->slots && i <= large->mask; ++i) {
    const AddressState& s = large->slots[i];
    if (s.address) visit(s.address, s.size);
  }
}

}  // namespace memtrace::preload
