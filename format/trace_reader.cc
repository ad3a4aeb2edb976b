#include "format/trace_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "format/chunk_split.h"

namespace memtrace::format {

struct TraceReader::Stream {
  uint32_t tid = 0;
  std::vector<size_t> chunk_indexes;  // into chunks_, in allocation order: this thread's time order
  size_t next_chunk = 0;
  const uint8_t* cursor = nullptr;
  const uint8_t* end = nullptr;
  const uint8_t* chunk_base = nullptr;  // where the chunk's ChunkHeader is (raw offset chunk_offset)
  bool chunk_cut = false;               // the file ends inside this chunk's committed bytes
  uint64_t chunk_offset = 0;
  // Packed traces: decompressed chunks. The record handed out last may point into the chunk before the
  // current one, so loading alternates between two buffers.
  std::vector<uint8_t> buffers[2];
  int next_buffer = 0;
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
  if (dctx_) ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_));
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

  packed_ = (header_.flags & kHeaderPacked) != 0;
  header_.flags &= ~kHeaderPacked;  // header() is the raw trace's, whichever form holds it
  if (!(packed_ ? ListPackedChunks(error) : ListRawChunks(error))) return false;
  layout_truncated_ = truncated_;
  chunk_count_ = chunks_.size();

  std::unordered_map<uint32_t, size_t> stream_of_tid;
  for (size_t i = 0; i < chunks_.size(); ++i) {
    auto [it, inserted] = stream_of_tid.try_emplace(chunks_[i].tid, streams_.size());
    if (inserted) {
      streams_.emplace_back();
      streams_.back().tid = chunks_[i].tid;
    }
    streams_[it->second].chunk_indexes.push_back(i);
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

namespace {

// Whole pages inside [begin, begin + size) are dropped from a read-only file mapping.
void DropPages(const uint8_t* begin, size_t size) {
  const uintptr_t page = 4096;
  const uintptr_t from = (reinterpret_cast<uintptr_t>(begin) + page - 1) & ~(page - 1);
  const uintptr_t to = (reinterpret_cast<uintptr_t>(begin) + size) & ~(page - 1);
  if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
}

}  // namespace

bool TraceReader::ListRawChunks(std::string* error) {
  const uint64_t body = size_ > kHeaderBytes ? size_ - kHeaderBytes : 0;
  const uint64_t chunks_in_file = (body + header_.chunk_bytes - 1) / header_.chunk_bytes;
  if (header_.chunks_allocated > chunks_in_file) truncated_ = true;
  const uint64_t chunks = std::min<uint64_t>(header_.chunks_allocated, chunks_in_file);
  for (uint64_t i = 0; i < chunks; ++i) {
    uint64_t offset = ChunkOffset(kHeaderBytes, header_.chunk_bytes, i);
    if (offset + sizeof(ChunkHeader) > size_) {
      truncated_ = true;
      break;
    }
    ChunkHeader chunk;
    std::memcpy(&chunk, data_ + offset, sizeof chunk);
    // Touching each chunk's header maps the pages around it too (the kernel's fault-around), which
    // would map the whole file: drop what is behind every 16 MiB.
    if (mapping_ && i % 256 == 255) DropPages(data_, offset);
    if (chunk.magic == 0) continue;  // taken by a thread that died before writing to it
    if (chunk.magic != kChunkMagic || chunk.committed_bytes > header_.chunk_bytes - sizeof(ChunkHeader)) {
      *error = "trace is corrupt: chunk " + std::to_string(i) + " at offset " + std::to_string(offset) +
               " has a damaged header";
      return false;
    }
    ChunkRef ref;
    ref.raw_offset = offset;
    ref.tid = chunk.tid;
    const uint64_t wanted = sizeof(ChunkHeader) + uint64_t{chunk.committed_bytes};
    ref.cut = offset + wanted > size_;
    ref.stored_size = static_cast<uint32_t>(ref.cut ? size_ - offset : wanted);
    chunks_.push_back(ref);
  }
  return true;
}

bool TraceReader::ListPackedChunks(std::string* error) {
  PackedFooter footer;
  if (size_ < sizeof(FileHeader) + sizeof footer) {
    *error = "packed trace is cut short (no footer); it cannot be read";
    return false;
  }
  std::memcpy(&footer, data_ + size_ - sizeof footer, sizeof footer);
  if (std::memcmp(footer.magic, kPackedMagic, sizeof kPackedMagic) != 0) {
    *error = "packed trace is cut short or damaged (no footer at its end); it cannot be read";
    return false;
  }
  if (footer.version != kPackedVersion) {
    *error = "packed trace has packing version " + std::to_string(footer.version) +
             (footer.version > kPackedVersion ? ", newer than the " : ", unlike the ") +
             std::to_string(kPackedVersion) + " this memtrace reads";
    return false;
  }
  const uint64_t index_end = size_ - sizeof footer;
  const uint64_t index_bytes = uint64_t{footer.chunk_count} * sizeof(PackedChunk);
  if (footer.index_offset < sizeof(FileHeader) || footer.index_offset > index_end ||
      index_end - footer.index_offset != index_bytes) {
    *error = "packed trace is corrupt: its chunk index does not fit the file";
    return false;
  }
  if (Fnv1a64(data_ + footer.index_offset, index_bytes) != footer.index_checksum) {
    *error = "packed trace is corrupt: its chunk index fails its checksum";
    return false;
  }
  if (footer.flags & ~kPackedTruncated) {
    *error = "packed trace is corrupt: unknown footer flags";
    return false;
  }
  truncated_ = (footer.flags & kPackedTruncated) != 0;
  chunks_.reserve(footer.chunk_count);
  uint64_t frames_end = sizeof(FileHeader);
  for (uint32_t i = 0; i < footer.chunk_count; ++i) {
    PackedChunk entry;
    std::memcpy(&entry, data_ + footer.index_offset + uint64_t{i} * sizeof entry, sizeof entry);
    // Frames are back to back in index order; stored sizes fit a chunk; raw offsets sit on chunk slots.
    if (entry.frame_offset != frames_end || entry.frame_size > footer.index_offset - frames_end ||
        entry.stored_size < sizeof(ChunkHeader) || entry.stored_size > header_.chunk_bytes ||
        entry.raw_offset < kHeaderBytes || (entry.raw_offset - kHeaderBytes) % header_.chunk_bytes != 0 ||
        (entry.flags & ~(kPackedChunkCut | kPackedChunkSplit)) != 0) {
      *error = "packed trace is corrupt: chunk index entry " + std::to_string(i) + " is impossible";
      return false;
    }
    frames_end += entry.frame_size;
    ChunkRef ref;
    ref.raw_offset = entry.raw_offset;
    ref.frame_offset = entry.frame_offset;
    ref.frame_size = entry.frame_size;
    ref.stored_size = entry.stored_size;
    ref.tid = entry.tid;
    ref.cut = (entry.flags & kPackedChunkCut) != 0;
    ref.split = (entry.flags & kPackedChunkSplit) != 0;
    chunks_.push_back(ref);
  }
  if (frames_end != footer.index_offset) {
    *error = "packed trace is corrupt: its chunk index does not cover the file";
    return false;
  }
  dctx_ = ZSTD_createDCtx();
  if (!dctx_) {
    *error = "cannot allocate a zstd decompression context";
    return false;
  }
  return true;
}

void TraceReader::DropChunkPages(size_t index) const {
  if (!mapping_ || index >= chunks_.size()) return;
  const ChunkRef& ref = chunks_[index];
  if (packed_) {
    DropPages(data_ + ref.frame_offset, ref.frame_size);
  } else {
    DropPages(data_ + ref.raw_offset, ref.stored_size);
  }
}

bool TraceReader::LoadChunk(Stream& s, size_t index, const uint8_t** base) {
  const ChunkRef& ref = chunks_[index];
  if (!packed_) {
    *base = data_ + ref.raw_offset;
    return true;
  }
  std::vector<uint8_t>& buffer = s.buffers[s.next_buffer];
  s.next_buffer ^= 1;
  if (buffer.size() < header_.chunk_bytes) buffer.resize(header_.chunk_bytes);
  const uint8_t* frame = data_ + ref.frame_offset;
  // A split frame holds the ChunkHeader, then field streams that can be longer than the records (a few
  // bytes per stream and per record); it is decompressed aside and joined into the buffer.
  if (ref.split && split_.size() < 2 * size_t{header_.chunk_bytes} + 64 * 1024) {
    split_.resize(2 * size_t{header_.chunk_bytes} + 64 * 1024);
  }
  uint8_t* target = ref.split ? split_.data() : buffer.data();
  const size_t capacity = ref.split ? split_.size() : buffer.size();
  size_t got = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(dctx_), target, capacity, frame, ref.frame_size);
  bool joined = true;
  if (ref.split && !ZSTD_isError(got)) {
    ChunkHeader split_header{};
    if (got >= sizeof(ChunkHeader)) std::memcpy(&split_header, target, sizeof split_header);
    joined = got >= sizeof(ChunkHeader) &&
             JoinChunkRecords(target + sizeof(ChunkHeader), got - sizeof(ChunkHeader),
                              buffer.data() + sizeof(ChunkHeader), ref.stored_size - sizeof(ChunkHeader),
                              split_header.first_timestamp);
    if (joined) {
      std::memcpy(buffer.data(), target, sizeof(ChunkHeader));
      got = ref.stored_size;
    }
  }
  DropChunkPages(index);  // the compressed bytes are done with
  ChunkHeader chunk{};
  if (!ZSTD_isError(got) && joined && got == ref.stored_size)
    std::memcpy(&chunk, buffer.data(), sizeof chunk);
  const uint64_t wanted = sizeof(ChunkHeader) + uint64_t{chunk.committed_bytes};
  if (ZSTD_isError(got) || !joined || got != ref.stored_size || chunk.magic != kChunkMagic ||
      chunk.tid != ref.tid || chunk.committed_bytes > header_.chunk_bytes - sizeof(ChunkHeader) ||
      (ref.cut ? wanted <= ref.stored_size : wanted != ref.stored_size)) {
    error_ = "packed trace is corrupt: chunk at raw offset " + std::to_string(ref.raw_offset) +
             " (frame at " + std::to_string(ref.frame_offset) + ", thread " + std::to_string(ref.tid) + ") " +
             (ZSTD_isError(got) ? std::string("does not decompress: ") + ZSTD_getErrorName(got)
                                : std::string(joined ? "does not match its index entry"
                                                     : "does not rebuild from its field streams"));
    return false;
  }
  *base = buffer.data();
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
  // The raw file offset, also for a packed trace: both forms name the same place.
  uint64_t at = stream.chunk_offset + static_cast<uint64_t>(stream.cursor - stream.chunk_base);
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
        bool known = true;
        ShapeOf(static_cast<RecordKind>(*s.cursor), &known);
        if (status == DecodeStatus::kCorrupt && !known) {
          // New kinds are appended to the format without a version bump (record_kind.h): say so.
          error_ += ": record kind " + std::to_string(*s.cursor) +
                    " is unknown to this memtrace (a newer memtrace may have written the trace)";
        }
        return false;
      }
      truncated_ = true;  // the file was cut inside this record: keep what came before it
      s.cursor = s.end;
    }
    // The chunk just finished is done with. Dropping its pages is safe even though the record handed out
    // last may point into it: the mapping is read-only, so the bytes fault back in unchanged.
    if (s.next_chunk > 0) DropChunkPages(s.chunk_indexes[s.next_chunk - 1]);
    if (s.next_chunk == s.chunk_indexes.size()) return true;
    const size_t index = s.chunk_indexes[s.next_chunk++];
    const ChunkRef& ref = chunks_[index];
    ++chunks_started_;
    const uint8_t* base = nullptr;
    if (!LoadChunk(s, index, &base)) return false;
    ChunkHeader chunk;
    std::memcpy(&chunk, base, sizeof chunk);
    s.chunk_offset = ref.raw_offset;
    s.chunk_base = base;
    s.chunk_cut = ref.cut;
    if (s.chunk_cut) truncated_ = true;
    s.cursor = base + sizeof(ChunkHeader);
    s.end = base + ref.stored_size;
    s.state = DeltaState{chunk.first_timestamp, 0};
  }
}

