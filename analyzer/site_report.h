// The per-site sections of `memtrace summary`, as heaptrack_print gives them: most calls, peak
// contributions, most leaked, most temporary allocations, largest single allocations, and the sites
// whose requests crossed the mmap threshold.
#pragma once

#include <cstdio>
#include <vector>

#include "analyzer/json_writer.h"
#include "analyzer/site_statistics.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"

namespace memtrace::analyzer {

void PrintSiteSectionsText(std::FILE* out, const std::vector<SiteNumbers>& sites, const StackStore& stacks,
                           Symbolizer& symbolizer, size_t top);
void PrintSiteSectionsJson(JsonWriter& json, const std::vector<SiteNumbers>& sites, const StackStore& stacks,
                           Symbolizer& symbolizer, size_t top);

}  // namespace memtrace::analyzer
