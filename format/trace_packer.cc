#include "format/trace_packer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "format/chunk_split.h"
#include "format/packed_layout.h"

namespace memtrace::format {

namespace {

struct CctxDeleter {
  void operator()(ZSTD_CCtx* cctx) const { ZSTD_freeCCtx(cctx); }
};

// Buffers small writes into large ones for a file descriptor.
class FdSink {
 public:
  explicit FdSink(int fd) : fd_(fd) { buffer_.reserve(kFlushBytes); }
  bool Write(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    buffer_.insert(buffer_.end(), p, p + size);
    return buffer_.size() < kFlushBytes || Flush();
  }
  bool Flush() {
    size_t done = 0;
    while (done < buffer_.size()) {
      ssize_t n = write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    buffer_.clear();
    return true;
  }

 private:
  static constexpr size_t kFlushBytes = 1 << 20;
  int fd_;
  std::vector<uint8_t> buffer_;
};

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

bool WritePacked(const TraceReader& raw, int level, const std::function<bool(const void*, size_t)>& sink,
                 PackStats* stats, std::string* error) {
  if (raw.packed()) {
    *error = "the trace is already packed";
    return false;
  }
  std::unique_ptr<ZSTD_CCtx, CctxDeleter> cctx(ZSTD_createCCtx());
  if (!cctx) {
    *error = "cannot allocate a zstd compression context";
    return false;
  }
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);

  FileHeader header;
  std::memcpy(&header, raw.raw_bytes(), sizeof header);  // the bytes as written, not the reader's copy
  header.flags |= kHeaderPacked;
  if (!sink(&header, sizeof header)) {
    *error = "cannot write the packed trace";
    return false;
  }
  uint64_t offset = sizeof header;
  std::vector<PackedChunk> index;
  index.reserve(raw.chunks().size());
  std::vector<uint8_t> frame;
  std::vector<uint8_t> split;
  for (size_t i = 0; i < raw.chunks().size(); ++i) {
    const TraceReader::ChunkRef& ref = raw.chunks()[i];
    // ChunkHeader as written, then the records split into field streams.
    const uint8_t* chunk = raw.raw_bytes() + ref.raw_offset;
    ChunkHeader chunk_header;
    std::memcpy(&chunk_header, chunk, sizeof chunk_header);
    split.assign(chunk, chunk + sizeof(ChunkHeader));
    SplitChunkRecords(chunk + sizeof(ChunkHeader), ref.stored_size - sizeof(ChunkHeader),
                      chunk_header.first_timestamp, &split);
    frame.resize(ZSTD_compressBound(split.size()));
    size_t size = ZSTD_compress2(cctx.get(), frame.data(), frame.size(), split.data(), split.size());
    raw.DropChunkPages(i);  // memory stays bounded however large the raw trace
    if (ZSTD_isError(size)) {
      *error = std::string("zstd cannot compress a chunk: ") + ZSTD_getErrorName(size);
      return false;
    }
    if (!sink(frame.data(), size)) {
      *error = "cannot write the packed trace";
      return false;
    }
    PackedChunk entry{};
    entry.raw_offset = ref.raw_offset;
    entry.frame_offset = offset;
    entry.frame_size = static_cast<uint32_t>(size);
    entry.stored_size = ref.stored_size;
    entry.tid = ref.tid;
    entry.flags = kPackedChunkSplit | (ref.cut ? kPackedChunkCut : 0);
    index.push_back(entry);
    offset += size;
  }
  PackedFooter footer{};
  std::memcpy(footer.magic, kPackedMagic, sizeof footer.magic);
  footer.version = kPackedVersion;
  footer.chunk_count = static_cast<uint32_t>(index.size());
  footer.index_offset = offset;
  footer.index_checksum = Fnv1a64(index.data(), index.size() * sizeof(PackedChunk));
  footer.flags = raw.layout_truncated() ? kPackedTruncated : 0;
  if (!sink(index.data(), index.size() * sizeof(PackedChunk)) || !sink(&footer, sizeof footer)) {
    *error = "cannot write the packed trace";
    return false;
  }
  if (stats) {
    stats->raw_bytes = raw.raw_size();
    stats->packed_bytes = offset + index.size() * sizeof(PackedChunk) + sizeof footer;
    stats->chunks = index.size();
  }
  return true;
}

std::vector<uint8_t> PackBytes(const uint8_t* data, size_t size, int level, std::string* error) {
  std::unique_ptr<TraceReader> raw = TraceReader::FromBytes(data, size, error);
  if (!raw) return {};
  std::vector<uint8_t> out;
  auto sink = [&out](const void* bytes, size_t n) {
    out.insert(out.end(), static_cast<const uint8_t*>(bytes), static_cast<const uint8_t*>(bytes) + n);
    return true;
  };
  if (!WritePacked(*raw, level, sink, nullptr, error)) return {};
  return out;
}

bool PackTraceFile(const std::string& path, const std::string& out, int level, PackStats* stats,
                   bool* already_packed, std::string* error) {
  *already_packed = false;
  std::unique_ptr<TraceReader> raw = TraceReader::Open(path, error);
  if (!raw) return false;
  if (raw->packed()) {
    *already_packed = true;
    *error = path + ": the trace is already packed";
    return false;
  }
  struct stat st {};
  stat(path.c_str(), &st);
  std::string temp = out + ".packing.XXXXXX";
  int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) {
    *error = out + ": cannot create the packed file beside it: " + std::strerror(errno) +
             "; the raw trace is unchanged";
    return false;
  }
  fchmod(fd, st.st_mode & 0777);
  FdSink sink(fd);
  std::string why;
  bool ok = WritePacked(
      *raw, level, [&sink](const void* data, size_t size) { return sink.Write(data, size); }, stats, &why);
  if (ok && !sink.Flush()) {
    ok = false;
    why = std::string("cannot write the packed trace: ") + std::strerror(errno);
  }
  if (ok && fsync(fd) != 0) {
    ok = false;
    why = std::string("cannot sync the packed trace: ") + std::strerror(errno);
  }
  close(fd);
  if (ok && rename(temp.c_str(), out.c_str()) != 0) {
    ok = false;
    why = std::string("cannot rename the packed trace into place: ") + std::strerror(errno);
  }
  if (!ok) {
    unlink(temp.c_str());
    *error = out + ": " + why + "; the raw trace is unchanged";
    return false;
  }
  // Make the rename itself durable.
  int dir = open(DirectoryOf(out).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
  return true;
}

}  // namespace memtrace::format
