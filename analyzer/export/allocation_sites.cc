#include "analyzer/export/allocation_sites.h"

#include <algorithm>

namespace memtrace::analyzer {

AllocationSite& AllocationSites::SiteOf(uint32_t stack_id, RecordKind kind) {
  // With a stack the stack is the site; without one, the call is.
  uint64_t key = stack_id ? stack_id : (uint64_t{1} << 32) | static_cast<uint8_t>(kind);
  auto [it, inserted] = sites_.try_emplace(key);
  if (inserted) {
    it->second.stack_id = stack_id;
    it->second.kind = kind;
  }
  return it->second;
}

void AllocationSites::Apply(const Event& e) {
  if (!IsAllocation(e)) return;
  AllocationSite& site = SiteOf(e.stack_id, e.kind);
  ++site.calls;
  site.bytes += RequestedBytes(e);
}

void AllocationSites::AddLive(const HeapState& heap) {
  for (const auto& [address, block] : heap.live()) {
    AllocationSite& site = SiteOf(block.stack_id, block.kind);
    ++site.live_blocks;
    site.live_bytes += block.size;
  }
}

std::vector<AllocationSite> AllocationSites::Sorted() const {
  std::vector<AllocationSite> sorted;
  sorted.reserve(sites_.size());
  for (const auto& [key, site] : sites_) sorted.push_back(site);
  std::sort(sorted.begin(), sorted.end(), [](const AllocationSite& a, const AllocationSite& b) {
    return a.stack_id != b.stack_id ? a.stack_id < b.stack_id : a.kind < b.kind;
  });
  return sorted;
}

std::vector<SymbolizedFrame> SiteFrames(const AllocationSite& site, const StackStore& stacks,
                                        Symbolizer& symbolizer) {
  std::vector<SymbolizedFrame> frames;
  if (site.stack_id) frames = SymbolizeStack(symbolizer, stacks.Frames(site.stack_id));
  if (frames.empty()) {
    SymbolizedFrame call;
    call.function = site.stack_id ? "[unknown stack]" : format::NameOf(site.kind);
    frames.push_back(call);
  }
  return frames;
}

std::string FrameName(const SymbolizedFrame& frame) {
  if (!frame.function.empty()) return frame.function;
  return Symbolizer::Describe(frame);
}

}  // namespace memtrace::analyzer
