// `memtrace maps`: the pmap view of the reconstruction at a moment, the timeline of changes, and the
// verification against the kernel's own /proc/self/maps at exit.
#pragma once

#include <cstdio>

#include "analyzer/maps_timeline.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"

namespace memtrace::analyzer {

struct MapsPrintOptions {
  bool timeline = false;
  bool verify = false;
  bool show_memtrace = false;  // list memtrace's own mappings instead of only counting them
  uint64_t at_ns = 0;          // since the trace began, for the heading
};

void PrintMapsText(std::FILE* out, const TraceInfo& info, const MapsTimeline& maps,
                   const MapsPrintOptions& options, const StackStore& stacks, Symbolizer& symbolizer);
void PrintMapsJson(std::FILE* out, const TraceInfo& info, const MapsTimeline& maps,
                   const MapsPrintOptions& options);

}  // namespace memtrace::analyzer
