// The exit-time scan's live blocks for a process whose records all come from one thread (the usual
// single-threaded program): its chunks, replayed in the order they were taken, are its calls in time
// order, so the last record of an address decides and no timestamps need keeping.
//
// Sizes are kept by address, one byte per 16-byte granule (glibc aligns every block to 16): 0 when no
// live block starts there, else the block's requested size + 1, or kLargeBlock when it is too large for
// a byte, its size then kept in `large` (an AddressTable). Blocks at other addresses (an allocator
// that aligns less) are in `large` only. The bytes come in 64 KiB pages, one per 1 MiB region of
// address space that ever held a block, mapped MAP_NORESERVE: only the pages of them that are written
// become memory, so the set costs at most 1/16 of the heap's span, whatever the number of blocks that
// were live at once. AddressTable, which the multi-threaded replay needs for its timestamps, costs 32
// bytes per block live at the replay's peak: 37 MB for a std::map of a million strings that is freed
// before exit.
//
// All memory comes from MapScratch (safe_memory.h). Single-threaded: used by the scanning thread only.
#pragma once

#include <cstdint>

#include "format/trace_layout.h"
#include "preload/live_block_table.h"

namespace memtrace::preload {

struct DenseLiveSet {
  static constexpr unsigned kRegionShift = 20;
  static constexpr uint64_t kGranulesPerRegion = (uint64_t{1} << kRegionShift) / 16;
  static constexpr uint8_t kLargeBlock = 255;

  struct Region {
    uint64_t key;    // (address >> kRegionShift) + 1; 0: an empty slot
    uint8_t* sizes;  // kGranulesPerRegion bytes
  };
  Region* regions = nullptr;  // open addressing by key, grown by doubling at 1/2 full
  uint64_t mask = 0;
  uint64_t used = 0;
  Region* last = nullptr;  // the region of the previous call: calls cluster
  AddressTable* large;     // blocks too large for a byte or not 16-aligned; thread-arena heaps
  bool failed = false;     // out of memory: the scan is abandoned

  explicit DenseLiveSet(AddressTable* large_blocks) : large(large_blocks) {}

  void Yield(uint64_t address, uint64_t size);
  void Release(uint64_t address);
  // Calls visit(address, size) for every live block, in no particular order.
  template <typename Visit>
  void ForEachLive(Visit visit) const;
  // Gives every page back but those of `large`.
  void Clear();

 private:
  // The size bytes of the region holding `address`: null if there is none and `create` is false (or
  // memory ran out).
  uint8_t* SizesOf(uint64_t address, bool create);
  bool GrowRegions();
  void PutLarge(uint64_t address, uint64_t size);
  void EraseLarge(uint64_t address);
};

// Applies one chunk's allocations and releases to the DenseLiveSet at `context` (ForEachChunk's
// visitor; chunks must come in the order their thread took them).
void ReplayChunkDense(const format::ChunkHeader* chunk, void* context);

// Whether every chunk belongs to the thread `*context` names (a uint32_t tid; ForEachChunk's visitor
// clears it on the first chunk of another thread, a vfork child's included).
void CheckOneThread(const format::ChunkHeader* chunk, void* context);

template <typename Visit>
void DenseLiveSet::ForEachLive(Visit visit) const {
  for (uint64_t r = 0; regions && r <= mask; ++r) {
    const Region& region = regions[r];
    if (!region.key) continue;
    const uint64_t base = (region.key - 1) << kRegionShift;
    const auto* words = reinterpret_cast<const uint64_t*>(region.sizes);
    for (uint64_t w = 0; w < kGranulesPerRegion / 8; ++w) {
      if (!words[w]) continue;  // most of a region is not the start of a live block
      for (uint64_t g = w * 8; g < w * 8 + 8; ++g) {
        const uint8_t byte = region.sizes[g];
        if (byte && byte != kLargeBlock) visit(base + g * 16, uint64_t{byte} - 1);
      }
    }
  }
  for (uint64_t i = 0; large->slots && i <= large->mask; ++i) {
    const AddressState& s = large->slots[i];
    if (s.address && s.live) visit(s.address, s.size);
  }
}

}  // namespace memtrace::preload
