#include "preload/live_block_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "tests/support/record_chunk.h"

namespace memtrace::preload {
namespace {

using format::RecordKind;

using Chunk = test_support::RecordChunk;

const AddressState* Lookup(AddressTable& table, uint64_t address) {
  AddressState& slot = table.Find(address);
  return slot.address ? &slot : nullptr;
}

TEST(LiveBlockTable, TheLatestRecordOfEachAddressDecidesAcrossChunksInAnyOrder) {
  Chunk main_thread(100), other_thread(100);
  main_thread.Add(RecordKind::kMalloc, 110, 0x1000, 40);
  main_thread.Add(RecordKind::kCalloc, 120, 0x2000, 8);  // 3 x 8 bytes
  main_thread.Add(RecordKind::kFree, 150, 0x3000);       // freed here after another thread allocated it
  other_thread.Add(RecordKind::kMalloc, 130, 0x3000, 64);
  other_thread.Add(RecordKind::kFree, 140, 0x1000);                                   // a cross-thread free
  other_thread.Add(RecordKind::kMalloc, 160, 0x1000, 16, format::kFlagNonMainArena);  // reused

  int64_t balance = 0;
  CountLiveBlocks(main_thread.header(), &balance);
  CountLiveBlocks(other_thread.header(), &balance);
  EXPECT_EQ(balance, 2);  // 4 allocations, 2 releases

  AddressTable table;
  table.first_slots = 4;                       // grows while replaying
  ReplayChunk(other_thread.header(), &table);  // the order of chunks does not matter
  ReplayChunk(main_thread.header(), &table);
  ASSERT_FALSE(table.failed);
  EXPECT_EQ(table.used, 3u);
  const AddressState* reused = Lookup(table, 0x1000);
  ASSERT_NE(reused, nullptr);
  EXPECT_TRUE(reused->live);
  EXPECT_EQ(reused->size, 16u);
  const AddressState* array = Lookup(table, 0x2000);
  ASSERT_NE(array, nullptr);
  EXPECT_TRUE(array->live);
  EXPECT_EQ(array->size, 24u);
  const AddressState* freed = Lookup(table, 0x3000);
  ASSERT_NE(freed, nullptr);
  EXPECT_FALSE(freed->live);
  ASSERT_EQ(table.arena_heap_count, 1);
  EXPECT_EQ(table.arena_heaps[0], 0u);  // 0x1000's 64 MiB-aligned heap
}

TEST(LiveBlockTable, AnAllocationWinsATimestampTieAsInTheReadersMerge) {
  Chunk releases(100), allocations(100);
  releases.Add(RecordKind::kFree, 200, 0x5000);
  allocations.Add(RecordKind::kMalloc, 200, 0x5000, 32);
  for (bool releases_first : {true, false}) {
    AddressTable table;
    ReplayChunk(releases_first ? releases.header() : allocations.header(), &table);
    ReplayChunk(releases_first ? allocations.header() : releases.header(), &table);
    const AddressState* state = Lookup(table, 0x5000);
    ASSERT_NE(state, nullptr);
    EXPECT_TRUE(state->live) << releases_first;
  }
}

TEST(LiveBlockTable, GrowingKeepsEveryAddress) {
  AddressTable table;
  table.first_slots = 2;
  for (uint64_t i = 1; i <= 10000; ++i) {
    AddressState* slot = table.Slot(i * 16);
    ASSERT_NE(slot, nullptr);
    slot->address = i * 16;
    slot->size = i;
  }
  EXPECT_EQ(table.used, 10000u);
  EXPECT_LE(table.used * 4, (table.mask + 1) * 3);
  for (uint64_t i = 1; i <= 10000; ++i) ASSERT_EQ(table.Find(i * 16).size, i);
}

TEST(LiveBlockTable, ErasingKeepsEveryOtherAddressFindable) {
  AddressTable table;
  table.first_slots = 64;  // small: long probe runs that wrap around the end
  std::map<uint64_t, uint64_t> model;
  std::mt19937_64 rng(1);
  for (int step = 0; step < 20000; ++step) {
    const uint64_t address = (1 + rng() % 300) * 16;
    if (rng() % 2) {
      AddressState* slot = table.Slot(address);
      ASSERT_NE(slot, nullptr);
      slot->address = address;
      slot->size = static_cast<uint64_t>(step);
      model[address] = static_cast<uint64_t>(step);
    } else if (model.erase(address)) {
      table.Erase(table.Find(address));
    }
    ASSERT_EQ(table.used, model.size());
  }
  for (uint64_t a = 16; a <= 300 * 16; a += 16) {
    const AddressState* state = Lookup(table, a);
    ASSERT_EQ(state != nullptr, model.count(a) == 1) << a;
    if (state) {
      EXPECT_EQ(state->size, model[a]);
    }
  }
}

// Live blocks as replaying every chunk without horizons decides, by address.
std::map<uint64_t, uint64_t> LiveBlocks(AddressTable& table) {
  std::map<uint64_t, uint64_t> live;
  for (uint64_t i = 0; table.slots && i <= table.mask; ++i) {
    if (table.slots[i].address && table.slots[i].live) live[table.slots[i].address] = table.slots[i].size;
  }
  return live;
}

// Threads whose chunks overlap in time, cross-thread frees, addresses reused: with each chunk's horizon
// the replay keeps far fewer addresses and finds the same live blocks, whatever order the chunks come in.
TEST(LiveBlockTable, HorizonsDropReleasedAddressesAndChangeNoVerdict) {
  std::mt19937_64 rng(2);
  std::vector<Chunk> chunks;
  uint64_t t = 1000;
  for (int c = 0; c < 24; ++c) {
    chunks.emplace_back(t);
    Chunk& chunk = chunks.back();
    uint64_t stamp = t;
    for (int i = 0; i < 400; ++i) {
      stamp += 1 + rng() % 3;
      const uint64_t address = (1 + rng() % 2000) * 16;
      if (rng() % 2) {
        chunk.Add(RecordKind::kMalloc, stamp, address, 1 + rng() % 100);
      } else {
        chunk.Add(RecordKind::kFree, stamp, address);
      }
    }
    t += c % 3 == 2 ? 1500 : 200;  // three "threads" at a time overlap, then a gap
  }
  AddressTable all;
  for (Chunk& chunk : chunks) ReplayChunk(chunk.header(), &all);
  const std::map<uint64_t, uint64_t> expected = LiveBlocks(all);
  ASSERT_GT(expected.size(), 100u);
  for (int order = 0; order < 20; ++order) {
    std::vector<Chunk*> visit;
    for (Chunk& chunk : chunks) visit.push_back(&chunk);
    if (order) std::shuffle(visit.begin(), visit.end(), rng);  // order 0: by start time, as written
    ChunkHorizons horizons;
    for (Chunk* chunk : visit) NoteChunkStart(chunk->header(), &horizons);
    ResolveHorizons(horizons, ~uint64_t{0});
    AddressTable table;
    table.first_slots = 4;
    ReplayInOrder replay{&table, &horizons};
    for (Chunk* chunk : visit) ReplayChunkInOrder(chunk->header(), &replay);
    EXPECT_EQ(LiveBlocks(table), expected) << order;
    if (order == 0) {
      EXPECT_LT(table.used, all.used) << "released addresses were not dropped";
    }
  }
}

// One thread: its chunks follow one another, so every release is past every later chunk's start and the
// table ends with exactly the live blocks.
TEST(LiveBlockTable, OneThreadsReplayKeepsOnlyTheLiveBlocks) {
  std::vector<Chunk> chunks;
  uint64_t stamp = 1000;
  std::mt19937_64 rng(3);
  for (int c = 0; c < 8; ++c) {
    chunks.emplace_back(stamp);
    for (int i = 0; i < 500; ++i) {
      const uint64_t address = (1 + rng() % 5000) * 16;
      chunks.back().Add(rng() % 2 ? RecordKind::kMalloc : RecordKind::kFree, ++stamp, address, 8);
    }
  }
  ChunkHorizons horizons;
  for (Chunk& chunk : chunks) NoteChunkStart(chunk.header(), &horizons);
  ResolveHorizons(horizons, ~uint64_t{0});
  AddressTable table;
  ReplayInOrder replay{&table, &horizons};
  for (Chunk& chunk : chunks) ReplayChunkInOrder(chunk.header(), &replay);
  const std::map<uint64_t, uint64_t> live = LiveBlocks(table);
  ASSERT_GT(live.size(), 500u);
  EXPECT_EQ(table.used, live.size());
}

}  // namespace
}  // namespace memtrace::preload
