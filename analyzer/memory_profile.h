// One streaming consumer that aggregates everything a whole-trace report draws: live heap, mmapped-chunk
// and program-break bytes over time (TimeSeries), allocation sites (SiteStatistics) with the largest live
// sites per time bucket, and request sizes by glibc's heap/mmap verdict. Its live-block bookkeeping is
// HeapState's own, so its numbers equal `memtrace summary`'s.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <array>
#include <cstdint>
#include <optional>

#include "analyzer/brk_timeline.h"
#include "analyzer/heap_state.h"
#include "analyzer/site_statistics.h"
#include "analyzer/time_series.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

// Allocation counts by request size: bucket k holds sizes in [2^(k-1), 2^k), bucket 0 size 0.
struct SizeHistogram {
  static constexpr int kBuckets = 65;
  static int BucketOf(uint64_t size) { return size == 0 ? 0 : 64 - __builtin_clzll(size); }
  std::array<std::array<uint64_t, 3>, kBuckets> counts{};  // [bucket][Verdict]
};

class MemoryProfile : public EventConsumer {
 public:
  static constexpr size_t kTimeBuckets = 200;
  static constexpr size_t kTopLivePerBucket = 8;

  void Begin(const TraceInfo& info) override;
  void Apply(const Event& e) override;
  // Closes the last time bucket; call after the pass.
  void Finish();

  const HeapState& heap() const { return heap_; }
  const BreakTimeline& brk() const { return *brk_; }
  const SiteStatistics& sites() const { return sites_; }
  const TimeSeries& series() const { return series_; }
  const SizeHistogram& sizes() const { return sizes_; }
  uint64_t allocations(Verdict verdict) const { return allocations_[static_cast<int>(verdict)]; }
  uint64_t total_allocations() const { return allocations_[0] + allocations_[1] + allocations_[2]; }
  uint64_t total_calls() const { return total_calls_; }
  uint64_t peak_mmapped_bytes() const { return peak_mmapped_bytes_; }

 private:
  // Takes the live block at `address`, if any, out of the mmapped accounts.
  void Forget(uint64_t address);
  MemorySample Now() const;

  uint64_t start_ns_ = 0;
  HeapState heap_;
  std::optional<BreakTimeline> brk_;
  SiteStatistics sites_{&heap_};  // applied before heap_
  TimeSeries series_{kTimeBuckets};
  SizeHistogram sizes_;
  std::array<uint64_t, 3> allocations_{};
  uint64_t total_calls_ = 0;
  absl::flat_hash_map<uint64_t, uint64_t> mapping_length_;  // live mmapped chunks: address -> mapping length
  uint64_t mmapped_bytes_ = 0;
  uint64_t peak_mmapped_bytes_ = 0;
};

}  // namespace memtrace::analyzer
