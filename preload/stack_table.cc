#include "preload/stack_table.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace memtrace::preload {

namespace {

struct Slot {
  std::atomic<uint64_t> hash;
  std::atomic<uint32_t> id;
  uint32_t unused;
};

constexpr uint64_t kSlots = uint64_t{1} << 20;  // 16 MiB of address space, touched as it fills
constexpr int kMaxProbes = 128;

Slot* table = nullptr;
std::atomic<uint32_t> next_id{1};

uint64_t HashFrames(const uint64_t* frames, uint32_t count) {
  uint64_t hash = 0x9e3779b97f4a7c15ull ^ count;
  for (uint32_t i = 0; i < count; ++i) {
    hash ^= frames[i];
    hash *= 0xff51afd7ed558ccdull;
    hash ^= hash >> 32;
  }
  return hash ? hash : 1;  // 0 marks an empty slot
}

// Waits for the thread that claimed a slot to publish its id; gives up (0) rather than spin forever
// if that thread was stopped between the two stores.
uint32_t AwaitId(const Slot& slot) {
  for (int spin = 0; spin < 100000; ++spin) {
    if (uint32_t id = slot.id.load(std::memory_order_acquire)) return id;
    __builtin_ia32_pause();
  }
  return 0;
}

}  // namespace

bool ResetStackTable() {
  if (table) syscall(SYS_munmap, table, kSlots * sizeof(Slot));
  long map = syscall(SYS_mmap, nullptr, kSlots * sizeof(Slot), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  table = (map < 0 && map > -4096) ? nullptr : reinterpret_cast<Slot*>(map);
  next_id.store(1, std::memory_order_relaxed);
  return table != nullptr;
}

void StackTableRange(const void** begin, const void** end) {
  *begin = table;
  *end = table ? table + kSlots : nullptr;
}

StackLookup LookUpStack(const uint64_t* frames, uint32_t count) {
  if (!table) return {0, false};
  const uint64_t hash = HashFrames(frames, count);
  uint64_t index = hash & (kSlots - 1);
  for (int probe = 0; probe < kMaxProbes; ++probe, index = (index + 1) & (kSlots - 1)) {
    Slot& slot = table[index];
    uint64_t seen = slot.hash.load(std::memory_order_acquire);
    if (seen == 0) {
      if (slot.hash.compare_exchange_strong(seen, hash, std::memory_order_acq_rel)) {
        uint32_t id = next_id.fetch_add(1, std::memory_order_relaxed);
        slot.id.store(id, std::memory_order_release);
        return {id, true};
      }
      // Lost the race for this slot: `seen` now holds the winner's hash.
    }
    if (seen == hash) {
      if (uint32_t id = AwaitId(slot)) return {id, false};
      break;
    }
  }
  // The table is full around this hash (or the slot's owner stalled): the stack still gets an id of
  // its own and is written out, only not deduplicated. Every event keeps its stack.
  return {next_id.fetch_add(1, std::memory_order_relaxed), true};
}

}  // namespace memtrace::preload
