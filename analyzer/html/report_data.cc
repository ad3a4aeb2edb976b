#include "analyzer/html/report_data.h"

#include <absl/container/flat_hash_map.h>

#include <algorithm>

#include "analyzer/flame_tree.h"
#include "analyzer/json_writer.h"
#include "analyzer/source_stack.h"

namespace memtrace::analyzer {

namespace {

// What keeps the embedded document small for any trace.
struct {
  size_t top_sites = 25;  // per ranking (bytes, calls)
  size_t leak_groups = 50;
  size_t frames_per_site = 24;
  size_t label_chars = 160;
  size_t flame_sites = 2000;  // sites drawn one by one; the rest share one "(other sites)" box
  size_t flame_nodes = 3000;
} constexpr kReportLimits;

std::string Cut(std::string text) {
  if (text.size() > kReportLimits.label_chars) text.resize(kReportLimits.label_chars);
  return text;
}

// Sites the document lists, numbered in order of first mention; each is symbolized once.
class ListedSites {
 public:
  ListedSites(const SiteStatistics& table, const StackStore& stacks, Symbolizer& symbolizer)
      : table_(table), stacks_(stacks), symbolizer_(symbolizer) {}

  uint32_t Mention(uint32_t site) {
    auto [it, inserted] = number_.try_emplace(site, static_cast<uint32_t>(order_.size()));
    if (inserted) order_.push_back(site);
    return it->second;
  }

  const SourceStack& Source(uint32_t site) {
    auto it = source_.find(site);
    if (it == source_.end()) {
      it = source_.emplace(site, SymbolizeSite(symbolizer_, stacks_, table_.sites()[site].stack_id)).first;
    }
    return it->second;
  }

  void Write(JsonWriter& json) {
    json.BeginArray("sites");
    for (uint32_t site : order_) {
      const SiteNumbers& s = table_.sites()[site];
      json.BeginObject()
          .Field("calls", s.calls)
          .Field("bytes", s.bytes)
          .Field("peak_live_bytes", s.max_live_bytes)
          .Field("live_bytes", s.live_bytes);
      json.BeginArray("frames");
      const auto& frames = Source(site).frames;
      for (size_t i = 0; i < frames.size() && i < kReportLimits.frames_per_site; ++i) {
        json.BeginArray()
            .Field("", Cut(FrameLabel(frames[i])))
            .Field("", FrameLocation(frames[i]))
            .EndArray();
      }
      json.EndArray().EndObject();
    }
    json.EndArray();
  }

