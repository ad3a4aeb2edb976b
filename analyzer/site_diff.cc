#include "analyzer/site_diff.h"

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace memtrace::analyzer {

TraceDigest DigestTrace(const TraceInfo& info, const MemoryProfile& profile, const LeakAnalysis& leaks,
                        bool scanned, const StackStore& stacks, Symbolizer& symbolizer) {
  TraceDigest digest;
  digest.path = info.path;
  digest.program = info.header.program;
  digest.pid = info.header.pid;
  digest.scanned = scanned;
  digest.peak_live_bytes = profile.heap().peak_live_bytes();
  digest.requested_bytes = profile.heap().allocated_bytes();
  digest.definite = leaks.Totals(LeakClass::kDefinite);
  digest.indirect = leaks.Totals(LeakClass::kIndirect);
  // Several stack ids can share one source stack (different return addresses on one line).
  absl::flat_hash_map<uint32_t, SourceSite*> by_stack_id;
  auto site_of = [&](uint32_t stack_id) {
    SourceSite*& site = by_stack_id[stack_id];
    if (!site) {
      SourceStack stack = SymbolizeSite(symbolizer, stacks, stack_id);
      auto [it, inserted] = digest.sites.try_emplace(stack.key);
      if (inserted) it->second.stack = std::move(stack);
      site = &it->second;
    }
    return site;
  };
  for (const SiteNumbers& s : profile.sites().sites()) {
    SourceSite* site = site_of(s.stack_id);
    site->calls += s.calls;
    site->bytes += s.bytes;
  }
  for (const LeakGroup& g : leaks.groups) {
    if (g.leak_class != LeakClass::kDefinite && g.leak_class != LeakClass::kIndirect) continue;
    LeakTotals& totals =
        g.leak_class == LeakClass::kDefinite ? site_of(g.stack_id)->definite : site_of(g.stack_id)->indirect;
    totals.bytes += g.bytes;
    totals.blocks += g.blocks;
  }
  return digest;
}

const char* SiteChange::status() const {
  if (!a) return "new";
  if (!b) return "gone";
  return delta_bytes > 0 ? "grown" : "shrunk";
}

TraceDiff DiffTraces(const TraceDigest& a, const TraceDigest& b) {
  TraceDiff diff;
  auto add = [&](const SourceSite* in_a, const SourceSite* in_b) {
    SiteChange change{
        in_a, in_b,
        static_cast<int64_t>(in_b ? in_b->bytes : 0) - static_cast<int64_t>(in_a ? in_a->bytes : 0)};
    if (change.delta_bytes > 0 || (!in_a && in_b)) diff.grown.push_back(change);
    if (change.delta_bytes < 0 || (in_a && !in_b)) diff.shrunk.push_back(change);
  };
  for (const auto& [key, site] : b.sites) {
    auto it = a.sites.find(key);
    const SourceSite* in_a = it == a.sites.end() ? nullptr : &it->second;
    add(in_a, &site);
    const LeakTotals none;
    for (LeakClass c : {LeakClass::kDefinite, LeakClass::kIndirect}) {
      const LeakTotals& now = c == LeakClass::kDefinite ? site.definite : site.indirect;
      const LeakTotals& before = !in_a ? none : c == LeakClass::kDefinite ? in_a->definite : in_a->indirect;
      if (now.blocks && !before.blocks) diff.new_leaks.push_back({&site, c, now});
    }
  }
  for (const auto& [key, site] : a.sites) {
    if (!b.sites.contains(key)) add(&site, nullptr);
  }
  // Largest change first; ties by key so the output does not depend on hash order.
  auto by_size = [](const SiteChange& x, const SiteChange& y) {
    int64_t dx = std::abs(x.delta_bytes), dy = std::abs(y.delta_bytes);
    return dx != dy ? dx > dy : x.stack().key < y.stack().key;
  };
  std::sort(diff.grown.begin(), diff.grown.end(), by_size);
  std::sort(diff.shrunk.begin(), diff.shrunk.end(), by_size);
  std::sort(diff.new_leaks.begin(), diff.new_leaks.end(), [](const NewLeak& x, const NewLeak& y) {
    return x.totals.bytes != y.totals.bytes ? x.totals.bytes > y.totals.bytes
                                            : x.site->stack.key < y.site->stack.key;
  });
  return diff;
}

double PercentChange(uint64_t a, uint64_t b) {
  if (a == 0) return b == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return (static_cast<double>(b) - static_cast<double>(a)) * 100.0 / static_cast<double>(a);
}

}  // namespace memtrace::analyzer
