// How the program break moved: every move with the call that caused it.
#pragma once

#include <cstdint>
#include <vector>

#include "analyzer/event_facts.h"

namespace memtrace::analyzer {

struct BreakMove {
  uint64_t timestamp = 0;
  uint32_t tid = 0;
  RecordKind call = RecordKind::kMalloc;
  uint64_t requested = 0;  // bytes the causing call asked for (0 for frees and trims)
  uint64_t before = 0;
  uint64_t after = 0;
  uint32_t stack_id = 0;
};

class BreakTimeline {
 public:
  explicit BreakTimeline(uint64_t initial_break)
      : initial_(initial_break), current_(initial_break), peak_(initial_break) {}
  void Apply(const Event& e);

  uint64_t initial() const { return initial_; }
  uint64_t current() const { return current_; }
  uint64_t peak() const { return peak_; }
  const std::vector<BreakMove>& moves() const { return moves_; }

 private:
  uint64_t initial_;
  uint64_t current_;
  uint64_t peak_;
  std::vector<BreakMove> moves_;
};

}  // namespace memtrace::analyzer
