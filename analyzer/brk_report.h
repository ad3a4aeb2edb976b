// `memtrace brk`: the program-break timeline.
#pragma once

#include <cstdio>

#include "analyzer/brk_timeline.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

// Each move is shown with the stack of the call that caused it (symbolized through `symbolizer`).
void PrintBreakText(std::FILE* out, const TraceInfo& info, const BreakTimeline& timeline,
                    const StackStore& stacks, Symbolizer& symbolizer);
void PrintBreakJson(std::FILE* out, const TraceInfo& info, const BreakTimeline& timeline,
                    const StackStore& stacks, Symbolizer& symbolizer);

}  // namespace memtrace::analyzer
