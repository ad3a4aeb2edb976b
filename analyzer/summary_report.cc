// Text and JSON renderings of TraceSummary.
#include <fmt/core.h>

#include "analyzer/json_writer.h"
#include "analyzer/text_format.h"
#include "analyzer/trace_summary.h"

namespace memtrace::analyzer {

namespace {

// The calls `summary` always lists, in this order, even when zero (the JSON contract).
constexpr RecordKind kListedCalls[] = {RecordKind::kMalloc,
                                       RecordKind::kCalloc,
                                       RecordKind::kRealloc,
                                       RecordKind::kFree,
                                       RecordKind::kPosixMemalign,
                                       RecordKind::kAlignedAlloc,
                                       RecordKind::kMemalign,
                                       RecordKind::kValloc,
                                       RecordKind::kPvalloc,
                                       RecordKind::kReallocArray,
                                       RecordKind::kMmap,
                                       RecordKind::kMunmap,
                                       RecordKind::kBrk,
                                       RecordKind::kSbrk,
                                       RecordKind::kMremap,
                                       RecordKind::kMprotect,
                                       RecordKind::kMadvise,
                                       RecordKind::kMallopt,
                                       RecordKind::kMallocTrim,
                                       RecordKind::kNew,
                                       RecordKind::kNewArray,
                                       RecordKind::kNewAligned,
                                       RecordKind::kNewArrayAligned,
                                       RecordKind::kDelete,
                                       RecordKind::kDeleteArray,
                                       RecordKind::kDeleteAligned,
                                       RecordKind::kDeleteArrayAligned};

uint64_t LeakedBytes(const HeapState& heap) { return heap.live_bytes(); }

}  // namespace

void PrintSummaryText(std::FILE* out, const TraceInfo& info, const TraceSummary& s,
                      const LeakAnalysis* leaks) {
  const auto& h = info.header;
  fmt::print(out, "memtrace summary: {} (pid {})\n", h.command_line[0] ? h.command_line : h.program, h.pid);
  bool has_status = info.exit_status >= 0 && info.end_reason != format::EndReason::kSignal;
  std::string status = has_status ? fmt::format(", status {}", info.exit_status) : "";
  fmt::print(out, "  trace      {}: {}{}; {} records, {} threads, {} s\n", info.path,
             info.complete() ? "complete" : "INCOMPLETE",
             info.ended ? fmt::format(" ({}{})", info.EndDescription(), status)
                        : fmt::format(" ({})", info.EndDescription()),
             info.records, info.threads, Seconds(info.last_timestamp - h.start_monotonic_ns));
  if (!(h.flags & format::kHeaderGlibcAllocator)) {
    fmt::print(out, "  allocator  {} is not glibc's malloc: heap/mmap verdicts are unknown\n", h.allocator);
  }
  if (h.flags & format::kHeaderMallocShadowed) {
    fmt::print(out, "  warning    the program defines its own malloc; its calls did not reach memtrace\n");
  }
  if (info.dropped) fmt::print(out, "  warning    {} calls could not be recorded\n", info.dropped);
  std::string calls;
  for (RecordKind kind : kListedCalls) {
    if (s.calls(kind))
      calls += fmt::format("{}{} {}", calls.empty() ? "" : ", ", format::NameOf(kind), s.calls(kind));
  }
  fmt::print(out, "  calls      {} ({})\n", s.total_calls(), calls.empty() ? "none" : calls);
  if (!s.processes().empty()) fmt::print(out, "  processes  {}\n", s.processes().Describe());
  fmt::print(
      out,
      "  blocks     {} allocated: {} from the heap, {} mmapped (crossed the mmap threshold), {} unknown\n",
      s.allocations(Verdict::kHeap) + s.allocations(Verdict::kMmapped) + s.allocations(Verdict::kUnknown),
      s.allocations(Verdict::kHeap), s.allocations(Verdict::kMmapped), s.allocations(Verdict::kUnknown));
  fmt::print(out, "  bytes      {} requested in total, peak {} live\n",
             HumanBytes(s.heap().allocated_bytes()), HumanBytes(s.heap().peak_live_bytes()));
  const BreakTimeline& brk = s.brk();
  std::string qualified;
  if (brk.inferred_moves()) qualified += fmt::format(", {} inferred", brk.inferred_moves());
  if (brk.uncertain_moves()) qualified += fmt::format(", {} uncertain", brk.uncertain_moves());
  fmt::print(out, "  break      {} -> {} ({}), peak {}, {} moves{}\n", Hex(brk.initial()), Hex(brk.current()),
             HumanDelta(static_cast<int64_t>(brk.current() - brk.initial())),
             HumanDelta(static_cast<int64_t>(brk.peak() - brk.initial())), brk.moves().size(),
             qualified.empty() ? "" : " (" + qualified.substr(2) + ")");
  fmt::print(out, "  at exit    {} blocks ({}) still allocated{}\n", s.heap().live().size(),
             HumanBytes(LeakedBytes(s.heap())), s.heap().live().empty() ? "" : ": see `memtrace leaks`");
  if (leaks && !s.heap().live().empty()) {
    const LeakAnalysis& l = *leaks;
    fmt::print(out,
               "  leaks      definitely lost {} in {}, indirectly {} in {}, possibly {} in {}, still "
               "reachable {} in {}\n",
               HumanBytes(l.Totals(LeakClass::kDefinite).bytes), l.Totals(LeakClass::kDefinite).blocks,
               HumanBytes(l.Totals(LeakClass::kIndirect).bytes), l.Totals(LeakClass::kIndirect).blocks,
               HumanBytes(l.Totals(LeakClass::kPossible).bytes), l.Totals(LeakClass::kPossible).blocks,
               HumanBytes(l.Totals(LeakClass::kReachable).bytes), l.Totals(LeakClass::kReachable).blocks);
  }
  if (leaks && !leaks->parking.empty()) fmt::print(out, "  leak scan  {}\n", leaks->parking);
  if (s.heap().mismatched_releases()) {
    const MismatchedRelease& first = s.heap().mismatch_examples().front();
    fmt::print(
        out, "  warning    {} blocks released by the wrong function (first: {} block at {} released by {})\n",
        s.heap().mismatched_releases(), format::NameOf(first.block.kind), Hex(first.address),
        format::NameOf(first.release));
  }
  if (s.heap().double_allocations()) {
    fmt::print(out, "  warning    {} addresses were handed out twice without a release\n",
               s.heap().double_allocations());
  }
}

void PrintSummaryJson(std::FILE* out, const TraceInfo& info, const TraceSummary& s, const LeakAnalysis* leaks,
                      const std::function<void(JsonWriter&)>& extra) {
  JsonWriter json(out);
  json.BeginObject();
  WriteTraceJson(json, info);
  json.BeginObject("calls");
  for (RecordKind kind : kListedCalls) json.Field(format::NameOf(kind), s.calls(kind));
  json.Field("total", s.total_calls()).EndObject();
  s.processes().WriteJson(json, info.header.start_monotonic_ns);
  json.BeginObject("allocations")
      .Field("heap", s.allocations(Verdict::kHeap))
      .Field("mmapped", s.allocations(Verdict::kMmapped))
      .Field("unknown", s.allocations(Verdict::kUnknown))
      .Field("requested_bytes", s.heap().allocated_bytes())
      .Field("peak_live_bytes", s.heap().peak_live_bytes())
      .EndObject();
  const BreakTimeline& brk = s.brk();
  json.BeginObject("brk")
      .Field("initial", brk.initial())
      .Field("final", brk.current())
      .Field("peak", brk.peak())
      .Field("moves", static_cast<uint64_t>(brk.moves().size()))
      .Field("inferred_moves", brk.inferred_moves())
      .Field("uncertain_moves", brk.uncertain_moves())
      .EndObject();
  json.BeginObject("leaks")
      .Field("blocks", static_cast<uint64_t>(s.heap().live().size()))
      .Field("bytes", LeakedBytes(s.heap()));
  if (leaks) {
    for (LeakClass c :
         {LeakClass::kDefinite, LeakClass::kIndirect, LeakClass::kPossible, LeakClass::kReachable}) {
      json.BeginObject(LeakClassKey(c))
          .Field("bytes", leaks->Totals(c).bytes)
          .Field("blocks", leaks->Totals(c).blocks)
          .EndObject();
    }
    if (leaks->parking_recorded) {
      json.BeginObject("threads")
          .Field("parked", leaks->threads_parked)
          .Field("skipped", leaks->threads_skipped)
          .Field("parking_ns", leaks->parking_ns)
          .EndObject();
    }
  }
  json.EndObject();
  json.BeginObject("consistency")
      .Field("double_allocations", s.heap().double_allocations())
      .Field("unknown_releases", s.heap().unknown_releases())
      .Field("mismatched_releases", s.heap().mismatched_releases())
      .EndObject();
  if (extra) extra(json);
  json.EndObject();
}

}  // namespace memtrace::analyzer
