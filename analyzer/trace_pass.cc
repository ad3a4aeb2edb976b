#include "analyzer/trace_pass.h"

#include <fmt/core.h>
#include <string.h>

#include <algorithm>
#include <utility>

#include "analyzer/event_pipeline.h"

namespace memtrace::analyzer {

std::string TraceInfo::EndDescription() const {
  if (truncated) return "trace cut short";
  if (!ended) return "no clean exit (killed, crashed, or still running)";
  switch (end_reason) {
    case format::EndReason::kExit: return "exit";
    case format::EndReason::kUnderscoreExit: return "_exit";
    case format::EndReason::kSignal: {
      const char* name = sigabbrev_np(static_cast<int>(exit_status));
      return "killed by signal " + std::to_string(exit_status) +
             (name ? std::string(" (SIG") + name + ")" : "");
    }
    case format::EndReason::kExec: return "exec";
  }
  return "unknown";
}

void WriteTraceJson(JsonWriter& json, const TraceInfo& info) {
  const auto& h = info.header;
  json.BeginObject("trace")
      .Field("path", info.path)
      .Field("program", h.program)
      .Field("command_line", h.command_line)
      .Field("pid", h.pid)
      .Field("ppid", h.ppid)
      .Field("exec_generation", h.exec_generation)
      .Field("parent_trace", h.parent_trace)
      .Field("complete", info.complete())
      .Field("truncated", info.truncated)
      .Field("end", info.EndDescription())
      .Field("exit_status", info.exit_status)
      .Field("records", info.records)
      .Field("threads", static_cast<uint64_t>(info.threads))
      .Field("start_realtime_ns", h.start_realtime_ns)
      .Field("duration_ns",
             info.last_timestamp > h.start_monotonic_ns ? info.last_timestamp - h.start_monotonic_ns : 0)
      .Field("allocator", h.allocator)
      .Field("glibc_allocator", (h.flags & format::kHeaderGlibcAllocator) != 0)
      .Field("malloc_shadowed", (h.flags & format::kHeaderMallocShadowed) != 0)
      .Field("stacks_recorded", (h.flags & format::kHeaderStacks) != 0)
      .Field("dropped_calls", info.dropped)
      .Field("initial_break", h.initial_break);
  json.BeginArray("environment");
  for (const auto& entry : info.environment) json.Field("", entry);
  json.EndArray().EndObject();
}

bool ReadTrace(const std::string& path, const std::vector<EventConsumer*>& consumers, TraceInfo* info,
               ProgressReporter* progress) {
  std::string error;
  auto reader = format::TraceReader::Open(path, &error);
  if (!reader) {
    fmt::print(stderr, "memtrace: error: {}\n", error);
    return false;
  }
  info->path = path;
  info->header = reader->header();
  info->threads = reader->thread_count();
  for (EventConsumer* consumer : consumers) consumer->Begin(*info);
  if (progress) progress->Start("reading " + path);
  size_t vfork_children = 0;
  const uint64_t chunk_count = reader->chunk_count();
  EventPipeline pipeline(std::move(reader));
  for (auto batch = pipeline.NextBatch(); !batch.empty(); batch = pipeline.NextBatch()) {
    if (progress) progress->Update(pipeline.chunks_started(), chunk_count);
    for (const format::Event& event : batch) {
      if (!info->first_timestamp) info->first_timestamp = event.timestamp;
      info->last_timestamp = event.timestamp;
      switch (event.kind) {
        case format::RecordKind::kProcessEnd:
          info->ended = true;
          info->end_reason = static_cast<format::EndReason>(event.param);
          info->exit_status = event.result;
          break;
        case format::RecordKind::kDropped: info->dropped += event.count; break;
        case format::RecordKind::kVforkChild: ++vfork_children; break;
        case format::RecordKind::kEnvironment:
          info->environment.emplace_back(reinterpret_cast<const char*>(event.bytes), event.byte_count);
          break;
        default: break;
      }
      for (EventConsumer* consumer : consumers) consumer->Apply(event);
    }
  }
  if (progress) progress->Finish();
  const format::TraceReader& done = pipeline.reader();
  info->threads -= std::min(vfork_children, info->threads);
  info->records = done.records_read();
  if (!done.error().empty()) {
    fmt::print(stderr, "memtrace: error: {}: {} (after {} good records)\n", path, done.error(),
               info->records);
    return false;
  }
  info->truncated = done.truncated();
  if (info->truncated) {
    fmt::print(stderr, "memtrace: warning: {} is cut short; everything up to the cut was read ({} records)\n",
               path, info->records);
  }
  return true;
}

}  // namespace memtrace::analyzer
