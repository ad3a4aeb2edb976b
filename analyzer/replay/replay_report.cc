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
  std::optional<int64_t> mmap_calls, munmap_calls, mmapped_allocations, heap_allocations, verdict_mismatches;
  int64_t verdict_differences = 0, brk_differences = 0;
  const char* syscall_source = "kernel";
};

Row Derive(const ReplayMeasurement& m) {
  Row row;
  if (m.Get("mmap_calls") >= 0) {
    row.mmap_calls = m.Get("mmap_calls");
    row.munmap_calls = m.Get("munmap_calls");
  } else if (m.glibc()) {
    // No kernel counters: each mmapped chunk is one mmap of glibc's (arena heaps are not counted).
    row.mmap_calls = m.Get("mmapped_allocations");
    row.syscall_source = "chunk headers";
  } else {
    row.syscall_source = "unavailable";
  }
  if (m.glibc()) {
    row.mmapped_allocations = m.Get("mmapped_allocations");
    row.heap_allocations = m.Get("heap_allocations");
    row.verdict_differences = m.Get("verdict_mismatches");
    row.brk_differences = m.Get("brk_mismatches");
    row.verdict_mismatches = row.verdict_differences + row.brk_differences;
  }
  return row;
}

std::string Optional(const std::optional<int64_t>& value) { return value ? std::to_string(*value) : "-"; }

void Field(JsonWriter& json, const char* key, const std::optional<int64_t>& value) {
  value ? json.Field(key, *value) : json.Null(key);
}

void PrintObject(JsonWriter& json, const CompileStats& stats, const ReplayMeasurement& m) {
  Row row = Derive(m);
  json.BeginObject()
      .Field("allocator", m.allocator.name)
      .Field("library", m.malloc_library)
      .Field("operations", m.Get("operations"))
      .Field("threads", m.Get("threads"))
      .Field("wall_ns", m.Get("wall_ns"))
      .Field("original_wall_ns", stats.last_call_ns - stats.first_call_ns)
      .Field("peak_rss_bytes", m.Get("peak_rss_bytes"))
      .Field("peak_live_bytes", m.Get("peak_live_bytes"));
  Field(json, "mmap_calls", row.mmap_calls);
  Field(json, "munmap_calls", row.munmap_calls);
  json.Field("syscall_counts", row.syscall_source).Field("brk_moves", m.Get("brk_moves"));
  Field(json, "heap_allocations", row.heap_allocations);
  Field(json, "mmapped_allocations", row.mmapped_allocations);
  Field(json, "verdict_mismatches", row.verdict_mismatches);
  if (m.glibc()) {
    json.Field("verdict_differences", row.verdict_differences)
        .Field("brk_move_differences", row.brk_differences);
  }
  json.Field("failed_allocations", m.Get("failed_allocations"))
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
  std::vector<std::pair<std::string, std::vector<std::string>>> rows = {{"", {}},
                                                                        {"wall time (s)", {}},
                                                                        {"peak RSS", {}},
                                                                        {"peak live", {}},
                                                                        {"mmap calls", {}},
                                                                        {"munmap calls", {}},
                                                                        {"brk moves", {}},
                                                                        {"heap allocations", {}},
                                                                        {"mmapped allocations", {}},
                                                                        {"verdict mismatches", {}},
                                                                        {"  of which break moves", {}}};
  for (const ReplayMeasurement& m : runs) {
    Row row = Derive(m);
    std::vector<std::string> cells = {m.allocator.name,
                                      Seconds(static_cast<uint64_t>(m.Get("wall_ns"))),
                                      HumanBytes(static_cast<uint64_t>(m.Get("peak_rss_bytes"))),
                                      HumanBytes(static_cast<uint64_t>(m.Get("peak_live_bytes"))),
                                      Optional(row.mmap_calls),
                                      Optional(row.munmap_calls),
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
  if (!runs.empty() && Derive(runs.front()).syscall_source != std::string("kernel")) {
    fmt::print(out,
               "(mmap/munmap: kernel syscall counters unavailable (needs tracefs and perf rights); "
               "glibc's from chunk headers)\n");
  }
}

}  // namespace memtrace::replay
