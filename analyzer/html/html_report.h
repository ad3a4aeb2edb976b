// `memtrace html`: one self-contained HTML file (inline CSS, JS and SVG; nothing fetched) drawn from
// the bounded data document of report_data.h, spliced into the embedded report_template.html.
#pragma once

#include <string>

#include "analyzer/leak_report.h"
#include "analyzer/memory_profile.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

// Writes the report to `path`; on failure returns false with *error set to one line.
bool WriteHtmlReport(const std::string& path, const TraceInfo& info, const MemoryProfile& profile,
                     const LeakAnalysis& leaks, bool scanned, const StackStore& stacks,
                     Symbolizer& symbolizer, std::string* error);

}  // namespace memtrace::analyzer
