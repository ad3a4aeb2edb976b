#include "preload/frame_rule_cache.h"

#include <sys/mman.h>

#include <atomic>

namespace memtrace::preload {

namespace {

using Slot = RuleSlot;

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

}  // namespace

const RuleSlot* RuleTable() { return table.load(std::memory_order_acquire); }

uint64_t LookUpRule(uint64_t key) {
  const Slot* slots = table.load(std::memory_order_acquire);
  return slots ? ProbeRule(slots, key) : 0;
}

void StoreRule(uint64_t key, uint64_t packed) {
  Slot* slots = Table();
  if (!slots || !packed) return;
  Slot& slot = slots[RuleSlotOf(key)];
  slot.rule.store(packed, std::memory_order_relaxed);
  slot.check.store(key ^ packed, std::memory_order_relaxed);
}

bool PrepareRuleCache() { return Table() != nullptr; }

void RuleCacheRange(const void** begin, const void** end) {
  Slot* slots = table.load(std::memory_order_acquire);
  *begin = slots;
  *end = slots ? slots + kRuleCacheSlots : nullptr;
}

void ResetRuleCache() {
  Slot* slots = table.exchange(nullptr, std::memory_order_acq_rel);
  if (slots) munmap(slots, kRuleCacheSlots * sizeof(Slot));
}

}  // namespace memtrace::preload
