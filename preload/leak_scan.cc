#include "preload/leak_scan.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>

#include "format/record_codec.h"
#include "preload/dense_live_set.h"
#include "preload/fatal_signals.h"
#include "preload/live_block_table.h"
#include "preload/merged_replay.h"
#include "preload/proc_maps.h"
#include "preload/safe_memory.h"
#include "preload/stack_capture.h"
#include "preload/stack_table.h"
#include "preload/thread_parking.h"
#include "preload/trace_writer.h"

namespace memtrace::preload {

namespace {

using format::kArenaHeapBytes;
using format::LeakClass;

// The live blocks come from this process's own trace (merged_replay.h).

// ---- 1. Marking, as valgrind's memcheck does it ----------------------------------------------------

enum State : uint8_t { kUnreached = 0, kReachable, kPossible, kIndirect, kDefinite };

struct Block {
  uint64_t start;
  uint64_t size : 56;
  uint64_t state : 8;  // a State
  uint64_t indirect_bytes;
};

struct Scanner {
  SafeMemory* memory = nullptr;
  Block* blocks = nullptr;
  uint64_t count = 0;
  uint32_t* stack = nullptr;  // blocks waiting to have their contents scanned
  uint64_t heap_end = 0;      // the highest end of any live block
  uint64_t depth = 0;
  uint64_t root_bytes = 0;

  // The index of the first block starting after p (count if none).
  uint64_t FirstStartingAfter(uint64_t p) const {
    return static_cast<uint64_t>(
        std::upper_bound(blocks, blocks + count, p, [](uint64_t a, const Block& b) { return a < b.start; }) -
        blocks);
  }

  // The block containing address p (interior or start), or -1.
  int64_t BlockAt(uint64_t p) const {
    // Most words scanned are not pointers at all (zeros, small numbers, text): reject them before
    // the binary search.
    if (count == 0 || p < blocks[0].start || p >= heap_end) return -1;
    uint64_t lo = FirstStartingAfter(p);
    if (lo == 0) return -1;
    const Block& b = blocks[lo - 1];
    return (p == b.start || p < b.start + b.size) ? static_cast<int64_t>(lo - 1) : -1;
  }

  // valgrind's heuristics for interior pointers that are really references to the whole block.
  bool LooksLikeStartPointer(const Block& b, uint64_t p) {
    uint64_t offset = p - b.start;
    if (offset != 8 && offset != 24) return false;
    const uint64_t* words = memory->header();
    if (memory->Copy(memory->header(), b.start, 16) != 16) return false;
    if (offset == 8 && b.size >= 8) {
      uint64_t first = words[0];
      if (first > 0 && b.size - 8 == first) return true;  // length64
      if (first > 0 && (b.size - 8) % first == 0)
        return true;  // newarray (valgrind: any block, not only new[]'s)
    }
    if (offset == 24 && b.size >= 24) {  // stdstring (pre-C++11 string rep: length, capacity, refcount)
      uint64_t length = words[0], capacity = words[1];
      if (capacity > 0 && length <= capacity && 24 + capacity + 1 == b.size) return true;
    }
    return false;
  }

  // A word found in memory that is a root or a Reachable block (`definite`) or otherwise.
  void Consider(uint64_t p, bool definite) {
    int64_t index = BlockAt(p);
    if (index < 0) return;
    Block& b = blocks[index];
    if (b.state == kReachable) return;
    bool start = p == b.start || LooksLikeStartPointer(b, p);
    if (definite && start) {
      b.state = kReachable;
      stack[depth++] = static_cast<uint32_t>(index);
    } else if (b.state == kUnreached) {
      b.state = kPossible;
      stack[depth++] = static_cast<uint32_t>(index);
    }
  }

  void ScanRange(uint64_t begin, uint64_t end, bool definite) {
    memory->ForEachWord(begin, end, [&](uint64_t word) { Consider(word, definite); });
  }

  void Drain() {
    while (depth) {
      const Block& b = blocks[stack[--depth]];
      ScanRange(b.start, b.start + b.size, b.state == kReachable);
    }
  }

