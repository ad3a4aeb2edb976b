// The JSON document the HTML report embeds and draws from. Its size is bounded whatever the trace's
// length (see kReportLimits in report_data.cc): 200 time buckets with the 8 largest live sites each,
// the 25 top sites by bytes and by calls, the 50 largest leak groups, at most 24 frames per listed
// stack, a flame graph of at most 3000 nodes, labels cut at 160 characters.
#pragma once

#include <cstdio>

#include "analyzer/leak_report.h"
#include "analyzer/memory_profile.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

// `scanned`: the trace holds the exit-time scan, so `leaks` has classes.
void WriteReportData(std::FILE* out, const TraceInfo& info, const MemoryProfile& profile,
                     const LeakAnalysis& leaks, bool scanned, const StackStore& stacks,
                     Symbolizer& symbolizer);

}  // namespace memtrace::analyzer
