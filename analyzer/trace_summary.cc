#include "analyzer/trace_summary.h"

namespace memtrace::analyzer {

void TraceSummary::Apply(const Event& e) {
  brk_->Apply(e);  // sees memtrace's own start-up move too, a meta record
  processes_.Apply(e);
  if (format::IsMeta(e.kind)) return;
  // A moving realloc's release half is part of the realloc call, not a call of its own.
  if (e.kind != RecordKind::kReallocRelease) {
    ++calls_[static_cast<uint8_t>(e.kind)];
    ++total_calls_;
  }
  if (IsAllocation(e)) ++allocations_[static_cast<int>(VerdictOf(e))];
  heap_.Apply(e);
}

}  // namespace memtrace::analyzer
