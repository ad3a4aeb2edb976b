#include "analyzer/trace_pass.h"

#include <fmt/core.h>

namespace memtrace::analyzer {

const char* TraceInfo::EndDescription() const {
  if (truncated) return "trace cut short";
  if (!ended) return "no clean exit (killed, crashed, or still running)";
  switch (end_reason) {
    case format::EndReason::kExit: return "exit";
    case format::EndReason::kUnderscoreExit: return "_exit";
    case format::EndReason::kSignal: return "fatal signal";
    case format::EndReason::kExec: return "exec";
  }
  return "unknown";
}

bool ReadTrace(const std::string& path, const std::vector<EventConsumer*>& consumers, TraceInfo* info) {
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
  format::Event event;
  while (reader->Next(&event)) {
    if (!info->first_timestamp) info->first_timestamp = event.timestamp;
    info->last_timestamp = event.timestamp;
    switch (event.kind) {
      case format::RecordKind::kProcessEnd:
        info->ended = true;
        info->end_reason = static_cast<format::EndReason>(event.param);
        info->exit_status = event.result;
        break;
      case format::RecordKind::kDropped:
        info->dropped += event.count;
        break;
      case format::RecordKind::kEnvironment:
        info->environment.emplace_back(reinterpret_cast<const char*>(event.bytes), event.byte_count);
        break;
      default:
        break;
    }
    for (EventConsumer* consumer : consumers) consumer->Apply(event);
  }
  info->records = reader->records_read();
  if (!reader->error().empty()) {
    fmt::print(stderr, "memtrace: error: {}: {} (after {} good records)\n", path, reader->error(), info->records);
    return false;
  }
  info->truncated = reader->truncated();
  if (info->truncated) {
    fmt::print(stderr, "memtrace: warning: {} is cut short; everything up to the cut was read ({} records)\n",
               path, info->records);
  }
  return true;
}

}  // namespace memtrace::analyzer
