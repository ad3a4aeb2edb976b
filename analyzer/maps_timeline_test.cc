#include "analyzer/maps_timeline.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <utility>
#include <vector>

#include "tests/support/mapping_events.h"

namespace memtrace::analyzer {
namespace {

constexpr uint64_t kPage = 4096;
using format::RecordKind;

format::Event Call(RecordKind kind, uint64_t timestamp, uint64_t address, uint64_t size, uint32_t tid) {
  return test_support::MappingEvent(kind, timestamp, address, size, tid);
}

format::Event Entry(uint64_t timestamp, int64_t sequence, uint64_t begin, uint64_t end) {
  format::Event entry = Call(RecordKind::kMapEntry, timestamp, begin, end - begin, /*tid=*/1);
  entry.param = sequence;
  return entry;
}

format::Event End(uint64_t timestamp, int64_t sequence, format::SnapshotReason reason) {
  format::Event done = Call(RecordKind::kMapsSnapshotEnd, timestamp, 0, 0, /*tid=*/1);
  done.param = sequence;
  done.prot = static_cast<uint64_t>(reason);
  return done;
}

std::vector<std::pair<uint64_t, uint64_t>> Ranges(const MapsTimeline& timeline) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const auto& [begin, region] : timeline.regions().regions()) out.emplace_back(begin, region.end);
  return out;
}

class MapsTimelineTest : public ::testing::Test {
 protected:
  MapsTimelineTest() { timeline_.Begin(TraceInfo{}); }
  MapsTimeline timeline_;
};

TEST_F(MapsTimelineTest, AnUnmapRecordedWhileASnapshotIsReadWinsOverTheStaleEntry) {
  timeline_.Apply(Entry(1, 1, 0x10000, 0x12000));
  timeline_.Apply(End(2, 1, format::SnapshotReason::kStart));
  timeline_.Apply(Call(RecordKind::kMmap, 3, 0x40000, 2 * kPage, 2));
  // Thread 1 reads the maps (still showing 0x40000) while thread 2 unmaps it.
  timeline_.Apply(Entry(10, 2, 0x10000, 0x12000));
  timeline_.Apply(Call(RecordKind::kMunmap, 11, 0x40000, 2 * kPage, 2));
  timeline_.Apply(Entry(12, 2, 0x40000, 0x42000));
  timeline_.Apply(End(13, 2, format::SnapshotReason::kPeriodic));
  EXPECT_EQ(Ranges(timeline_), (std::vector<std::pair<uint64_t, uint64_t>>{{0x10000, 0x12000}}));
}

TEST_F(MapsTimelineTest, AMapRecordedWhileASnapshotIsReadStaysEvenIfTheSnapshotMissedIt) {
  timeline_.Apply(Entry(1, 1, 0x10000, 0x12000));
  timeline_.Apply(End(2, 1, format::SnapshotReason::kStart));
  timeline_.Apply(Entry(10, 2, 0x10000, 0x12000));
  timeline_.Apply(Call(RecordKind::kMmap, 11, 0x40000, kPage, 2));  // after its line was read
  timeline_.Apply(End(12, 2, format::SnapshotReason::kPeriodic));
  EXPECT_EQ(Ranges(timeline_),
            (std::vector<std::pair<uint64_t, uint64_t>>{{0x10000, 0x12000}, {0x40000, 0x41000}}));
  for (const MapChange& change : timeline_.changes()) {
    EXPECT_NE(change.type, MapChange::Type::kVanished) << change.begin;
  }
}

TEST_F(MapsTimelineTest, WhatNoEventTouchedIsTakenFromTheSnapshot) {
  timeline_.Apply(Entry(1, 1, 0x10000, 0x12000));
  timeline_.Apply(End(2, 1, format::SnapshotReason::kStart));
  // libc mapped a locale file with its internal mmap: only the next snapshot shows it.
  format::Event file = Entry(10, 2, 0x50000, 0x53000);
  file.prot = PROT_READ;
  const char path[] = "/usr/lib/locale/C.utf8/LC_CTYPE";
  file.bytes = reinterpret_cast<const uint8_t*>(path);
  file.byte_count = sizeof path - 1;
  file.count = 77;  // inode
  timeline_.Apply(Entry(10, 2, 0x10000, 0x12000));
  timeline_.Apply(file);
  timeline_.Apply(End(11, 2, format::SnapshotReason::kLibcCall));
  uint64_t begin = 0;
  const Region* found = timeline_.regions().Find(0x51000, &begin);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(begin, 0x50000u);
  EXPECT_EQ(found->origin, Origin::kLoader);
  EXPECT_EQ(found->path, path);
  ASSERT_FALSE(timeline_.changes().empty());
  EXPECT_EQ(timeline_.changes().back().type, MapChange::Type::kDiscovered);
}

TEST_F(MapsTimelineTest, APosixSpawnStackIsATransientChangeOutsideTheMap) {
  timeline_.Apply(Entry(1, 1, 0x10000, 0x12000));
  timeline_.Apply(End(2, 1, format::SnapshotReason::kStart));
  format::Event spawn = Call(RecordKind::kPosixSpawn, 3, 0, 33296, 1);  // length not page-aligned
  spawn.prot = PROT_READ | PROT_WRITE;
  timeline_.Apply(spawn);
  format::Event failed = Call(RecordKind::kPosixSpawnp, 4, 0, 0, 1);  // nothing mapped (E2BIG)
  timeline_.Apply(failed);
  EXPECT_EQ(Ranges(timeline_), (std::vector<std::pair<uint64_t, uint64_t>>{{0x10000, 0x12000}}));
  ASSERT_EQ(timeline_.changes().size(), 1u);
  const MapChange& change = timeline_.changes().front();
  EXPECT_EQ(change.type, MapChange::Type::kTransient);
  EXPECT_EQ((std::pair{change.begin, change.end}), (std::pair{uint64_t{0}, 9 * kPage}));
  EXPECT_EQ(change.prot, static_cast<uint64_t>(PROT_READ | PROT_WRITE));
  EXPECT_EQ(change.cause, RecordKind::kPosixSpawn);
}

}  // namespace
}  // namespace memtrace::analyzer
