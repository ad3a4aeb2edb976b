#include "format/trace_packer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>

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

namespace {

// One thread's compressor: its own zstd context and buffers (SplitChunkRecords keeps per-thread state).
struct ChunkCompressor {
  std::unique_ptr<ZSTD_CCtx, CctxDeleter> cctx;
  std::vector<uint8_t> split;
  bool Init(int level) {
    cctx.reset(ZSTD_createCCtx());
    if (!cctx) return false;
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
    return true;
  }
  // The chunk's ChunkHeader as written, then its records split into field streams, compressed into
  // *frame; returns zstd's error code or the frame size.
  size_t Compress(const TraceReader& raw, const TraceReader::ChunkRef& ref, std::vector<uint8_t>* frame) {
    const uint8_t* chunk = raw.raw_bytes() + ref.raw_offset;
    ChunkHeader chunk_header;
    std::memcpy(&chunk_header, chunk, sizeof chunk_header);
    split.assign(chunk, chunk + sizeof(ChunkHeader));
    SplitChunkRecords(chunk + sizeof(ChunkHeader), ref.stored_size - sizeof(ChunkHeader),
                      chunk_header.first_timestamp, &split);
    frame->resize(ZSTD_compressBound(split.size()));
    const size_t size = ZSTD_compress2(cctx.get(), frame->data(), frame->size(), split.data(), split.size());
    if (!ZSTD_isError(size)) frame->resize(size);
    return size;
  }
};

}  // namespace

bool WritePacked(const TraceReader& raw, int level, const std::function<bool(const void*, size_t)>& sink,
                 PackStats* stats, std::string* error, unsigned threads) {
  if (raw.packed()) {
    *error = "the trace is already packed";
    return false;
  }
  if (threads == 0) threads = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  std::vector<ChunkCompressor> compressors(threads);
  for (ChunkCompressor& compressor : compressors) {
    if (!compressor.Init(level)) {
      *error = "cannot allocate a zstd compression context";
      return false;
    }
  }
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
  // Chunks are compressed a window at a time, `threads` at once (each thread takes every threads-th
  // chunk of the window), then written in order: the file is the same whatever the thread count, and
  // at most a window of frames is held.
  const size_t window = size_t{4} * threads;
  std::vector<std::vector<uint8_t>> frames(window);
  std::vector<size_t> sizes(window);
  for (size_t first = 0; first < raw.chunks().size(); first += window) {
    const size_t count = std::min(window, raw.chunks().size() - first);
    auto compress = [&](unsigned worker) {
      for (size_t k = worker; k < count; k += threads) {
        sizes[k] = compressors[worker].Compress(raw, raw.chunks()[first + k], &frames[k]);
      }
    };
    std::vector<std::thread> helpers;
    for (unsigned worker = 1; worker < threads && worker < count; ++worker)
      helpers.emplace_back(compress, worker);
    compress(0);
    for (std::thread& helper : helpers) helper.join();
    for (size_t k = 0; k < count; ++k) {
      const TraceReader::ChunkRef& ref = raw.chunks()[first + k];
      raw.DropChunkPages(first + k);  // memory stays bounded however large the raw trace
      if (ZSTD_isError(sizes[k])) {
        *error = std::string("zstd cannot compress a chunk: ") + ZSTD_getErrorName(sizes[k]);
        return false;
      }
      if (!sink(frames[k].data(), sizes[k])) {
        *error = "cannot write the packed trace";
        return false;
      }
      PackedChunk entry{};
      entry.raw_offset = ref.raw_offset;
      entry.frame_offset = offset;
      entry.frame_size = static_cast<uint32_t>(sizes[k]);
      entry.stored_size = ref.stored_size;
      entry.tid = ref.tid;
      entry.flags = kPackedChunkSplit | (ref.cut ? kPackedChunkCut : 0);
      index.push_back(entry);
      offset += sizes[k];
    }
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

std::vector<uint8_t> PackBytes(const uint8_t* data, size_t size, int level, std::string* error,
                               unsigned threads) {
  std::unique_ptr<TraceReader> raw = TraceReader::FromBytes(data, size, error);
  if (!raw) return {};
  std::vector<uint8_t> out;
  auto sink = [&out](const void* bytes, size_t n) {
    out.insert(out.end(), static_cast<const uint8_t*>(bytes), static_cast<const uint8_t*>(bytes) + n);
    return true;
  };
  if (!WritePacked(*raw, level, sink, nullptr, error, threads)) return {};
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
