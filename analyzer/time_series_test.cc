#include "analyzer/time_series.h"

#include <gtest/gtest.h>

namespace memtrace::analyzer {
namespace {

std::vector<SiteBytes> Snapshot(uint64_t bytes) { return {SiteBytes{7, bytes, 1}}; }

TEST(TimeSeriesTest, BucketsKeepTheMaximumAndTheLastValue) {
  TimeSeries series(4, 10);
  series.Advance(1, [] { return Snapshot(0); });
  series.Record({100, 0, 0});
  series.Record({300, 0, 0});
  series.Record({200, 0, 0});
  series.Advance(15, [] { return Snapshot(200); });
  series.Record({50, 0, 0});
  series.Finish(Snapshot(50));
  ASSERT_EQ(series.buckets().size(), 2u);
  EXPECT_EQ(series.buckets()[0].max.heap_bytes, 300u);
  EXPECT_EQ(series.buckets()[0].last.heap_bytes, 200u);
  EXPECT_EQ(series.buckets()[0].top_live[0].bytes, 200u);
  // The second bucket starts at the first's final value.
  EXPECT_EQ(series.buckets()[1].max.heap_bytes, 200u);
  EXPECT_EQ(series.buckets()[1].last.heap_bytes, 50u);
}

TEST(TimeSeriesTest, LongTracesMergeBucketsAndStayBounded) {
  TimeSeries series(200, 1);
  uint64_t peak = 0;
  for (uint64_t t = 0; t < 1'000'000; t += 7) {
    series.Advance(t, [&] { return Snapshot(t); });
    uint64_t value = (t * 2654435761u) % 100000;
    peak = std::max(peak, value);
    series.Record({value, value / 2, t});
  }
  series.Finish(Snapshot(1));
  EXPECT_LE(series.buckets().size(), 200u);
  EXPECT_GE(series.buckets().size(), 100u);
  EXPECT_GE(series.width_ns() * series.buckets().size(), 1'000'000u - 7);
  uint64_t seen = 0;
  for (const TimeBucket& b : series.buckets()) seen = std::max(seen, b.max.heap_bytes);
  EXPECT_EQ(seen, peak) << "merging keeps every bucket's maximum";
  EXPECT_EQ(series.buckets().back().last.brk_bytes, 999'999u - 999'999u % 7);
}

TEST(TimeSeriesTest, AGapClosesEmptyBucketsWithTheValueCarriedOver) {
  TimeSeries series(8, 10);
  series.Advance(0, [] { return Snapshot(0); });
  series.Record({42, 0, 0});
  series.Advance(55, [] { return Snapshot(42); });
  series.Finish(Snapshot(42));
  ASSERT_EQ(series.buckets().size(), 6u);
  for (const TimeBucket& b : series.buckets()) EXPECT_EQ(b.max.heap_bytes, 42u);
}

}  // namespace
}  // namespace memtrace::analyzer
