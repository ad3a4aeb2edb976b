// One pass over a trace: opens it, hands every event in merged order to a consumer, and gathers the
// facts about the trace itself (who wrote it, whether it is complete, how the process ended).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/json_writer.h"
#include "analyzer/progress.h"
#include "format/trace_reader.h"

namespace memtrace::analyzer {

struct TraceInfo {
  std::string path;
  format::FileHeader header{};
  bool truncated = false;  // the file ends before what the writer committed
  bool ended = false;      // a process-end record was written
  format::EndReason end_reason = format::EndReason::kExit;
  int64_t exit_status = -1;  // -1: unknown (main returned, or the process never ended)
  uint64_t records = 0;
  size_t threads = 0;  // the process's own: a vfork child's chunks have a tid of their own, not counted
  uint64_t first_timestamp = 0;
  uint64_t last_timestamp = 0;
  uint64_t dropped = 0;                  // calls the preload could not record
  std::vector<std::string> environment;  // GLIBC_TUNABLES / MALLOC_* settings seen at start

  // Nothing lost and the process ended on its own (exit, _exit or exec; a fatal signal noted by
  // `memtrace run` is an end, but not a complete trace: the last record may have been torn).
  bool complete() const { return ended && !truncated && end_reason != format::EndReason::kSignal; }
  std::string EndDescription() const;
};

// Writes the "trace" object every --json report starts with: who wrote the trace, how the process
// ended, and what the trace holds.
void WriteTraceJson(JsonWriter& json, const TraceInfo& info);

// One of the independent consumers a pass feeds. Begin sees the header before the first event.
class EventConsumer {
 public:
  virtual ~EventConsumer() = default;
  virtual void Begin(const TraceInfo& /*info*/) {}
  virtual void Apply(const format::Event& event) = 0;
};

// Reads `path` and hands every event, in timestamp order, to each consumer. On an unreadable or
// corrupt trace prints one error line to stderr and returns false; a truncated trace is read up to the
// cut, with a warning, and returns true. `progress`, when given, shows how far the read has come.
bool ReadTrace(const std::string& path, const std::vector<EventConsumer*>& consumers, TraceInfo* info,
               ProgressReporter* progress = nullptr);

}  // namespace memtrace::analyzer
