#include "analyzer/leak_report.h"

#include <absl/container/flat_hash_map.h>
#include <fmt/core.h>

#include <algorithm>
#include <tuple>

#include "analyzer/json_writer.h"
#include "analyzer/text_format.h"

namespace memtrace::analyzer {

namespace {

constexpr LeakClass kReportOrder[] = {LeakClass::kDefinite, LeakClass::kIndirect, LeakClass::kPossible,
                                      LeakClass::kReachable};

bool Shown(const LeakGroup& group, const LeakPrintOptions& options) {
  if (!group.leak_class) return true;
  return std::find(options.show.begin(), options.show.end(), *group.leak_class) != options.show.end();
}

std::string CallOf(const LeakGroup& g) {
  if (g.stack_id) return format::NameOf(g.kind);
  return fmt::format("{}({})", format::NameOf(g.kind), g.size);
}

}  // namespace

LeakAnalysis AnalyzeLeaks(const HeapState& heap, const LeakClasses& classes) {
  // Key: stack (or, without stacks, call kind and size) and class.
  using Key = std::tuple<uint32_t, uint8_t, uint64_t, uint8_t>;
  absl::flat_hash_map<Key, LeakGroup> groups;
  LeakAnalysis analysis;
  analysis.parking = ParkingDescription(classes);
  analysis.parking_recorded = classes.parking_recorded();
  analysis.threads_parked = classes.threads_parked();
  analysis.threads_skipped = classes.threads_skipped();
  analysis.parking_ns = classes.parking_ns();
  for (const auto& [address, block] : heap.live()) {
    std::optional<LeakVerdict> verdict = classes.VerdictAt(address);
    std::optional<LeakClass> leak_class;
    if (verdict) leak_class = verdict->leak_class;
    uint8_t class_key = leak_class ? static_cast<uint8_t>(*leak_class) : 0;
    Key key = block.stack_id ? Key{block.stack_id, 0, 0, class_key}
                             : Key{0, static_cast<uint8_t>(block.kind), block.size, class_key};
    LeakGroup& group = groups[key];
    if (group.blocks == 0 || block.timestamp < group.first_timestamp) {
      group.leak_class = leak_class;
      group.kind = block.kind;
      group.size = block.stack_id ? 0 : block.size;
      group.stack_id = block.stack_id;
      group.verdict = block.verdict;
      group.first_address = address;
      group.first_timestamp = block.timestamp;
      group.first_tid = block.tid;
    }
    ++group.blocks;
    group.bytes += block.size;
    if (verdict) group.indirect_bytes += verdict->indirect_bytes;
    LeakTotals& totals = analysis.Totals(leak_class);
    ++totals.blocks;
    totals.bytes += block.size;
  }
  for (auto& [key, group] : groups) analysis.groups.push_back(group);
  std::sort(analysis.groups.begin(), analysis.groups.end(), [](const LeakGroup& a, const LeakGroup& b) {
    return std::tie(b.bytes, b.indirect_bytes, b.blocks, a.first_timestamp) <
           std::tie(a.bytes, a.indirect_bytes, a.blocks, b.first_timestamp);
  });
  return analysis;
}

void PrintLeaksText(std::FILE* out, const TraceInfo& info, const LeakAnalysis& leaks,
                    const LeakClasses& classes, const LeakPrintOptions& options, const StackStore& stacks,
                    Symbolizer& symbolizer) {
  if (!info.complete() && classes.scanned()) {
    // A fatal signal the preload caught: it scanned before the process died.
    fmt::print(out, "note: the process was {}; its blocks were classified by the scan it ran then\n\n",
               info.EndDescription());
  } else if (!info.complete()) {
    fmt::print(out, "note: the trace is incomplete ({}); blocks live at its end are listed unclassified\n\n",
               info.EndDescription());
  } else if (!classes.scanned()) {
    fmt::print(out,
               "note: no exit-time scan in this trace (MEMTRACE_LEAK_SCAN=0?); blocks are unclassified\n\n");
  }
  size_t shown = 0, record = 0;
  for (const LeakGroup& g : leaks.groups) shown += Shown(g, options);
  const uint64_t start = info.header.start_monotonic_ns;
  for (const LeakGroup& g : leaks.groups) {
    if (!Shown(g, options)) continue;
    ++record;
    std::string amount = g.indirect_bytes ? fmt::format("{} ({} direct, {} indirect)",
                                                        g.bytes + g.indirect_bytes, g.bytes, g.indirect_bytes)
                                          : std::to_string(g.bytes);
    std::string what = g.leak_class ? fmt::format("are {}", LeakClassWording(*g.leak_class))
                                    : std::string("are still allocated (unclassified)");
    fmt::print(out, "{} bytes in {} blocks {} in loss record {} of {} [{}]\n", amount, g.blocks, what, record,
               shown, VerdictName(g.verdict));
    fmt::print(out, "   at {}\n", CallOf(g));
    for (const SymbolizedFrame& frame : SymbolizeStack(symbolizer, stacks.Frames(g.stack_id))) {
      fmt::print(out, "   by {}: {}{}\n", Hex(frame.address), Symbolizer::Describe(frame),
                 frame.inlined ? " [inlined]" : "");
    }
    fmt::print(out, "   first block {}, thread {}, {} s into the run\n\n", Hex(g.first_address), g.first_tid,
               Seconds(g.first_timestamp - start));
  }
  fmt::print(out, "LEAK SUMMARY:\n");
  for (LeakClass c : kReportOrder) {
    const LeakTotals& t = leaks.Totals(c);
    fmt::print(out, "   {:>15}: {} bytes in {} blocks\n", LeakClassWording(c), t.bytes, t.blocks);
  }
  if (const LeakTotals& t = leaks.Totals(std::nullopt); t.blocks) {
    fmt::print(out, "   {:>15}: {} bytes in {} blocks\n", "unclassified", t.bytes, t.blocks);
  }
  fmt::print(out, "   {:>15}: {} bytes in {} blocks\n", "suppressed", leaks.suppressed.bytes,
             leaks.suppressed.blocks);
  if (classes.scanned()) {
    fmt::print(out, "   (exit-time scan: {} of roots in {} ms)\n", HumanBytes(classes.scanned_root_bytes()),
               classes.scan_duration_ns() / 1000000.0);
    if (std::string parking = ParkingDescription(classes); !parking.empty()) {
      fmt::print(out, "   (threads: {})\n", parking);
    }
  }
  std::vector<std::string> hidden;
  for (LeakClass c : kReportOrder) {
    if (leaks.Totals(c).blocks &&
        std::find(options.show.begin(), options.show.end(), c) == options.show.end()) {
      hidden.push_back(LeakClassKey(c));
    }
  }
  if (!hidden.empty()) {
    std::string list;
    for (const auto& h : hidden) list += (list.empty() ? "" : ",") + h;
    fmt::print(out, "To see the {} blocks too: memtrace leaks --show all TRACE\n", list);
  }
}

void PrintLeaksJson(std::FILE* out, const TraceInfo& info, const LeakAnalysis& leaks,
                    const LeakClasses& classes, const LeakPrintOptions& options, const StackStore& stacks,
                    Symbolizer& symbolizer) {
  JsonWriter json(out);
  json.BeginObject().Field("complete", info.complete()).Field("scanned", classes.scanned());
  if (classes.scanned()) {
    json.BeginObject("scan")
        .Field("root_bytes", classes.scanned_root_bytes())
        .Field("duration_ns", classes.scan_duration_ns())
        .EndObject();
  }
  if (classes.parking_recorded()) {
    json.BeginObject("threads")
        .Field("parked", classes.threads_parked())
        .Field("skipped", classes.threads_skipped())
        .Field("parking_ns", classes.parking_ns())
        .EndObject();
  }
  json.BeginArray("groups");
  for (const LeakGroup& g : leaks.groups) {
    if (!Shown(g, options)) continue;
    json.BeginObject()
        .Field("bytes", g.bytes + g.indirect_bytes)
        .Field("direct_bytes", g.bytes)
        .Field("indirect_bytes", g.indirect_bytes)
        .Field("blocks", g.blocks)
        .Field("kind", g.leak_class ? LeakClassKey(*g.leak_class) : "unclassified")
        .Field("call", format::NameOf(g.kind))
        .Field("size", g.size)
        .Field("verdict", VerdictName(g.verdict))
        .Field("first_address", g.first_address)
        .Field("first_tid", g.first_tid);
    WriteFramesJson(json, "stack", SymbolizeStack(symbolizer, stacks.Frames(g.stack_id)));
    json.EndObject();
  }
  json.EndArray();
  json.BeginObject("summary");
  uint64_t blocks = 0, bytes = 0;
  for (const LeakTotals& t : leaks.by_class) blocks += t.blocks, bytes += t.bytes;
  json.Field("blocks", blocks).Field("bytes", bytes);
  for (LeakClass c : kReportOrder) {
    json.BeginObject(LeakClassKey(c))
        .Field("bytes", leaks.Totals(c).bytes)
        .Field("blocks", leaks.Totals(c).blocks)
        .EndObject();
  }
  const LeakTotals& unclassified = leaks.Totals(std::nullopt);
  json.BeginObject("unclassified")
      .Field("bytes", unclassified.bytes)
      .Field("blocks", unclassified.blocks)
      .EndObject();
  json.BeginObject("suppressed")
      .Field("bytes", leaks.suppressed.bytes)
      .Field("blocks", leaks.suppressed.blocks)
      .EndObject();
  json.EndObject().EndObject();
}

}  // namespace memtrace::analyzer