void TraceReader::SiftDown(size_t at) {
  const size_t n = heap_.size();
  while (true) {
    size_t earliest = at;
    for (size_t child = 2 * at + 1; child <= 2 * at + 2 && child < n; ++child) {
      if (Later(heap_[earliest], heap_[child])) earliest = child;
    }
    if (earliest == at) return;
    std::swap(heap_[at], heap_[earliest]);
    at = earliest;
  }
}

bool TraceReader::Next(Event* event) {
  if (heap_.empty() || !error_.empty()) return false;
  // The stream at the top has the earliest pending record (Later is a total order, so which stream that
  // is does not depend on the heap's shape).
  Stream& s = streams_[heap_.front()];
  *event = s.pending;
  // Frames live in the stream's buffer, which Advance overwrites: hand out a stable copy.
  if (event->frame_count) {
    std::copy_n(s.frames, event->frame_count, frame_copy_);
    event->frames = frame_copy_;
  }
  ++records_read_;
  // A corrupt record further on still lets this one through; the next call reports the error. The
  // stream's next record usually stays near the top: one sift instead of a pop and a push.
  if (!(Advance(s) && s.has_pending)) {
    heap_.front() = heap_.back();
    heap_.pop_back();
  }
  if (!heap_.empty()) SiftDown(0);
  return true;
}

}  // namespace memtrace::format
