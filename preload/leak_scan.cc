#include "preload/leak_scan.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "format/record_codec.h"
#include "preload/stack_table.h"
#include "preload/trace_writer.h"

namespace memtrace::preload {

namespace {

using format::LeakClass;

// Scratch memory comes straight from the kernel: the scan must not allocate through the hooks.
void* MapScratch(uint64_t bytes) {
  long map = syscall(SYS_mmap, nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
  return (map < 0 && map > -4096) ? nullptr : reinterpret_cast<void*>(map);
}

void UnmapScratch(void* p, uint64_t bytes) {
  if (p) syscall(SYS_munmap, p, bytes);
}

// ---- 1. The live blocks, recovered from this process's own trace -----------------------------------
//
// For every address the latest record decides: an allocation makes it live, a release dead. Taking
// the latest by timestamp (allocation winning ties, as in the reader's merge) needs no global order.

struct AddressState {
  uint64_t address;  // 0: empty slot
  uint64_t timestamp;
  uint64_t size;
  bool live;
  bool new_array;  // allocated by operator new[] (for valgrind's "newarray" heuristic)
};

constexpr uint64_t kArenaHeapBytes = uint64_t{64} << 20;  // glibc's HEAP_MAX_SIZE: thread-arena heaps are aligned to it
constexpr int kMaxArenaHeaps = 4096;

struct AddressTable {
  AddressState* slots = nullptr;
  uint64_t mask = 0;
  uint64_t allocations = 0;  // counted in the first pass to size the table
  uint64_t arena_heaps[kMaxArenaHeaps];  // bases of thread-arena heaps blocks were served from
  int arena_heap_count = 0;

  void NoteArenaHeap(uint64_t block) {
    uint64_t base = block & ~(kArenaHeapBytes - 1);
    for (int i = 0; i < arena_heap_count; ++i) {
      if (arena_heaps[i] == base) return;
    }
    if (arena_heap_count < kMaxArenaHeaps) arena_heaps[arena_heap_count++] = base;
  }

  AddressState& Find(uint64_t address) {
    uint64_t i = (address * 0x9e3779b97f4a7c15ull >> 20) & mask;
    while (slots[i].address && slots[i].address != address) i = (i + 1) & mask;
    return slots[i];
  }
};

template <typename Visit>
void ForEachCallRecord(const format::ChunkHeader* chunk, Visit visit) {
  const uint8_t* cursor = reinterpret_cast<const uint8_t*>(chunk + 1);
  const uint8_t* end = cursor + __atomic_load_n(&chunk->committed_bytes, __ATOMIC_ACQUIRE);
  format::DeltaState deltas{chunk->first_timestamp, 0};
  format::Record record;
  uint64_t frames[format::kMaxFrames];
  while (cursor < end && format::DecodeRecord(&cursor, end, deltas, &record, frames) == format::DecodeStatus::kOk) {
    visit(record);
  }
}

void CountAllocations(const format::ChunkHeader* chunk, void* context) {
  auto& table = *static_cast<AddressTable*>(context);
  ForEachCallRecord(chunk, [&](const format::Record& r) {
    if (format::YieldsBlock(r.kind) && r.address) ++table.allocations;
  });
}

void ReplayChunk(const format::ChunkHeader* chunk, void* context) {
  auto& table = *static_cast<AddressTable*>(context);
  ForEachCallRecord(chunk, [&](const format::Record& r) {
    bool allocation = format::YieldsBlock(r.kind) && r.address;
    bool release = format::ShapeOf(r.kind) == format::Shape::kRelease;
    if (!allocation && !release) return;
    if (allocation && (r.flags & format::kFlagNonMainArena)) table.NoteArenaHeap(r.address);
    AddressState& state = table.Find(r.address);
    if (state.address && (state.timestamp > r.timestamp || (state.timestamp == r.timestamp && release))) return;
    if (release && !state.address) return;  // released, never allocated in the trace: nothing to track
    state.address = r.address;
    state.timestamp = r.timestamp;
    state.live = allocation;
    if (allocation) {
      format::Shape shape = format::ShapeOf(r.kind);
      bool array = shape == format::Shape::kArrayAlloc || shape == format::Shape::kArrayRealloc;
      state.size = array ? r.count * r.size : r.size;
      state.new_array = r.kind == format::RecordKind::kNewArray;
    }
  });
}

// ---- 2. Reading memory that other threads may unmap under us ----------------------------------------
//
// Other threads keep running during the scan and may free an mmapped block or unmap a stack we are
// reading. The scan therefore copies memory through process_vm_readv, which reports EFAULT where a
// plain load would crash the program, into a scratch window. Where that syscall is refused (seccomp)
// and the process has a single thread, plain loads are safe and used instead.

constexpr uint64_t kWindowBytes = 64 * 1024;

struct SafeMemory {
  uint64_t* window = nullptr;  // kWindowBytes of scratch, then a few words for block headers
  uint64_t* header() { return window + kWindowBytes / 8; }
  bool direct = false;         // plain loads (process_vm_readv unavailable, one thread)
  bool usable = true;

  // Copies up to `bytes` (<= kWindowBytes) from `address` to `to`; returns bytes copied (a prefix,
  // ending at the first unreadable page).
  uint64_t Copy(uint64_t* to, uint64_t address, uint64_t bytes) {
    if (direct) {
      const auto* source = reinterpret_cast<const uint64_t*>(address);
      for (uint64_t i = 0; i < bytes / 8; ++i) to[i] = source[i];
      return bytes & ~uint64_t{7};
    }
    iovec local{to, bytes};
    iovec remote{reinterpret_cast<void*>(address), bytes};
    long copied = syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0);
    return copied > 0 ? static_cast<uint64_t>(copied) : 0;
  }

  // Calls visit(word) for every aligned 8-byte word of [begin, end) that can be read.
  template <typename Visit>
  void ForEachWord(uint64_t begin, uint64_t end, Visit visit) {
    begin = (begin + 7) & ~uint64_t{7};
    while (begin + 8 <= end) {
      uint64_t want = end - begin < kWindowBytes ? end - begin : kWindowBytes;
      uint64_t got = Copy(window, begin, want);
      for (uint64_t i = 0; i < got / 8; ++i) visit(window[i]);
      // An unreadable page: skip to the next one.
      begin = got ? begin + (got & ~uint64_t{7}) : (begin + 4096) & ~uint64_t{4095};
    }
  }
};

// Decides how memory is read; returns false if it cannot be read safely at all.
bool PrepareSafeMemory(SafeMemory& memory) {
  memory.window = static_cast<uint64_t*>(MapScratch(kWindowBytes + 4096));
  if (!memory.window) return false;
  uint64_t probe = 0x6d656d7472616365;
  iovec local{memory.window, 8};
  iovec remote{&probe, 8};
  if (syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0) == 8) return true;
  // Refused: plain loads are only safe if no other thread can unmap anything meanwhile.
  char status[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, status, sizeof status - 1) : -1;
  if (fd >= 0) close(fd);
  if (n <= 0) return false;
  status[n] = 0;
  const char* threads = strstr(status, "Threads:");
  memory.direct = threads && atoi(threads + 8) == 1;
  return memory.direct;
}

// ---- 3. Marking, as valgrind's memcheck does it ----------------------------------------------------

enum State : uint8_t { kUnreached = 0, kReachable, kPossible, kIndirect, kDefinite };

struct Block {
  uint64_t start;
  uint64_t size;
  uint64_t indirect_bytes;
  uint32_t clique;
  State state;
  bool new_array;
};

struct Scanner {
  SafeMemory* memory = nullptr;
  Block* blocks = nullptr;
  uint64_t count = 0;
  uint32_t* stack = nullptr;  // blocks waiting to have their contents scanned
  uint64_t depth = 0;
  uint64_t root_bytes = 0;

