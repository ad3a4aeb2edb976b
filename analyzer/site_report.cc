#include "analyzer/site_report.h"

#include <fmt/core.h>

#include <algorithm>

#include "analyzer/text_format.h"

namespace memtrace::analyzer {

namespace {

struct Section {
  const char* key;    // JSON key
  const char* title;  // text heading
  uint64_t SiteNumbers::*measure;
  bool bytes;         // the measure is a byte count
  const char* label;  // what the measure is, after its value
};

constexpr Section kSections[] = {
    {"most_calls", "MOST CALLS TO ALLOCATION FUNCTIONS", &SiteNumbers::calls, false, "calls"},
    {"peak", "PEAK MEMORY CONSUMERS (live when the heap peaked)", &SiteNumbers::peak_bytes, true,
     "at the peak"},
    {"leaked", "MOST MEMORY LEAKED (still allocated at the end)", &SiteNumbers::live_bytes, true, "leaked"},
    {"temporary", "MOST TEMPORARY ALLOCATIONS (freed before the thread's next allocation)",
     &SiteNumbers::temporary, false, "temporary"},
    {"largest", "LARGEST SINGLE ALLOCATIONS", &SiteNumbers::largest, true, "in one request"},
    {"mmapped", "SITES WHOSE REQUESTS CROSSED THE MMAP THRESHOLD (glibc's verdict)",
     &SiteNumbers::mmapped_calls, false, "mmapped"},
};

// The first `limit` source-level frames of a site's stack.
std::vector<SymbolizedFrame> SiteFrames(const SiteNumbers& site, const StackStore& stacks,
                                        Symbolizer& symbolizer, size_t limit) {
  std::vector<SymbolizedFrame> frames = SymbolizeStack(symbolizer, stacks.Frames(site.stack_id));
  if (frames.size() > limit) frames.resize(limit);
  return frames;
}

}  // namespace

void PrintSiteSectionsText(std::FILE* out, const std::vector<SiteNumbers>& sites, const StackStore& stacks,
                           Symbolizer& symbolizer, size_t top) {
  for (const Section& section : kSections) {
    std::vector<uint32_t> ranked = RankSites(sites, section.measure, top);
    if (ranked.empty()) continue;
    fmt::print(out, "\n{}\n", section.title);
    for (uint32_t index : ranked) {
      const SiteNumbers* site = &sites[index];
      uint64_t value = site->*section.measure;
      std::string headline =
          section.measure == &SiteNumbers::calls
              ? fmt::format("{} calls", site->calls)
              : fmt::format("{} {}, from {} calls", section.bytes ? HumanBytes(value) : std::to_string(value),
                            section.label, site->calls);
      fmt::print(out, "{}: {} requested, {} from the heap, {} mmapped\n", headline, HumanBytes(site->bytes),
                 site->heap_calls, site->mmapped_calls);
      fmt::print(out, "  at {}\n", format::NameOf(site->kind));
      for (const SymbolizedFrame& frame : SiteFrames(*site, stacks, symbolizer, 4)) {
        fmt::print(out, "  by {}\n", Symbolizer::Describe(frame));
      }
    }
  }
}

void PrintSiteSectionsJson(JsonWriter& json, const std::vector<SiteNumbers>& sites, const StackStore& stacks,
                           Symbolizer& symbolizer, size_t top) {
  json.BeginObject("sites");
  for (const Section& section : kSections) {
    json.BeginArray(section.key);
    for (uint32_t index : RankSites(sites, section.measure, top)) {
      const SiteNumbers* site = &sites[index];
      json.BeginObject()
          .Field("calls", site->calls)
          .Field("bytes", site->bytes)
          .Field("peak_bytes", site->peak_bytes)
          .Field("leaked_bytes", site->live_bytes)
          .Field("leaked_blocks", site->live_blocks)
          .Field("temporary", site->temporary)
          .Field("largest", site->largest)
          .Field("heap_calls", site->heap_calls)
          .Field("mmapped_calls", site->mmapped_calls)
          .Field("call", format::NameOf(site->kind))
          .Field("stack_id", site->stack_id);
      WriteFramesJson(json, "stack", SiteFrames(*site, stacks, symbolizer, 64));
      json.EndObject();
    }
    json.EndArray();
  }
  json.EndObject();
}

}  // namespace memtrace::analyzer