  // Blocks no root reaches, in address order as valgrind does: each still unreached block leads a
  // clique of the unreached blocks it reaches, and indirect_bytes sums them. An earlier leader that a
  // later one reaches joins the later clique with its own indirect bytes (so a tree whose root lies
  // above its nodes still has one definite block). Leaders left at the end are definitely lost.
  void FormCliques() {
    for (uint64_t leader = 0; leader < count; ++leader) {
      if (blocks[leader].state != kUnreached) continue;
      stack[depth++] = static_cast<uint32_t>(leader);
      while (depth) {
        const Block& b = blocks[stack[--depth]];
        memory->ForEachWord(b.start, b.start + b.size, [&](uint64_t word) {
          int64_t index = BlockAt(word);
          if (index < 0 || static_cast<uint64_t>(index) == leader) return;
          Block& target = blocks[index];
          if (target.state != kUnreached) return;
          target.state = kIndirect;
          blocks[leader].indirect_bytes += target.size + target.indirect_bytes;
          stack[depth++] = static_cast<uint32_t>(index);
        });
      }
    }
    for (uint64_t i = 0; i < count; ++i) {
      if (blocks[i].state == kUnreached) blocks[i].state = kDefinite;
    }
  }

  // glibc's malloc keeps pointers to chunk headers in libc's data (main_arena's top, bins and
  // last_remainder). The header of the chunk after a block overlaps the block's last usable bytes, so
  // such a pointer looks like an interior pointer into that block; it is malloc's, not the program's.
  bool IsNextChunkHeader(uint64_t p) const {
    int64_t index = BlockAt(p);
    if (index < 0) return false;
    const Block& b = blocks[index];
    uint64_t chunk = std::max<uint64_t>(32, (b.size + 8 + 15) & ~uint64_t{15});  // glibc's request2size
    return p == b.start - 16 + chunk;
  }

  // Root memory. Every thread's ThreadState lies in root memory (TLS), and its deltas.last_address is
  // the last block address the thread recorded, kept for delta encoding: memtrace's reference, not the
  // program's, so it is skipped. A ThreadState is recognised by the chunk, cursor and limit words
  // ahead of it. In libc's data (`malloc_state`), pointers to chunk headers are skipped too.
  void ScanRoot(uint64_t begin, uint64_t end, bool malloc_state) {
    static_assert(offsetof(ThreadState, cursor) == offsetof(ThreadState, chunk) + 8 &&
                  offsetof(ThreadState, limit) == offsetof(ThreadState, chunk) + 16 &&
                  offsetof(ThreadState, deltas) == offsetof(ThreadState, chunk) + 24 &&
                  offsetof(format::DeltaState, last_address) == 8);
    uint64_t recent[4] = {};  // the four words before this one: chunk, cursor, limit, last_timestamp
    memory->ForEachWord(begin, end, [&](uint64_t word) {
      bool last_address = recent[2] - recent[0] == format::kDefaultChunkBytes && recent[0] <= recent[1] &&
                          recent[1] <= recent[2];
      recent[0] = recent[1], recent[1] = recent[2], recent[2] = recent[3], recent[3] = word;
      if (!last_address && !(malloc_state && IsNextChunkHeader(word))) Consider(word, /*definite=*/true);
    });
  }
};

// ---- 2. Roots: every readable, writable mapping that is not heap, not memtrace's own -----------------

// Address ranges that are never roots: memtrace's own scratch memory and malloc's own heaps (whose
// free chunks still hold stale pointers).
struct Exclusions {
  const void* ranges[8][2];
  int count = 0;
  const uint64_t* arena_heaps = nullptr;
  int arena_heap_count = 0;

