#include "preload/dense_live_set.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "preload/safe_memory.h"
#include "tests/support/record_chunk.h"

namespace memtrace::preload {
namespace {

using format::RecordKind;
using test_support::RecordChunk;

std::map<uint64_t, uint64_t> LiveOf(const DenseLiveSet& live) {
  std::map<uint64_t, uint64_t> blocks;
  live.ForEachLive(
      [&](uint64_t address, uint64_t size) { EXPECT_TRUE(blocks.emplace(address, size).second); });
  return blocks;
}

// Against a map of each address's last record: addresses in 300 regions (more than the first region
// table holds), some not 16-aligned, sizes on both sides of a byte's range, blocks allocated again
// without a release in between, releases of addresses never allocated.
TEST(DenseLiveSet, KeepsWhatTheLastRecordOfEachAddressSays) {
  std::mt19937_64 rng(11);
  AddressTable large;
  large.first_slots = 4;
  DenseLiveSet live(&large);
  std::map<uint64_t, uint64_t> model;
  const uint64_t sizes[] = {0, 1, 252, 253, 254, 255, 256, 4096, 1 << 20};
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

// One thread's chunks replayed in order give the live blocks the timestamped replay gives, thread-arena
// heaps included.
TEST(DenseLiveSet, ReplaysOneThreadsChunksAsTheTimestampedReplayDoes) {
  std::vector<RecordChunk> chunks;
  uint64_t stamp = 1000;
  std::mt19937_64 rng(3);
  for (int c = 0; c < 8; ++c) {
    chunks.emplace_back(stamp);
    for (int i = 0; i < 500; ++i) {
      const uint64_t address = (1 + rng() % 5000) * 16 + (rng() % 50 == 0 ? 8 : 0);
      const uint8_t flags = rng() % 100 == 0 ? format::kFlagNonMainArena : 0;
      const RecordKind kind =
          rng() % 2 ? (rng() % 3 ? RecordKind::kMalloc : RecordKind::kCalloc) : RecordKind::kFree;
      chunks.back().Add(kind, ++stamp, address, rng() % 400, flags);
    }
  }
  ChunkHorizons horizons;
  for (RecordChunk& chunk : chunks) NoteChunkStart(chunk.header(), &horizons);
  ResolveHorizons(horizons, ~uint64_t{0});
  AddressTable table;
  ReplayInOrder replay{&table, &horizons};
  for (RecordChunk& chunk : chunks) ReplayChunkInOrder(chunk.header(), &replay);
  std::map<uint64_t, uint64_t> expected;
  for (uint64_t i = 0; i <= table.mask; ++i) {
    if (table.slots[i].address && table.slots[i].live) expected[table.slots[i].address] = table.slots[i].size;
  }
  ASSERT_GT(expected.size(), 500u);

  AddressTable large;
  DenseLiveSet live(&large);
  for (RecordChunk& chunk : chunks) ReplayChunkDense(chunk.header(), &live);
  EXPECT_EQ(LiveOf(live), expected);
  ASSERT_GT(table.arena_heap_count, 0);
  EXPECT_EQ(large.arena_heap_count, table.arena_heap_count);
  live.Clear();
  UnmapScratch(large.slots, large.bytes());
  UnmapScratch(table.slots, table.bytes());
}

TEST(DenseLiveSet, CheckOneThreadClearsTheTidAtAnotherThreadsChunk) {
  RecordChunk main_a(10, 100), main_b(20, 100), other(30, 101);
  uint32_t tid = 100;
  CheckOneThread(main_a.header(), &tid);
  CheckOneThread(main_b.header(), &tid);
  EXPECT_EQ(tid, 100u);
  CheckOneThread(other.header(), &tid);
  EXPECT_EQ(tid, 0u);
}

}  // namespace
}  // namespace memtrace::preload
