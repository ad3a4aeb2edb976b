#include "format/trace_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

namespace memtrace::format {

struct TraceReader::Stream {
  uint32_t tid = 0;
  std::vector<uint64_t> chunk_offsets;  // in allocation order, which is this thread's time order
  size_t next_chunk = 0;
  const uint8_t* cursor = nullptr;
  const uint8_t* end = nullptr;
  bool chunk_cut = false;  // the file ends inside this chunk's committed bytes
  uint64_t chunk_offset = 0;
  DeltaState state;
  bool has_pending = false;
  Event pending;
  uint64_t frames[kMaxFrames];
};

namespace {

bool IsRelease(RecordKind kind) { return ShapeOf(kind) == Shape::kRelease; }

}  // namespace

std::unique_ptr<TraceReader> TraceReader::Open(const std::string& path, std::string* error) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": cannot open trace: " + std::strerror(errno);
    return nullptr;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    *error = path + ": not a regular file";
    return nullptr;
  }
  std::unique_ptr<TraceReader> reader(new TraceReader());
  reader->size_ = static_cast<size_t>(st.st_size);
  if (reader->size_ > 0) {
    void* map = mmap(nullptr, reader->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      close(fd);
      *error = path + ": cannot map trace: " + std::strerror(errno);
      return nullptr;
    }
    reader->mapping_ = map;
    reader->mapping_size_ = reader->size_;
    reader->data_ = static_cast<const uint8_t*>(map);
    madvise(map, reader->size_, MADV_SEQUENTIAL);
  }
  close(fd);
  if (!reader->Init(error)) {
    *error = path + ": " + *error;
    return nullptr;
  }
  return reader;
}

std::unique_ptr<TraceReader> TraceReader::FromBytes(const uint8_t* data, size_t size, std::string* error) {
  std::unique_ptr<TraceReader> reader(new TraceReader());
  reader->data_ = data;
  reader->size_ = size;
  if (!reader->Init(error)) return nullptr;
  return reader;
}

size_t TraceReader::thread_count() const { return streams_.size(); }

TraceReader::~TraceReader() {
  if (mapping_) munmap(mapping_, mapping_size_);
}

bool TraceReader::Init(std::string* error) {
  if (size_ < sizeof(kFileMagic) || std::memcmp(data_, kFileMagic, sizeof(kFileMagic)) != 0) {
    *error = "not a memtrace trace (no MEMTRACE signature at the start)";
    return false;
  }
  if (size_ < sizeof(FileHeader)) {
    *error = "trace is cut short inside its header; nothing can be read from it";
    return false;
  }
  std::memcpy(&header_, data_, sizeof(FileHeader));
  if (header_.version > kFormatVersion) {
    *error = "trace has format version " + std::to_string(header_.version) + ", newer than the " +
             std::to_string(kFormatVersion) + " this memtrace reads; use a newer memtrace";
    return false;
  }
  if (header_.version == 0) {
    *error = "trace header is corrupt (format version 0)";
    return false;
  }
  if (header_.machine != kMachineX86_64) {
    *error = "trace was written on another architecture (ELF machine " + std::to_string(header_.machine) +
             "); this memtrace reads x86-64 traces";
    return false;
  }
  if (header_.header_bytes != kHeaderBytes || header_.chunk_bytes < 4096 ||
      header_.chunk_bytes > (64u << 20) || header_.chunk_bytes % 4096 != 0) {
    *error = "trace header is corrupt (impossible header or chunk size)";
    return false;
  }
  header_.program[sizeof(header_.program) - 1] = 0;
  header_.command_line[sizeof(header_.command_line) - 1] = 0;
  header_.allocator[sizeof(header_.allocator) - 1] = 0;

  const uint64_t body = size_ > kHeaderBytes ? size_ - kHeaderBytes : 0;
  const uint64_t chunks_in_file = (body + header_.chunk_bytes - 1) / header_.chunk_bytes;
  if (header_.chunks_allocated > chunks_in_file) truncated_ = true;
  const uint64_t chunks = std::min<uint64_t>(header_.chunks_allocated, chunks_in_file);

  std::unordered_map<uint32_t, size_t> stream_of_tid;
  for (uint64_t i = 0; i < chunks; ++i) {
    uint64_t offset = ChunkOffset(kHeaderBytes, header_.chunk_bytes, i);
    if (offset + sizeof(ChunkHeader) > size_) {
      truncated_ = true;
      break;
    }
    ChunkHeader chunk;
    std::memcpy(&chunk, data_ + offset, sizeof chunk);
    if (chunk.magic == 0) continue;  // taken by a thread that died before writing to it
    if (chunk.magic != kChunkMagic || chunk.committed_bytes > header_.chunk_bytes - sizeof(ChunkHeader)) {
      *error = "trace is corrupt: chunk " + std::to_string(i) + " at offset " + std::to_string(offset) +
               " has a damaged header";
      return false;
    }
    auto [it, inserted] = stream_of_tid.try_emplace(chunk.tid, streams_.size());
    if (inserted) {
      streams_.emplace_back();
      streams_.back().tid = chunk.tid;
    }
    streams_[it->second].chunk_offsets.push_back(offset);
    ++chunk_count_;
  }
  for (size_t i = 0; i < streams_.size(); ++i) {
    if (!Advance(streams_[i])) {
      *error = error_;
      return false;
    }
    if (streams_[i].has_pending) heap_.push_back(i);
  }
  auto later = [this](size_t a, size_t b) { return Later(a, b); };
  std::make_heap(heap_.begin(), heap_.end(), later);
  return true;
}

