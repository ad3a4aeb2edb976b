// Chrome's Trace Event format (JSON), which chrome://tracing and the Perfetto UI load: four counter
// tracks (live heap bytes, live blocks, the program break above its initial value, bytes mapped for
// mmapped chunks) sampled down to at most one point per millisecond and a capped total; one slice per
// thread from its first to its last event; one instant per mmapped allocation, up to a cap.
// Timestamps are microseconds since the trace began.
#include <absl/container/flat_hash_map.h>
#include <fmt/core.h>

#include <map>
#include <optional>

#include "analyzer/brk_timeline.h"
#include "analyzer/export/counter_sampler.h"
#include "analyzer/export/exporters.h"
#include "analyzer/export/output_file.h"
#include "analyzer/heap_state.h"
#include "analyzer/json_writer.h"
#include "analyzer/text_format.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

namespace {

constexpr uint64_t kCounterIntervalNs = 1'000'000;
constexpr size_t kMaxCounterSamples = 50'000;  // x 4 tracks: at most 200k counter events
constexpr size_t kMaxMmapInstants = 10'000;

enum Counter { kLiveBytes, kLiveBlocks, kBreak, kMappedBytes, kCounters };
constexpr const char* kCounterNames[kCounters] = {
    "live heap bytes", "live blocks", "program break (bytes above initial)", "mmapped chunk bytes"};

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
  ChromeTimeline() : sampler_(kCounterIntervalNs, kMaxCounterSamples) {}

  void Begin(const TraceInfo& info) override { brk_.emplace(info.header.initial_break); }

  void Apply(const Event& e) override {
    brk_->Apply(e);
    heap_.Apply(e);
    TrackMappings(e);
    auto [it, inserted] = threads_.try_emplace(e.tid, ThreadSpan{e.timestamp, e.timestamp});
    if (!inserted) it->second.last = e.timestamp;
    sampler_.Observe(e.timestamp, {heap_.live_bytes(), heap_.live().size(), brk_->current() - brk_->initial(),
                                   mapped_bytes_});
  }

  void Close() { sampler_.Close(); }
  const CounterSampler<kCounters>& sampler() const { return sampler_; }
  const std::map<uint32_t, ThreadSpan>& threads() const { return threads_; }
  const std::vector<MmapInstant>& instants() const { return instants_; }
  uint64_t instants_dropped() const { return instants_dropped_; }

 private:
  // The mapping of every live mmapped chunk, so its release can give the bytes back.
  void TrackMappings(const Event& e) {
    if (IsRelease(e) || IsResizeInPlace(e)) {
      auto it = mappings_.find(e.address);
      if (it != mappings_.end()) {
        mapped_bytes_ -= it->second;
        mappings_.erase(it);
      }
    }
    if (!IsAllocation(e) || VerdictOf(e) != Verdict::kMmapped) return;
    uint64_t length = MappingLength(e);
    mappings_[e.address] = length;
    mapped_bytes_ += length;
    if (instants_.size() < kMaxMmapInstants) {
      instants_.push_back({e.timestamp, e.tid, e.kind, RequestedBytes(e), length, e.address});
    } else {
      ++instants_dropped_;
    }
  }

  HeapState heap_;
  std::optional<BreakTimeline> brk_;
  absl::flat_hash_map<uint64_t, uint64_t> mappings_;
  uint64_t mapped_bytes_ = 0;
  std::map<uint32_t, ThreadSpan> threads_;
  std::vector<MmapInstant> instants_;
  uint64_t instants_dropped_ = 0;
  CounterSampler<kCounters> sampler_;
};

class EventWriter {
 public:
  EventWriter(std::FILE* out, uint64_t start_ns, uint32_t pid) : out_(out), start_(start_ns), pid_(pid) {}

  // Microseconds since the trace began, to the nanosecond.
  std::string Micros(uint64_t timestamp) const {
    return Duration(timestamp > start_ ? timestamp - start_ : 0);
  }
  static std::string Duration(uint64_t ns) { return fmt::format("{}.{:03}", ns / 1000, ns % 1000); }

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

void WriteTrace(std::FILE* out, const TraceInfo& info, const ChromeTimeline& timeline) {
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
  fmt::print(out,
             "\n],\"otherData\":{{\"memtrace_trace\":{},\"complete\":{},\"counter_interval_ns\":{},"
             "\"mmap_instants_dropped\":{}}}}}\n",
             JsonWriter::Escape(info.path), info.complete() ? "true" : "false",
             timeline.sampler().interval_ns(), timeline.instants_dropped());
}

}  // namespace

bool ExportChrome(const ExportRequest& request) {
  ChromeTimeline timeline;
  TraceInfo info;
  if (!ReadTrace(request.trace, {&timeline}, &info, request.progress)) return false;
  timeline.Close();
  OutputFile out(request.output);
  if (!out.get()) return false;
  WriteTrace(out.get(), info, timeline);
  return out.Close();
}

}  // namespace memtrace::analyzer
