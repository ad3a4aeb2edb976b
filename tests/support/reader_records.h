// Records and reading helpers shared by the trace reader's tests.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "format/trace_reader.h"
#include "tests/support/trace_builder.h"

namespace memtrace::format::reader_test {

using test_support::TraceBuilder;

// The committed record bytes of chunk `index` of a built trace.
inline std::vector<uint8_t> ChunkRecords(const TraceBuilder& b, size_t index = 0) {
  const std::vector<uint8_t> file = b.Build();
  ChunkHeader header;
  std::memcpy(&header, file.data() + b.ChunkOffset(index), sizeof header);
  const uint8_t* begin = file.data() + b.ChunkOffset(index) + sizeof header;
  return {begin, begin + header.committed_bytes};
}

inline Record Malloc(uint64_t timestamp, uint64_t address, uint64_t size = 32) {
  Record r;
  r.kind = RecordKind::kMalloc;
  r.timestamp = timestamp;
  r.address = address;
  r.size = size;
  r.flags = kFlagChunkRead;
  r.chunk_size = RequestToChunkSize(size);
  return r;
}

inline Record Release(RecordKind kind, uint64_t timestamp, uint64_t address) {
  Record r;
  r.kind = kind;
  r.timestamp = timestamp;
  r.address = address;
  return r;
}

inline Record Mmap(uint64_t timestamp, uint64_t address, uint64_t length) {
  Record r;
  r.kind = RecordKind::kMmap;
  r.timestamp = timestamp;
  r.address = address;
  r.size = length;
  r.prot = 3;
  r.map_flags = 0x22;
  r.fd = -1;
  return r;
}

// What a test compares: enough to tell any two records of these traces apart.
using Key = std::tuple<uint32_t, RecordKind, uint64_t, uint64_t, uint64_t>;
inline Key KeyOf(uint32_t tid, const Record& r) { return {tid, r.kind, r.timestamp, r.address, r.size}; }

inline std::string Describe(const Key& k) {
  return "tid " + std::to_string(std::get<0>(k)) + " " + NameOf(std::get<1>(k)) +
         " t=" + std::to_string(std::get<2>(k)) + " addr=" + std::to_string(std::get<3>(k));
}

inline std::vector<Key> ReadAll(TraceReader& reader) {
  std::vector<Key> keys;
  Event e;
  while (reader.Next(&e)) keys.push_back(KeyOf(e.tid, e));
  return keys;
}

inline std::unique_ptr<TraceReader> Read(const std::vector<uint8_t>& file, std::string* error) {
  return TraceReader::FromBytes(file.data(), file.size(), error);
}
// The reader borrows the bytes: reading a temporary would leave it pointing at freed memory.
std::unique_ptr<TraceReader> Read(std::vector<uint8_t>&& file, std::string* error) = delete;

// The order the reader promises: by timestamp, releases first on a tie. Stable, so records of one thread
// with equal timestamps keep their order (the tests never tie two threads otherwise).
inline std::vector<Key> ExpectedOrder(const TraceBuilder& builder) {
  std::vector<TraceBuilder::Placed> placed = builder.placed();
  std::stable_sort(placed.begin(), placed.end(), [](const auto& a, const auto& b) {
    const bool a_release = ShapeOf(a.record.kind) == Shape::kRelease;
    const bool b_release = ShapeOf(b.record.kind) == Shape::kRelease;
    return std::tie(a.record.timestamp, b_release) < std::tie(b.record.timestamp, a_release);
  });
  std::vector<Key> keys;
  for (const auto& p : placed) keys.push_back(KeyOf(p.tid, p.record));
  return keys;
}

}  // namespace memtrace::format::reader_test
