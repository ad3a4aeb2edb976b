// A trace chunk as the preload's writer leaves it, for the exit-time scan's replay tests: a header,
// then records encoded with deltas restarting at the chunk's first timestamp.
#pragma once

#include <cstdint>
#include <vector>

#include "format/record_codec.h"
#include "format/trace_layout.h"

namespace memtrace::test_support {

class RecordChunk {
 public:
  explicit RecordChunk(uint64_t first_timestamp, uint32_t tid = 1) : bytes_(64 * 1024) {
    header()->first_timestamp = first_timestamp;
    header()->tid = tid;
    deltas_ = {first_timestamp, 0};
    cursor_ = reinterpret_cast<uint8_t*>(header() + 1);
  }
  void Add(format::RecordKind kind, uint64_t timestamp, uint64_t address, uint64_t size = 0,
           uint8_t flags = 0) {
    format::Record r;
    r.kind = kind;
    r.address = address;
    r.size = size;
    r.count = 3;  // used by calloc only
    r.flags = flags;
    cursor_ = format::EncodeRecord(cursor_, deltas_, r, timestamp);
    header()->committed_bytes = static_cast<uint32_t>(cursor_ - reinterpret_cast<uint8_t*>(header() + 1));
  }
  format::ChunkHeader* header() { return reinterpret_cast<format::ChunkHeader*>(bytes_.data()); }

 private:
  std::vector<uint8_t> bytes_;
  format::DeltaState deltas_;
  uint8_t* cursor_;
};

}  // namespace memtrace::test_support
