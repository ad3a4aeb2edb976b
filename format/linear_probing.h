// Backward-shift deletion for open-addressing tables with linear probing (the split predictor's live
// table, the exit-time scan's address table). Header-only and libc-free: the preload uses it.
#pragma once

#include <cstdint>

namespace memtrace::format {

// After slot `hole` is emptied, each entry further along its probe run (at slot `i`) moves back into the
// hole unless its home slot lies cyclically in (hole, i]: such an entry is still reached from its home
// without crossing the hole.
inline bool StaysInPlace(uint64_t hole, uint64_t i, uint64_t home) {
  return hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
}

}  // namespace memtrace::format
