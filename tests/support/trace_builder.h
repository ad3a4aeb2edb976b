// Builds a complete .mtr trace in memory, laid out as preload/trace_writer.cc lays it out (FileHeader
// padded to kHeaderBytes, then fixed-size chunks each starting with a ChunkHeader, records encoded with
// format::EncodeRecord and covered by committed_bytes), so reader tests need neither the preload nor a
// traced process. Every field can be damaged on purpose before Build().
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "format/record_codec.h"
#include "format/trace_layout.h"

namespace memtrace::test_support {

class TraceBuilder {
 public:
  // 4096 is the smallest chunk the reader accepts; small chunks keep files (and every-byte loops) small.
  explicit TraceBuilder(uint32_t chunk_bytes = 4096);

  // A valid header (magic, version, machine, sizes, chunks_allocated kept equal to the chunk count).
  format::FileHeader& header() { return header_; }

  // Takes the next chunk for `tid`, as the writer does when a thread starts or its chunk is full.
  // Later Add(tid, ...) calls write into it. Returns the chunk index.
  size_t StartChunk(uint32_t tid, uint64_t first_timestamp);
  // A chunk taken by a thread that died before writing its header: all zero, magic 0.
  size_t AddUnusedChunk();
  // Encodes `record` into tid's current chunk, starting one (first_timestamp = record.timestamp) when the
  // thread has none or the record does not fit. Timestamps of one thread must not go backwards.
  void Add(uint32_t tid, const format::Record& record);
  // Appends arbitrary committed bytes to a chunk (corruption tests).
  void AddRawBytes(size_t chunk, const std::vector<uint8_t>& bytes);
  // The header a chunk will be written with; tests may damage it.
  format::ChunkHeader& chunk_header(size_t chunk) { return chunks_.at(chunk).header; }
  size_t chunk_count() const { return chunks_.size(); }

  // File offset of chunk `index` in the built file.
  uint64_t ChunkOffset(size_t index) const;
  std::vector<uint8_t> Build() const;

  // Every record added, in the order added, with the file offset just past its last byte: a file cut at
  // or beyond end_offset still holds it. Pointers inside `record` are the caller's.
  struct Placed {
    uint32_t tid;
    format::Record record;
    uint64_t end_offset;
  };
  const std::vector<Placed>& placed() const { return placed_; }
  // The shortest file that loses nothing: every chunk header and committed byte is inside it.
  uint64_t committed_end() const;

 private:
  struct Chunk {
    format::ChunkHeader header{};
    std::vector<uint8_t> records;
    format::DeltaState state;
  };
  format::FileHeader header_{};
  uint32_t chunk_bytes_;
  std::vector<Chunk> chunks_;
  std::map<uint32_t, size_t> current_;  // tid -> the chunk it writes to
  std::vector<Placed> placed_;
};

// Writes `bytes` to a fresh file under the test temp directory and returns its path.
std::string WriteTempTrace(const std::vector<uint8_t>& bytes, const std::string& name);

}  // namespace memtrace::test_support
