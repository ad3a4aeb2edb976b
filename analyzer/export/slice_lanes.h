// Lanes for slices that overlap in time: Trace Event viewers draw the slices of one thread track as a
// stack, so two slices there must either nest or not overlap. Each lane is a track whose slices never
// overlap: a slice goes to the lane that became free first, if that lane is free by its start, else to
// a new lane (interval partitioning: as few lanes as the most slices alive at once).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace memtrace::analyzer {

struct TimeSpan {
  uint64_t begin = 0;
  uint64_t end = 0;  // >= begin; a lane is free again at `end` (a slice may start where the last ended)
};

// The lane of each span, in input order; lanes are numbered from 0 in order of first use.
std::vector<uint32_t> AssignLanes(const std::vector<TimeSpan>& spans);

}  // namespace memtrace::analyzer