  // The block containing address p (interior or start), or -1.
  int64_t BlockAt(uint64_t p) const {
    uint64_t lo = 0, hi = count;
    while (lo < hi) {
      uint64_t mid = (lo + hi) / 2;
      if (blocks[mid].start <= p) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
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
      if (first > 0 && b.size - 8 == first) return true;                            // length64
      if (b.new_array && first > 0 && (b.size - 8) % first == 0) return true;       // newarray
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

  // Blocks no root reaches: each unreached block leads a clique of the unreached blocks only it
  // reaches; the leader is definitely lost, the rest indirectly lost through it.
  void FormCliques() {
    for (uint64_t leader = 0; leader < count; ++leader) {
      if (blocks[leader].state != kUnreached) continue;
      blocks[leader].state = kDefinite;
      stack[depth++] = static_cast<uint32_t>(leader);
      while (depth) {
        const Block& b = blocks[stack[--depth]];
        memory->ForEachWord(b.start, b.start + b.size, [&](uint64_t word) {
          int64_t index = BlockAt(word);
          if (index < 0 || static_cast<uint64_t>(index) == leader) return;
          Block& target = blocks[index];
          if (target.state != kUnreached && !(target.state == kIndirect && target.clique != leader)) return;
          if (target.state == kIndirect) blocks[target.clique].indirect_bytes -= target.size;
          target.state = kIndirect;
          target.clique = static_cast<uint32_t>(leader);
          blocks[leader].indirect_bytes += target.size;
          stack[depth++] = static_cast<uint32_t>(index);
        });
      }
    }
  }
};

// ---- 4. Roots: every readable, writable mapping that is not heap, not memtrace's own -----------------

bool ParseHex(const char*& p, uint64_t* value) {
  uint64_t v = 0;
  const char* start = p;
  for (;; ++p) {
    char c = *p;
    if (c >= '0' && c <= '9') {
      v = v * 16 + static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v = v * 16 + static_cast<uint64_t>(c - 'a' + 10);
    } else {
      break;
    }
  }
  *value = v;
  return p != start;
}

void SkipField(const char*& p) {
  while (*p && *p != ' ' && *p != '\n') ++p;
  while (*p == ' ') ++p;
}

// Reads /proc/self/maps into a fresh mapping; returns its size (0 on failure).
uint64_t ReadMaps(char** out, uint64_t* capacity) {
  for (uint64_t bytes = 1 << 20; bytes <= (uint64_t{1} << 30); bytes *= 4) {
    char* buffer = static_cast<char*>(MapScratch(bytes));
    if (!buffer) return 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    uint64_t total = 0;
    while (fd >= 0 && total + 1 < bytes) {
      ssize_t n = read(fd, buffer + total, bytes - 1 - total);
      if (n <= 0) break;
      total += static_cast<uint64_t>(n);
    }
    if (fd >= 0) close(fd);
    if (total + 1 < bytes) {
      buffer[total] = 0;
      *out = buffer;
      *capacity = bytes;
      return total;
    }
    UnmapScratch(buffer, bytes);
  }
  return 0;
}

// Address ranges that are never roots: memtrace's own scratch memory and malloc's own heaps (whose
// free chunks still hold stale pointers).
struct Exclusions {
  const void* ranges[8][2];
  int count = 0;
  const uint64_t* arena_heaps = nullptr;
  int arena_heap_count = 0;

  bool Overlaps(uint64_t begin, uint64_t end) const {
    for (int i = 0; i < count; ++i) {
      if (reinterpret_cast<uint64_t>(ranges[i][0]) < end && begin < reinterpret_cast<uint64_t>(ranges[i][1])) {
        return true;
      }
    }
    for (int i = 0; i < arena_heap_count; ++i) {
      if (arena_heaps[i] < end && begin < arena_heaps[i] + kArenaHeapBytes) return true;
    }
    return false;
  }
};

void ScanRoots(Scanner& scanner, const Exclusions& exclusions) {
  char* maps = nullptr;
  uint64_t capacity = 0;
  if (!ReadMaps(&maps, &capacity)) return;
  const uint64_t own_inode = TraceInode();
  const uint64_t sp = reinterpret_cast<uint64_t>(__builtin_frame_address(0));
  for (const char* line = maps; *line;) {
    const char* p = line;
    uint64_t begin = 0, end = 0, inode = 0;
    ParseHex(p, &begin);
    ++p;
    ParseHex(p, &end);
    ++p;
    bool readable = p[0] == 'r', writable = p[1] == 'w';
    SkipField(p);  // perms
    SkipField(p);  // offset
    SkipField(p);  // device
    while (*p >= '0' && *p <= '9') inode = inode * 10 + static_cast<uint64_t>(*p++ - '0');
    while (*p == ' ') ++p;
    const char* name = p;
    while (*p && *p != '\n') ++p;
    bool special = name[0] == '[' && (name[1] == 'v' || name[1] == 'h');  // [vvar], [vdso], [vsyscall], [heap]
    line = *p ? p + 1 : p;

    if (!readable || !writable || special || (own_inode && inode == own_inode)) continue;
    if (exclusions.Overlaps(begin, end)) continue;
    // Memory that holds heap blocks (the main heap, thread-arena heaps, mmapped chunks) is not a
    // root: blocks are scanned only once something points to them.
    int64_t first = scanner.BlockAt(begin);
    uint64_t lo = 0, hi = scanner.count;
    while (lo < hi) {
      uint64_t mid = (lo + hi) / 2;
      if (scanner.blocks[mid].start < begin) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (first >= 0 || (lo < scanner.count && scanner.blocks[lo].start < end)) continue;
    // This thread's stack: only the live part above the stack pointer.
    if (sp >= begin && sp < end) begin = sp;
    scanner.root_bytes += end - begin;
    scanner.ScanRange(begin, end, /*definite=*/true);
    scanner.Drain();
  }
  UnmapScratch(maps, capacity);
}

}  // namespace

void RunLeakScan(ThreadState& thread) {
  const uint64_t started = NowNanoseconds();
  AddressTable table;
  ForEachChunk(CountAllocations, &table);
  uint64_t slots = 1024;
  while (slots < 2 * table.allocations + 2) slots *= 2;
  uint64_t table_bytes = slots * sizeof(AddressState);
  table.slots = static_cast<AddressState*>(MapScratch(table_bytes));
  if (!table.slots) return;
  table.mask = slots - 1;
  ForEachChunk(ReplayChunk, &table);

  Exclusions exclusions;
  exclusions.arena_heaps = table.arena_heaps;
  exclusions.arena_heap_count = table.arena_heap_count;
  StackTableRange(&exclusions.ranges[0][0], &exclusions.ranges[0][1]);
  exclusions.count = 1;
  uint64_t live = 0;
  for (uint64_t i = 0; i < slots; ++i) live += table.slots[i].address && table.slots[i].live;
  SafeMemory memory;
  if (!PrepareSafeMemory(memory)) {
    UnmapScratch(memory.window, kWindowBytes + 4096);
    UnmapScratch(table.slots, table_bytes);
    return;  // no scan rather than a scan that could crash the program
  }
  Scanner scanner;
  scanner.memory = &memory;
  uint64_t blocks_bytes = (live + 1) * sizeof(Block);
  uint64_t stack_bytes = (2 * live + 2) * sizeof(uint32_t);
  scanner.blocks = static_cast<Block*>(MapScratch(blocks_bytes));
  scanner.stack = static_cast<uint32_t*>(MapScratch(stack_bytes));
  if (scanner.blocks && scanner.stack) {
    for (uint64_t i = 0; i < slots; ++i) {
      const AddressState& s = table.slots[i];
      if (s.address && s.live) scanner.blocks[scanner.count++] = {s.address, s.size, 0, 0, kUnreached, s.new_array};
    }
    std::sort(scanner.blocks, scanner.blocks + scanner.count,
              [](const Block& a, const Block& b) { return a.start < b.start; });
    const void* scratch[][2] = {
        {table.slots, reinterpret_cast<const char*>(table.slots) + table_bytes},
        {scanner.blocks, reinterpret_cast<const char*>(scanner.blocks) + blocks_bytes},
        {scanner.stack, reinterpret_cast<const char*>(scanner.stack) + stack_bytes},
        {memory.window, reinterpret_cast<const char*>(memory.window) + kWindowBytes + 4096},
    };
    for (const auto& range : scratch) {
      exclusions.ranges[exclusions.count][0] = range[0];
      exclusions.ranges[exclusions.count++][1] = range[1];
    }
    ScanRoots(scanner, exclusions);
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
  UnmapScratch(table.slots, table_bytes);
  UnmapScratch(scanner.blocks, blocks_bytes);
  UnmapScratch(scanner.stack, stack_bytes);
  UnmapScratch(memory.window, kWindowBytes + 4096);
}

}  // namespace memtrace::preload
