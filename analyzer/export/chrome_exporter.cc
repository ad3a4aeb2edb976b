// Chrome's Trace Event format (JSON), which chrome://tracing, the Perfetto UI and the DevTools
// Performance panel load: five counter tracks (live heap bytes, live blocks, the program break above its
// initial value, bytes mapped for mmapped chunks, all bytes mapped) sampled down to at most one point
// per millisecond and a capped total; one slice per thread from its first to its last event; one
// instant per mmapped allocation, up to a cap; and one slice per mapping (MappingLifetimes) on tracks of
// their own, "mappings: ORIGIN", split into lanes so that slices on one track never overlap.
// Timestamps are microseconds since the trace began.
#include <absl/container/flat_hash_map.h>
#include <fmt/core.h>

#include <array>
#include <cstdlib>
#include <map>
#include <optional>
#include <utility>

#include "analyzer/brk_timeline.h"
#include "analyzer/export/counter_sampler.h"
#include "analyzer/export/exporters.h"
#include "analyzer/export/output_file.h"
#include "analyzer/export/slice_lanes.h"
#include "analyzer/heap_state.h"
#include "analyzer/json_writer.h"
#include "analyzer/mapping_lifetimes.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/text_format.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

namespace {

constexpr uint64_t kCounterIntervalNs = 1'000'000;
constexpr size_t kMaxCounterSamples = 50'000;  // x 5 tracks: at most 250k counter events
constexpr size_t kMaxMmapInstants = 10'000;
constexpr size_t kMaxMappingSlices = 1'000'000;  // the most --max-mapping-slices allows
constexpr size_t kMaxStackFrames = 16;           // in a mapping slice's args
constexpr uint32_t kMaxLanesPerOrigin = 256;  // tracks per origin: past that, a wall of tracks helps no one
// Mapping tracks are pseudo-threads of the traced process: tid = base + origin * stride + lane, above
// any real tid (Linux's pid_max is at most 2^22), with room for every lane the slice cap allows.
constexpr uint32_t kMappingTrackBase = 1u << 28;
constexpr uint32_t kMappingTrackStride = 1u << 20;
static_assert(kMaxMappingSlices < kMappingTrackStride);

enum Counter { kLiveBytes, kLiveBlocks, kBreak, kChunkBytes, kAllMappedBytes, kCounters };
constexpr const char* kCounterNames[kCounters] = {"live heap bytes", "live blocks",
                                                  "program break (bytes above initial)",
                                                  "mmapped chunk bytes", "mapped bytes (all mappings)"};

struct ThreadSpan {
  uint64_t first = 0;
  uint64_t last = 0;
};

struct MmapInstant {
  uint64_t timestamp;
  uint32_t tid;
  RecordKind kind;
  uint64_t size;
  uint64_t mapping_length;
  uint64_t address;
};

class ChromeTimeline : public EventConsumer {
 public:
  explicit ChromeTimeline(size_t max_mapping_slices)
      : sampler_(kCounterIntervalNs, kMaxCounterSamples),
        lifetimes_(std::min(max_mapping_slices, kMaxMappingSlices)) {}

  void Begin(const TraceInfo& info) override {
    brk_.emplace(info.header.initial_break, &heap_, info.header.pid);
    lifetimes_.Begin(info);
  }

  void Apply(const Event& e) override {
    brk_->Apply(e);
    heap_.Apply(e);
    lifetimes_.Apply(e);
    TrackMappings(e);
    auto [it, inserted] = threads_.try_emplace(e.tid, ThreadSpan{e.timestamp, e.timestamp});
    if (!inserted) it->second.last = e.timestamp;
    sampler_.Observe(e.timestamp, {heap_.live_bytes(), heap_.live().size(), brk_->current() - brk_->initial(),
                                   chunk_bytes_, lifetimes_.mapped_bytes()});
  }

  void Close() { sampler_.Close(); }
  const CounterSampler<kCounters>& sampler() const { return sampler_; }
  const std::map<uint32_t, ThreadSpan>& threads() const { return threads_; }
  const std::vector<MmapInstant>& instants() const { return instants_; }
  uint64_t instants_dropped() const { return instants_dropped_; }
  const MappingLifetimes& lifetimes() const { return lifetimes_; }