  // Calls visit(from, to) for each part of [begin, end) outside every excluded range. A VMA may merge
  // excluded memory with the program's own, so ranges are cut out, never whole mappings skipped.
  template <typename Visit>
  void ForEachGap(uint64_t begin, uint64_t end, Visit visit) const {
    while (begin < end) {
      uint64_t cut_begin = end, cut_end = end;  // the first excluded range overlapping [begin, end)
      auto consider = [&](uint64_t lo, uint64_t hi) {
        if (lo < end && begin < hi && lo < cut_begin) {
          cut_begin = lo < begin ? begin : lo;
          cut_end = hi;
        }
      };
      for (int i = 0; i < count; ++i) {
        consider(reinterpret_cast<uint64_t>(ranges[i][0]), reinterpret_cast<uint64_t>(ranges[i][1]));
      }
      for (int i = 0; i < arena_heap_count; ++i) consider(arena_heaps[i], arena_heaps[i] + kArenaHeapBytes);
      if (cut_begin > begin) visit(begin, cut_begin);
      begin = cut_end;
    }
  }
};

// Which pages of a private mapping were ever touched, from /proc/self/pagemap (bit 63: present in
// RAM, bit 62: swapped out; readable by the process itself, with the frame numbers zeroed). A page
// with neither was never written: it reads as zeros (anonymous) or as the file's bytes (a private file
// mapping), and neither holds a pointer into this run's heap, so a 1 GiB reservation the program
// never touched costs one pagemap read per 16 MiB instead of a scan.
struct TouchedPages {
  static constexpr uint64_t kEntries = 4096;  // pagemap entries per read: 32 KiB covering 16 MiB
  int fd = -1;
  uint64_t* entries = nullptr;  // kEntries words of scratch

