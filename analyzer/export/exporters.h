// `memtrace export`: one trace rewritten in another tool's format. Each exporter reads the trace
// itself (one pass, two for massif's peak tree), then writes `output` ("-" = stdout). On an unreadable
// trace or an unwritable output each prints one error line to stderr and returns false.
#pragma once

#include <cstddef>
#include <string>

#include "analyzer/progress.h"

namespace memtrace::analyzer {

// What a folded stack's value counts.
enum class FoldedWeight { kBytes, kCalls };

struct ExportRequest {
  std::string trace;
  std::string output;
  FoldedWeight weight = FoldedWeight::kBytes;
  size_t max_mapping_slices = 20'000;    // chrome: mappings drawn; the rest are counted
  ProgressReporter* progress = nullptr;  // may be null
};

// pprof's profile.proto, gzipped: alloc_objects, alloc_space, inuse_objects, inuse_space by stack.
bool ExportPprof(const ExportRequest& request);
// Chrome/Perfetto Trace Event JSON: counter tracks over time, thread lifetimes, mmapped chunks.
bool ExportChrome(const ExportRequest& request);
// flamegraph.pl / inferno input: "root;...;leaf value" per stack.
bool ExportFolded(const ExportRequest& request);
// valgrind massif's out file (for ms_print, massif-visualizer).
bool ExportMassif(const ExportRequest& request);
// The whole reconstructed model as one JSON document, for scripts.
bool ExportJson(const ExportRequest& request);

}  // namespace memtrace::analyzer
