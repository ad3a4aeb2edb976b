#include "analyzer/mapping_lifetimes.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <utility>
#include <vector>

#include "tests/support/mapping_events.h"

namespace memtrace::analyzer {
namespace {

constexpr uint64_t kPage = 4096;
using format::RecordKind;

format::Event Call(RecordKind kind, uint64_t timestamp, uint64_t address, uint64_t size) {
  return test_support::MappingEvent(kind, timestamp, address, size);
}

class MappingLifetimesTest : public ::testing::Test {
 protected:
  explicit MappingLifetimesTest(size_t cap = 100) : lifetimes_(cap) { lifetimes_.Begin(TraceInfo{}); }
  MappingLifetimes lifetimes_;
};

TEST_F(MappingLifetimesTest, ALifetimeOutlivesSplitsAndPartialUnmapsAndEndsWhenMremapMovesItsLastBytes) {
  lifetimes_.Apply(Call(RecordKind::kMmap, 10, 0x10000, 3 * kPage));
  format::Event protect = Call(RecordKind::kMprotect, 20, 0x11000, kPage);
  protect.prot = PROT_READ;
  lifetimes_.Apply(protect);
  lifetimes_.Apply(Call(RecordKind::kMunmap, 30, 0x10000, kPage));
  ASSERT_EQ(lifetimes_.lifetimes().size(), 1u);
  EXPECT_FALSE(lifetimes_.lifetimes()[0].ended);
  EXPECT_EQ(lifetimes_.mapped_bytes(), 2 * kPage);

  format::Event move = Call(RecordKind::kMremap, 40, 0x40000, 4 * kPage);
  move.old_address = 0x11000;
  move.old_size = 2 * kPage;
  lifetimes_.Apply(move);
  ASSERT_EQ(lifetimes_.lifetimes().size(), 2u);
  const MappingLifetime& first = lifetimes_.lifetimes()[0];
  EXPECT_TRUE(first.ended);
  EXPECT_EQ(first.death_ns, 40u);
  EXPECT_EQ(first.ended_by, RecordKind::kMremap);
  EXPECT_EQ(first.begin, 0x10000u);
  EXPECT_EQ(first.end, 0x10000u + 3 * kPage);
  EXPECT_EQ(first.start, MappingLifetime::Start::kBirth);
  EXPECT_EQ(first.origin, Origin::kProgram);
  const MappingLifetime& moved = lifetimes_.lifetimes()[1];
  EXPECT_EQ(moved.start, MappingLifetime::Start::kResize);
  EXPECT_EQ(moved.birth_ns, 40u);
  EXPECT_EQ(moved.begin, 0x40000u);
  EXPECT_EQ(moved.end - moved.begin, 4 * kPage);
  EXPECT_FALSE(moved.ended);
  EXPECT_EQ(lifetimes_.mapped_bytes(), 4 * kPage);

  lifetimes_.Apply(Call(RecordKind::kMunmap, 50, 0x40000, 4 * kPage));
  EXPECT_TRUE(lifetimes_.lifetimes()[1].ended);
  EXPECT_EQ(lifetimes_.lifetimes()[1].ended_by, RecordKind::kMunmap);
  EXPECT_EQ(lifetimes_.mapped_bytes(), 0u);
}

TEST_F(MappingLifetimesTest, AMappingPlacedOverAnotherEndsIt) {
  lifetimes_.Apply(Call(RecordKind::kMmap, 10, 0x80000, 2 * kPage));
  lifetimes_.Apply(Call(RecordKind::kMmap, 20, 0x90000, kPage));
  // MAP_FIXED over the first's two pages: the first is gone, the neighbour is not.
  lifetimes_.Apply(Call(RecordKind::kMmap, 30, 0x80000, 2 * kPage));
  ASSERT_EQ(lifetimes_.lifetimes().size(), 3u);
  EXPECT_TRUE(lifetimes_.lifetimes()[0].ended);
  EXPECT_EQ(lifetimes_.lifetimes()[0].death_ns, 30u);
  EXPECT_EQ(lifetimes_.lifetimes()[0].ended_by, RecordKind::kMmap);
  EXPECT_FALSE(lifetimes_.lifetimes()[1].ended);
  EXPECT_FALSE(lifetimes_.lifetimes()[2].ended);
  EXPECT_EQ(lifetimes_.mapped_bytes(), 3 * kPage);
  // Covering only part of it leaves the rest alive.
  lifetimes_.Apply(Call(RecordKind::kMmap, 40, 0x81000, kPage));
  EXPECT_FALSE(lifetimes_.lifetimes()[2].ended);
}

// One /proc/self/maps snapshot of the given anonymous rw ranges.
void Snapshot(MappingLifetimes& lifetimes, uint64_t timestamp, int64_t sequence,
              format::SnapshotReason reason, const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
  for (const auto& [begin, end] : ranges) {
    format::Event entry = Call(RecordKind::kMapEntry, timestamp, begin, end - begin);
    entry.param = sequence;
    lifetimes.Apply(entry);
  }
  format::Event done = Call(RecordKind::kMapsSnapshotEnd, timestamp, 0, 0);
  done.param = sequence;
  done.prot = static_cast<uint64_t>(reason);
  lifetimes.Apply(done);
}

TEST_F(MappingLifetimesTest, ASnapshotMergingNeighboursEndsNeitherAndNamesWhatWasThereBefore) {
  Snapshot(lifetimes_, 5, 1, format::SnapshotReason::kStart, {{0x1000, 0x3000}});
  ASSERT_EQ(lifetimes_.lifetimes().size(), 1u);
  EXPECT_EQ(lifetimes_.lifetimes()[0].start, MappingLifetime::Start::kAtStart);
  lifetimes_.Apply(Call(RecordKind::kMmap, 10, 0x20000, kPage));
  lifetimes_.Apply(Call(RecordKind::kMmap, 20, 0x21000, kPage));
  // The kernel shows the two mmaps as one VMA.
  Snapshot(lifetimes_, 30, 2, format::SnapshotReason::kDlopen, {{0x1000, 0x3000}, {0x20000, 0x22000}});
  ASSERT_EQ(lifetimes_.lifetimes().size(), 3u);
  for (const MappingLifetime& l : lifetimes_.lifetimes()) EXPECT_FALSE(l.ended);
  lifetimes_.Apply(Call(RecordKind::kMunmap, 40, 0x21000, kPage));
  EXPECT_FALSE(lifetimes_.lifetimes()[1].ended);
  EXPECT_TRUE(lifetimes_.lifetimes()[2].ended);
  EXPECT_EQ(lifetimes_.lifetimes()[2].death_ns, 40u);
  EXPECT_EQ(lifetimes_.mapped_bytes(), 0x2000 + kPage);
}

class CappedMappingLifetimesTest : public MappingLifetimesTest {
 protected:
  CappedMappingLifetimesTest() : MappingLifetimesTest(2) {}
};

TEST_F(CappedMappingLifetimesTest, BirthsPastTheCapAreCountedByOrigin) {
  for (uint64_t i = 0; i < 5; ++i)
    lifetimes_.Apply(Call(RecordKind::kMmap, 10 + i, 0x100000 + i * 0x10000, kPage));
  EXPECT_EQ(lifetimes_.lifetimes().size(), 2u);
  EXPECT_EQ(lifetimes_.dropped_total(), 3u);
  EXPECT_EQ(lifetimes_.dropped()[static_cast<size_t>(Origin::kProgram)], 3u);
  EXPECT_EQ(lifetimes_.mapped_bytes(), 5 * kPage);  // the counter sees every mapping
  for (uint64_t i = 0; i < 5; ++i)
    lifetimes_.Apply(Call(RecordKind::kMunmap, 20 + i, 0x100000 + i * 0x10000, kPage));
  EXPECT_TRUE(lifetimes_.lifetimes()[0].ended && lifetimes_.lifetimes()[1].ended);
  EXPECT_EQ(lifetimes_.mapped_bytes(), 0u);
}

}  // namespace
}  // namespace memtrace::analyzer
