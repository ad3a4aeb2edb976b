#include "analyzer/heap_state.h"

namespace memtrace::analyzer {

void HeapState::Insert(uint64_t address, const LiveBlock& block) {
  auto [it, inserted] = live_.try_emplace(address, block);
  if (!inserted) {
    ++double_allocations_;
    live_bytes_ -= it->second.size;
    it->second = block;
  }
  live_bytes_ += block.size;
  if (live_bytes_ > peak_live_bytes_) {
    peak_live_bytes_ = live_bytes_;
    peak_timestamp_ = block.timestamp;
  }
}

void HeapState::Apply(const Event& e) {
  if (IsRelease(e)) {
    auto it = live_.find(e.address);
    if (it == live_.end()) {
      ++unknown_releases_;
      return;
    }
    live_bytes_ -= it->second.size;
    live_.erase(it);
    return;
  }
  if (!IsAllocation(e)) return;
  LiveBlock block{RequestedBytes(e), e.timestamp, e.tid, e.stack_id, e.kind, VerdictOf(e)};
  allocated_bytes_ += block.size;
  if (IsResizeInPlace(e)) {
    auto it = live_.find(e.address);
    if (it != live_.end()) {
      live_bytes_ -= it->second.size;
      live_.erase(it);
    }
  }
  Insert(e.address, block);
}

}  // namespace memtrace::analyzer
