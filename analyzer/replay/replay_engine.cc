#include "analyzer/replay/replay_engine.h"

#include <limits.h>
#include <linux/futex.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "analyzer/replay/syscall_counters.h"

extern "C" void* __curbrk;  // glibc: the break as libc last set it, moved by malloc's own sbrk

namespace memtrace::replay {

namespace {

constexpr uint32_t kWaiterBit = 1u << 31;  // a thread sleeps on this slot's futex
constexpr uint32_t kSequenceMask = kWaiterBit - 1;
constexpr uint64_t kTouchStride = 4096;
constexpr int kSpinsBeforeSleep = 200;

// Concurrency contract: `block` and `size` belong to the thread running the slot's current op; the
// next op's thread reads them only after seeing `sequence` advance (release/acquire).
struct Slot {
  void* block;
  uint64_t size;
  std::atomic<uint32_t> sequence;
};

struct BlockRef {
  uint64_t offset;  // of the encoded ops
  uint32_t bytes;
  uint32_t next;  // the thread's next block, or UINT32_MAX
};

struct ReplayThread {
  pthread_t handle;
  std::atomic<uint32_t> started;  // set (and woken) by the thread that spawned it
  uint32_t first_block;
  uint32_t last_block;
  uint8_t* buffer;
  ReplayTotals totals;  // written by this thread only; summed after it is joined
};

struct Engine {
  int fd = -1;
  ReplayOptions options;
  Slot* slots = nullptr;
  uint64_t slot_count = 0;
  ReplayThread* threads = nullptr;
  uint32_t thread_count = 0;
  BlockRef* blocks = nullptr;
  std::atomic<uint64_t> live_bytes{0};
  std::atomic<uint64_t> peak_live_bytes{0};
  std::atomic<uint64_t> known_break{0};
};

Engine engine;

// Zero-filled pages are valid initial values for every table (atomics included), so nothing is constructed.
// Populated up front: the tables are the replayer's memory, resident before the replay starts, so the
// RSS the replay adds is the allocator's alone (a slot table of a million live blocks is 24 MiB).
template <typename T>
T* MapArray(uint64_t count) {
  void* memory = mmap(nullptr, count * sizeof(T) + 1, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return memory == MAP_FAILED ? nullptr : static_cast<T*>(memory);
}

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, nullptr, nullptr, 0);
}

// Returns once (word & kSequenceMask) == want: spins briefly, then sleeps on the futex with the waiter
// bit set so the advancing thread knows to wake it.
void WaitFor(std::atomic<uint32_t>& word, uint32_t want) {
  for (int spins = 0;; ++spins) {
    uint32_t value = word.load(std::memory_order_acquire);
    if ((value & kSequenceMask) == want) return;
    if (spins < kSpinsBeforeSleep) {
      __builtin_ia32_pause();
      continue;
    }
    if (!(value & kWaiterBit) &&
        !word.compare_exchange_weak(value, value | kWaiterBit, std::memory_order_acquire)) {
      continue;
    }
    Futex(&word, FUTEX_WAIT_PRIVATE, value | kWaiterBit);
  }
}

void Publish(std::atomic<uint32_t>& word, uint32_t value) {
  if (word.exchange(value & kSequenceMask, std::memory_order_acq_rel) & kWaiterBit) {
    Futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX);
  }
}

// A damaged stream or a thread that cannot be created: other threads may be waiting for ops that will
// never run, so the process ends here with its one error line.
[[noreturn]] void Fail(const char* what) {
  const char* parts[] = {"memtrace-replay: error: ", what, "\n"};
  for (const char* part : parts) {
    ssize_t ignored = write(2, part, __builtin_strlen(part));
    (void)ignored;
  }
  _exit(1);
}

// One recorded thread: no other thread reads the counters or waits on a slot, so plain loads and stores
// replace the locked instructions (three per op, most of the replay's own time).
bool SingleThreaded() { return engine.thread_count == 1; }

