#include "format/trace_appender.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "format/packed_layout.h"
#include "format/trace_layout.h"

namespace memtrace::format {

bool AppendRecordToTrace(const std::string& path, uint32_t tid, const Record& record, std::string* error) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  FileHeader header;
  bool ok = pread(fd, &header, sizeof header, 0) == static_cast<ssize_t>(sizeof header) &&
            std::memcmp(header.magic, kFileMagic, sizeof kFileMagic) == 0 && header.chunk_bytes >= 4096;
  if (!ok) {
    *error = path + ": not a memtrace trace";
    close(fd);
    return false;
  }
  if (header.flags & kHeaderPacked) {
    *error = path + ": the trace is packed; records can only be appended to a raw trace";
    close(fd);
    return false;
  }
  std::vector<uint8_t> chunk(header.chunk_bytes, 0);
  auto* chunk_header = reinterpret_cast<ChunkHeader*>(chunk.data());
  DeltaState deltas{record.timestamp, 0};
  uint8_t* end = EncodeRecord(chunk.data() + sizeof(ChunkHeader), deltas, record);
  chunk_header->magic = kChunkMagic;
  chunk_header->tid = tid;
  chunk_header->pid = header.pid;
  chunk_header->first_timestamp = record.timestamp;
  chunk_header->committed_bytes = static_cast<uint32_t>(end - chunk.data() - sizeof(ChunkHeader));
  // The chunk goes where the writer would have put the next one; the file may hold unused chunks
  // beyond chunks_allocated only as zeros.
  uint64_t index = header.chunks_allocated;
  uint64_t offset = ChunkOffset(header.header_bytes, header.chunk_bytes, index);
  ++header.chunks_allocated;
  ok = pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(offset)) ==
           static_cast<ssize_t>(chunk.size()) &&
       pwrite(fd, &header.chunks_allocated, sizeof header.chunks_allocated,
              static_cast<off_t>(offsetof(FileHeader, chunks_allocated))) ==
           static_cast<ssize_t>(sizeof header.chunks_allocated);
  if (!ok) *error = path + ": cannot append: " + std::strerror(errno);
  close(fd);
  return ok;
}

}  // namespace memtrace::format
