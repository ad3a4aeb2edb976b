// Memory over time in a fixed number of buckets, for a trace whose length is unknown while it streams:
// buckets start narrow and, whenever they would outnumber the limit, neighbours merge pairwise and the
// width doubles. Memory and output stay bounded by the bucket count whatever the trace's length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace memtrace::analyzer {

// The measures a bucket tracks, all in bytes.
struct MemorySample {
  uint64_t heap_bytes = 0;     // requested bytes of live blocks
  uint64_t mmapped_bytes = 0;  // mapping lengths of live mmapped chunks
  uint64_t brk_bytes = 0;      // program break above its initial value
};

// A site and its live bytes at one moment.
struct SiteBytes {
  uint32_t site = 0;  // index in SiteStatistics::sites()
  uint64_t bytes = 0;
  uint64_t blocks = 0;
};

struct TimeBucket {
  MemorySample max;                 // highest value of each measure inside the bucket
  MemorySample last;                // values when the bucket ended
  std::vector<SiteBytes> top_live;  // the largest live sites when the bucket ended
};

class TimeSeries {
 public:
  // `max_buckets` must be even; `initial_width_ns` is the finest resolution.
  explicit TimeSeries(size_t max_buckets = 200, uint64_t initial_width_ns = 1000);

  // Moves the clock to `time` (ns since the trace began), closing each bucket that ends at or before
  // it. `top_live()` is called at most once, only if a bucket closes, to snapshot the live sites.
  template <typename TopLive>
  void Advance(uint64_t time, TopLive&& top_live) {
    if (time < EndOfOpenBucket()) return;
    std::vector<SiteBytes> snapshot = top_live();
    while (time >= EndOfOpenBucket()) Close(snapshot);
  }

  // The state right after an event at the current time.
  void Record(const MemorySample& now);

  // Closes the open bucket; call once after the last event.
  void Finish(std::vector<SiteBytes> top_live);

  uint64_t width_ns() const { return width_ns_; }
  const std::vector<TimeBucket>& buckets() const { return buckets_; }

 private:
  uint64_t EndOfOpenBucket() const { return (buckets_.size() + 1) * width_ns_; }
  void Close(const std::vector<SiteBytes>& top_live);
  void MergePairs();

  size_t max_buckets_;
  uint64_t width_ns_;
  std::vector<TimeBucket> buckets_;  // closed buckets; bucket i covers [i * width, (i + 1) * width)
  TimeBucket open_;
};

}  // namespace memtrace::analyzer
