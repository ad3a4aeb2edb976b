#include "analyzer/brk_timeline.h"

#include <algorithm>

namespace memtrace::analyzer {

void BreakTimeline::Apply(const Event& e) {
  bool startup = e.kind == RecordKind::kStartupBreakMove;
  if (!startup && (!(e.flags & format::kFlagBrkMoved) || format::IsMeta(e.kind))) return;
  uint64_t requested = format::YieldsBlock(e.kind) ? RequestedBytes(e) : 0;
  moves_.push_back({e.timestamp, e.tid, e.kind, requested, e.brk_before, e.brk_after, e.stack_id});
  current_ = e.brk_after;
  peak_ = std::max(peak_, current_);
}

}  // namespace memtrace::analyzer
