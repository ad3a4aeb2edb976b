// `memtrace brk`: the program-break timeline.
#pragma once

#include <cstdio>

#include "analyzer/brk_timeline.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

void PrintBreakText(std::FILE* out, const TraceInfo& info, const BreakTimeline& timeline);
void PrintBreakJson(std::FILE* out, const TraceInfo& info, const BreakTimeline& timeline);

}  // namespace memtrace::analyzer
