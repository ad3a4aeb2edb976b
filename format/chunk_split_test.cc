// SplitChunkRecords/JoinChunkRecords give back every chunk byte for byte: whole records, records with
// meta bytes that are not varints, a cut or damaged tail; and a damaged split form is refused.
#include "format/chunk_split.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "format/trace_layout.h"
#include "tests/support/reader_records.h"
#include "tests/support/trace_builder.h"

namespace memtrace::format {
namespace {

using namespace reader_test;

std::vector<uint8_t> RoundTrip(const std::vector<uint8_t>& records, uint64_t first_timestamp) {
  std::vector<uint8_t> split;
  SplitChunkRecords(records.data(), records.size(), first_timestamp, &split);
  std::vector<uint8_t> joined(records.size());
  EXPECT_TRUE(JoinChunkRecords(split.data(), split.size(), joined.data(), joined.size(), first_timestamp));
  return joined;
}

TraceBuilder Mixed() {
  static const char path[] = "/usr/lib/x86_64-linux-gnu/libc.so.6\xc3\xa9\xff";  // ends in a byte >= 0x80
  static const uint64_t frames[] = {0x401136, 0x7f1234029d90};
  TraceBuilder b(65536);
  Record r;
  r.kind = RecordKind::kModule;
  r.timestamp = 5;
  r.address = 0x7f1234000000, r.size = 0x1e0000;
  r.bytes = reinterpret_cast<const uint8_t*>(path), r.byte_count = sizeof path - 1;
  b.Add(1, r);
  r = Record();
  r.kind = RecordKind::kStackDef;
  r.timestamp = 6, r.stack_id = 1, r.frames = frames, r.frame_count = 2;
  b.Add(1, r);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t t = 10 + uint64_t(i) * 3 + rng() % 3;
    if (i % 3 == 2) {
      b.Add(1, Release(RecordKind::kFree, t, 0x555555550000 + (rng() % 1024) * 0x40));
    } else if (i % 7 == 0) {
      b.Add(1, Mmap(t, 0x7f0000000000 + uint64_t(i) * 0x1000, 8192));
    } else {
      b.Add(1, Malloc(t, 0x555555550000 + (rng() % 1024) * 0x40, 16 + rng() % 240));
    }
  }
  return b;
}

TEST(ChunkSplitTest, RecordsComeBackByteForByte) {
  const std::vector<uint8_t> records = ChunkRecords(Mixed());
  ASSERT_GT(records.size(), 10000u);
  EXPECT_EQ(RoundTrip(records, 5), records);
}

TEST(ChunkSplitTest, CutAndDamagedTailsComeBack) {
  const std::vector<uint8_t> records = ChunkRecords(Mixed());
  for (size_t cut = 0; cut < 400; ++cut) {
    std::vector<uint8_t> part(records.begin(), records.begin() + static_cast<ptrdiff_t>(cut));
    ASSERT_EQ(RoundTrip(part, 5), part) << cut;
  }
  std::vector<uint8_t> damaged = records;
  for (size_t at = 100; at < damaged.size(); at += 997) damaged[at] ^= 0xa5;
  EXPECT_EQ(RoundTrip(damaged, 5), damaged);
}

// Frees of blocks handed out earlier and mallocs that get back the block their class freed last, as
// glibc's tcache does: the predicted mode is kept, round-trips, and stores far fewer address bytes.
TEST(ChunkSplitTest, PredictedAddressesRoundTrip) {
  TraceBuilder b(65536);
  std::mt19937_64 rng(11);
  std::vector<uint64_t> slots(256);
  uint64_t next = 0x555555560000, t = 1;
  for (uint64_t& slot : slots) {
    slot = next += 0x120;
    b.Add(1, Malloc(t++, slot, 64));
  }
  for (int i = 0; i < 1500; ++i) {
    uint64_t& slot = slots[rng() % slots.size()];
    Record r = Release(RecordKind::kFree, t++, slot);
    r.flags = kFlagChunkRead, r.chunk_size = RequestToChunkSize(64);
    b.Add(1, r);
    b.Add(1, Malloc(t++, slot, 64));  // the block just freed comes back
  }
  const std::vector<uint8_t> records = ChunkRecords(b);
  EXPECT_EQ(RoundTrip(records, 1), records);
  std::vector<uint8_t> split;
  SplitChunkRecords(records.data(), records.size(), 1, &split);
  uint32_t mode;
  std::memcpy(&mode, split.data(), 4);
  EXPECT_EQ(mode, 1u) << "the predicted form joined back differently and was dropped";
}

// A large chunk (the header allows up to 64 MiB) holds more live blocks than the predictor's table:
// the rest go unpredicted, alike in both directions.
TEST(ChunkSplitTest, MoreLiveBlocksThanTheTableRoundTrip) {
  TraceBuilder b(1 << 20);
  uint64_t t = 1;
  for (uint64_t i = 0; i < 40000; ++i) b.Add(1, Malloc(t++, 0x555555560000 + i * 0x20, 16));
  for (uint64_t i = 0; i < 40000; i += 3)
    b.Add(1, Release(RecordKind::kFree, t++, 0x555555560000 + i * 0x20));
  ASSERT_EQ(b.chunk_count(), 1u);
  const std::vector<uint8_t> records = ChunkRecords(b);
  EXPECT_EQ(RoundTrip(records, 1), records);
}

TEST(ChunkSplitTest, DamagedSplitFormIsRefused) {
  const std::vector<uint8_t> records = ChunkRecords(Mixed());
  std::vector<uint8_t> split;
  SplitChunkRecords(records.data(), records.size(), 5, &split);
  std::vector<uint8_t> out(records.size());
  // Wrong expected size, a cut split form, and a directory that overruns it.
  EXPECT_FALSE(JoinChunkRecords(split.data(), split.size(), out.data(), out.size() - 1, 5));
  EXPECT_FALSE(JoinChunkRecords(split.data(), split.size() - 1, out.data(), out.size(), 5));
  std::vector<uint8_t> bad = split;
  const uint32_t huge = 0xffffffff;
  std::memcpy(bad.data() + 12 + 2, &huge, 4);
  EXPECT_FALSE(JoinChunkRecords(bad.data(), bad.size(), out.data(), out.size(), 5));
  for (size_t cut = 0; cut < split.size(); cut += 7) {
    ASSERT_FALSE(JoinChunkRecords(split.data(), cut, out.data(), out.size(), 5)) << cut;
  }
}

// Plain allocations and releases with every flag combination, among other records: blocks freed before
// this chunk (their class known only from the release's chunk size) and handed out again, mostly.
std::vector<uint8_t> PlainCallsWithEveryFlag() {
  TraceBuilder b(65536);
  std::mt19937_64 rng(3);
  struct Slot {
    uint64_t address, size;
  };
  std::vector<Slot> slots(64);
  uint64_t next = 0x555555560000, t = 1;
  for (Slot& slot : slots) slot = {next += 0x100, 16 + rng() % 200};
  for (int i = 0; i < 3000; ++i) {
    Slot& slot = slots[rng() % slots.size()];
    const bool allocation = rng() % 2;
    if (allocation && rng() % 4 == 0) slot.size = 16 + rng() % 200;
    Record r = allocation ? Malloc(t++, slot.address, slot.size)
                          : Release(rng() % 2 ? RecordKind::kFree : RecordKind::kDelete, t++, slot.address);
    r.flags = static_cast<uint8_t>(rng() % (kKnownFlags + 1));
    if (r.kind == RecordKind::kDelete) r.size = rng() % 300, r.alignment = rng() % 2 ? 0 : 64;
    r.chunk_size = RequestToChunkSize(slot.size) + (rng() % 8 == 0 ? 16 : 0);
    r.chunk_offset = r.flags & kFlagMmapped ? 4080 : 0;
    r.brk_before = 0x555555a00000, r.brk_after = 0x555555a21000;
    r.stack_id = static_cast<uint32_t>(rng() % 5);
    b.Add(1, r);
    if (i % 500 == 0) b.Add(1, Mmap(t++, 0x7f0000000000 + uint64_t(i) * 0x1000, 8192));
  }
  return ChunkRecords(b);
}

// The fast path for plain calls gives exactly what the general path gives: the same verdict and bytes,
// for intact split forms, damaged ones, and a wrong expected size.
TEST(ChunkSplitTest, FastPathJoinsAsTheGeneralPath) {
  for (const std::vector<uint8_t>& records : {ChunkRecords(Mixed()), PlainCallsWithEveryFlag()}) {
    std::vector<uint8_t> split;
    SplitChunkRecords(records.data(), records.size(), 5, &split);
    uint32_t mode;
    std::memcpy(&mode, split.data(), 4);
    EXPECT_EQ(mode, 1u);
    auto expect_same = [&](const std::vector<uint8_t>& form, size_t size, const std::string& what) {
      std::vector<uint8_t> fast(size, 0), general(size, 0);
      const bool fast_ok = JoinChunkRecords(form.data(), form.size(), fast.data(), size, 5);
      const bool general_ok =
          internal::JoinChunkRecordsGenerally(form.data(), form.size(), general.data(), size, 5);
      ASSERT_EQ(fast_ok, general_ok) << what;
      if (fast_ok) {
        ASSERT_EQ(fast, general) << what;
      }
    };
    expect_same(split, records.size(), "intact");
    EXPECT_TRUE(JoinChunkRecords(split.data(), split.size(), std::vector<uint8_t>(records.size()).data(),
                                 records.size(), 5));
    for (size_t size : {records.size() - 1, records.size() + 1, records.size() / 2}) {
      expect_same(split, size, "size " + std::to_string(size));
    }
    std::mt19937_64 rng(9);
    for (int trial = 0; trial < 2000; ++trial) {
      std::vector<uint8_t> damaged = split;
      const size_t at = 12 + rng() % (damaged.size() - 12);  // past the header: damage the streams
      damaged[at] ^= static_cast<uint8_t>(1 + rng() % 255);
      expect_same(damaged, records.size(), "byte " + std::to_string(at));
    }
  }
}

}  // namespace
}  // namespace memtrace::format
