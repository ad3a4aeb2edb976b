#include "analyzer/memory_profile.h"

#include <algorithm>

namespace memtrace::analyzer {

void MemoryProfile::Begin(const TraceInfo& info) {
  start_ns_ = info.header.start_monotonic_ns;
  brk_.emplace(info.header.initial_break, &heap_, info.header.pid);
}

MemorySample MemoryProfile::Now() const {
  uint64_t brk_above = brk_->current() > brk_->initial() ? brk_->current() - brk_->initial() : 0;
  return {heap_.live_bytes(), mmapped_bytes_, brk_above};
}

void MemoryProfile::Forget(uint64_t address) {
  auto mapping = mapping_length_.find(address);
  if (mapping != mapping_length_.end()) {
    mmapped_bytes_ -= mapping->second;
    mapping_length_.erase(mapping);
  }
}

void MemoryProfile::Apply(const Event& e) {
  brk_->Apply(e);  // memtrace's own start-up break move is a meta record
  if (format::IsMeta(e.kind)) return;
  uint64_t time = e.timestamp > start_ns_ ? e.timestamp - start_ns_ : 0;
  series_.Advance(time, [this] { return sites_.TopLive(kTopLivePerBucket); });
  if (e.kind != RecordKind::kReallocRelease) ++total_calls_;
  // A release, an in-place resize and a re-handed address all end the block that was at the address.
  if (IsRelease(e) || IsAllocation(e)) Forget(e.address);
  sites_.Apply(e);
  heap_.Apply(e);
  if (IsAllocation(e)) {
    Verdict verdict = VerdictOf(e);
    uint64_t bytes = RequestedBytes(e);
    ++allocations_[static_cast<int>(verdict)];
    ++sizes_.counts[SizeHistogram::BucketOf(bytes)][static_cast<int>(verdict)];
    if (verdict == Verdict::kMmapped) {
      mapping_length_[e.address] = MappingLength(e);
      mmapped_bytes_ += MappingLength(e);
      peak_mmapped_bytes_ = std::max(peak_mmapped_bytes_, mmapped_bytes_);
    }
  }
  series_.Record(Now());
}

void MemoryProfile::Finish() { series_.Finish(sites_.TopLive(kTopLivePerBucket)); }

}  // namespace memtrace::analyzer
