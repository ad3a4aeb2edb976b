#include "preload/dense_live_set.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "preload/safe_memory.h"

namespace memtrace::preload {
namespace {

std::map<uint64_t, uint64_t> LiveOf(const DenseLiveSet& live) {
  std::map<uint64_t, uint64_t> blocks;
  live.ForEachLive(
      [&](uint64_t address, uint64_t size) { EXPECT_TRUE(blocks.emplace(address, size).second); });
  return blocks;
}

// Against a map of each address's last record: addresses in 300 regions (more than the first region
// table holds), some not 16-aligned, sizes on both sides of 16 bits' range, blocks allocated again
// without a release in between, releases of addresses never allocated.
TEST(DenseLiveSet, KeepsWhatTheLastRecordOfEachAddressSays) {
  std::mt19937_64 rng(11);
  AddressTable large;
  large.first_slots = 4;
  DenseLiveSet live(&large);
  std::map<uint64_t, uint64_t> model;
  const uint64_t sizes[] = {0, 1, 255, 256, 4096, 65533, 65534, 65535, 65536, 1 << 20};
  for (int i = 0; i < 200'000; ++i) {
    uint64_t address = 0x555555000000 + (rng() % 300) * (1 << 20) + (rng() % 64) * 16;
    if (rng() % 10 == 0) address += 8;
    if (rng() % 2) {
      const uint64_t size = rng() % 4 ? rng() % 300 : sizes[rng() % std::size(sizes)];
      live.Yield(address, size);
      model[address] = size;
    } else {
      live.Release(address);
      model.erase(address);
    }
  }
  live.Release(0x100000);  // a region that never held a block
  ASSERT_FALSE(live.failed);
  EXPECT_EQ(LiveOf(live), model);
  EXPECT_EQ(live.used, 300u);
  live.Clear();
  UnmapScratch(large.slots, large.bytes());
}

// A million blocks live at once in 16 MiB, then freed: the set holds 16 regions, not a million entries.
TEST(DenseLiveSet, MemoryFollowsTheSpanOfTheHeapNotItsBlockCount) {
  AddressTable large;
  DenseLiveSet live(&large);
  const uint64_t base = 0x555555000000;
  for (uint64_t i = 0; i < 1'000'000; ++i) live.Yield(base + i * 16, 8);
  EXPECT_EQ(LiveOf(live).size(), 1'000'000u);
  for (uint64_t i = 0; i < 1'000'000; ++i) live.Release(base + i * 16);
  EXPECT_TRUE(LiveOf(live).empty());
  EXPECT_EQ(live.used, 16u);
  EXPECT_EQ(large.slots, nullptr);  // no block needed the table
  live.Clear();
}

}  // namespace
}  // namespace memtrace::preload
