// `memtrace leaks`: the blocks still allocated when the trace ended, in valgrind's four classes (from
// the preload's exit-time scan), grouped by allocation stack and class, largest group first.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/heap_state.h"
#include "analyzer/leak_classes.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

struct LeakGroup {
  std::optional<LeakClass> leak_class;  // none: the trace has no scan verdict for these blocks
  RecordKind kind = RecordKind::kMalloc;
  uint64_t size = 0;  // the request size when grouping by call (no stack), else 0
  uint32_t stack_id = 0;
  Verdict verdict = Verdict::kUnknown;
  uint64_t blocks = 0;
  uint64_t bytes = 0;           // direct bytes
  uint64_t indirect_bytes = 0;  // for definitely lost groups: bytes lost only through them
  uint64_t first_address = 0;
  uint64_t first_timestamp = 0;
  uint32_t first_tid = 0;
};

struct LeakTotals {
  uint64_t bytes = 0;
  uint64_t blocks = 0;
};

struct LeakAnalysis {
  std::vector<LeakGroup> groups;  // largest first
  LeakTotals by_class[5];         // indexed by LeakClass; [0] = unclassified
  LeakTotals suppressed;          // moved out of by_class by suppressions
  // The scan's parking of the other threads (LeakClasses::ParkingDescription; "" if not recorded).
  std::string parking;
  bool parking_recorded = false;
  uint64_t threads_parked = 0, threads_skipped = 0, parking_ns = 0;
  LeakTotals& Totals(std::optional<LeakClass> c) { return by_class[c ? static_cast<int>(*c) : 0]; }
  const LeakTotals& Totals(std::optional<LeakClass> c) const {
    return by_class[c ? static_cast<int>(*c) : 0];
  }
};

LeakAnalysis AnalyzeLeaks(const HeapState& heap, const LeakClasses& classes);

struct LeakPrintOptions {
  std::vector<LeakClass> show;  // classes whose groups are listed (unclassified groups always are)
};

void PrintLeaksText(std::FILE* out, const TraceInfo& info, const LeakAnalysis& leaks,
                    const LeakClasses& classes, const LeakPrintOptions& options, const StackStore& stacks,
                    Symbolizer& symbolizer);
void PrintLeaksJson(std::FILE* out, const TraceInfo& info, const LeakAnalysis& leaks,
                    const LeakClasses& classes, const LeakPrintOptions& options, const StackStore& stacks,
                    Symbolizer& symbolizer);

}  // namespace memtrace::analyzer
