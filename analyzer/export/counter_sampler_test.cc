#include "analyzer/export/counter_sampler.h"

#include <gtest/gtest.h>

namespace memtrace::analyzer {
namespace {

TEST(CounterSamplerTest, KeepsAtMostOneChangePerIntervalAndTheFinalValues) {
  CounterSampler<1> sampler(1000, 1000);
  for (uint64_t t = 1; t <= 10'000; ++t) sampler.Observe(t, {t});  // a change every ns
  sampler.Close();
  const auto& samples = sampler.samples();
  ASSERT_FALSE(samples.empty());
  EXPECT_LE(samples.size(), 11u);
  for (size_t i = 1; i + 1 < samples.size(); ++i) {
    EXPECT_GE(samples[i].timestamp, samples[i - 1].timestamp + 1000) << i;
  }
  EXPECT_EQ(samples.back().values[0], 10'000u);
  EXPECT_EQ(samples.back().timestamp, 10'000u);
}

TEST(CounterSamplerTest, AChangeHeldBackIsKeptWhenTheIntervalEndsEvenIfNothingElseChanges) {
  CounterSampler<1> sampler(1000, 100);
  sampler.Observe(5000, {1});
  sampler.Observe(5100, {2});  // within the interval: held back
  sampler.Observe(9000, {2});  // no change, but the interval is over: the held value is kept
  ASSERT_EQ(sampler.samples().size(), 2u);
  EXPECT_EQ(sampler.samples()[1].timestamp, 6000u);
  EXPECT_EQ(sampler.samples()[1].values[0], 2u);
}

TEST(CounterSamplerTest, ThinsToItsCapOnLongSeries) {
  constexpr size_t kCap = 500;
  CounterSampler<2> sampler(1000, kCap);
  for (uint64_t t = 0; t < 5'000'000; t += 100) sampler.Observe(t, {t % 7, t});
  sampler.Close();
  EXPECT_LT(sampler.samples().size(), kCap);
  EXPECT_GT(sampler.samples().size(), kCap / 4);
  EXPECT_GT(sampler.interval_ns(), 1000u);
  EXPECT_EQ(sampler.samples().back().values[1], 5'000'000u - 100);
}

TEST(CounterSamplerTest, UnchangedValuesGiveNoSamples) {
  CounterSampler<1> sampler(1000, 100);
  for (uint64_t t = 0; t < 100'000; t += 10) sampler.Observe(t, {0});
  sampler.Close();
  EXPECT_TRUE(sampler.samples().empty());
}

}  // namespace
}  // namespace memtrace::analyzer
