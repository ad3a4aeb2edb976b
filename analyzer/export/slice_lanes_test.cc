#include "analyzer/export/slice_lanes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace memtrace::analyzer {
namespace {

// No two spans on one lane overlap.
void ExpectDisjointLanes(const std::vector<TimeSpan>& spans, const std::vector<uint32_t>& lanes) {
  ASSERT_EQ(spans.size(), lanes.size());
  std::map<uint32_t, std::vector<TimeSpan>> by_lane;
  for (size_t i = 0; i < spans.size(); ++i) by_lane[lanes[i]].push_back(spans[i]);
  for (auto& [lane, list] : by_lane) {
    std::sort(list.begin(), list.end(),
              [](const TimeSpan& a, const TimeSpan& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < list.size(); ++i) {
      EXPECT_LE(list[i - 1].end, list[i].begin) << "lane " << lane;
    }
  }
}

TEST(SliceLanesTest, DisjointSpansShareOneLaneAndTouchingSpansToo) {
  std::vector<TimeSpan> spans = {{0, 10}, {10, 20}, {30, 40}, {20, 20}};
  EXPECT_EQ(AssignLanes(spans), (std::vector<uint32_t>{0, 0, 0, 0}));
}

TEST(SliceLanesTest, AsManyLanesAsSpansAliveAtOnce) {
  // At time 5 three spans are alive; never more.
  std::vector<TimeSpan> spans = {{0, 100}, {2, 6}, {4, 8}, {6, 50}, {8, 9}, {60, 70}, {70, 200}};
  std::vector<uint32_t> lanes = AssignLanes(spans);
  ExpectDisjointLanes(spans, lanes);
  EXPECT_EQ(*std::max_element(lanes.begin(), lanes.end()), 2u);
  EXPECT_EQ(lanes[0], 0u);
}

TEST(SliceLanesTest, ManySpansStayDisjointPerLane) {
  std::vector<TimeSpan> spans;
  uint64_t state = 12345;
  for (int i = 0; i < 5000; ++i) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    uint64_t begin = (state >> 20) % 100000;
    spans.push_back({begin, begin + (state >> 40) % 500});
  }
  std::vector<uint32_t> lanes = AssignLanes(spans);
  ExpectDisjointLanes(spans, lanes);
  // Optimal: the lane count equals the most spans alive at one instant.
  std::vector<std::pair<uint64_t, int>> edges;
  for (const TimeSpan& s : spans) {
    edges.push_back({s.begin, +1});
    edges.push_back({s.end, -1});
  }
  std::sort(edges.begin(), edges.end());  // at equal times the ends (-1) come first
  int alive = 0, most = 0;
  for (const auto& [time, delta] : edges) most = std::max(most, alive += delta);
  EXPECT_EQ(*std::max_element(lanes.begin(), lanes.end()) + 1, static_cast<uint32_t>(most));
}

}  // namespace
}  // namespace memtrace::analyzer
