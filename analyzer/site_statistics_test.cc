#include "analyzer/site_statistics.h"

#include <gtest/gtest.h>

#include "analyzer/heap_state.h"

namespace memtrace::analyzer {
namespace {

using format::RecordKind;

format::Event Malloc(uint64_t address, uint64_t size, uint32_t stack_id, uint32_t tid = 1) {
  format::Event e;
  e.kind = RecordKind::kMalloc;
  e.address = address;
  e.size = size;
  e.stack_id = stack_id;
  e.tid = tid;
  return e;
}

format::Event Free(uint64_t address, uint32_t tid = 1) {
  format::Event e;
  e.kind = RecordKind::kFree;
  e.address = address;
  e.tid = tid;
  return e;
}

// Applies each event to both aggregators, as a report's pass does.
struct Both {
  void Apply(const format::Event& e) {
    sites.Apply(e);
    heap.Apply(e);
  }
  SiteStatistics sites;
  HeapState heap;
};

TEST(SiteStatisticsTest, EachSiteKeepsItsShareOfTheFirstHighestPeak) {
  Both pass;
  pass.Apply(Malloc(0x1000, 100, 1));
  pass.Apply(Malloc(0x2000, 300, 2));  // peak 400: site 1 holds 100, site 2 300
  pass.Apply(Free(0x2000));
  pass.Apply(Malloc(0x3000, 250, 1));  // 350 < 400: not a new peak
  pass.Apply(Malloc(0x4000, 50, 2));   // 400 again: the first peak stands
  std::vector<SiteNumbers> sites = pass.sites.Sites();
  ASSERT_EQ(sites.size(), 2u);
  EXPECT_EQ(sites[0].peak_bytes, 100u);
  EXPECT_EQ(sites[1].peak_bytes, 300u);
  EXPECT_EQ(sites[0].live_bytes, 350u);
  EXPECT_EQ(sites[0].max_live_bytes, 350u);
  EXPECT_EQ(sites[1].max_live_bytes, 300u);
  EXPECT_EQ(pass.sites.peak_live_bytes(), pass.heap.peak_live_bytes());
}

TEST(SiteStatisticsTest, AnAddressHandedOutAgainEndsTheBlockThereAsHeapStateDoes) {
  Both pass;
  pass.Apply(Malloc(0x1000, 100, 1));
  pass.Apply(Malloc(0x1000, 40, 2));  // no free in between (a release memtrace did not see)
  const std::vector<SiteNumbers>& sites = pass.sites.sites();
  EXPECT_EQ(sites[0].live_bytes, 0u);
  EXPECT_EQ(sites[0].live_blocks, 0u);
  EXPECT_EQ(sites[1].live_bytes, 40u);
  EXPECT_EQ(sites[0].live_bytes + sites[1].live_bytes, pass.heap.live_bytes());
}

TEST(SiteStatisticsTest, AnInPlaceReallocMovesTheBytesToTheReallocSite) {
  Both pass;
  pass.Apply(Malloc(0x1000, 100, 1));
  format::Event grow;
  grow.kind = RecordKind::kRealloc;
  grow.address = grow.old_address = 0x1000;
  grow.size = 180;
  grow.stack_id = 2;
  pass.Apply(grow);
  const std::vector<SiteNumbers>& sites = pass.sites.sites();
  EXPECT_EQ(sites[0].live_bytes, 0u);
  EXPECT_EQ(sites[1].live_bytes, 180u);
  EXPECT_EQ(pass.heap.live_bytes(), 180u);
}

TEST(SiteStatisticsTest, TemporaryMeansFreedBeforeTheThreadsNextAllocation) {
  SiteStatistics sites;
  sites.Apply(Malloc(0x1000, 8, 1, /*tid=*/1));
  sites.Apply(Malloc(0x2000, 8, 2, /*tid=*/2));  // another thread's allocation does not count
  sites.Apply(Free(0x1000, /*tid=*/1));          // temporary
  sites.Apply(Malloc(0x3000, 8, 1, 1));
  sites.Apply(Malloc(0x4000, 8, 1, 1));
  sites.Apply(Free(0x3000, 1));  // not: 0x4000 came after it
  EXPECT_EQ(sites.sites()[0].temporary, 1u);
  EXPECT_EQ(sites.sites()[1].temporary, 0u);
}

TEST(SiteStatisticsTest, SitesWithoutStacksAreNamedByTheirCall) {
  SiteStatistics sites;
  sites.Apply(Malloc(0x1000, 8, 0));
  format::Event calloc = Malloc(0x2000, 8, 0);
  calloc.kind = RecordKind::kCalloc;
  calloc.count = 4;
  sites.Apply(calloc);
  sites.Apply(Malloc(0x3000, 8, 0));
  ASSERT_EQ(sites.sites().size(), 2u);
  EXPECT_EQ(sites.Find(0, RecordKind::kMalloc), 0);
  EXPECT_EQ(sites.Find(0, RecordKind::kCalloc), 1);
  EXPECT_EQ(sites.Find(5, RecordKind::kMalloc), -1);
  EXPECT_EQ(sites.sites()[1].bytes, 32u);
  EXPECT_EQ(sites.sites()[0].calls, 2u);
}

TEST(SiteStatisticsTest, RankingIsLargestFirstTiesByFirstAppearanceAndLeavesOutZeros) {
  SiteStatistics sites;
  sites.Apply(Malloc(0x1000, 10, 1));
  sites.Apply(Malloc(0x2000, 30, 2));
  sites.Apply(Malloc(0x3000, 10, 3));
  sites.Apply(Malloc(0x4000, 5, 4));
  sites.Apply(Free(0x4000));
  EXPECT_EQ(RankSites(sites.sites(), &SiteNumbers::live_bytes, 10), (std::vector<uint32_t>{1, 0, 2}));
  EXPECT_EQ(RankSites(sites.sites(), &SiteNumbers::bytes, 2), (std::vector<uint32_t>{1, 0}));
  std::vector<SiteBytes> top = sites.TopLive(1);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].site, 1u);
  EXPECT_EQ(top[0].bytes, 30u);
  EXPECT_EQ(top[0].blocks, 1u);
}

}  // namespace
}  // namespace memtrace::analyzer
