// A process-wide cache from PC to its packed FrameRule, so that a hot PC costs a hash probe instead of
// an FDE search and a CFA-program run.
//
// Concurrency contract: lock-free and wait-free, shared by all threads. Each slot is two 64-bit words
// written and read with relaxed atomics: `check` = key ^ rule and `rule`. A reader accepts a slot only
// if check ^ rule == key, so a slot torn by two concurrent writers reads as a miss (the words of two
// different entries pass that test only by coincidence of the key with two rules' XOR; even then the
// result is a wrong frame, never a crash: the unwinder validates every memory read). Writers simply
// overwrite: a lost entry is recomputed on its next miss. The key holds the module-index epoch in its
// top 16 bits, so entries computed before a dlopen/dlclose stop matching. Signal handlers never get here.
//
// Memory: one table of kRuleCacheSlots slots (256 KiB) in the library's .bss; never malloc.
#pragma once

#include <atomic>
#include <cstdint>

namespace memtrace::preload {

inline constexpr uint64_t kRuleCacheSlots = 1 << 14;

// The cache key for `pc` under module-index epoch `epoch`. x86-64 user addresses fit in 47 bits.
inline uint64_t RuleCacheKey(uint64_t pc, uint32_t epoch) { return pc | static_cast<uint64_t>(epoch) << 48; }

struct RuleSlot;

// The table (never null), which an unwind probes with ProbeRule.
const RuleSlot* RuleTable();

// The packed rule for `key` in `table` (non-null), or 0 on a miss (packed rules are never 0).
// Inline: it is the unwinder's per-frame hot path.
inline uint64_t ProbeRule(const RuleSlot* table, uint64_t key);

// Both of the above.
uint64_t LookUpRule(uint64_t key);

// Remembers `packed` (non-zero) for `key`.
void StoreRule(uint64_t key, uint64_t packed);

// The table's memory: memtrace's, not the program's (the leak scan skips it).
void RuleCacheRange(const void** begin, const void** end);

// Empties the table (tests only).
void ResetRuleCache();

struct RuleSlot {
  std::atomic<uint64_t> check;  // key ^ rule
  std::atomic<uint64_t> rule;
};

// Fibonacci hashing: return addresses are close together and share low bits with their neighbours'.
inline uint64_t RuleSlotOf(uint64_t key) { return (key * 0x9e3779b97f4a7c15ull) >> 50; }
static_assert(kRuleCacheSlots == uint64_t{1} << (64 - 50));

inline uint64_t ProbeRule(const RuleSlot* table, uint64_t key) {
  const RuleSlot& slot = table[RuleSlotOf(key)];
  uint64_t rule = slot.rule.load(std::memory_order_relaxed);
  uint64_t check = slot.check.load(std::memory_order_relaxed);
  return (check ^ rule) == key ? rule : 0;
}

}  // namespace memtrace::preload
