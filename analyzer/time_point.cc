#include "analyzer/time_point.h"

#include <fmt/core.h>

#include <charconv>
#include <cmath>

#include "analyzer/heap_state.h"

namespace memtrace::analyzer {

namespace {

constexpr const char* kForms =
    "expected nanoseconds (123456789ns), ms, s (1.5s), a share of the run (50%), peak or end";

bool ParseNumber(std::string_view text, double* value) {
  if (text.empty() || text.front() == '-' || text.front() == '+') return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && end == text.data() + text.size() && std::isfinite(*value);
}

// The highest live heap's moment, for "peak".
class PeakFinder : public EventConsumer {
 public:
  void Apply(const format::Event& event) override { heap_.Apply(event); }
  const HeapState& heap() const { return heap_; }

 private:
  HeapState heap_;
};

// ReadTrace fills info.last_timestamp itself; the pass only needs something to feed.
class LastTimestamp : public EventConsumer {
 public:
  void Apply(const format::Event&) override {}
};

}  // namespace

bool ParseTimePoint(std::string_view text, TimePoint* point, std::string* error) {
  *point = TimePoint{};
  double value = 0;
  struct Unit {
    std::string_view suffix;
    double ns;
  };
  static constexpr Unit kUnits[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
  if (text == "end") {
    point->kind = TimePoint::Kind::kFraction;
    point->fraction = 1;
    return true;
  }
  if (text == "peak") {
    point->kind = TimePoint::Kind::kPeak;
    return true;
  }
  if (text.ends_with('%') && ParseNumber(text.substr(0, text.size() - 1), &value) && value <= 100) {
    point->kind = TimePoint::Kind::kFraction;
    point->fraction = value / 100;
    return true;
  }
  for (const Unit& unit : kUnits) {
    if (text.ends_with(unit.suffix) &&
        ParseNumber(text.substr(0, text.size() - unit.suffix.size()), &value) && value * unit.ns < 1.8e19) {
      point->offset_ns = static_cast<uint64_t>(std::llround(value * unit.ns));
      return true;
    }
  }
  *error = fmt::format("--at '{}': {}", text, kForms);
  return false;
}

bool ResolveTimePoint(const std::string& path, const TimePoint& point, uint64_t* since_start_ns) {
  if (point.kind == TimePoint::Kind::kOffset) {
    *since_start_ns = point.offset_ns;
    return true;
  }
  PeakFinder peak;
  LastTimestamp last;
  TraceInfo info;
  EventConsumer* consumer = point.kind == TimePoint::Kind::kPeak ? static_cast<EventConsumer*>(&peak) : &last;
  if (!ReadTrace(path, {consumer}, &info)) return false;
  uint64_t start = info.header.start_monotonic_ns;
  uint64_t moment =
      point.kind == TimePoint::Kind::kPeak
          ? peak.heap().peak_timestamp()
          // Rounded down, as a duration halved in whole nanoseconds is: records of one
          // thread can be a nanosecond apart.
          : start + static_cast<uint64_t>(point.fraction * static_cast<double>(info.last_timestamp - start));
  *since_start_ns = moment > start ? moment - start : 0;
  return true;
}

void EventsUntil::Begin(const TraceInfo& info) {
  until_ = info.header.start_monotonic_ns + since_start_ns_;
  for (EventConsumer* consumer : consumers_) consumer->Begin(info);
}

void EventsUntil::Apply(const format::Event& event) {
  if (event.timestamp > until_) return;
  ++records_;
  last_timestamp_ = event.timestamp;
  if (event.kind == format::RecordKind::kProcessEnd) saw_end_ = true;
  for (EventConsumer* consumer : consumers_) consumer->Apply(event);
}

void EventsUntil::Clip(TraceInfo* info) const {
  if (info->records == records_) return;  // nothing was after the cut
  info->records = records_;
  info->last_timestamp = last_timestamp_ ? last_timestamp_ : info->header.start_monotonic_ns;
  info->ended = saw_end_;
  info->exit_status = saw_end_ ? info->exit_status : -1;
}

bool ReadTraceAt(const std::string& path, const std::string& at, const std::vector<EventConsumer*>& consumers,
                 TraceInfo* info, bool* usage_error, const std::vector<EventConsumer*>& whole) {
  *usage_error = false;
  std::vector<EventConsumer*> all = whole;
  if (at == "end") {
    all.insert(all.end(), consumers.begin(), consumers.end());
    return ReadTrace(path, all, info);
  }
  TimePoint point;
  std::string error;
  if (!ParseTimePoint(at, &point, &error)) {
    fmt::print(stderr, "memtrace: error: {}\n", error);
    *usage_error = true;
    return false;
  }
  uint64_t since_start = 0;
  if (!ResolveTimePoint(path, point, &since_start)) return false;
  EventsUntil cut(since_start, consumers);
  all.push_back(&cut);
  if (!ReadTrace(path, all, info)) return false;
  cut.Clip(info);
  return true;
}

}  // namespace memtrace::analyzer
