// The whole-trace numbers `memtrace summary` and `memtrace run` print: calls by kind, glibc's
// heap/mmap verdicts, the break's extent, and what was still live at the end.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

#include "analyzer/brk_timeline.h"
#include "analyzer/heap_state.h"
#include "analyzer/json_writer.h"
#include "analyzer/leak_report.h"
#include "analyzer/process_events.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

class TraceSummary : public EventConsumer {
 public:
  void Begin(const TraceInfo& info) override {
    brk_.emplace(info.header.initial_break, &heap_, info.header.pid);
  }
  void Apply(const Event& e) override;

  uint64_t calls(RecordKind kind) const { return calls_[static_cast<uint8_t>(kind)]; }
  uint64_t total_calls() const { return total_calls_; }
  uint64_t allocations(Verdict verdict) const { return allocations_[static_cast<int>(verdict)]; }
  // Mappings glibc's malloc made for mmapped chunks (one per mmapped allocation or moving realloc).
  uint64_t malloc_mappings() const { return allocations(Verdict::kMmapped); }
  const HeapState& heap() const { return heap_; }
  const BreakTimeline& brk() const { return *brk_; }
  // fork/vfork/posix_spawn, and the calls vfork children made in this process's memory (they are
  // counted among the calls above: they changed this heap).
  const ProcessEvents& processes() const { return processes_; }

 private:
  std::array<uint64_t, 256> calls_{};
  uint64_t total_calls_ = 0;
  std::array<uint64_t, 3> allocations_{};
  HeapState heap_;
  ProcessEvents processes_;
  std::optional<BreakTimeline> brk_;
};

// Prints the summary as text (for people) or JSON (stable keys, for scripts and tests). `leaks`, when
// given, adds the exit-time scan's four classes.
void PrintSummaryText(std::FILE* out, const TraceInfo& info, const TraceSummary& summary,
                      const LeakAnalysis* leaks = nullptr);
// `extra` may add fields to the summary object (the per-site sections).
void PrintSummaryJson(std::FILE* out, const TraceInfo& info, const TraceSummary& summary,
                      const LeakAnalysis* leaks = nullptr,
                      const std::function<void(JsonWriter&)>& extra = {});

}  // namespace memtrace::analyzer
