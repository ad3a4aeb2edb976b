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
    if (e.kind != RecordKind::kReallocRelease && AllocationFamily(it->second.kind) != ReleaseFamily(e.kind)) {
      ++mismatched_releases_;
      constexpr size_t kExamplesKept = 16;
      if (mismatch_examples_.size() < kExamplesKept) {
        mismatch_examples_.push_back({e.address, it->second, e.kind, e.tid, e.stack_id});
      }
    }
    live_bytes_ -= it->second.size;
    live_.erase(it);
    return;
  }
  if (!IsAllocation(e)) return;
  LiveBlock block{RequestedBytes(e), e.timestamp, e.tid, e.stack_id, e.kind, VerdictOf(e)};
  if (IsMainHeapChunk(e) && e.chunk_size / 16 <= UINT32_MAX)
    block.chunk_units = static_cast<uint32_t>(e.chunk_size / 16);
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
