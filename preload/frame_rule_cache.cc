#include "preload/frame_rule_cache.h"

#include <cstring>

namespace memtrace::preload {

namespace {

// In the library's .bss rather than mmap'ed: no mapping of memtrace's own that the kernel could
// merge with a neighbour, and no page is resident before it is used.
alignas(64) RuleSlot table[kRuleCacheSlots];

}  // namespace

const RuleSlot* RuleTable() { return table; }

uint64_t LookUpRule(uint64_t key) { return ProbeRule(table, key); }

void StoreRule(uint64_t key, uint64_t packed) {
  if (!packed) return;
  RuleSlot& slot = table[RuleSlotOf(key)];
  slot.rule.store(packed, std::memory_order_relaxed);
  slot.check.store(key ^ packed, std::memory_order_relaxed);
}

void RuleCacheRange(const void** begin, const void** end) {
  *begin = table;
  *end = table + kRuleCacheSlots;
}

void ResetRuleCache() {
  for (RuleSlot& slot : table) {
    slot.rule.store(0, std::memory_order_relaxed);
    slot.check.store(0, std::memory_order_relaxed);
  }
}

}  // namespace memtrace::preload