 private:
  // The mapping of every live mmapped chunk, so its release can give the bytes back.
  void TrackMappings(const Event& e) {
    if (IsRelease(e) || IsResizeInPlace(e)) {
      auto it = mappings_.find(e.address);
      if (it != mappings_.end()) {
        chunk_bytes_ -= it->second;
        mappings_.erase(it);
      }
    }
    if (!IsAllocation(e) || VerdictOf(e) != Verdict::kMmapped) return;
    uint64_t length = MappingLength(e);
    mappings_[e.address] = length;
    chunk_bytes_ += length;
    if (instants_.size() < kMaxMmapInstants) {
      instants_.push_back({e.timestamp, e.tid, e.kind, RequestedBytes(e), length, e.address});
    } else {
      ++instants_dropped_;
    }
  }

  HeapState heap_;
  std::optional<BreakTimeline> brk_;
  absl::flat_hash_map<uint64_t, uint64_t> mappings_;
  uint64_t chunk_bytes_ = 0;
  std::map<uint32_t, ThreadSpan> threads_;
  std::vector<MmapInstant> instants_;
  uint64_t instants_dropped_ = 0;
  CounterSampler<kCounters> sampler_;
  MappingLifetimes lifetimes_;
};

class EventWriter {
 public:
  EventWriter(std::FILE* out, uint64_t start_ns, uint32_t pid) : out_(out), start_(start_ns), pid_(pid) {}

  // Microseconds since the trace began, to the nanosecond.
  std::string Micros(uint64_t timestamp) const {
    return Duration(timestamp > start_ ? timestamp - start_ : 0);
  }
  static std::string Duration(uint64_t ns) { return fmt::format("{}.{:03}", ns / 1000, ns % 1000); }

  // "ts" and "dur" of a slice from `begin` to `end`. Viewers add the two as doubles, and the sum can
  // round past the end, onto the start of the next slice in the same lane, which then no longer nests;
  // the duration is shortened by a nanosecond or two until the sum is at or before the end.
  std::pair<std::string, std::string> Span(uint64_t begin, uint64_t end) const {
    std::string ts = Micros(begin);
    const double start = std::strtod(ts.c_str(), nullptr);
    const double limit = std::strtod(Micros(end).c_str(), nullptr);
    uint64_t ns = end > begin ? end - begin : 0;
    std::string dur = Duration(ns);
    while (ns > 0 && start + std::strtod(dur.c_str(), nullptr) > limit) dur = Duration(--ns);
    return {ts, dur};
  }

  // One event; `fields` are the event's other members, already JSON.
  void Write(const std::string& fields) {
    fmt::print(out_, "{}\n{{\"pid\":{},{}}}", first_ ? "" : ",", pid_, fields);
    first_ = false;
  }

 private:
  std::FILE* out_;
  uint64_t start_;
  uint32_t pid_;
  bool first_ = true;
};

// The args of one mapping slice, JSON: where, what, who made it and what ended it.
class MappingArgs {
 public:
  explicit MappingArgs(const StackStore& stacks) : stacks_(stacks) {}

  std::string Of(const MappingLifetime& l) {
    return fmt::format(
        "{{\"start\":\"{}\",\"end\":\"{}\",\"size\":{},\"permissions\":\"{}\",\"file\":{},\"origin\":\"{}\","
        "\"change\":\"{}\",\"cause\":\"{}\",\"tid\":{},\"ended_by\":\"{}\"{}}}",
        Hex(l.begin), Hex(l.end), l.end - l.begin, ModeString(l.prot, l.shared), JsonWriter::Escape(l.path),
        OriginName(l.origin), StartName(l.start), format::NameOf(l.cause), l.tid,
        l.ended ? format::NameOf(l.ended_by) : "still mapped at the end of the trace", Site(l.stack_id));
  }

 private:
  // ,"site":"f (file.c:3)","stack":[...] for a recorded stack; symbolized once per stack.
  const std::string& Site(uint32_t stack_id) {
    auto [it, inserted] = sites_.try_emplace(stack_id);
    if (!inserted || stack_id == 0) return it->second;
    if (!symbolizer_) symbolizer_.emplace(stacks_.modules());
    std::vector<SymbolizedFrame> frames = SymbolizeStack(*symbolizer_, stacks_.Frames(stack_id));
    if (frames.empty()) return it->second;
    std::string stack;
    for (size_t i = 0; i < frames.size() && i < kMaxStackFrames; ++i) {
      stack += fmt::format("{}{}", i ? "," : "", JsonWriter::Escape(Symbolizer::Describe(frames[i])));
    }
    it->second = fmt::format(",\"site\":{},\"stack\":[{}]",
                             JsonWriter::Escape(Symbolizer::Describe(frames[0])), stack);
    return it->second;
  }

