// The whole reconstructed model as one JSON document for scripts: the trace's facts, the summary's
// counts, every break move, the blocks live at the end (with their stack ids), every stack
// symbolized, and the modules the stacks point into. Keys are stable; times are ns since tracing began.
#include <fmt/core.h>

#include <algorithm>

#include "analyzer/export/exporters.h"
#include "analyzer/export/output_file.h"
#include "analyzer/json_writer.h"
#include "analyzer/trace_summary.h"

namespace memtrace::analyzer {

namespace {

constexpr RecordKind kCallKinds[] = {
#define MEMTRACE_KIND_ENTRY(name, ...) RecordKind::name,
    MEMTRACE_CALL_KINDS(MEMTRACE_KIND_ENTRY)
#undef MEMTRACE_KIND_ENTRY
};

std::string HexBytes(const std::string& bytes) {
  std::string hex;
  for (unsigned char byte : bytes) hex += fmt::format("{:02x}", byte);
  return hex;
}

void WriteSummary(JsonWriter& json, const TraceInfo& info, const TraceSummary& s) {
  const HeapState& heap = s.heap();
  uint64_t start = info.header.start_monotonic_ns;
  json.BeginObject("summary");
  json.BeginObject("calls");
  for (RecordKind kind : kCallKinds) {
    if (kind != RecordKind::kReallocRelease) json.Field(format::NameOf(kind), s.calls(kind));
  }
  json.Field("total", s.total_calls()).EndObject();
  json.BeginObject("allocations")
      .Field("heap", s.allocations(Verdict::kHeap))
      .Field("mmapped", s.allocations(Verdict::kMmapped))
      .Field("unknown", s.allocations(Verdict::kUnknown))
      .Field("requested_bytes", heap.allocated_bytes())
      .Field("peak_live_bytes", heap.peak_live_bytes())
      .Field("peak_time_ns", heap.peak_timestamp() > start ? heap.peak_timestamp() - start : 0)
      .EndObject();
  json.BeginObject("live_at_end")
      .Field("blocks", static_cast<uint64_t>(heap.live().size()))
      .Field("bytes", heap.live_bytes())
      .EndObject();
  json.BeginObject("consistency")
      .Field("double_allocations", heap.double_allocations())
      .Field("unknown_releases", heap.unknown_releases())
      .Field("mismatched_releases", heap.mismatched_releases())
      .EndObject();
  json.EndObject();
}

void WriteBreak(JsonWriter& json, const TraceInfo& info, const BreakTimeline& brk) {
  uint64_t start = info.header.start_monotonic_ns;
  json.BeginObject("brk")
      .Field("initial", brk.initial())
      .Field("final", brk.current())
      .Field("peak", brk.peak());
  json.BeginArray("moves");
  for (const BreakMove& move : brk.moves()) {
    json.BeginObject()
        .Field("time_ns", move.timestamp > start ? move.timestamp - start : 0)
        .Field("tid", move.tid)
        .Field("call", format::NameOf(move.call))
        .Field("requested", move.requested)
        .Field("before", move.before)
        .Field("after", move.after)
        .Field("certainty", CertaintyName(move.certainty))
        .Field("stack_id", move.stack_id)
        .EndObject();
  }
  json.EndArray().EndObject();
}

void WriteLiveBlocks(JsonWriter& json, const TraceInfo& info, const HeapState& heap) {
  std::vector<std::pair<uint64_t, const LiveBlock*>> blocks;
  blocks.reserve(heap.live().size());
  for (const auto& [address, block] : heap.live()) blocks.push_back({address, &block});
  std::sort(blocks.begin(), blocks.end());
  uint64_t start = info.header.start_monotonic_ns;
  json.BeginArray("live_blocks");
  for (const auto& [address, block] : blocks) {
    json.BeginObject()
        .Field("address", address)
        .Field("size", block->size)
        .Field("call", format::NameOf(block->kind))
        .Field("verdict", VerdictName(block->verdict))
        .Field("tid", block->tid)
        .Field("time_ns", block->timestamp > start ? block->timestamp - start : 0)
        .Field("stack_id", block->stack_id)
        .EndObject();
  }
  json.EndArray();
}

void WriteStacks(JsonWriter& json, const StackStore& stacks, Symbolizer& symbolizer,
                 ProgressReporter* progress) {
  std::vector<uint32_t> ids = stacks.Ids();
  if (progress) progress->Start("symbolizing");
  json.BeginArray("stacks");
  for (size_t i = 0; i < ids.size(); ++i) {
    json.BeginObject().Field("id", ids[i]);
    WriteFramesJson(json, "frames", SymbolizeStack(symbolizer, stacks.Frames(ids[i])));
    json.EndObject();
    if (progress && i % 256 == 0) progress->Update(i, ids.size());
  }
  json.EndArray();
  if (progress) progress->Finish();
}

void WriteModules(JsonWriter& json, const StackStore& stacks) {
  json.BeginArray("modules");
  for (const Module& module : stacks.modules()) {
    json.BeginObject()
        .Field("path", module.path)
        .Field("base", module.base)
        .Field("size", module.size)
        .Field("build_id", HexBytes(module.build_id))
        .EndObject();
  }
  json.EndArray();
}

}  // namespace

bool ExportJson(const ExportRequest& request) {
  TraceSummary summary;
  StackStore stacks;
  TraceInfo info;
  if (!ReadTrace(request.trace, {&summary, &stacks}, &info, request.progress)) return false;
  Symbolizer symbolizer(stacks.modules());
  OutputFile out(request.output);
  if (!out.get()) return false;
  {
    JsonWriter json(out.get());
    json.BeginObject();
    WriteTraceJson(json, info);
    WriteSummary(json, info, summary);
    WriteBreak(json, info, summary.brk());
    WriteLiveBlocks(json, info, summary.heap());
    WriteStacks(json, stacks, symbolizer, request.progress);
    WriteModules(json, stacks);
    json.EndObject();
  }
  return out.Close();
}

}  // namespace memtrace::analyzer
