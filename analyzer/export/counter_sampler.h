// Samples a few counters that change with every event down to a bounded series: at most one sample
// per interval (the latest values win; a change held back is stamped at the interval's end), and when the
// series reaches its cap the interval doubles and the series is thinned, so a trace of any length gives at
// most `max_samples` points. The final values are always kept.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace memtrace::analyzer {

template <size_t N>
class CounterSampler {
 public:
  using Values = std::array<uint64_t, N>;
  struct Sample {
    uint64_t timestamp;
    Values values;
  };

  CounterSampler(uint64_t interval_ns, size_t max_samples)
      : interval_(interval_ns), max_samples_(max_samples) {}

  // The counters' values after an event at `timestamp` (non-decreasing).
  void Observe(uint64_t timestamp, const Values& values) {
    last_timestamp_ = timestamp;
    // A change held back is shown from the earliest moment the interval allows: off by < interval.
    if (dirty_ && timestamp >= next_) KeepAt(next_);
    if (values == latest_) return;
    latest_ = values;
    dirty_ = true;
    held_since_ = timestamp;
    if (timestamp >= next_) KeepAt(timestamp);
  }

  // Keeps the latest values if they are not kept yet: call once after the last event.
  void Close() {
    if (dirty_) KeepAt(std::min(std::max(held_since_, next_), last_timestamp_));
  }

  const std::vector<Sample>& samples() const { return samples_; }
  uint64_t interval_ns() const { return interval_; }

 private:
  void KeepAt(uint64_t timestamp) {
    samples_.push_back({timestamp, latest_});
    dirty_ = false;
    next_ = timestamp + interval_;
    if (samples_.size() >= max_samples_) Thin();
  }

  // Doubles the interval and drops the samples closer than it to the one kept before them; the last
  // sample always stays, since it holds the current values.
  void Thin() {
    interval_ *= 2;
    std::vector<Sample> thinned;
    for (size_t i = 0; i < samples_.size(); ++i) {
      bool last = i + 1 == samples_.size();
      if (last || thinned.empty() || samples_[i].timestamp >= thinned.back().timestamp + interval_) {
        thinned.push_back(samples_[i]);
      }
    }
    samples_ = std::move(thinned);
    next_ = samples_.back().timestamp + interval_;
  }

  uint64_t interval_;
  size_t max_samples_;
  uint64_t next_ = 0;
  bool dirty_ = false;  // latest_ changed since the last kept sample
  uint64_t held_since_ = 0;
  uint64_t last_timestamp_ = 0;
  Values latest_{};
  std::vector<Sample> samples_;
};

}  // namespace memtrace::analyzer
