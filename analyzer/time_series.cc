#include "analyzer/time_series.h"

#include <algorithm>

namespace memtrace::analyzer {

namespace {

MemorySample Max(const MemorySample& a, const MemorySample& b) {
  return {std::max(a.heap_bytes, b.heap_bytes), std::max(a.mmapped_bytes, b.mmapped_bytes),
          std::max(a.brk_bytes, b.brk_bytes)};
}

}  // namespace

TimeSeries::TimeSeries(size_t max_buckets, uint64_t initial_width_ns)
    : max_buckets_(std::max<size_t>(2, max_buckets & ~size_t{1})),
      width_ns_(std::max<uint64_t>(1, initial_width_ns)) {
  buckets_.reserve(max_buckets_);
}

void TimeSeries::Record(const MemorySample& now) {
  open_.max = Max(open_.max, now);
  open_.last = now;
}

void TimeSeries::Close(const std::vector<SiteBytes>& top_live) {
  open_.top_live = top_live;
  buckets_.push_back(open_);
  // The next bucket starts where this one ended: nothing changes until the next event.
  open_.max = open_.last;
  open_.top_live.clear();
  if (buckets_.size() == max_buckets_) MergePairs();
}

void TimeSeries::MergePairs() {
  for (size_t i = 0; i < buckets_.size() / 2; ++i) {
    TimeBucket& earlier = buckets_[2 * i];
    TimeBucket& later = buckets_[2 * i + 1];
    TimeBucket merged;
    merged.max = Max(earlier.max, later.max);
    merged.last = later.last;
    merged.top_live = std::move(later.top_live);
    buckets_[i] = std::move(merged);
  }
  buckets_.resize(buckets_.size() / 2);
  width_ns_ *= 2;
}

void TimeSeries::Finish(std::vector<SiteBytes> top_live) {
  open_.top_live = std::move(top_live);
  buckets_.push_back(open_);
  open_ = TimeBucket{};
}

}  // namespace memtrace::analyzer
