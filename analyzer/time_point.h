// `--at T` for reports: the trace as it stood at a moment of the run. T is a time since the trace
// began ("123456789ns", "250ms", "1.5s"), a share of the run ("50%"), "peak" (when the live heap was
// highest) or "end" (the whole trace). The report is computed from the events up to T only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

struct TimePoint {
  enum class Kind { kOffset, kFraction, kPeak };
  Kind kind = Kind::kOffset;
  uint64_t offset_ns = 0;  // kOffset
  double fraction = 0;     // kFraction, 0..1
};

// False with *error (naming the text and the accepted forms) on anything else.
bool ParseTimePoint(std::string_view text, TimePoint* point, std::string* error);

// Nanoseconds since the trace began (header.start_monotonic_ns) that `point` names. A share of the run
// or the peak needs a first pass over the trace; false if that pass fails (ReadTrace said why).
bool ResolveTimePoint(const std::string& path, const TimePoint& point, uint64_t* since_start_ns);

// Feeds its consumers only the events stamped up to a moment: the trace cut there.
class EventsUntil : public EventConsumer {
 public:
  EventsUntil(uint64_t since_start_ns, std::vector<EventConsumer*> consumers)
      : since_start_ns_(since_start_ns), consumers_(std::move(consumers)) {}
  void Begin(const TraceInfo& info) override;
  void Apply(const format::Event& event) override;
  // Makes `info` (filled by the whole pass) describe the cut trace: its records, last timestamp and
  // whether the process had ended by then.
  void Clip(TraceInfo* info) const;

 private:
  uint64_t since_start_ns_;
  uint64_t until_ = 0;
  std::vector<EventConsumer*> consumers_;
  uint64_t records_ = 0;
  uint64_t last_timestamp_ = 0;
  bool saw_end_ = false;
};

// ReadTrace, with `consumers` cut at `at` unless it is "end"; `whole` see every event (stack and
// module definitions that describe the cut events may come later). On a bad `at` prints one error line
// and sets *usage_error; on an unreadable trace ReadTrace prints its line. Either way returns false.
bool ReadTraceAt(const std::string& path, const std::string& at, const std::vector<EventConsumer*>& consumers,
                 TraceInfo* info, bool* usage_error, const std::vector<EventConsumer*>& whole = {});

}  // namespace memtrace::analyzer