void AddLive(int64_t delta) {
  if (SingleThreaded()) {
    uint64_t now = engine.live_bytes.load(std::memory_order_relaxed) + static_cast<uint64_t>(delta);
    engine.live_bytes.store(now, std::memory_order_relaxed);
    if (now > engine.peak_live_bytes.load(std::memory_order_relaxed))
      engine.peak_live_bytes.store(now, std::memory_order_relaxed);
    return;
  }
  uint64_t now = engine.live_bytes.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed) +
                 static_cast<uint64_t>(delta);
  uint64_t peak = engine.peak_live_bytes.load(std::memory_order_relaxed);
  while (now > peak && !engine.peak_live_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

void Touch(void* block, uint64_t size) {
  volatile uint8_t* bytes = static_cast<uint8_t*>(block);
  for (uint64_t offset = 0; offset < size; offset += kTouchStride) bytes[offset] = 1;
}

void* ThreadMain(void* argument);

void Spawn(uint32_t index) {
  if (index == 0 || index >= engine.thread_count) Fail("damaged op stream: spawn of an unknown thread");
  ReplayThread& child = engine.threads[index];
  CountedAs replayer(CallOwner::kReplayer);  // the thread's stack
  if (pthread_create(&child.handle, nullptr, ThreadMain, &child) != 0) Fail("cannot create a replay thread");
  Publish(child.started, 1);
}

// The break move since the last one any thread saw, claimed once (compare-and-swap) like the tracer does.
void CheckBreak(ReplayThread& self, const Op& op, uint64_t ordinal) {
  uint64_t now = reinterpret_cast<uint64_t>(__curbrk);
  uint64_t known = engine.known_break.load(std::memory_order_relaxed);
  bool moved = false;
  int64_t delta = 0;
  if (now != known && engine.known_break.compare_exchange_strong(known, now, std::memory_order_relaxed)) {
    moved = true;
    delta = static_cast<int64_t>(now - known);
    ++self.totals.brk_moves;
  }
  bool recorded = op.flags & kOpBrkMoved;
  if (moved != recorded || (moved && delta != op.brk_delta)) {
    if (self.totals.brk_mismatches++ == 0) self.totals.first_brk_mismatch = static_cast<int64_t>(ordinal);
  }
}

void CheckVerdict(ReplayThread& self, const Op& op, const void* block, uint64_t ordinal) {
  uint64_t size_word;  // glibc's chunk header, the word before the block; bit 1 is IS_MMAPPED
  // Through an integer: the compiler would otherwise object to reading before a malloc'd block.
  const auto header = reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(block) - sizeof size_word);
  std::memcpy(&size_word, header, sizeof size_word);
  bool mmapped = size_word & 2;
  ++(mmapped ? self.totals.mmapped_allocations : self.totals.heap_allocations);
  if ((op.flags & kOpVerdictKnown) && mmapped != static_cast<bool>(op.flags & kOpMmapped)) {
    if (self.totals.verdict_mismatches++ == 0)
      self.totals.first_verdict_mismatch = static_cast<int64_t>(ordinal);
  }
}

// mallopt and malloc_trim go to whichever allocator defines them (glibc's when the preloaded one does
// not: harmless, its arenas are empty). The program's brk moves the break by the recorded amount; a
// recorded brk() stays one brk syscall, a recorded sbrk stays an sbrk (no syscall when it is sbrk(0)).
void ExecuteProcessOp(ReplayThread& self, const Op& op) {
  switch (op.kind) {
    case OpKind::kMallopt:
      mallopt(static_cast<int>(op.param), static_cast<int>(op.value));
      ++self.totals.mallopt_calls;
      break;
    case OpKind::kMallocTrim: {
      int released = malloc_trim(static_cast<size_t>(op.param));
      ++self.totals.malloc_trim_calls;
      if (engine.options.glibc && released != op.value) ++self.totals.trim_result_mismatches;
      break;
    }
    case OpKind::kSbrk: {
      CountedAs program(CallOwner::kProgram);
      bool failed = op.value == 1 ? brk(static_cast<char*>(sbrk(0)) + op.param) != 0
                                  : sbrk(static_cast<intptr_t>(op.param)) == reinterpret_cast<void*>(-1);
      ++self.totals.program_brk_calls;
      if (failed) ++self.totals.failed_program_brk_calls;
      break;
    }
    default: break;
  }
}

void Execute(ReplayThread& self, const Op& op, uint64_t ordinal) {
  if (op.kind == OpKind::kSpawn) return Spawn(op.slot);
  if (IsProcessOp(op.kind)) {
    ExecuteProcessOp(self, op);
    ++self.totals.operations;
    CheckBreak(self, op, ordinal);
    return;
  }
  Slot& slot = engine.slots[op.slot];
  if (op.flags & kOpWaits) WaitFor(slot.sequence, op.sequence);
  void* block = nullptr;
  switch (op.kind) {
    case OpKind::kMalloc: block = malloc(op.size); break;
    case OpKind::kCalloc: block = calloc(1, op.size); break;
    case OpKind::kAligned: block = memalign(op.alignment, op.size); break;
    case OpKind::kRealloc: block = realloc(slot.block, op.size); break;
    case OpKind::kFree:
      free(slot.block);
      AddLive(-static_cast<int64_t>(slot.size));
      slot.block = nullptr;
      slot.size = 0;
      break;
    default: break;  // spawns and process ops returned above
  }
  ++self.totals.operations;
  if (op.kind != OpKind::kFree) {
    if (!block) {
      ++self.totals.failed_allocations;
    } else {
      if (engine.options.touch) Touch(block, op.size);
      if (engine.options.glibc) CheckVerdict(self, op, block, ordinal);
      AddLive(static_cast<int64_t>(op.size) -
              static_cast<int64_t>(op.kind == OpKind::kRealloc ? slot.size : 0));
      slot.block = block;
      slot.size = op.size;
    }
  }
  CheckBreak(self, op, ordinal);
  if (!SingleThreaded()) Publish(slot.sequence, slot.sequence.load(std::memory_order_relaxed) + 1);
}

