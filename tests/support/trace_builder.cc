#include "tests/support/trace_builder.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace memtrace::test_support {

using format::ChunkHeader;

TraceBuilder::TraceBuilder(uint32_t chunk_bytes) : chunk_bytes_(chunk_bytes) {
  std::memcpy(header_.magic, format::kFileMagic, sizeof header_.magic);
  header_.version = format::kFormatVersion;
  header_.machine = format::kMachineX86_64;
  header_.header_bytes = format::kHeaderBytes;
  header_.chunk_bytes = chunk_bytes;
  header_.flags = format::kHeaderGlibcAllocator;
  header_.pid = 4242;
  header_.ppid = 1;
  header_.start_monotonic_ns = 1'000'000;
  header_.start_realtime_ns = 1'700'000'000'000'000'000;
  header_.initial_break = 0x5555'5560'0000;
  std::snprintf(header_.program, sizeof header_.program, "/usr/bin/example");
  std::snprintf(header_.command_line, sizeof header_.command_line, "example --flag");
  std::snprintf(header_.allocator, sizeof header_.allocator, "/lib/x86_64-linux-gnu/libc.so.6");
}

size_t TraceBuilder::StartChunk(uint32_t tid, uint64_t first_timestamp) {
  Chunk& chunk = chunks_.emplace_back();
  chunk.header.magic = format::kChunkMagic;
  chunk.header.tid = tid;
  chunk.header.pid = header_.pid;
  chunk.header.first_timestamp = first_timestamp;
  chunk.state = format::DeltaState{first_timestamp, 0};
  header_.chunks_allocated = chunks_.size();
  current_[tid] = chunks_.size() - 1;
  return chunks_.size() - 1;
}

size_t TraceBuilder::AddUnusedChunk() {
  chunks_.emplace_back();
  header_.chunks_allocated = chunks_.size();
  return chunks_.size() - 1;
}

void TraceBuilder::Add(uint32_t tid, const format::Record& record) {
  auto it = current_.find(tid);
  const size_t room = chunk_bytes_ - sizeof(ChunkHeader);
  if (it == current_.end() || room - chunks_[it->second].records.size() < format::EncodedBound(record)) {
    if (format::EncodedBound(record) > room) throw std::invalid_argument("record larger than a chunk");
    StartChunk(tid, record.timestamp);
    it = current_.find(tid);
  }
  Chunk& chunk = chunks_[it->second];
  if (record.timestamp < chunk.state.last_timestamp) throw std::invalid_argument("timestamp goes backwards");
  std::vector<uint8_t>& out = chunk.records;
  const size_t used = out.size();
  out.resize(used + format::EncodedBound(record));
  uint8_t* end = format::EncodeRecord(out.data() + used, chunk.state, record);
  out.resize(static_cast<size_t>(end - out.data()));
  chunk.header.committed_bytes = static_cast<uint32_t>(out.size());
  placed_.push_back({tid, record, ChunkOffset(it->second) + sizeof(ChunkHeader) + out.size()});
}

void TraceBuilder::AddRawBytes(size_t index, const std::vector<uint8_t>& bytes) {
  Chunk& chunk = chunks_.at(index);
  if (chunk.records.size() + bytes.size() > chunk_bytes_ - sizeof(ChunkHeader)) {
    throw std::invalid_argument("raw bytes overflow the chunk");
  }
  chunk.records.insert(chunk.records.end(), bytes.begin(), bytes.end());
  chunk.header.committed_bytes = static_cast<uint32_t>(chunk.records.size());
}

uint64_t TraceBuilder::ChunkOffset(size_t index) const {
  return format::ChunkOffset(format::kHeaderBytes, chunk_bytes_, index);
}

std::vector<uint8_t> TraceBuilder::Build() const {
  // Whole chunks, as the writer's fallocate leaves them; the unused tail of each chunk is zero.
  std::vector<uint8_t> file(ChunkOffset(chunks_.size()), 0);
  std::memcpy(file.data(), &header_, sizeof header_);
  for (size_t i = 0; i < chunks_.size(); ++i) {
    uint8_t* at = file.data() + ChunkOffset(i);
    std::memcpy(at, &chunks_[i].header, sizeof(ChunkHeader));
    if (!chunks_[i].records.empty()) {
      std::memcpy(at + sizeof(ChunkHeader), chunks_[i].records.data(), chunks_[i].records.size());
    }
  }
  return file;
}

uint64_t TraceBuilder::committed_end() const {
  uint64_t end = chunks_.empty() ? sizeof(format::FileHeader) : 0;
  for (size_t i = 0; i < chunks_.size(); ++i) {
    end = std::max<uint64_t>(end, ChunkOffset(i) + sizeof(ChunkHeader) + chunks_[i].header.committed_bytes);
  }
  return end;
}

std::string WriteTempTrace(const std::vector<uint8_t>& bytes, const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path =
      std::string(dir && *dir ? dir : "/tmp") + "/memtrace-" + std::to_string(getpid()) + "-" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot create " + path);
  const size_t written = bytes.empty() ? 0 : std::fwrite(bytes.data(), 1, bytes.size(), f);
  if (std::fclose(f) != 0 || written != bytes.size()) throw std::runtime_error("cannot write " + path);
  return path;
}

}  // namespace memtrace::test_support