bool TraceReader::Later(size_t a, size_t b) const {
  const Event& x = streams_[a].pending;
  const Event& y = streams_[b].pending;
  if (x.timestamp != y.timestamp) return x.timestamp > y.timestamp;
  if (IsRelease(x.kind) != IsRelease(y.kind)) return IsRelease(y.kind);
  return a > b;
}

void TraceReader::FailAt(const Stream& stream, const char* what) {
  uint64_t at = static_cast<uint64_t>(stream.cursor - data_);
  error_ = std::string("trace is corrupt: ") + what + " at byte " + std::to_string(at) + " (chunk at " +
           std::to_string(stream.chunk_offset) + ", thread " + std::to_string(stream.tid) + ")";
}

bool TraceReader::Advance(Stream& s) {
  s.has_pending = false;
  while (true) {
    if (s.cursor != s.end) {
      DecodeStatus status = DecodeRecord(&s.cursor, s.end, s.state, &s.pending, s.frames);
      if (status == DecodeStatus::kOk) {
        s.pending.tid = s.tid;
        s.has_pending = true;
        return true;
      }
      if (status == DecodeStatus::kCorrupt || !s.chunk_cut) {
        FailAt(s, status == DecodeStatus::kCorrupt ? "undecodable record" : "record overruns its chunk");
        return false;
      }
      truncated_ = true;  // the file was cut inside this record: keep what came before it
      s.cursor = s.end;
    }
    if (s.next_chunk == s.chunk_offsets.size()) return true;
    s.chunk_offset = s.chunk_offsets[s.next_chunk++];
    ++chunks_started_;
    ChunkHeader chunk;
    std::memcpy(&chunk, data_ + s.chunk_offset, sizeof chunk);
    uint64_t begin = s.chunk_offset + sizeof(ChunkHeader);
    uint64_t end = begin + chunk.committed_bytes;
    s.chunk_cut = end > size_;
    if (s.chunk_cut) {
      truncated_ = true;
      end = size_;
    }
    s.cursor = data_ + begin;
    s.end = data_ + end;
    s.state = DeltaState{chunk.first_timestamp, 0};
  }
}

bool TraceReader::Next(Event* event) {
  if (heap_.empty() || !error_.empty()) return false;
  auto later = [this](size_t a, size_t b) { return Later(a, b); };
  std::pop_heap(heap_.begin(), heap_.end(), later);
  size_t index = heap_.back();
  Stream& s = streams_[index];
  *event = s.pending;
  // Frames live in the stream's buffer, which Advance overwrites: hand out a stable copy.
  if (event->frame_count) {
    std::copy_n(s.frames, event->frame_count, frame_copy_);
    event->frames = frame_copy_;
  }
  ++records_read_;
  // A corrupt record further on still lets this one through; the next call reports the error.
  if (Advance(s) && s.has_pending) {
    std::push_heap(heap_.begin(), heap_.end(), later);
  } else {
    heap_.pop_back();
  }
  return true;
}

}  // namespace memtrace::format