  // Calls visit(from, to) for each run of touched pages in [begin, end) (page-aligned); the whole
  // range when pagemap cannot be read.
  template <typename Visit>
  void ForEachRun(uint64_t begin, uint64_t end, Visit visit) const {
    if (fd < 0 || !entries) return visit(begin, end);
    constexpr uint64_t kTouched = uint64_t{3} << 62;
    uint64_t run = 0;  // start of the current run of touched pages, 0: none
    for (uint64_t page = begin; page < end;) {
      uint64_t pages = (end - page + 4095) / 4096 < kEntries ? (end - page + 4095) / 4096 : kEntries;
      long got = pread(fd, entries, pages * 8, static_cast<off_t>(page / 4096 * 8));
      if (got <= 0) {
        visit(run ? run : page, end);
        return;
      }
      for (uint64_t i = 0; i < static_cast<uint64_t>(got) / 8; ++i, page += 4096) {
        bool touched = entries[i] & kTouched;
        if (touched && !run) run = page;
        if (!touched && run) {
          visit(run, page);
          run = 0;
        }
      }
    }
    if (run) visit(run, end);
  }
};

struct RootScan {
  Scanner* scanner;
  const Exclusions* exclusions;
  const TouchedPages* touched;
  const ParkingResult* parking;
  uint64_t own_inode;
  uint64_t stack_pointer;
};

// The x86-64 SysV ABI lets a function keep data in the 128 bytes below its stack pointer.
constexpr uint64_t kRedZoneBytes = 128;

// Scans [begin, end) as a root, minus the live blocks inside it: a block's contents count only once
// something points to the block (an mmapped chunk's VMA may be merged with the program's own).
void ScanRootPiece(Scanner& scanner, uint64_t begin, uint64_t end, bool libc) {
  uint64_t lo = begin ? scanner.FirstStartingAfter(begin - 1) : 0;  // first block starting at or after begin
  if (int64_t containing = scanner.BlockAt(begin); containing >= 0) {
    const Block& b = scanner.blocks[containing];
    begin = b.start + b.size > begin ? b.start + b.size : begin;
  }
  for (uint64_t i = lo; i < scanner.count && scanner.blocks[i].start < end && begin < end; ++i) {
    const Block& b = scanner.blocks[i];
    if (b.start > begin) {
      scanner.root_bytes += b.start - begin;
      scanner.ScanRoot(begin, b.start, libc);
    }
    begin = b.start + b.size > begin ? b.start + b.size : begin;
  }
  if (begin < end) {
    scanner.root_bytes += end - begin;
    scanner.ScanRoot(begin, end, libc);
  }
  scanner.Drain();
}

void ScanRootMapping(const MapLine& line, void* context) {
  auto& scan = *static_cast<RootScan*>(context);
  // [vvar], [vdso], [vsyscall], [heap]: not the program's data (the heap's blocks are scanned only
  // once something points to them).
  bool special = line.path_length > 1 && line.path[0] == '[' && (line.path[1] == 'v' || line.path[1] == 'h');
  if (!line.readable || !line.writable || special || (scan.own_inode && line.inode == scan.own_inode)) return;
  // Device memory (a GPU's, a frame buffer) may hang or fault when read, and holds no heap pointer:
  // valgrind leaves it out too, all but /dev/zero (anonymous memory by another name). /dev/shm is tmpfs.
  auto starts_with = [&](const char* prefix, uint32_t length) {
    return line.path_length >= length && memcmp(line.path, prefix, length) == 0;
  };
  if (starts_with("/dev/", 5) && !starts_with("/dev/zero", 9) && !starts_with("/dev/shm/", 9)) return;
  uint64_t begin = line.begin, end = line.end;
  // This thread's stack: only the live part above the stack pointer. A parked thread's stack: from its
  // saved stack pointer, less the red zone (below that only dead frames, and the frame of the signal
  // that parked it, whose copy of the registers is scanned from the slot instead). Should two stacks
  // share a mapping (no guard page between them), only the lower one's dead part is left out.
  if (scan.stack_pointer >= begin && scan.stack_pointer < end) begin = scan.stack_pointer;
  uint64_t lowest = end;
  for (uint32_t i = 0; i < scan.parking->listed; ++i) {
    const ParkedThread& t = scan.parking->threads[i];
    if (t.state.load(std::memory_order_acquire) != ParkedThread::kParked) continue;
    uint64_t live = t.stack_pointer - kRedZoneBytes;
    if (t.stack_pointer >= begin && t.stack_pointer < end && live < lowest) lowest = live;
  }
  if (lowest < end && lowest > begin) begin = lowest;
  // libc's own data holds malloc's main_arena (see Scanner::IsNextChunkHeader).
  const char* base = line.path;
  for (uint32_t i = 0; i < line.path_length; ++i) {
    if (line.path[i] == '/') base = line.path + i + 1;
  }
  uint32_t base_length = static_cast<uint32_t>(line.path + line.path_length - base);
  bool libc = (base_length >= 7 && memcmp(base, "libc.so", 7) == 0) ||
              (base_length >= 5 && memcmp(base, "libc-", 5) == 0);
  auto scan_run = [&](uint64_t run_begin, uint64_t run_end) {
    run_begin = run_begin > begin ? run_begin : begin;
    scan.exclusions->ForEachGap(run_begin, run_end, [&](uint64_t from, uint64_t to) {
      ScanRootPiece(*scan.scanner, from, to, libc);
    });
  };
  // A shared mapping's untouched pages may hold what another process wrote: always read whole.
  if (line.shared) {
    scan_run(begin, end);
  } else {
    scan.touched->ForEachRun(begin & ~uint64_t{4095}, end, scan_run);
  }
}

// Every readable, writable mapping, then the registers of every parked thread (valgrind's roots too).
void ScanRoots(Scanner& scanner, const Exclusions& exclusions, const TouchedPages& touched,
               const ParkingResult& parking, const void* program_stack) {
  RootScan scan{&scanner, &exclusions,  &touched,
                &parking, TraceInode(), reinterpret_cast<uint64_t>(program_stack)};
  ForEachMapping(ScanRootMapping, &scan);
  for (uint32_t i = 0; i < parking.listed; ++i) {
    const ParkedThread& t = parking.threads[i];
    if (t.state.load(std::memory_order_acquire) != ParkedThread::kParked) continue;
    for (uint64_t word : t.registers) scanner.Consider(word, /*definite=*/true);
    scanner.root_bytes += sizeof t.registers;
    scanner.Drain();
  }
}

// Once its calls are applied, a chunk's pages leave the scan's memory (the page cache keeps them).
void ForgetChunkPages(const format::ChunkHeader* chunk) {
  syscall(SYS_madvise, chunk, format::kDefaultChunkBytes, MADV_DONTNEED);
}

// The blocks live now, recovered from the trace into scratch memory (*bytes of it, for the caller to
// unmap), unsorted; the thread-arena heaps they came from are left in `table`. False when the trace
// cannot be read or memory ran out.
bool CollectLiveBlocks(AddressTable& table, Block** blocks, uint64_t* count, uint64_t* bytes) {
  *blocks = nullptr;
  *count = *bytes = 0;
  uint64_t file_bytes, chunk_count;
  const uint8_t* file = MapTraceForReading(&file_bytes, &chunk_count);
  if (!file) return false;
  const uint64_t refs_bytes = chunk_count * sizeof(ChunkRef);
  auto* refs = static_cast<ChunkRef*>(chunk_count ? MapScratch(refs_bytes) : nullptr);
  bool ok = !chunk_count || refs;
  // The headers are read, not touched through the mapping: a fault maps the pages around it too, and
  // touching every chunk's first page would bring in most of the file at once.
  uint64_t listed = 0;
  for (uint64_t i = 0; ok && i < chunk_count; ++i) {
    const uint64_t offset = format::ChunkOffset(format::kHeaderBytes, format::kDefaultChunkBytes, i);
    format::ChunkHeader header;
    if (!ReadTraceBytes(&header, sizeof header, offset) || header.magic != format::kChunkMagic) continue;
    refs[listed++] = {header.tid, i, reinterpret_cast<const format::ChunkHeader*>(file + offset)};
  }
  DenseLiveSet live(&table);
  ok = ok && ReplayMerged(refs, listed, &live, ForgetChunkPages);
  UnmapScratch(refs, refs_bytes);
  UnmapScratch(const_cast<uint8_t*>(file), file_bytes);
  if (ok) {
    live.ForEachLive([&](uint64_t, uint64_t) { ++*count; });
    *bytes = (*count * sizeof(Block) + 4095) & ~uint64_t{4095};
    *blocks = *count ? static_cast<Block*>(MapScratch(*bytes)) : nullptr;
    uint64_t filled = 0;
    if (*blocks) {
      live.ForEachLive([&](uint64_t address, uint64_t size) {
        (*blocks)[filled++] = Block{address, size, kUnreached, 0};
      });
    }
  }
  live.Clear();
  UnmapScratch(table.slots, table.slots ? table.bytes() : 0);
  table.slots = nullptr;
  return ok && (*blocks || !*count);
}

// The scan proper, while the other threads are parked.
void Scan(ThreadState& thread, bool checked_reads, const ParkingResult& parking, const void* program_stack) {
  const uint64_t started = NowNanoseconds();
  AddressTable table;
  Block* blocks;
  uint64_t block_count, blocks_bytes;
  if (!CollectLiveBlocks(table, &blocks, &block_count, &blocks_bytes)) {
    UnmapScratch(blocks, blocks_bytes);
    return;
  }
  Exclusions exclusions;
  exclusions.arena_heaps = table.arena_heaps;
  exclusions.arena_heap_count = table.arena_heap_count;
  StackTableRange(&exclusions.ranges[0][0], &exclusions.ranges[0][1]);
  UnwinderTableRange(&exclusions.ranges[1][0], &exclusions.ranges[1][1]);
  // The scanning thread's writer state holds the address of its latest block (delta encoding).
  exclusions.ranges[2][0] = &thread_state;
  exclusions.ranges[2][1] = &thread_state + 1;
  exclusions.count = 3;
  if (parking.memory_begin) {
    exclusions.ranges[exclusions.count][0] = parking.memory_begin;
    exclusions.ranges[exclusions.count++][1] = parking.memory_end;
  }
  SafeMemory memory;
  if (!PrepareSafeMemory(memory, checked_reads, parking.all_stopped)) {
    UnmapScratch(memory.window, kWindowBytes + 4096);
    UnmapScratch(blocks, blocks_bytes);
    return;  // no scan rather than a scan that could crash the program
  }
  Scanner scanner;
  scanner.memory = &memory;
  scanner.count = block_count;
  scanner.blocks = blocks;
  uint64_t stack_bytes = (2 * scanner.count + 2) * sizeof(uint32_t);
  scanner.stack = static_cast<uint32_t*>(MapScratch(stack_bytes));
  if (scanner.stack) {
    std::sort(scanner.blocks, scanner.blocks + scanner.count,
              [](const Block& a, const Block& b) { return a.start < b.start; });
    for (uint64_t i = 0; i < scanner.count; ++i) {
      const Block& b = scanner.blocks[i];
      uint64_t end = b.start + (b.size ? b.size : 1);  // a pointer to a 0-byte block's start still counts
      if (end > scanner.heap_end) scanner.heap_end = end;
    }
    const void* scratch[][2] = {
        {scanner.blocks, reinterpret_cast<const char*>(scanner.blocks) + blocks_bytes},
        {scanner.stack, reinterpret_cast<const char*>(scanner.stack) + stack_bytes},
        {memory.window, reinterpret_cast<const char*>(memory.window) + kWindowBytes + 4096},
    };
    for (const auto& range : scratch) {
      exclusions.ranges[exclusions.count][0] = range[0];
      exclusions.ranges[exclusions.count++][1] = range[1];
    }
    TouchedPages touched;
    touched.entries = static_cast<uint64_t*>(MapScratch(TouchedPages::kEntries * 8));
    if (touched.entries) {
      exclusions.ranges[exclusions.count][0] = touched.entries;
      exclusions.ranges[exclusions.count++][1] = touched.entries + TouchedPages::kEntries;
      touched.fd =
          static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
    }
    ScanRoots(scanner, exclusions, touched, parking, program_stack);
    if (touched.fd >= 0) syscall(SYS_close, touched.fd);
    UnmapScratch(touched.entries, TouchedPages::kEntries * 8);
    scanner.FormCliques();

    for (uint64_t i = 0; i < scanner.count; ++i) {
      const Block& b = scanner.blocks[i];
      format::Record record;
      record.kind = format::RecordKind::kLeakClass;
      record.timestamp = NowNanoseconds();
      record.address = b.start;
      LeakClass verdict = b.state == kReachable  ? LeakClass::kReachable
                          : b.state == kPossible ? LeakClass::kPossible
                          : b.state == kIndirect ? LeakClass::kIndirect
                                                 : LeakClass::kDefinite;
      record.param = static_cast<int64_t>(verdict);
      record.size = b.state == kDefinite ? b.indirect_bytes : 0;
      Append(thread, record);
    }
  }
  format::Record summary;
  summary.kind = format::RecordKind::kLeakScan;
  summary.timestamp = NowNanoseconds();
  summary.count = scanner.count;
  summary.size = scanner.root_bytes;
  summary.param = static_cast<int64_t>(summary.timestamp - started);
  Append(thread, summary);
  if (blocks_bytes) UnmapScratch(scanner.blocks, blocks_bytes);
  UnmapScratch(scanner.stack, stack_bytes);
  UnmapScratch(memory.window, kWindowBytes + 4096);
}

}  // namespace

void RunLeakScan(ThreadState& thread, bool checked_reads, const void* program_stack) {
  // MEMTRACE_PARK_THREADS=0: the scan as it was before threads were parked (for comparisons).
  const char* park = getenv("MEMTRACE_PARK_THREADS");
  bool park_threads = !(park && park[0] == '0' && park[1] == 0);
  ParkingResult parking = ParkOtherThreads(park_threads ? ParkingSignal() : 0);
  Scan(thread, checked_reads, parking, program_stack);
  format::Record record;
  record.kind = format::RecordKind::kThreadsParked;
  record.timestamp = NowNanoseconds();
  record.count = parking.parked;
  record.size = parking.skipped;
  record.param = static_cast<int64_t>(parking.parking_ns);
  Append(thread, record);
  ResumeThreads(parking);
}

}  // namespace memtrace::preload
