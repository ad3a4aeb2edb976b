#include "analyzer/brk_timeline.h"

#include <algorithm>

namespace memtrace::analyzer {

namespace {

// The highest end of a live main-heap chunk below `limit`.
uint64_t HeapFloor(const HeapState& heap, uint64_t limit) {
  uint64_t floor = 0;
  for (const auto& [address, block] : heap.live()) {
    uint64_t end = address - 16 + block.chunk_size();
    if (block.chunk_units && end <= limit) floor = std::max(floor, end);
  }
  return floor;
}

}  // namespace

void BreakTimeline::Push(const BreakMove& move) {
  moves_.push_back(move);
  if (move.certainty == BreakCertainty::kInferred) ++inferred_;
  if (move.certainty == BreakCertainty::kUncertain) ++uncertain_;
  current_ = move.after;
  peak_ = std::max(peak_, current_);
}

void BreakTimeline::Apply(const Event& e) {
  if (e.kind == RecordKind::kEnvironment || e.kind == RecordKind::kMallopt) tuning_.Apply(e);
  bool startup = e.kind == RecordKind::kStartupBreakMove;
  if (!startup && !(e.flags & format::kFlagBrkMoved) && e.tid != last_tid_ &&
      (format::YieldsBlock(e.kind) || IsRelease(e))) {
    threads_seen_.insert(e.tid);
    last_tid_ = e.tid;  // consecutive calls of one thread skip the set
  }
  if (!startup && (!(e.flags & format::kFlagBrkMoved) || format::IsMeta(e.kind))) return;
  uint64_t requested = format::YieldsBlock(e.kind) ? RequestedBytes(e) : 0;
  BreakMove move{e.timestamp, e.tid, e.kind, requested, e.brk_before, e.brk_after, e.stack_id};
  if (startup) return Push(move);
  bool first_call = false;
  if (format::YieldsBlock(e.kind) || IsRelease(e)) {
    first_call = threads_seen_.insert(e.tid).second;
    last_tid_ = e.tid;
  }
  if (e.kind == RecordKind::kBrk || e.kind == RecordKind::kSbrk) {
    foreign_move_ = true;
    return Push(move);
  }
  BreakCall call;
  call.kind = e.kind;
  call.before = e.brk_before;
  call.after = e.brk_after;
  call.address = format::YieldsBlock(e.kind) ? e.address : 0;
  call.old_address = e.old_address;
  call.requested = requested;
  call.alignment = e.alignment;
  call.main_heap_chunk = IsMainHeapChunk(e);
  call.chunk_size = call.main_heap_chunk ? e.chunk_size : 0;
  call.after_foreign_move = foreign_move_;
  call.first_call_of_thread = first_call;
  call.main_thread = main_tid_ == 0 || e.tid == main_tid_;
  if (heap_ && e.old_address) {
    auto it = heap_->live().find(e.old_address);
    if (it != heap_->live().end()) call.old_chunk_size = it->second.chunk_size();
  }
  // A scan of the live blocks, but only for an aligned allocation that moved the break (rare).
  if (heap_ && format::ShapeOf(e.kind) == Shape::kAlignedAlloc && call.main_heap_chunk) {
    call.heap_floor = HeapFloor(*heap_, e.brk_before);
  }
  if (e.brk_after > e.brk_before) foreign_move_ = false;  // sysmalloc has caught up with the break
  BreakInference inference = InferBreakMoves(call, tuning_);
  move.certainty = inference.certainty;
  move.reason = inference.reason;
  if (inference.certainty != BreakCertainty::kInferred) return Push(move);
  BreakMove second = move;
  move.after = second.before = inference.intermediate;
  Push(move);
  Push(second);
}

}  // namespace memtrace::analyzer
