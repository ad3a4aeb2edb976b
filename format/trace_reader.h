// Streaming reader of a .mtr trace, raw (trace_layout.h) or packed (packed_layout.h): validates the
// header, finds every thread's chunks and yields all records of all threads merged into one timestamp
// order. Both forms give the same records, errors and `truncated` verdict.
//
// Ordering contract (set by the preload, relied on here): a release is stamped before the real free runs
// and an allocation after the real malloc returns, so when one thread frees an address and another gets
// it back, the free sorts first. Equal timestamps put releases first for the same reason.
//
// Memory: the file is mapped read-only; the reader keeps one cursor per thread, never the records. A
// packed trace's chunks are decompressed one at a time into two buffers per thread (the chunk the
// handed-out record points into and the next one), and the compressed pages already read are dropped
// from the mapping, so memory stays bounded however long the trace.
// Not thread-safe; one reader per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/packed_layout.h"
#include "format/record_codec.h"
#include "format/trace_layout.h"

namespace memtrace::format {

struct Event : Record {
  uint32_t tid = 0;
};

class TraceReader {
 public:
  // Opens `path`; on failure returns null and sets *error to one line saying what is wrong.
  static std::unique_ptr<TraceReader> Open(const std::string& path, std::string* error);
  // Reads a trace held in memory (tests and fuzzers). The bytes must outlive the reader.
  static std::unique_ptr<TraceReader> FromBytes(const uint8_t* data, size_t size, std::string* error);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  const FileHeader& header() const { return header_; }

  // The next record in timestamp order. Returns false at the end or on corruption (see error()).
  // Pointers inside *event stay valid until the next call.
  bool Next(Event* event);

  // Empty unless a record could not be decoded; reading stops there.
  const std::string& error() const { return error_; }
  // True when the file ends before what the writer committed (the file was cut short).
  bool truncated() const { return truncated_; }
  uint64_t records_read() const { return records_read_; }
  size_t thread_count() const;
  // Progress through the file: chunks whose records have been started, of all chunks with records.
  uint64_t chunks_started() const { return chunks_started_; }
  uint64_t chunk_count() const { return chunk_count_; }

  // True for a packed trace (packed_layout.h).
  bool packed() const { return packed_; }

  // The chunks with records, in file order, as the reader will read them (the packer copies these).
  struct ChunkRef {
    uint64_t raw_offset = 0;    // offset of the ChunkHeader in the raw form
    uint64_t frame_offset = 0;  // packed: the zstd frame's offset in this file
    uint32_t frame_size = 0;    // packed: its length
    uint32_t stored_size = 0;   // ChunkHeader + committed bytes that the file holds
    uint32_t tid = 0;
    bool cut = false;    // the file ends inside this chunk's committed bytes
    bool split = false;  // packed: the frame holds field streams (chunk_split.h)
  };
  const std::vector<ChunkRef>& chunks() const { return chunks_; }
  // The file's bytes as mapped (a raw trace's chunk i is at raw_bytes() + chunks()[i].raw_offset).
  const uint8_t* raw_bytes() const { return data_; }
  size_t raw_size() const { return size_; }
  // Drops chunk `index`'s whole pages from this process's mapping (they stay in the page cache), so a
  // pass over a long trace keeps only what it works on resident. No-op for FromBytes readers.
  void DropChunkPages(size_t index) const;
  // True when listing the chunks already found the file cut short (before any record was read).
  bool layout_truncated() const { return layout_truncated_; }

 private:
  struct Stream;
  TraceReader() = default;
  bool Init(std::string* error);
  bool ListRawChunks(std::string* error);
  bool ListPackedChunks(std::string* error);
  // Makes chunk `index` readable at *base (raw: in the mapping; packed: decompressed into `buffer`).
  bool LoadChunk(Stream& stream, size_t index, const uint8_t** base);
  bool Advance(Stream& stream);
  void FailAt(const Stream& stream, const char* what);
  // Heap order: true when stream a's pending record comes after stream b's.
  bool Later(size_t a, size_t b) const;
  // Restores heap order below heap_[at] after its stream's pending record changed.
  void SiftDown(size_t at);

  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  FileHeader header_{};
  bool packed_ = false;
  bool layout_truncated_ = false;
  std::vector<ChunkRef> chunks_;
  std::vector<uint8_t> split_;  // packed: a frame's split form, before it is joined into a stream's buffer
  void* dctx_ = nullptr;        // ZSTD_DCtx, packed traces only (kept opaque: zstd stays out of this header)
  std::vector<Stream> streams_;
  std::vector<size_t> heap_;  // min-heap of stream indexes by their pending record
  std::string error_;
  bool truncated_ = false;
  uint64_t records_read_ = 0;
  uint64_t chunks_started_ = 0;
  uint64_t chunk_count_ = 0;
  uint64_t frame_copy_[kMaxFrames];
};

}  // namespace memtrace::format
