// Streaming reader of a .mtr trace: validates the header, finds every thread's chunks and yields all
// records of all threads merged into one timestamp order.
//
// Ordering contract (set by the preload, relied on here): a release is stamped before the real free runs
// and an allocation after the real malloc returns, so when one thread frees an address and another gets
// it back, the free sorts first. Equal timestamps put releases first for the same reason.
//
// Memory: the file is mapped read-only; the reader keeps one cursor per thread, never the records.
// Not thread-safe; one reader per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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

 private:
  struct Stream;
  TraceReader() = default;
  bool Init(std::string* error);
  bool Advance(Stream& stream);
  void FailAt(const Stream& stream, const char* what);
  // Heap order: true when stream a's pending record comes after stream b's.
  bool Later(size_t a, size_t b) const;

  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  FileHeader header_{};
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
