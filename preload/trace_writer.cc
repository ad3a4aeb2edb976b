#include "preload/trace_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

namespace memtrace::preload {

using format::ChunkHeader;
using format::FileHeader;

__thread ThreadState thread_state __attribute__((tls_model("initial-exec")));

namespace {

// File bytes mapped at once. A segment is unmapped when all its chunks are full: one unmap (and one
// TLB flush, which costs hundreds of microseconds in some VMs) per segment rather than per chunk. A
// thread that keeps a chunk half full keeps its segment mapped, so the trace buffers' share of the
// program's RSS is at most one segment per writing thread.
constexpr uint64_t kSegmentBytes = 1u << 20;
constexpr uint32_t kChunksPerSegment = kSegmentBytes / format::kDefaultChunkBytes;
constexpr uint32_t kMaxSegments = 65536;  // 64 GiB of trace per process
constexpr int kFirstPrivateFd = 850;      // keep our descriptor out of the way of the program's

// Writer state shared by all threads. Written by OpenTrace/ReopenAfterFork before other threads can
// write (start-up, or the single thread of a fork child); afterwards only the atomics change.
FileHeader* header = nullptr;
int trace_fd = -1;
dev_t trace_dev = 0;
ino_t trace_ino = 0;
char trace_path[4096];
std::atomic<bool> writer_broken{false};
// A segment's mapping: null until first used, kUnmapped once all its chunks were full and it was unmapped.
std::atomic<uint8_t*> segments[kMaxSegments];
std::atomic<uint32_t> full_chunks[kMaxSegments];  // per segment, chunks retired so far
uint8_t* const kUnmapped = reinterpret_cast<uint8_t*>(~uintptr_t{0});

void* RawMmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  return reinterpret_cast<void*>(syscall(SYS_mmap, addr, length, prot, flags, fd, offset));
}

int RawMunmap(void* addr, size_t length) { return static_cast<int>(syscall(SYS_munmap, addr, length)); }

// Appends `text` to the buffer [*out, end), keeping room for a terminating NUL.
void AppendText(char** out, char* end, const char* text) {
  while (*text && *out + 1 < end) *(*out)++ = *text++;
  **out = 0;
}

void AppendNumber(char** out, char* end, uint64_t value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value);
  char text[24];
  for (int i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
  text[n] = 0;
  AppendText(out, end, text);
}

void ExpandPattern(const char* pattern, char* out, size_t size) {
  char* cursor = out;
  char* end = out + size;
  *cursor = 0;
  for (const char* p = pattern; *p; ++p) {
    if (p[0] == '%' && p[1] == 'p') {
      AppendNumber(&cursor, end, static_cast<uint64_t>(getpid()));
      ++p;
    } else if (p[0] == '%' && p[1] == 'e') {
      const char* name = program_invocation_short_name;
      AppendText(&cursor, end, name && *name ? name : "program");
      ++p;
    } else {
      char one[2] = {*p, 0};
      AppendText(&cursor, end, one);
    }
  }
}

// Creates the file exclusively; if the name is taken (an exec'd image with the same pid, or a fork
// child of a run whose name has no %p) tries NAME.1, NAME.2, ...
int CreateExclusive(char* path, size_t size) {
  const int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = open(path, flags, 0600);
  if (fd >= 0 || errno != EEXIST) return fd;
  char base[4096];
  char* cursor = base;
  AppendText(&cursor, base + sizeof base, path);
  for (uint64_t n = 1; n < 1000; ++n) {
    cursor = path;
    AppendText(&cursor, path + size, base);
    AppendText(&cursor, path + size, ".");
    AppendNumber(&cursor, path + size, n);
    fd = open(path, flags, 0600);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;
}

// Tells a `memtrace run` waiting for us where this process's trace is.
void AnnounceTrace() {
  const char* manifest = getenv("MEMTRACE_MANIFEST");
  if (!manifest || !*manifest) return;
  int fd = open(manifest, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return;
  char line[4200];
  char* cursor = line;
  AppendText(&cursor, line + sizeof line, trace_path);
  AppendText(&cursor, line + sizeof line, "\n");
  ssize_t ignored = write(fd, line, static_cast<size_t>(cursor - line));
  (void)ignored;
  close(fd);
}

// Our descriptor, checked to still be our file: programs close or reuse descriptors they did not open
// (daemons closing everything above 2), and writing to their file instead would be a disaster.
int CheckedFd() {
  struct stat st;
  if (trace_fd >= 0 && fstat(trace_fd, &st) == 0 && st.st_dev == trace_dev && st.st_ino == trace_ino) {
    return trace_fd;
  }
  int fd = open(trace_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  if (fstat(fd, &st) != 0 || st.st_dev != trace_dev || st.st_ino != trace_ino) {
    close(fd);
    return -1;
  }
  int high = fcntl(fd, F_DUPFD_CLOEXEC, kFirstPrivateFd);
  if (high >= 0) {
    close(fd);
    fd = high;
  }
  trace_fd = fd;  // the old number is no longer ours: never close it
  return fd;
}

// Makes the file at least `end` bytes long. fallocate never shrinks, so racing threads are safe.
bool CoverFile(int fd, uint64_t end) {
  if (fallocate(fd, 0, 0, static_cast<off_t>(end)) == 0) return true;
  if (errno != EOPNOTSUPP && errno != ENOSYS) return false;
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  return static_cast<uint64_t>(st.st_size) >= end || ftruncate(fd, static_cast<off_t>(end)) == 0;
}

uint8_t* Segment(int fd, uint32_t index) {
  uint8_t* base = segments[index].load(std::memory_order_acquire);
  if (base) return base == kUnmapped ? nullptr : base;
  off_t offset = static_cast<off_t>(format::kHeaderBytes + uint64_t{index} * kSegmentBytes);
  void* map = RawMmap(nullptr, kSegmentBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
  if (reinterpret_cast<intptr_t>(map) < 0 && reinterpret_cast<intptr_t>(map) > -4096) return nullptr;
  uint8_t* expected = nullptr;
  if (!segments[index].compare_exchange_strong(expected, static_cast<uint8_t*>(map))) {
    RawMunmap(map, kSegmentBytes);  // another thread mapped it first
    return expected;
  }
  return static_cast<uint8_t*>(map);
}

// A full chunk's pages stay in the page cache (and reach the file) without being mapped in: unmapping
// a segment once all its chunks are full keeps this process's RSS from growing with the trace. Chunk
// indices only grow, so no thread maps a fully retired segment again.
void Retire(const ThreadState& thread) {
  if (!thread.chunk) return;
  uint32_t segment = static_cast<uint32_t>(thread.chunk_index / kChunksPerSegment);
  if (full_chunks[segment].fetch_add(1, std::memory_order_acq_rel) + 1 != kChunksPerSegment) return;
  uint8_t* base = segments[segment].exchange(kUnmapped, std::memory_order_acq_rel);
  if (base && base != kUnmapped) RawMunmap(base, kSegmentBytes);
}

bool AcquireChunk(ThreadState& thread, uint64_t timestamp) {
  if (!header || writer_broken.load(std::memory_order_relaxed)) return false;
  Retire(thread);
  uint64_t index = __atomic_fetch_add(&header->chunks_allocated, 1, __ATOMIC_RELAXED);
  uint32_t segment = static_cast<uint32_t>(index / kChunksPerSegment);
  int fd = CheckedFd();
  uint64_t chunk_offset = format::ChunkOffset(format::kHeaderBytes, format::kDefaultChunkBytes, index);
  uint8_t* base = nullptr;
  if (segment >= kMaxSegments || fd < 0 || !CoverFile(fd, chunk_offset + format::kDefaultChunkBytes) ||
      !(base = Segment(fd, segment))) {
    writer_broken.store(true, std::memory_order_relaxed);
    return false;
  }
  auto* chunk =
      reinterpret_cast<ChunkHeader*>(base + (index % kChunksPerSegment) * format::kDefaultChunkBytes);
  // Fault the chunk's pages in with one call instead of one fault per page (Linux 5.14+; older
  // kernels refuse the advice and the pages fault in as they are written). Not for a vfork child,
  // which typically writes a few records before its exec: one page fault is cheaper than sixteen.
  if (!thread.vfork_parent) syscall(SYS_madvise, chunk, format::kDefaultChunkBytes, MADV_POPULATE_WRITE);
  if (!thread.tid) thread.tid = CurrentTid();
  chunk->tid = thread.tid;
  chunk->pid = static_cast<uint32_t>(getpid());
  if (chunk->tid != chunk->pid) OrderStampsAcrossThreads();  // a thread pthread_create did not start
  chunk->first_timestamp = timestamp;
  __atomic_store_n(&chunk->committed_bytes, 0, __ATOMIC_RELAXED);
  chunk->reserved[0] = chunk->reserved[1] = 0;
  __atomic_store_n(&chunk->magic, format::kChunkMagic, __ATOMIC_RELEASE);
  thread.chunk = chunk;
  thread.chunk_index = index;
  thread.cursor = reinterpret_cast<uint8_t*>(chunk + 1);
  thread.limit = reinterpret_cast<uint8_t*>(chunk) + format::kDefaultChunkBytes;
  thread.deltas = format::DeltaState{timestamp, 0};
  return true;
}

}  // namespace

std::atomic<uint32_t> trace_generation{1};

uint32_t CurrentTid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

const char* TracePath() { return trace_path; }

uint32_t TracedPid() { return header ? header->pid : 0; }

void ReleaseChunk(ThreadState& thread) {
  if (thread.generation == trace_generation.load(std::memory_order_relaxed)) Retire(thread);
  thread.chunk = nullptr;
  thread.cursor = thread.limit = nullptr;
}

uint64_t TraceInode() { return static_cast<uint64_t>(trace_ino); }

const uint8_t* MapTraceForReading(uint64_t* bytes, uint64_t* chunks) {
  *bytes = *chunks = 0;
  struct stat st;
  int fd = CheckedFd();
  if (!header || fd < 0 || fstat(fd, &st) != 0) return nullptr;
  const uint64_t taken = __atomic_load_n(&header->chunks_allocated, __ATOMIC_ACQUIRE);
  // A chunk another thread has taken but not yet backed by the file would fault: only whole ones.
  uint64_t whole =
      st.st_size > format::kHeaderBytes
          ? (static_cast<uint64_t>(st.st_size) - format::kHeaderBytes) / format::kDefaultChunkBytes
          : 0;
  *chunks = taken < whole ? taken : whole;
  *bytes = format::ChunkOffset(format::kHeaderBytes, format::kDefaultChunkBytes, *chunks);
  void* map = RawMmap(nullptr, *bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (reinterpret_cast<intptr_t>(map) < 0 && reinterpret_cast<intptr_t>(map) > -4096) {
    *bytes = *chunks = 0;
    return nullptr;
  }
  return static_cast<const uint8_t*>(map);
}

bool ReadTraceBytes(void* out, uint64_t size, uint64_t offset) {
  int fd = CheckedFd();
  return fd >= 0 && syscall(SYS_pread64, fd, out, size, offset) == static_cast<long>(size);
}

FileHeader* OpenTrace() {
  const char* pattern = getenv("MEMTRACE_OUTPUT");
  ExpandPattern(pattern && *pattern ? pattern : "memtrace.%e.%p.mtr", trace_path, sizeof trace_path);
  int fd = CreateExclusive(trace_path, sizeof trace_path);
  if (fd < 0) return nullptr;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, kFirstPrivateFd);
  if (high >= 0) {
    close(fd);
    fd = high;
  }
  struct stat st;
  void* map = MAP_FAILED;
  if (fstat(fd, &st) != 0 || ftruncate(fd, format::kHeaderBytes) != 0 ||
      (map = RawMmap(nullptr, format::kHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
       reinterpret_cast<intptr_t>(map) < 0 && reinterpret_cast<intptr_t>(map) > -4096)) {
    close(fd);
    unlink(trace_path);
    return nullptr;
  }
  trace_fd = fd;
  trace_dev = st.st_dev;
  trace_ino = st.st_ino;
  header = static_cast<FileHeader*>(map);
  for (size_t i = 0; i < sizeof header->magic; ++i) header->magic[i] = format::kFileMagic[i];
  header->version = format::kFormatVersion;
  header->machine = format::kMachineX86_64;
  header->header_bytes = format::kHeaderBytes;
  header->chunk_bytes = format::kDefaultChunkBytes;
  header->pid = static_cast<uint32_t>(getpid());
  header->ppid = static_cast<uint32_t>(getppid());
  header->start_monotonic_ns = NowNanoseconds();
  timespec real_time;
  clock_gettime(CLOCK_REALTIME, &real_time);
  header->start_realtime_ns =
      static_cast<uint64_t>(real_time.tv_sec) * 1000000000u + static_cast<uint64_t>(real_time.tv_nsec);
  AnnounceTrace();
  return header;
}

FileHeader* ReopenAfterFork() {
  trace_generation.fetch_add(1, std::memory_order_relaxed);
  for (uint32_t i = 0; i < kMaxSegments; ++i) {
    uint8_t* base = segments[i].exchange(nullptr);
    if (base && base != kUnmapped) RawMunmap(base, kSegmentBytes);
    full_chunks[i].store(0, std::memory_order_relaxed);
  }
  if (header) RawMunmap(header, format::kHeaderBytes);
  header = nullptr;
  if (trace_fd >= 0) close(trace_fd);
  trace_fd = -1;
  writer_broken.store(false, std::memory_order_relaxed);
  return OpenTrace();
}

void Append(ThreadState& thread, const format::Record& record) {
  uint32_t current = trace_generation.load(std::memory_order_relaxed);
  if (thread.generation != current) {
    // First record of this thread, or of the fork child this thread now lives in.
    thread.generation = current;
    thread.chunk = nullptr;
    thread.tid = 0;
  }
  size_t bound = format::EncodedBound(record) + 2 * format::kMaxVarintBytes + 2;  // + a kDropped record
  if (!thread.chunk || static_cast<size_t>(thread.limit - thread.cursor) < bound) {
    bool first_of_vfork_child = !thread.chunk && thread.vfork_parent;
    if (!AcquireChunk(thread, record.timestamp)) {
      __atomic_fetch_add(&thread.dropped, 1, __ATOMIC_RELAXED);
      return;
    }
    if (first_of_vfork_child) [[unlikely]] {
      // Names the chunk's tid as a vfork child, before its first call (vfork_handoff.h).
      format::Record child;
      child.kind = format::RecordKind::kVforkChild;
      child.param = thread.tid;
      child.count = thread.vfork_parent;
      PublishRecords(thread, format::EncodeRecord(thread.cursor, thread.deltas, child, record.timestamp));
    }
  }
  // Records of one thread must not go back in time (deltas are unsigned); a record stamped before the
  // thread's last one (a stack first seen by a realloc's release half) is moved up to it.
  uint64_t timestamp =
      record.timestamp > thread.deltas.last_timestamp ? record.timestamp : thread.deltas.last_timestamp;
  uint8_t* out = thread.cursor;
  if (uint64_t count = __atomic_load_n(&thread.dropped, __ATOMIC_RELAXED)) [[unlikely]] {
    format::Record dropped;
    dropped.kind = format::RecordKind::kDropped;
    dropped.count = count;
    out = format::EncodeRecord(out, thread.deltas, dropped, timestamp);
    __atomic_fetch_sub(&thread.dropped, count, __ATOMIC_RELAXED);  // a handler may have added more
  }
  PublishRecords(thread, format::EncodeRecord(out, thread.deltas, record, timestamp));
}

}  // namespace memtrace::preload