void RunThread(ReplayThread& self) {
  uint64_t ordinal = 0;
  for (uint32_t b = self.first_block; b != UINT32_MAX; b = engine.blocks[b].next) {
    const BlockRef& ref = engine.blocks[b];
    if (pread(engine.fd, self.buffer, ref.bytes, static_cast<off_t>(ref.offset)) !=
        static_cast<ssize_t>(ref.bytes)) {
      Fail("cannot read the op stream");
    }
    const uint8_t* cursor = self.buffer;
    const uint8_t* end = self.buffer + ref.bytes;
    Op op;
    while (cursor < end) {
      if (!DecodeOp(&cursor, end, &op) || (op.kind != OpKind::kSpawn && op.slot >= engine.slot_count)) {
        Fail("damaged op stream");
      }
      Execute(self, op, ordinal++);
    }
  }
}

void* ThreadMain(void* argument) {
  RunThread(*static_cast<ReplayThread*>(argument));
  return nullptr;
}

}  // namespace

bool PrepareReplay(int fd, const OpFileHeader& header, const ReplayOptions& options, const char** error) {
  if (header.threads == 0 || header.slots > UINT32_MAX || header.blocks >= UINT32_MAX) {
    *error = "damaged op stream: impossible counts in its header";
    return false;
  }
  engine.fd = fd;
  engine.options = options;
  engine.thread_count = header.threads;
  engine.slot_count = header.slots;
  engine.slots = MapArray<Slot>(header.slots);
  engine.threads = MapArray<ReplayThread>(header.threads);
  engine.blocks = MapArray<BlockRef>(header.blocks);
  if (!engine.slots || !engine.threads || !engine.blocks) {
    *error = "cannot map the replay's tables";
    return false;
  }
  for (uint32_t t = 0; t < header.threads; ++t) {
    engine.threads[t].first_block = engine.threads[t].last_block = UINT32_MAX;
    engine.threads[t].buffer = MapArray<uint8_t>(kBlockBytes);
    if (!engine.threads[t].buffer) {
      *error = "cannot map the replay's buffers";
      return false;
    }
  }
  // Index the blocks: each thread follows its own chain.
  uint64_t offset = header.header_bytes;
  for (uint32_t b = 0; b < header.blocks; ++b) {
    BlockHeader block;
    if (pread(fd, &block, sizeof block, static_cast<off_t>(offset)) != sizeof block ||
        block.thread >= header.threads || block.bytes > kBlockBytes) {
      *error = "damaged op stream: bad block header";
      return false;
    }
    engine.blocks[b] = {offset + sizeof block, block.bytes, UINT32_MAX};
    ReplayThread& owner = engine.threads[block.thread];
    if (owner.last_block == UINT32_MAX) {
      owner.first_block = b;
    } else {
      engine.blocks[owner.last_block].next = b;
    }
    owner.last_block = b;
    offset += sizeof block + block.bytes;
  }
  // Stands for the heap the traced process had before tracing began; never freed (it was not either).
  if (header.prefill_bytes >= 32 && !malloc(header.prefill_bytes - 16)) {
    *error = "cannot allocate the start-up heap";
    return false;
  }
  if (reinterpret_cast<uint64_t>(__curbrk) == 0) sbrk(0);  // makes libc read the break, moving nothing
  engine.known_break.store(reinterpret_cast<uint64_t>(__curbrk));
  return true;
}

void RunReplay(ReplayTotals* totals) {
  RunThread(engine.threads[0]);
  for (uint32_t t = 1; t < engine.thread_count; ++t) {
    WaitFor(engine.threads[t].started, 1);
    CountedAs replayer(CallOwner::kReplayer);  // a full stack cache unmaps the stack here
    pthread_join(engine.threads[t].handle, nullptr);
  }
  *totals = ReplayTotals{};
  for (uint32_t t = 0; t < engine.thread_count; ++t) {
    const ReplayTotals& own = engine.threads[t].totals;
    totals->operations += own.operations;
    totals->failed_allocations += own.failed_allocations;
    totals->brk_moves += own.brk_moves;
    totals->heap_allocations += own.heap_allocations;
    totals->mmapped_allocations += own.mmapped_allocations;
    totals->verdict_mismatches += own.verdict_mismatches;
    totals->brk_mismatches += own.brk_mismatches;
    totals->mallopt_calls += own.mallopt_calls;
    totals->malloc_trim_calls += own.malloc_trim_calls;
    totals->trim_result_mismatches += own.trim_result_mismatches;
    totals->program_brk_calls += own.program_brk_calls;
    totals->failed_program_brk_calls += own.failed_program_brk_calls;
  }
  totals->first_verdict_mismatch = engine.threads[0].totals.first_verdict_mismatch;
  totals->first_brk_mismatch = engine.threads[0].totals.first_brk_mismatch;
  totals->peak_live_bytes = engine.peak_live_bytes.load();
}

}  // namespace memtrace::replay
