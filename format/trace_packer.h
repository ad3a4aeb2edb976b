// Packs a raw .mtr trace (trace_layout.h) into the packed form (packed_layout.h) after its process has
// ended: each chunk with records compressed on its own with zstd, then a chunk index and a footer.
//
// Packing keeps exactly what TraceReader reads from the raw trace: the same chunks with the same bytes
// (a chunk the file ends inside is kept as far as the file goes and marked cut), the same header and the
// same `truncated` verdict, so every analysis gives the same answer on both forms.
//
// Calls on different traces may run in parallel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "format/trace_reader.h"

namespace memtrace::format {

// zstd level used when none is given. Chosen by measurement on bench/ traces (bench/README.md): level 3
// packs churn ~2x faster than 9 and within a few percent of its size; higher levels cost far more time
// than they save bytes on 64 KiB chunks.
inline constexpr int kDefaultPackLevel = 3;

struct PackStats {
  uint64_t raw_bytes = 0;     // the raw file's size
  uint64_t packed_bytes = 0;  // the packed file's size
  uint64_t chunks = 0;        // chunks kept
};

// Writes the packed form of the trace `raw` reads through `sink` (false from the sink stops packing).
// `raw` must be a raw trace on which Next has not been called. Returns false with *error on failure.
// Chunks are compressed on `threads` threads (0: one per core, at most 8); the bytes written do not
// depend on it, and `sink` is called on the calling thread only.
bool WritePacked(const TraceReader& raw, int level, const std::function<bool(const void*, size_t)>& sink,
                 PackStats* stats, std::string* error, unsigned threads = 0);

// The packed form of a raw trace held in memory (tests, fuzz seeds); empty with *error on failure.
std::vector<uint8_t> PackBytes(const uint8_t* data, size_t size, int level, std::string* error,
                               unsigned threads = 0);

// Packs the raw trace at `path` into `out` (may equal `path`: packing in place). The packed file is
// written to a temporary file beside `out`, fsynced and renamed over `out`, so a failure at any point
// leaves the raw trace as it was. Returns false with one line in *error on failure; a trace that is
// already packed is an error too (*already_packed is set so callers can treat it as nothing to do).
bool PackTraceFile(const std::string& path, const std::string& out, int level, PackStats* stats,
                   bool* already_packed, std::string* error);

}  // namespace memtrace::format
