// The on-disk layout of a .mtr trace file.
//
//   offset 0       FileHeader, padded to kHeaderBytes (one page)
//   kHeaderBytes   chunk 0      each chunk belongs to one thread of one process
//   + chunk_bytes  chunk 1
//   ...
//
// A chunk is a ChunkHeader followed by records (record_codec.h). A thread owns a chunk until it is full,
// then takes the next free one, so one thread's records are spread over several chunks in time order and
// the reader merges all threads by timestamp. Every chunk decodes on its own: timestamp and address deltas
// restart at each chunk.
//
// Durability: the file is mapped MAP_SHARED, so every store is in the page cache at once and survives
// SIGKILL of the traced process. A record counts once `committed_bytes` covers it (a release store made
// after the record's bytes), so a record torn by a crash is simply not there.
//
// All integers are little-endian; the format is defined for 64-bit little-endian machines only and the
// header says which machine wrote it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memtrace::format {

inline constexpr char kFileMagic[8] = {'M', 'E', 'M', 'T', 'R', 'A', 'C', 'E'};
inline constexpr uint16_t kFormatVersion = 1;
inline constexpr uint32_t kHeaderBytes = 4096;
inline constexpr uint32_t kDefaultChunkBytes = 64 * 1024;
inline constexpr uint32_t kChunkMagic = 0x4b48434d;  // "MCHK"
inline constexpr uint16_t kMachineX86_64 = 62;       // ELF e_machine

// FileHeader.flags
inline constexpr uint32_t kHeaderGlibcAllocator = 1u << 0;    // chunk headers were readable
inline constexpr uint32_t kHeaderForeignAllocator = 1u << 1;  // malloc resolved to a non-glibc library
inline constexpr uint32_t kHeaderMallocShadowed = 1u << 2;    // a malloc found before ours: calls missed
inline constexpr uint32_t kHeaderStacks = 1u << 3;            // call records carry stack ids

struct FileHeader {
  char magic[8];
  uint16_t version;
  uint16_t machine;
  uint32_t header_bytes;
  uint32_t chunk_bytes;
  uint32_t flags;
  uint32_t pid;
  uint32_t ppid;
  uint64_t start_monotonic_ns;
  uint64_t start_realtime_ns;
  uint64_t initial_break;     // the program break when tracing began (start_brk on a fresh process)
  uint64_t chunks_allocated;  // atomically incremented by the writer; chunks past it are unused
  uint32_t exec_generation;   // 0 for the first image of a pid, n after the n-th exec
  uint32_t reserved;
  char program[256];        // path of the executable, NUL-terminated
  char command_line[1024];  // argv joined by spaces, NUL-terminated, truncated to fit
  char allocator[256];      // the library malloc resolved to
  // Appended fields: older headers have zeros here.
  uint64_t trace_inode;  // the trace file's inode: maps entries with it are memtrace's own
  uint32_t parent_pid;   // for an exec'd image: the pid whose trace this one continues (same pid)
  uint32_t reserved2;
  char parent_trace[512];  // for an exec'd image or fork child: the trace of the image before it
};
static_assert(sizeof(FileHeader) <= kHeaderBytes);

struct ChunkHeader {
  uint32_t magic;
  uint32_t tid;
  uint64_t first_timestamp;  // records' timestamp deltas start from here
  uint32_t pid;
  uint32_t committed_bytes;  // record bytes after this header that are complete (release-stored)
  // Written as 0 and ignored by readers (traces written before held the chunk's block counts here).
  uint32_t reserved[2];
};
static_assert(sizeof(ChunkHeader) == 32);

inline constexpr uint64_t ChunkOffset(uint32_t header_bytes, uint32_t chunk_bytes, uint64_t index) {
  return header_bytes + index * chunk_bytes;
}

}  // namespace memtrace::format
