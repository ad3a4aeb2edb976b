#include "analyzer/replay/replay_report.h"

#include <fmt/core.h>

#include <optional>
#include <string>

#include "analyzer/json_writer.h"
#include "analyzer/text_format.h"

namespace memtrace::replay {

namespace {

using analyzer::HumanBytes;
using analyzer::JsonWriter;
using analyzer::Seconds;

// The derived numbers both outputs show; nullopt where the allocator cannot tell.
struct Row {
  std::optional<int64_t> mmapped_allocations, heap_allocations, verdict_mismatches;
  int64_t verdict_differences = 0, brk_differences = 0;
  std::optional<double> fragmentation;
};

Row Derive(const ReplayMeasurement& m) {
  Row row;
  if (m.glibc()) {
    row.mmapped_allocations = m.Get("mmapped_allocations");
    row.heap_allocations = m.Get("heap_allocations");
    row.verdict_differences = m.Get("verdict_mismatches");
    row.brk_differences = m.Get("brk_mismatches");
    row.verdict_mismatches = row.verdict_differences + row.brk_differences;
  }
  // What the replay's memory grew by per byte the program held at its peak: 1.0 when every byte of
  // RSS held live data; the two peaks need not coincide, so it is an upper bound of waste.
  int64_t growth = m.Get("peak_rss_bytes") - m.Get("start_rss_bytes");
  if (m.Get("peak_live_bytes") > 0 && m.Get("start_rss_bytes") >= 0 && growth > 0) {
    row.fragmentation = static_cast<double>(growth) / static_cast<double>(m.Get("peak_live_bytes"));
  }
  return row;
}

// A syscall count, or nullopt when the replay could not count (the kernel refused the seccomp filter).
std::optional<int64_t> Count(const ReplayMeasurement& m, const char* key) {
  int64_t value = m.Get(key);
  return value >= 0 ? std::optional<int64_t>(value) : std::nullopt;
}

std::string Optional(const std::optional<int64_t>& value) { return value ? std::to_string(*value) : "-"; }

void Field(JsonWriter& json, const char* key, const std::optional<int64_t>& value) {
  value ? json.Field(key, *value) : json.Null(key);
}

constexpr const char* kSyscallKeys[] = {
    "mmap_calls",           "munmap_calls",        "mremap_calls",          "brk_calls",
    "program_brk_syscalls", "replayer_mmap_calls", "replayer_munmap_calls", "replayer_mremap_calls",
    "replayer_brk_calls"};

void PrintObject(JsonWriter& json, const CompileStats& stats, const ReplayMeasurement& m) {
  Row row = Derive(m);
  json.BeginObject()
      .Field("allocator", m.allocator.name)
      .Field("library", m.malloc_library)
      .Field("operations", m.Get("operations"))
      .Field("threads", m.Get("threads"))
      .Field("wall_ns", m.Get("wall_ns"))
      .Field("cpu_ns", m.Get("cpu_ns"))
      .Field("original_wall_ns", stats.last_call_ns - stats.first_call_ns)
      .Field("peak_rss_bytes", m.Get("peak_rss_bytes"))
      .Field("start_rss_bytes", m.Get("start_rss_bytes"))
      .Field("peak_live_bytes", m.Get("peak_live_bytes"));
  row.fragmentation ? json.Field("fragmentation", *row.fragmentation) : json.Null("fragmentation");
  for (const char* key : kSyscallKeys) Field(json, key, Count(m, key));
  json.Field("syscall_counts", Count(m, "mmap_calls") ? "seccomp" : "unavailable")
      .Field("brk_moves", m.Get("brk_moves"));
  Field(json, "heap_allocations", row.heap_allocations);
  Field(json, "mmapped_allocations", row.mmapped_allocations);
  Field(json, "verdict_mismatches", row.verdict_mismatches);
  if (m.glibc()) {
    json.Field("verdict_differences", row.verdict_differences)
        .Field("brk_move_differences", row.brk_differences)
        .Field("trim_result_differences", m.Get("trim_result_mismatches"));
  }
  json.Field("mallopt_calls", m.Get("mallopt_calls"))
      .Field("malloc_trim_calls", m.Get("malloc_trim_calls"))
      .Field("program_brk_calls", m.Get("program_brk_calls"))
      .Field("failed_program_brk_calls", m.Get("failed_program_brk_calls"))
      .Field("failed_allocations", m.Get("failed_allocations"))
      .Field("unknown_releases", stats.unknown_releases)
      .Field("unreplayed_brk_moves", stats.unreplayed_brk_moves)
      .Field("prefill_bytes", stats.prefill_bytes)
      .EndObject();
}

}  // namespace

void PrintReplayJson(std::FILE* out, const CompileStats& stats, const std::vector<ReplayMeasurement>& runs,
                     bool as_array) {
  JsonWriter json(out);
  if (as_array) json.BeginArray();
  for (const ReplayMeasurement& m : runs) PrintObject(json, stats, m);
  if (as_array) json.EndArray();
}

void PrintReplayText(std::FILE* out, const analyzer::TraceInfo& info, const CompileStats& stats,
                     const std::vector<ReplayMeasurement>& runs) {
  fmt::print(out, "replay of {} ({}): {} operations, {} threads; the traced run took {} s\n", info.path,
             info.header.program, stats.operations, stats.threads,
             Seconds(stats.last_call_ns - stats.first_call_ns));
  if (stats.prefill_bytes) {
    fmt::print(out, "heap in use before tracing began: {} (allocated first by the replay)\n",
               HumanBytes(stats.prefill_bytes));
  }
  if (stats.unknown_releases || stats.approximated_reallocs || stats.unreplayed_brk_moves) {
    fmt::print(out,
               "not replayable: {} releases of blocks allocated before tracing, {} reallocs of such blocks "
               "(replayed as malloc), {} break moves of calls not replayed\n",
               stats.unknown_releases, stats.approximated_reallocs, stats.unreplayed_brk_moves);
  }
  if (stats.mallopt_calls || stats.malloc_trim_calls || stats.program_brk_calls) {
    fmt::print(out, "replayed in order: {} mallopt, {} malloc_trim, {} brk/sbrk calls of the program's own\n",
               stats.mallopt_calls, stats.malloc_trim_calls, stats.program_brk_calls);
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> rows = {{"", {}},
                                                                        {"wall time (s)", {}},
                                                                        {"CPU time (s)", {}},
                                                                        {"peak RSS", {}},
                                                                        {"peak live", {}},
                                                                        {"RSS growth / live", {}},
                                                                        {"mmap calls", {}},
                                                                        {"munmap calls", {}},
                                                                        {"mremap calls", {}},
                                                                        {"brk calls", {}},
                                                                        {"brk moves", {}},
                                                                        {"heap allocations", {}},
                                                                        {"mmapped allocations", {}},
                                                                        {"verdict mismatches", {}},
                                                                        {"  of which break moves", {}}};
  bool counted = true;
  for (const ReplayMeasurement& m : runs) {
    Row row = Derive(m);
    counted = counted && Count(m, "mmap_calls").has_value();
    std::vector<std::string> cells = {m.allocator.name,
                                      Seconds(static_cast<uint64_t>(m.Get("wall_ns"))),
                                      Seconds(static_cast<uint64_t>(m.Get("cpu_ns"))),
                                      HumanBytes(static_cast<uint64_t>(m.Get("peak_rss_bytes"))),
                                      HumanBytes(static_cast<uint64_t>(m.Get("peak_live_bytes"))),
                                      row.fragmentation ? fmt::format("{:.2f}", *row.fragmentation) : "-",
                                      Optional(Count(m, "mmap_calls")),
                                      Optional(Count(m, "munmap_calls")),
                                      Optional(Count(m, "mremap_calls")),
                                      Optional(Count(m, "brk_calls")),
                                      std::to_string(m.Get("brk_moves")),
                                      Optional(row.heap_allocations),
                                      Optional(row.mmapped_allocations),
                                      Optional(row.verdict_mismatches),
                                      m.glibc() ? std::to_string(row.brk_differences) : "-"};
    for (size_t i = 0; i < rows.size(); ++i) rows[i].second.push_back(cells[i]);
  }
  for (const auto& [label, cells] : rows) {
    fmt::print(out, "{:<22}", label);
    for (const std::string& cell : cells) fmt::print(out, " {:>14}", cell);
    fmt::print(out, "\n");
  }
  fmt::print(out, "{}",
             counted ? "(system calls: the allocator's own, counted in the replay process by a seccomp trap; "
                       "RSS growth: peak RSS minus RSS before the replay)\n"
                     : "(system calls: not counted, the kernel refused the replay's seccomp filter)\n");
}

}  // namespace memtrace::replay
