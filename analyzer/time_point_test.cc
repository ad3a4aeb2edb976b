#include "analyzer/time_point.h"

#include <gtest/gtest.h>

namespace memtrace::analyzer {
namespace {

TimePoint Parse(const char* text) {
  TimePoint point;
  std::string error;
  EXPECT_TRUE(ParseTimePoint(text, &point, &error)) << text << ": " << error;
  return point;
}

TEST(TimePointTest, Durations) {
  EXPECT_EQ(Parse("123456789ns").offset_ns, 123456789u);
  EXPECT_EQ(Parse("1.5s").offset_ns, 1500000000u);
  EXPECT_EQ(Parse("250ms").offset_ns, 250000000u);
  EXPECT_EQ(Parse("7us").offset_ns, 7000u);
  EXPECT_EQ(Parse("0ns").offset_ns, 0u);
  EXPECT_EQ(Parse("2s").kind, TimePoint::Kind::kOffset);
}

TEST(TimePointTest, ShareOfTheRunAndPeak) {
  TimePoint half = Parse("50%");
  EXPECT_EQ(half.kind, TimePoint::Kind::kFraction);
  EXPECT_DOUBLE_EQ(half.fraction, 0.5);
  EXPECT_DOUBLE_EQ(Parse("100%").fraction, 1.0);
  EXPECT_DOUBLE_EQ(Parse("12.5%").fraction, 0.125);
  EXPECT_EQ(Parse("peak").kind, TimePoint::Kind::kPeak);
  EXPECT_DOUBLE_EQ(Parse("end").fraction, 1.0);
}

TEST(TimePointTest, RejectsWhatItCannotMean) {
  for (const char* bad :
       {"", "12", "s", "-1s", "+1s", "1.5 s", "101%", "peak!", "1e400s", "nan%", "1,5s", "5m"}) {
    TimePoint point;
    std::string error;
    EXPECT_FALSE(ParseTimePoint(bad, &point, &error)) << bad;
    EXPECT_NE(error.find("--at"), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace memtrace::analyzer
