#include "analyzer/export/slice_lanes.h"

#include <algorithm>
#include <numeric>
#include <queue>
#include <utility>

namespace memtrace::analyzer {

std::vector<uint32_t> AssignLanes(const std::vector<TimeSpan>& spans) {
  std::vector<size_t> order(spans.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return spans[a].begin < spans[b].begin; });
  // (free from, lane), earliest free first; ties to the lowest lane so the result is deterministic.
  using FreeLane = std::pair<uint64_t, uint32_t>;
  std::priority_queue<FreeLane, std::vector<FreeLane>, std::greater<>> free_at;
  std::vector<uint32_t> lanes(spans.size());
  uint32_t used = 0;
  for (size_t i : order) {
    uint32_t lane;
    if (!free_at.empty() && free_at.top().first <= spans[i].begin) {
      lane = free_at.top().second;
      free_at.pop();
    } else {
      lane = used++;
    }
    lanes[i] = lane;
    free_at.push({spans[i].end, lane});
  }
  return lanes;
}

}  // namespace memtrace::analyzer
