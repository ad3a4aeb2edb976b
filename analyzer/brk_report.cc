#include "analyzer/brk_report.h"

#include <fmt/core.h>

#include "analyzer/json_writer.h"
#include "analyzer/text_format.h"

namespace memtrace::analyzer {

namespace {

std::string CauseText(const BreakMove& move) {
  std::string cause = format::YieldsBlock(move.call)
                          ? fmt::format("{}({})", format::NameOf(move.call), move.requested)
                          : std::string(format::NameOf(move.call));
  if (move.certainty == BreakCertainty::kInferred) cause += "  [inferred]";
  if (move.certainty == BreakCertainty::kUncertain) cause += "  [uncertain: net move]";
  return cause;
}

}  // namespace

void PrintBreakText(std::FILE* out, const TraceInfo& info, const BreakTimeline& timeline,
                    const StackStore& stacks, Symbolizer& symbolizer) {
  fmt::print(out, "program break: starts at {}, ends at {} ({}), peak {} ({}), {} moves\n\n",
             Hex(timeline.initial()), Hex(timeline.current()),
             HumanDelta(static_cast<int64_t>(timeline.current() - timeline.initial())), Hex(timeline.peak()),
             HumanDelta(static_cast<int64_t>(timeline.peak() - timeline.initial())), timeline.moves().size());
  if (timeline.inferred_moves()) {
    fmt::print(
        out,
        "[inferred]: one call moved the break twice (glibc grew the heap, then trimmed it); the break\n"
        "between the two moves is computed from glibc's arithmetic, checked against the recorded end.\n");
  }
  if (timeline.uncertain_moves()) {
    fmt::print(
        out,
        "[uncertain: net move]: the call's net move; glibc may have moved the break more than once in\n"
        "it, and the records do not tell where in between.\n");
  }
  if (timeline.inferred_moves() || timeline.uncertain_moves()) fmt::print(out, "\n");
  if (timeline.moves().empty()) return;
  fmt::print(out, "{:>11} {:>7}  {:<16} {:<16} {:>12} {:>12}  {}\n", "time (s)", "thread", "from", "to",
             "delta", "heap size", "caused by");
  for (const BreakMove& move : timeline.moves()) {
    fmt::print(out, "{:>11} {:>7}  {:<16} {:<16} {:>12} {:>12}  {}\n",
               Seconds(move.timestamp - info.header.start_monotonic_ns), move.tid, Hex(move.before),
               Hex(move.after), HumanDelta(static_cast<int64_t>(move.after - move.before)),
               HumanBytes(move.after - timeline.initial()), CauseText(move));
    constexpr size_t kFramesShown = 3;
    auto frames = SymbolizeStack(symbolizer, stacks.Frames(move.stack_id));
    for (size_t i = 0; i < frames.size() && i < kFramesShown; ++i) {
      fmt::print(out, "{:>23}{} {}\n", "", i ? "by" : "at", Symbolizer::Describe(frames[i]));
    }
  }
}

void PrintBreakJson(std::FILE* out, const TraceInfo& info, const BreakTimeline& timeline,
                    const StackStore& stacks, Symbolizer& symbolizer) {
  JsonWriter json(out);
  json.BeginObject()
      .Field("initial", timeline.initial())
      .Field("final", timeline.current())
      .Field("peak", timeline.peak())
      .Field("complete", info.complete())
      .Field("inferred_moves", timeline.inferred_moves())
      .Field("uncertain_moves", timeline.uncertain_moves());
  json.BeginArray("moves");
  for (const BreakMove& move : timeline.moves()) {
    json.BeginObject()
        .Field("time_ns", move.timestamp - info.header.start_monotonic_ns)
        .Field("tid", move.tid)
        .Field("call", format::NameOf(move.call))
        .Field("size", move.requested)
        .Field("before", move.before)
        .Field("after", move.after)
        .Field("delta", static_cast<int64_t>(move.after - move.before))
        .Field("certainty", CertaintyName(move.certainty))
        .Field("reason", move.reason)
        .Field("stack_id", move.stack_id);
    WriteFramesJson(json, "stack", SymbolizeStack(symbolizer, stacks.Frames(move.stack_id)));
    json.EndObject();
  }
  json.EndArray().EndObject();
}

}  // namespace memtrace::analyzer
