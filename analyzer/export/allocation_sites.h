// Allocations totalled by where they were made: per allocation stack (or, in a trace taken without
// stacks, per allocating function), how many calls and bytes were allocated over the whole trace and
// how many blocks and bytes were still live at its end. The shared input of the profile exporters.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/heap_state.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

struct AllocationSite {
  uint32_t stack_id = 0;                  // 0: no stack was recorded
  RecordKind kind = RecordKind::kMalloc;  // the allocating call (names the site when there is no stack)
  uint64_t calls = 0;
  uint64_t bytes = 0;        // requested
  uint64_t live_blocks = 0;  // at the end of the trace
  uint64_t live_bytes = 0;
};

class AllocationSites : public EventConsumer {
 public:
  void Apply(const Event& e) override;
  // Adds the blocks live in `heap` (at the end of the pass) as the sites' in-use totals.
  void AddLive(const HeapState& heap);
  // Sites in a stable order: by stack id, then call.
  std::vector<AllocationSite> Sorted() const;

 private:
  AllocationSite& SiteOf(uint32_t stack_id, RecordKind kind);
  absl::flat_hash_map<uint64_t, AllocationSite> sites_;
};

// The source-level frames of a site, innermost first. A site without a stack gets one frame named
// after its allocating call, so it still shows up in profiles.
std::vector<SymbolizedFrame> SiteFrames(const AllocationSite& site, const StackStore& stacks,
                                        Symbolizer& symbolizer);

// A frame as one short name: the function, or "??? (in module+0x..)" when unknown.
std::string FrameName(const SymbolizedFrame& frame);

}  // namespace memtrace::analyzer
