#include "preload/frame_rule_cache.h"

#include <sys/mman.h>

#include <atomic>

namespace memtrace::preload {

namespace {

struct Slot {
  std::atomic<uint64_t> check;
  std::atomic<uint64_t> rule;
};

std::atomic<Slot*> table{nullptr};

Slot* Table() {
  Slot* slots = table.load(std::memory_order_acquire);
  if (slots) return slots;
  void* memory = mmap(nullptr, kRuleCacheSlots * sizeof(Slot), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  Slot* expected = nullptr;
  if (!table.compare_exchange_strong(expected, static_cast<Slot*>(memory), std::memory_order_acq_rel)) {
    munmap(memory, kRuleCacheSlots * sizeof(Slot));  // another thread mapped it first
    return expected;
  }
  return static_cast<Slot*>(memory);
}

// Fibonacci hashing: return addresses are close together and share low bits with their neighbours'.
inline uint64_t SlotOf(uint64_t key) { return (key * 0x9e3779b97f4a7c15ull) >> (64 - 14); }
static_assert(kRuleCacheSlots == uint64_t{1} << 14);

}  // namespace

uint64_t LookUpRule(uint64_t key) {
  Slot* slots = table.load(std::memory_order_acquire);
  if (!slots) return 0;
  Slot& slot = slots[SlotOf(key)];
  uint64_t rule = slot.rule.load(std::memory_order_relaxed);
  uint64_t check = slot.check.load(std::memory_order_relaxed);
  return (check ^ rule) == key ? rule : 0;
}

void StoreRule(uint64_t key, uint64_t packed) {
  Slot* slots = Table();
  if (!slots || !packed) return;
  Slot& slot = slots[SlotOf(key)];
  slot.rule.store(packed, std::memory_order_relaxed);
  slot.check.store(key ^ packed, std::memory_order_relaxed);
}

void ResetRuleCache() {
  Slot* slots = table.exchange(nullptr, std::memory_order_acq_rel);
  if (slots) munmap(slots, kRuleCacheSlots * sizeof(Slot));
}

}  // namespace memtrace::preload
