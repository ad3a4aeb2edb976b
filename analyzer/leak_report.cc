#include "analyzer/leak_report.h"

#include <absl/container/flat_hash_map.h>
#include <fmt/core.h>

#include <algorithm>
#include <tuple>

#include "analyzer/json_writer.h"
#include "analyzer/text_format.h"

namespace memtrace::analyzer {

std::vector<LeakGroup> GroupLeaks(const HeapState& heap) {
  // Key: the stack when there is one; without stacks the call kind and request size stand in for it.
  using Key = std::tuple<uint32_t, uint8_t, uint64_t>;
  absl::flat_hash_map<Key, LeakGroup> groups;
  for (const auto& [address, block] : heap.live()) {
    Key key = block.stack_id ? Key{block.stack_id, 0, 0} : Key{0, static_cast<uint8_t>(block.kind), block.size};
    LeakGroup& group = groups[key];
    if (group.blocks == 0 || block.timestamp < group.first_timestamp) {
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
  }
  std::vector<LeakGroup> sorted;
  sorted.reserve(groups.size());
  for (auto& [key, group] : groups) sorted.push_back(group);
  std::sort(sorted.begin(), sorted.end(), [](const LeakGroup& a, const LeakGroup& b) {
    return std::tie(b.bytes, b.blocks, a.first_timestamp) < std::tie(a.bytes, a.blocks, b.first_timestamp);
  });
  return sorted;
}

void PrintLeaksText(std::FILE* out, const TraceInfo& info, const HeapState& heap, const std::vector<LeakGroup>& groups,
                    const StackStore& stacks, Symbolizer& symbolizer) {
  if (!info.complete()) {
    fmt::print(out, "note: the trace is incomplete ({}); blocks still live at its end are listed\n",
               info.EndDescription());
  }
  if (groups.empty()) {
    fmt::print(out, "All heap blocks were freed -- no leaks are possible.\n");
    return;
  }
  fmt::print(out, "{} bytes in {} blocks still allocated at exit, in {} groups\n\n", heap.live_bytes(),
             heap.live().size(), groups.size());
  const uint64_t start = info.header.start_monotonic_ns;
  for (const LeakGroup& g : groups) {
    std::string call = g.size || !g.stack_id ? fmt::format("{}({})", format::NameOf(g.kind), g.size)
                                             : std::string(format::NameOf(g.kind));
    fmt::print(out, "{} bytes in {} blocks are still allocated at exit [{}]\n", g.bytes, g.blocks, VerdictName(g.verdict));
    fmt::print(out, "   at {}\n", call);
    for (const SymbolizedFrame& frame : SymbolizeStack(symbolizer, stacks.Frames(g.stack_id))) {
      fmt::print(out, "   by {}: {}{}\n", Hex(frame.address), Symbolizer::Describe(frame), frame.inlined ? " [inlined]" : "");
    }
    fmt::print(out, "   first block {}, thread {}, {} s into the run\n\n", Hex(g.first_address), g.first_tid,
               Seconds(g.first_timestamp - start));
  }
}

void PrintLeaksJson(std::FILE* out, const TraceInfo& info, const HeapState& heap, const std::vector<LeakGroup>& groups,
                    const StackStore& stacks, Symbolizer& symbolizer) {
  JsonWriter json(out);
  json.BeginObject();
  json.Field("complete", info.complete());
  json.BeginArray("groups");
  for (const LeakGroup& g : groups) {
    json.BeginObject()
        .Field("bytes", g.bytes)
        .Field("blocks", g.blocks)
        .Field("kind", format::NameOf(g.kind))
        .Field("size", g.size)
        .Field("verdict", VerdictName(g.verdict))
        .Field("first_address", g.first_address)
        .Field("first_tid", g.first_tid)
        .Field("stack_id", g.stack_id);
    json.BeginArray("stack");
    for (const SymbolizedFrame& frame : SymbolizeStack(symbolizer, stacks.Frames(g.stack_id))) {
      json.BeginObject()
          .Field("function", frame.function)
          .Field("file", frame.file)
          .Field("line", frame.line)
          .Field("module", frame.module)
          .Field("address", frame.address)
          .Field("inlined", frame.inlined)
          .EndObject();
    }
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
  json.BeginObject("summary")
      .Field("blocks", static_cast<uint64_t>(heap.live().size()))
      .Field("bytes", heap.live_bytes())
      .EndObject();
  json.EndObject();
}

}  // namespace memtrace::analyzer
