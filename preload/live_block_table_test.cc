#include "preload/live_block_table.h"

#include <gtest/gtest.h>

#include <vector>

namespace memtrace::preload {
namespace {

using format::RecordKind;

// A chunk as the writer leaves it: header, then records encoded with restarting deltas.
class Chunk {
 public:
  explicit Chunk(uint64_t first_timestamp) : bytes_(64 * 1024) {
    header()->first_timestamp = first_timestamp;
    deltas_ = {first_timestamp, 0};
    cursor_ = reinterpret_cast<uint8_t*>(header() + 1);
  }
  void Add(RecordKind kind, uint64_t timestamp, uint64_t address, uint64_t size = 0, uint8_t flags = 0) {
    format::Record r;
    r.kind = kind;
    r.address = address;
    r.size = size;
    r.count = 3;  // used by calloc only
    r.flags = flags;
    cursor_ = format::EncodeRecord(cursor_, deltas_, r, timestamp);
    header()->committed_bytes = static_cast<uint32_t>(cursor_ - reinterpret_cast<uint8_t*>(header() + 1));
    if (format::YieldsBlock(kind) && address) ++header()->blocks_allocated;
    if (format::ShapeOf(kind) == format::Shape::kRelease) ++header()->blocks_released;
  }
  format::ChunkHeader* header() { return reinterpret_cast<format::ChunkHeader*>(bytes_.data()); }

 private:
  std::vector<uint8_t> bytes_;
  format::DeltaState deltas_;
  uint8_t* cursor_;
};

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

}  // namespace
}  // namespace memtrace::preload
