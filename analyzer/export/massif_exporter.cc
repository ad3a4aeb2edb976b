// valgrind massif's out file, read by ms_print and massif-visualizer: a series of snapshots of the
// live heap (bytes asked for; memtrace records no allocator overhead or stacks, so those are 0), and
// for the peak snapshot the allocation tree: the live bytes by allocation site, callers below callees.
// One pass: SiteStatistics keeps each site's share of the heap's first highest peak, the moment the
// series marks as the peak snapshot (both follow HeapState's live bytes).
#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <memory>

#include "analyzer/export/counter_sampler.h"
#include "analyzer/export/exporters.h"
#include "analyzer/export/output_file.h"
#include "analyzer/export/site_frames.h"
#include "analyzer/heap_state.h"

namespace memtrace::analyzer {

namespace {

constexpr uint64_t kSnapshotIntervalNs = 1'000'000;
constexpr size_t kMaxSnapshots = 100;      // massif's own default cap (--max-snapshots)
constexpr double kThresholdPercent = 1.0;  // massif's --threshold: smaller subtrees are merged

// The live-bytes series and the event at which the peak was first reached.
class HeapSeries : public EventConsumer {
 public:
  void Apply(const Event& e) override {
    ++events_;
    heap_.Apply(e);
    if (heap_.live_bytes() > peak_bytes_) {
      peak_bytes_ = heap_.live_bytes();
      peak_event_ = events_;
      peak_timestamp_ = e.timestamp;
    }
    sampler_.Observe(e.timestamp, {heap_.live_bytes()});
  }
  CounterSampler<1> sampler_{kSnapshotIntervalNs, kMaxSnapshots - 1};  // one place left for the peak
  uint64_t events_ = 0;
  uint64_t peak_event_ = 0;  // 1-based; 0: the heap never held anything
  uint64_t peak_bytes_ = 0;
  uint64_t peak_timestamp_ = 0;

 private:
  HeapState heap_;
};

struct TreeNode {
  uint64_t bytes = 0;
  std::map<std::string, std::unique_ptr<TreeNode>> children;  // by frame label
};

std::string FrameLabel(const SymbolizedFrame& frame) {
  return fmt::format("0x{:X}: {}", frame.address, Symbolizer::Describe(frame));
}

void WriteNode(std::FILE* out, const TreeNode& node, const std::string& label, int depth, uint64_t total) {
  std::vector<std::pair<const std::string*, const TreeNode*>> significant;
  uint64_t small_bytes = 0, small_count = 0;
  for (const auto& [child_label, child] : node.children) {
    if (static_cast<double>(child->bytes) * 100.0 >= kThresholdPercent * static_cast<double>(total)) {
      significant.push_back({&child_label, child.get()});
    } else {
      small_bytes += child->bytes;
      ++small_count;
    }
  }
  std::stable_sort(significant.begin(), significant.end(),
                   [](const auto& a, const auto& b) { return a.second->bytes > b.second->bytes; });
  fmt::print(out, "{:{}}n{}: {} {}\n", "", depth, significant.size() + (small_count ? 1 : 0), node.bytes,
             label);
  for (const auto& [child_label, child] : significant) WriteNode(out, *child, *child_label, depth + 1, total);
  if (small_count) {
    fmt::print(out, "{:{}}n0: {} in {} place{}, below massif's threshold ({:.2f}%)\n", "", depth + 1,
               small_bytes, small_count, small_count == 1 ? "" : "s", kThresholdPercent);
  }
}

struct Snapshot {
  uint64_t timestamp;
  uint64_t bytes;
  bool peak;
};

}  // namespace

bool ExportMassif(const ExportRequest& request) {
  HeapSeries series;
  StackStore stacks;
  SiteStatistics sites;
  TraceInfo info;
  if (!ReadTrace(request.trace, {&series, &stacks, &sites}, &info, request.progress)) return false;
  series.sampler_.Close();

  Symbolizer symbolizer(stacks.modules());
  TreeNode root;
  std::vector<SiteNumbers> site_list = sites.Sites();
  if (request.progress) request.progress->Start("symbolizing");
  for (size_t i = 0; i < site_list.size(); ++i) {
    if (site_list[i].peak_bytes == 0) continue;  // held nothing at the peak
    root.bytes += site_list[i].peak_bytes;
    TreeNode* node = &root;
    for (const SymbolizedFrame& frame : SiteFrames(site_list[i], stacks, symbolizer)) {  // innermost first
      std::unique_ptr<TreeNode>& child = node->children[FrameLabel(frame)];
      if (!child) child = std::make_unique<TreeNode>();
      child->bytes += site_list[i].peak_bytes;
      node = child.get();
    }
    if (request.progress && i % 256 == 0) request.progress->Update(i, site_list.size());
  }
  if (request.progress) request.progress->Finish();

  std::vector<Snapshot> snapshots{{info.header.start_monotonic_ns, 0, false}};
  for (const auto& sample : series.sampler_.samples())
    snapshots.push_back({sample.timestamp, sample.values[0], false});
  if (series.peak_event_) {
    auto at = std::lower_bound(snapshots.begin(), snapshots.end(), series.peak_timestamp_,
                               [](const Snapshot& s, uint64_t t) { return s.timestamp < t; });
    if (at != snapshots.end() && at->timestamp == series.peak_timestamp_ && at->bytes == series.peak_bytes_) {
      at->peak = true;
    } else {
      snapshots.insert(at, {series.peak_timestamp_, series.peak_bytes_, true});
    }
  }

  OutputFile out(request.output);
  if (!out.get()) return false;
  const auto& header = info.header;
  fmt::print(out.get(), "desc: memtrace export of {} (heap bytes requested; no allocator overhead)\n",
             info.path);
  fmt::print(out.get(), "cmd: {}\ntime_unit: ms\n",
             header.command_line[0] ? header.command_line : header.program);
  for (size_t i = 0; i < snapshots.size(); ++i) {
    const Snapshot& s = snapshots[i];
    uint64_t ms =
        s.timestamp > header.start_monotonic_ns ? (s.timestamp - header.start_monotonic_ns) / 1'000'000 : 0;
    fmt::print(out.get(), "#-----------\nsnapshot={}\n#-----------\ntime={}\nmem_heap_B={}\n", i, ms,
               s.bytes);
    fmt::print(out.get(), "mem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree={}\n", s.peak ? "peak" : "empty");
    if (s.peak) {
      WriteNode(out.get(), root, "(heap allocation functions) malloc/new/new[], --alloc-fns, etc.", 0,
                root.bytes);
    }
  }
  return out.Close();
}

}  // namespace memtrace::analyzer