 private:
  const SiteStatistics& table_;
  const StackStore& stacks_;
  Symbolizer& symbolizer_;
  absl::flat_hash_map<uint32_t, uint32_t> number_;
  std::vector<uint32_t> order_;
  absl::flat_hash_map<uint32_t, SourceStack> source_;
};

void WriteTotals(JsonWriter& json, const TraceInfo& info, const MemoryProfile& p) {
  uint64_t start = info.header.start_monotonic_ns;
  json.BeginObject("totals")
      .Field("calls", p.total_calls())
      .Field("allocations", p.total_allocations())
      .Field("heap_allocations", p.allocations(Verdict::kHeap))
      .Field("mmapped_allocations", p.allocations(Verdict::kMmapped))
      .Field("unknown_allocations", p.allocations(Verdict::kUnknown))
      .Field("requested_bytes", p.heap().allocated_bytes())
      .Field("peak_live_bytes", p.heap().peak_live_bytes())
      .Field("peak_time_ns", p.heap().peak_timestamp() > start ? p.heap().peak_timestamp() - start : 0)
      .Field("peak_mmapped_bytes", p.peak_mmapped_bytes())
      .Field("brk_initial", p.brk().initial())
      .Field("brk_peak_above_initial", p.brk().peak() - p.brk().initial())
      .Field("brk_final_above_initial", static_cast<int64_t>(p.brk().current() - p.brk().initial()))
      .Field("brk_moves", static_cast<uint64_t>(p.brk().moves().size()))
      .Field("sites", static_cast<uint64_t>(p.sites().sites().size()))
      .EndObject();
}

void WriteSeries(JsonWriter& json, const MemoryProfile& p, ListedSites& listed) {
  json.BeginObject("series").Field("bucket_ns", p.series().width_ns());
  // Each bucket: [heap max, mmapped max, brk max, heap at end, mmapped at end, brk at end,
  //               [[site, live bytes, live blocks], ...]]
  json.BeginArray("buckets");
  for (const TimeBucket& b : p.series().buckets()) {
    json.BeginArray()
        .Field("", b.max.heap_bytes)
        .Field("", b.max.mmapped_bytes)
        .Field("", b.max.brk_bytes)
        .Field("", b.last.heap_bytes)
        .Field("", b.last.mmapped_bytes)
        .Field("", b.last.brk_bytes);
    json.BeginArray();
    for (const SiteBytes& s : b.top_live) {
      json.BeginArray().Field("", listed.Mention(s.site)).Field("", s.bytes).Field("", s.blocks).EndArray();
    }
    json.EndArray().EndArray();
  }
  json.EndArray().EndObject();
}

void WriteHistogram(JsonWriter& json, const SizeHistogram& sizes) {
  // [k, heap, mmapped, unknown] for each non-empty bucket k: sizes in [2^(k-1), 2^k).
  json.BeginArray("size_histogram");
  for (int k = 0; k < SizeHistogram::kBuckets; ++k) {
    const auto& c = sizes.counts[k];
    if (!c[0] && !c[1] && !c[2]) continue;
    json.BeginArray().Field("", k).Field("", c[0]).Field("", c[1]).Field("", c[2]).EndArray();
  }
  json.EndArray();
}

void WriteLeaks(JsonWriter& json, const MemoryProfile& p, const LeakAnalysis& leaks, bool scanned,
                ListedSites& listed) {
  json.BeginObject("leaks")
      .Field("scanned", scanned)
      .Field("blocks", static_cast<uint64_t>(p.heap().live().size()))
      .Field("bytes", p.heap().live_bytes());
  json.BeginObject("classes");
  for (LeakClass c :
       {LeakClass::kDefinite, LeakClass::kIndirect, LeakClass::kPossible, LeakClass::kReachable}) {
    json.BeginObject(LeakClassKey(c))
        .Field("bytes", leaks.Totals(c).bytes)
        .Field("blocks", leaks.Totals(c).blocks);
    json.EndObject();
  }
  json.EndObject();
  json.BeginArray("groups");
  for (size_t i = 0; i < leaks.groups.size() && i < kReportLimits.leak_groups; ++i) {
    const LeakGroup& g = leaks.groups[i];
    int64_t site = p.sites().Find(g.stack_id, g.kind);
    json.BeginObject()
        .Field("class", g.leak_class ? LeakClassKey(*g.leak_class) : "unclassified")
        .Field("blocks", g.blocks)
        .Field("bytes", g.bytes)
        .Field("indirect_bytes", g.indirect_bytes);
    site < 0 ? json.Null("site") : json.Field("site", listed.Mention(static_cast<uint32_t>(site)));
    json.EndObject();
  }
  json.EndArray().EndObject();
}

void WriteFlameNode(JsonWriter& json, const FlameTree& tree, uint32_t id, std::string_view key = {}) {
  const FlameNode& node = tree.node(id);
  json.BeginArray(key).Field("", node.name).Field("", node.bytes);
  json.BeginArray();
  for (uint32_t child : node.children) WriteFlameNode(json, tree, child);
  json.EndArray().EndArray();
}

// Allocated bytes by call path, outermost frame at the top: [name, bytes, [children...]].
void WriteFlame(JsonWriter& json, const MemoryProfile& p, ListedSites& listed) {
  FlameTree tree;
  std::vector<uint32_t> order = RankSites(p.sites().sites(), &SiteNumbers::bytes, p.sites().sites().size());
  for (size_t i = 0; i < order.size(); ++i) {
    uint64_t bytes = p.sites().sites()[order[i]].bytes;
    if (i >= kReportLimits.flame_sites) {
      tree.Add({"(other sites)"}, bytes);
      continue;
    }
    const auto& frames = listed.Source(order[i]).frames;
    std::vector<std::string> path;
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) path.push_back(Cut(FrameLabel(*it)));
    if (path.empty()) path.push_back("(no stack)");
    tree.Add(path, bytes);
  }
  tree.Prune(kReportLimits.flame_nodes);
  WriteFlameNode(json, tree, 0, "flame");
}

}  // namespace

void WriteReportData(std::FILE* out, const TraceInfo& info, const MemoryProfile& profile,
                     const LeakAnalysis& leaks, bool scanned, const StackStore& stacks,
                     Symbolizer& symbolizer) {
  ListedSites listed(profile.sites(), stacks, symbolizer);
  JsonWriter json(out);
  json.BeginObject().Field("version", 1);
  WriteTraceJson(json, info);
  WriteTotals(json, info, profile);
  json.BeginArray("top_by_bytes");
  for (uint32_t site : RankSites(profile.sites().sites(), &SiteNumbers::bytes, kReportLimits.top_sites)) {
    json.Field("", listed.Mention(site));
  }
  json.EndArray().BeginArray("top_by_calls");
  for (uint32_t site : RankSites(profile.sites().sites(), &SiteNumbers::calls, kReportLimits.top_sites)) {
    json.Field("", listed.Mention(site));
  }
  json.EndArray();
  WriteSeries(json, profile, listed);
  WriteHistogram(json, profile.sizes());
  WriteLeaks(json, profile, leaks, scanned, listed);
  WriteFlame(json, profile, listed);
  listed.Write(json);
  json.EndObject();
}

}  // namespace memtrace::analyzer
