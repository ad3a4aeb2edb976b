// Two traces of the same program compared site by site. Sites are matched by their source stacks
// (source_stack.h), not by addresses, which move from run to run.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "analyzer/leak_report.h"
#include "analyzer/memory_profile.h"
#include "analyzer/source_stack.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

struct SourceSite {
  SourceStack stack;
  uint64_t calls = 0;
  uint64_t bytes = 0;  // requested in total
  LeakTotals definite;
  LeakTotals indirect;
};

// What one trace contributes to a diff.
struct TraceDigest {
  std::string path;
  std::string program;
  uint32_t pid = 0;
  bool scanned = false;  // the exit-time leak scan is in the trace
  uint64_t peak_live_bytes = 0;
  uint64_t requested_bytes = 0;
  LeakTotals definite;
  LeakTotals indirect;
  std::unordered_map<std::string, SourceSite> sites;  // by SourceStack::key; pointers to sites stay valid
};

TraceDigest DigestTrace(const TraceInfo& info, const MemoryProfile& profile, const LeakAnalysis& leaks,
                        bool scanned, const StackStore& stacks, Symbolizer& symbolizer);

struct SiteChange {
  const SourceSite* a = nullptr;  // null: the site is new in B
  const SourceSite* b = nullptr;  // null: the site is gone in B
  int64_t delta_bytes = 0;
  const SourceStack& stack() const { return b ? b->stack : a->stack; }
  const char* status() const;  // "new", "gone", "grown", "shrunk"
};

// Lost blocks of one class at a site that lost none of that class in A.
struct NewLeak {
  const SourceSite* site = nullptr;
  LeakClass leak_class = LeakClass::kDefinite;
  LeakTotals totals;
};

struct TraceDiff {
  std::vector<SiteChange> grown;   // largest growth first (new sites included)
  std::vector<SiteChange> shrunk;  // largest shrink first (gone sites included)
  std::vector<NewLeak> new_leaks;  // largest first
};

TraceDiff DiffTraces(const TraceDigest& a, const TraceDigest& b);

// (b - a) / a in percent; +inf when a is 0 and b is not, 0 when both are.
double PercentChange(uint64_t a, uint64_t b);

}  // namespace memtrace::analyzer
