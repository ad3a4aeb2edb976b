// `memtrace leaks`: the blocks still allocated when the trace ended, grouped by where they were
// allocated (the call stack when the trace has stacks, else the call and size), largest group first.
#pragma once

#include <cstdint>
#include <cstdio>
#include <vector>

#include "analyzer/heap_state.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

struct LeakGroup {
  RecordKind kind = RecordKind::kMalloc;
  uint64_t size = 0;       // the request size when grouping by call, else 0
  uint32_t stack_id = 0;
  Verdict verdict = Verdict::kUnknown;
  uint64_t blocks = 0;
  uint64_t bytes = 0;
  uint64_t first_address = 0;
  uint64_t first_timestamp = 0;
  uint32_t first_tid = 0;
};

// Groups the live blocks of `heap`, largest total first (ties: more blocks first).
std::vector<LeakGroup> GroupLeaks(const HeapState& heap);

// Stacks are symbolized through `stacks` and `symbolizer`.
void PrintLeaksText(std::FILE* out, const TraceInfo& info, const HeapState& heap, const std::vector<LeakGroup>& groups,
                    const StackStore& stacks, Symbolizer& symbolizer);
void PrintLeaksJson(std::FILE* out, const TraceInfo& info, const HeapState& heap, const std::vector<LeakGroup>& groups,
                    const StackStore& stacks, Symbolizer& symbolizer);

}  // namespace memtrace::analyzer
