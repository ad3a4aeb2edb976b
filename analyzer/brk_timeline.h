// How the program break moved: every move with the call that caused it. A call in which glibc moved
// the break twice (grew, then trimmed) is two moves here, the intermediate break derived by
// brk_inference.h and marked kInferred; a net move that may hide another is marked kUncertain.
#pragma once

#include <absl/container/flat_hash_set.h>

#include <cstdint>
#include <vector>

#include "analyzer/brk_inference.h"
#include "analyzer/event_facts.h"
#include "analyzer/heap_state.h"

namespace memtrace::analyzer {

struct BreakMove {
  uint64_t timestamp = 0;
  uint32_t tid = 0;
  RecordKind call = RecordKind::kMalloc;
  uint64_t requested = 0;  // bytes the causing call asked for (0 for frees and trims)
  uint64_t before = 0;
  uint64_t after = 0;
  uint32_t stack_id = 0;
  BreakCertainty certainty = BreakCertainty::kRecorded;
  const char* reason = "";  // for kInferred and kUncertain
};

class BreakTimeline {
 public:
  // `heap`, when given, is the live-block state of the same pass, applied after this timeline for each
  // event: it supplies a growing realloc's old chunk size. Without it such a move is kUncertain.
  // `main_tid` is the process id (its first thread's tid), 0 if unknown.
  explicit BreakTimeline(uint64_t initial_break, const HeapState* heap = nullptr, uint32_t main_tid = 0)
      : heap_(heap),
        main_tid_(main_tid),
        initial_(initial_break),
        current_(initial_break),
        peak_(initial_break) {}
  void Apply(const Event& e);

  uint64_t initial() const { return initial_; }
  uint64_t current() const { return current_; }
  uint64_t peak() const { return peak_; }
  const std::vector<BreakMove>& moves() const { return moves_; }
  uint64_t inferred_moves() const { return inferred_; }    // moves whose start or end was derived
  uint64_t uncertain_moves() const { return uncertain_; }  // net moves that may hide another

 private:
  void Push(const BreakMove& move);

  const HeapState* heap_;
  uint32_t main_tid_;
  absl::flat_hash_set<uint32_t> threads_seen_;  // threads that made a malloc-family call
  uint32_t last_tid_ = 0;                       // the last one added to or found in threads_seen_
  MallocTuning tuning_;
  bool foreign_move_ = false;  // the program moved the break itself since malloc last grew it
  uint64_t initial_;
  uint64_t current_;
  uint64_t peak_;
  uint64_t inferred_ = 0;
  uint64_t uncertain_ = 0;
  std::vector<BreakMove> moves_;
};

}  // namespace memtrace::analyzer