  const StackStore& stacks_;
  std::optional<Symbolizer> symbolizer_;
  absl::flat_hash_map<uint32_t, std::string> sites_;
};

// One track per origin ("mappings: allocator", ...), as many lanes as mappings of that origin overlap, up
// to kMaxLanesPerOrigin. Returns how many slices of each origin found no lane and were left out.
std::array<uint64_t, kOriginCount> WriteMappingSlices(EventWriter& events, const TraceInfo& info,
                                                      const MappingLifetimes& lifetimes,
                                                      const StackStore& stacks) {
  std::array<uint64_t, kOriginCount> laneless{};
  const auto& all = lifetimes.lifetimes();
  const uint64_t trace_end = std::max(info.last_timestamp, info.header.start_monotonic_ns);
  std::vector<TimeSpan> spans[kOriginCount];
  std::vector<size_t> members[kOriginCount];
  for (size_t i = 0; i < all.size(); ++i) {
    const MappingLifetime& l = all[i];
    uint64_t end = std::max(l.ended ? l.death_ns : trace_end, l.birth_ns);
    auto origin = static_cast<size_t>(l.origin);
    spans[origin].push_back({l.birth_ns, end});
    members[origin].push_back(i);
  }
  MappingArgs args(stacks);
  for (size_t origin = 0; origin < kOriginCount; ++origin) {
    std::vector<uint32_t> lanes = AssignLanes(spans[origin]);
    uint32_t lane_count = 0;
    for (uint32_t lane : lanes) lane_count = std::max(lane_count, std::min(lane + 1, kMaxLanesPerOrigin));
    const char* name = OriginName(static_cast<Origin>(origin));
    for (uint32_t lane = 0; lane < lane_count; ++lane) {
      uint32_t tid = kMappingTrackBase + static_cast<uint32_t>(origin) * kMappingTrackStride + lane;
      std::string track =
          lane ? fmt::format("mappings: {} ({})", name, lane + 1) : fmt::format("mappings: {}", name);
      events.Write(fmt::format("\"tid\":{},\"ph\":\"M\",\"name\":\"thread_name\",\"args\":{{\"name\":{}}}",
                               tid, JsonWriter::Escape(track)));
      events.Write(fmt::format(
          "\"tid\":{},\"ph\":\"M\",\"name\":\"thread_sort_index\",\"args\":{{\"sort_index\":{}}}", tid, tid));
    }
    for (size_t k = 0; k < lanes.size(); ++k) {
      if (lanes[k] >= kMaxLanesPerOrigin) {
        ++laneless[origin];
        continue;
      }
      const MappingLifetime& l = all[members[origin][k]];
      uint32_t tid = kMappingTrackBase + static_cast<uint32_t>(origin) * kMappingTrackStride + lanes[k];
      Region shown;
      shown.path = l.path;
      shown.origin = l.origin;
      shown.prot = l.prot;
      auto [ts, dur] = events.Span(spans[origin][k].begin, spans[origin][k].end);
      events.Write(fmt::format(
          "\"tid\":{},\"ph\":\"X\",\"name\":{},\"cat\":\"mapping\",\"ts\":{},\"dur\":{},\"args\":{}", tid,
          JsonWriter::Escape(RegionLabel(shown)), ts, dur, args.Of(l)));
    }
  }
  return laneless;
}

void WriteTrace(std::FILE* out, const TraceInfo& info, const ChromeTimeline& timeline,
                const StackStore& stacks) {
  const auto& header = info.header;
  EventWriter events(out, header.start_monotonic_ns, header.pid);
  fmt::print(out, "{{\"displayTimeUnit\":\"ms\",\"traceEvents\":[");
  std::string program = header.command_line[0] ? header.command_line : header.program;
  events.Write(fmt::format("\"tid\":0,\"ph\":\"M\",\"name\":\"process_name\",\"args\":{{\"name\":{}}}",
                           JsonWriter::Escape(program)));
  for (const auto& [tid, span] : timeline.threads()) {
    std::string name = tid == header.pid ? fmt::format("main thread {}", tid) : fmt::format("thread {}", tid);
    events.Write(fmt::format("\"tid\":{},\"ph\":\"M\",\"name\":\"thread_name\",\"args\":{{\"name\":{}}}", tid,
                             JsonWriter::Escape(name)));
    events.Write(
        fmt::format("\"tid\":{},\"ph\":\"X\",\"name\":\"thread lifetime\",\"cat\":\"thread\",\"ts\":{},"
                    "\"dur\":{}",
                    tid, events.Micros(span.first), EventWriter::Duration(span.last - span.first)));
  }
  // The counters start at zero when tracing begins; afterwards only changed tracks get a point.
  CounterSampler<kCounters>::Values previous{};
  for (int c = 0; c < kCounters; ++c) {
    events.Write(fmt::format("\"tid\":0,\"ph\":\"C\",\"name\":{},\"ts\":{},\"args\":{{\"value\":0}}",
                             JsonWriter::Escape(kCounterNames[c]), events.Micros(header.start_monotonic_ns)));
  }
  for (const auto& sample : timeline.sampler().samples()) {
    for (int c = 0; c < kCounters; ++c) {
      if (sample.values[c] == previous[c]) continue;
      events.Write(fmt::format("\"tid\":0,\"ph\":\"C\",\"name\":{},\"ts\":{},\"args\":{{\"value\":{}}}",
                               JsonWriter::Escape(kCounterNames[c]), events.Micros(sample.timestamp),
                               sample.values[c]));
    }
    previous = sample.values;
  }
  for (const MmapInstant& instant : timeline.instants()) {
    events.Write(fmt::format(
        "\"tid\":{},\"ph\":\"i\",\"s\":\"t\",\"name\":{},\"cat\":\"mmapped chunk\",\"ts\":{},"
        "\"args\":{{\"bytes\":{},\"mapping_bytes\":{},\"address\":\"{}\"}}",
        instant.tid, JsonWriter::Escape(fmt::format("mmapped {}", format::NameOf(instant.kind))),
        events.Micros(instant.timestamp), instant.size, instant.mapping_length, Hex(instant.address)));
  }
  const MappingLifetimes& lifetimes = timeline.lifetimes();
  std::array<uint64_t, kOriginCount> dropped = WriteMappingSlices(events, info, lifetimes, stacks);
  std::string dropped_by_origin;
  uint64_t dropped_total = 0;
  for (size_t origin = 0; origin < kOriginCount; ++origin) {
    dropped[origin] += lifetimes.dropped()[origin];
    dropped_total += dropped[origin];
    if (!dropped[origin]) continue;
    dropped_by_origin += fmt::format("{}\"{}\":{}", dropped_by_origin.empty() ? "" : ",",
                                     OriginName(static_cast<Origin>(origin)), dropped[origin]);
  }
  fmt::print(
      out,
      "\n],\"otherData\":{{\"memtrace_trace\":{},\"complete\":{},\"counter_interval_ns\":{},"
      "\"mmap_instants_dropped\":{},\"mapping_slices\":{},\"mapping_slices_dropped\":{},"
      "\"mapping_slices_dropped_by_origin\":{{{}}}{}}}}}\n",
      JsonWriter::Escape(info.path), info.complete() ? "true" : "false", timeline.sampler().interval_ns(),
      timeline.instants_dropped(), lifetimes.lifetimes().size() + lifetimes.dropped_total() - dropped_total,
      dropped_total, dropped_by_origin,
      dropped_total ? fmt::format(",\"note\":\"mappings past the first {}, or past {} alive at once on one "
                                  "origin's tracks, are counted here, not drawn\"",
                                  lifetimes.lifetimes().size(), kMaxLanesPerOrigin)
                    : "");
}

}  // namespace

bool ExportChrome(const ExportRequest& request) {
  ChromeTimeline timeline(request.max_mapping_slices);
  StackStore stacks;
  TraceInfo info;
  if (!ReadTrace(request.trace, {&stacks, &timeline}, &info, request.progress)) return false;
  timeline.Close();
  OutputFile out(request.output);
  if (!out.get()) return false;
  WriteTrace(out.get(), info, timeline, stacks);
  return out.Close();
}

}  // namespace memtrace::analyzer
