#include "analyzer/maps_report.h"

#include <fmt/core.h>

#include "analyzer/json_writer.h"
#include "analyzer/text_format.h"

namespace memtrace::analyzer {

namespace {

// The innermost frame of a stack, described, or "" without stacks.
std::string WhereFrom(uint32_t stack_id, const StackStore& stacks, Symbolizer& symbolizer) {
  if (!stack_id) return "";
  auto frames = SymbolizeStack(symbolizer, stacks.Frames(stack_id));
  return frames.empty() ? "" : " at " + Symbolizer::Describe(frames.front());
}

}  // namespace

void PrintMapsText(std::FILE* out, const TraceInfo& info, const MapsTimeline& maps,
                   const MapsPrintOptions& options, const StackStore& stacks, Symbolizer& symbolizer) {
  const uint64_t start = info.header.start_monotonic_ns;
  if (!maps.saw_snapshot()) {
    fmt::print(
        out, "note: the trace has no /proc/self/maps snapshot; only mappings made while tracing are shown\n");
  }
  fmt::print(out, "{}:   {} (pid {}) at {} s\n", info.path, info.header.command_line, info.header.pid,
             Seconds(options.at_ns));
  fmt::print(out, "{:<18} {:>10} {:<5} {:<13} {}\n", "Address", "Kbytes", "Mode", "Origin", "Mapping");
  uint64_t total = 0, own_bytes = 0, own_count = 0;
  for (const auto& [begin, region] : maps.regions().Coalesced()) {
    uint64_t bytes = region.end - begin;
    if (region.origin == Origin::kMemtrace && !options.show_memtrace) {
      own_bytes += bytes;
      ++own_count;
      continue;
    }
    total += bytes;
    fmt::print(out, "{:016x}   {:>10} {:<5} {:<13} {}\n", begin, bytes / 1024,
               ModeString(region.prot, region.shared), OriginName(region.origin), RegionLabel(region));
  }
  fmt::print(out, " total kB {:>15}\n", total / 1024);
  if (own_count) {
    fmt::print(out, " (memtrace's own {} mappings, {} kB, hidden; --show-memtrace lists them)\n", own_count,
               own_bytes / 1024);
  }
  if (options.timeline) {
    fmt::print(out, "\n{:>11} {:>7}  {:<10} {:<35} {:>10}  {:<13} {}\n", "time (s)", "thread", "change",
               "range", "size", "origin", "cause");
    for (const MapChange& c : maps.changes()) {
      if (c.origin == Origin::kMemtrace) continue;
      fmt::print(out, "{:>11} {:>7}  {:<10} {:<35} {:>10}  {:<13} {}{}{}\n", Seconds(c.timestamp - start),
                 c.tid, ChangeName(c.type),
                 c.type == MapChange::Type::kTransient ? std::string("(address unknown)")
                                                       : fmt::format("{:#x}-{:#x}", c.begin, c.end),
                 HumanBytes(c.end - c.begin), OriginName(c.origin), CauseName(c),
                 c.path.empty() ? "" : " " + c.path, WhereFrom(c.stack_id, stacks, symbolizer));
    }
  }
  if (options.verify) {
    const MapsVerification& v = maps.verification();
    if (!v.done) {
      fmt::print(
          out,
          "\nverify: the trace has no exit snapshot of /proc/self/maps (the process did not exit cleanly)\n");
    } else if (v.differences.empty()) {
      fmt::print(out, "\nverify: the reconstruction equals the process's own /proc/self/maps at exit\n");
    } else {
      fmt::print(out, "\nverify: {} differences from the process's own /proc/self/maps at exit:\n",
                 v.differences.size());
      for (const MapsDifference& d : v.differences) {
        fmt::print(out, "  {:#x}-{:#x} {:>10} {} {}\n", d.begin, d.end, HumanBytes(d.end - d.begin),
                   ModeString(d.prot, false),
                   d.in_kernel ? "in /proc/self/maps only " + d.path : "in the reconstruction only");
      }
    }
  }
}

void PrintMapsJson(std::FILE* out, const TraceInfo& info, const MapsTimeline& maps,
                   const MapsPrintOptions& options) {
  const uint64_t start = info.header.start_monotonic_ns;
  JsonWriter json(out);
  json.BeginObject().Field("at_ns", options.at_ns).Field("complete", info.complete());
  json.BeginArray("mappings");
  uint64_t own_bytes = 0, own_count = 0;
  for (const auto& [begin, region] : maps.regions().Coalesced()) {
    if (region.origin == Origin::kMemtrace && !options.show_memtrace) {
      own_bytes += region.end - begin;
      ++own_count;
      continue;
    }
    json.BeginObject()
        .Field("start", begin)
        .Field("end", region.end)
        .Field("size", region.end - begin)
        .Field("mode", ModeString(region.prot, region.shared))
        .Field("origin", OriginName(region.origin))
        .Field("path", region.path)
        .Field("offset", region.offset)
        .Field("cause", format::NameOf(region.cause))
        .Field("birth_ns", region.birth_ns > start ? region.birth_ns - start : 0)
        .Field("tid", region.tid)
        .Field("stack_id", region.stack_id)
        .EndObject();
  }
  json.EndArray();
  json.BeginObject("memtrace_hidden").Field("mappings", own_count).Field("bytes", own_bytes).EndObject();
  if (options.timeline) {
    json.BeginArray("timeline");
    for (const MapChange& c : maps.changes()) {
      json.BeginObject()
          .Field("time_ns", c.timestamp > start ? c.timestamp - start : 0)
          .Field("change", ChangeName(c.type))
          .Field("start", c.begin)
          .Field("end", c.end)
          .Field("origin", OriginName(c.origin))
          .Field("cause", CauseName(c))
          .Field("tid", c.tid)
          .Field("stack_id", c.stack_id)
          .Field("path", c.path)
          .EndObject();
    }
    json.EndArray();
  }
  if (options.verify) {
    const MapsVerification& v = maps.verification();
    json.BeginObject("verify").Field("done", v.done).Field("equal", v.done && v.differences.empty());
    json.BeginArray("differences");
    for (const MapsDifference& d : v.differences) {
      json.BeginObject()
          .Field("start", d.begin)
          .Field("end", d.end)
          .Field("mode", ModeString(d.prot, false))
          .Field("in_kernel_only", d.in_kernel)
          .Field("path", d.path)
          .EndObject();
    }
    json.EndArray().EndObject();
  }
  json.EndObject();
}

}  // namespace memtrace::analyzer
